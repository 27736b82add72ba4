"""The first results store: runs and their records (whole record, samples, filter columns).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(200), primary_key=True),
        sa.Column("started_at", sa.String(40), index=True),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("suite", sa.Text),
        sa.Column("simulated", sa.Boolean),
        sa.Column("info", sa.Text, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(200), nullable=False, index=True),
        sa.Column("job_id", sa.Text, nullable=False),
        sa.Column("job_index", sa.Integer),
        sa.Column("started_at", sa.String(40), index=True),
        sa.Column("status", sa.String(20)),
        sa.Column("cell_id", sa.Text, nullable=False),
        sa.Column("device_model", sa.Text),
        sa.Column("soc", sa.Text),
        sa.Column("device_id", sa.Text),
        sa.Column("workload", sa.Text),
        sa.Column("workload_sha256", sa.String(64)),
        sa.Column("backend", sa.Text),
        sa.Column("simulated", sa.Boolean),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("samples", sa.Text),
        sa.UniqueConstraint("run_id", "job_id", name="uq_records_run_job"),
    )
