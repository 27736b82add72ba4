"""Each record's environment (what may move a number besides the thing under test) and the
backend without its options, both filled in for the records already there; indexes on the
columns that ``load_results`` filters by.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from npubench.reports.cell_key import environment

    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("backend_base", sa.Text))
        batch.add_column(sa.Column("environment", sa.Text))
        batch.create_index("ix_records_device_model", ["device_model"])
        batch.create_index("ix_records_workload", ["workload"])
        batch.create_index("ix_records_backend_base", ["backend_base"])
    bind = op.get_bind()
    runs = sa.table("runs", sa.column("run_id"), sa.column("info"))
    records = sa.table("records", sa.column("id"), sa.column("run_id"), sa.column("backend"),
                       sa.column("record"), sa.column("backend_base"),
                       sa.column("environment"))
    infos = {run_id: json.loads(info) for run_id, info in bind.execute(
        sa.select(runs.c.run_id, runs.c.info))}
    rows = bind.execute(sa.select(records.c.id, records.c.run_id, records.c.backend,
                                  records.c.record)).all()
    for row_id, run_id, backend, record in rows:
        env = environment(json.loads(record), infos.get(run_id))
        bind.execute(records.update().where(records.c.id == row_id).values(
            backend_base=(backend or "").partition("?")[0],
            environment=json.dumps(env, sort_keys=True)))
