"""The results store's tables (SQLAlchemy Core), as the newest migration leaves them.

Portable on purpose: JSON is kept as text, timestamps as ISO 8601 text in UTC (they sort as
text), so SQLite and PostgreSQL hold the same thing and one code path reads both.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, UniqueConstraint

HEAD_REVISION = "0002"
"""The newest migration (``migrations/versions``); a test checks it against Alembic's head.
Known here so that opening an up-to-date store does not need to load Alembic."""

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("run_id", String(200), primary_key=True),
    Column("started_at", String(40), index=True),
    Column("finished_at", String(40)),
    Column("suite", Text),
    Column("simulated", Boolean),
    Column("info", Text, nullable=False),  # run.json, as JSON text
)

records = Table(
    "records", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(200), nullable=False, index=True),
    Column("job_id", Text, nullable=False),
    Column("job_index", Integer),
    Column("started_at", String(40), index=True),
    Column("status", String(20)),
    Column("cell_id", Text, nullable=False),
    Column("device_model", Text, index=True),
    Column("soc", Text),
    Column("device_id", Text),
    Column("workload", Text, index=True),
    Column("workload_sha256", String(64)),
    Column("backend", Text),
    Column("backend_base", Text, index=True),
    Column("simulated", Boolean),
    Column("record", Text, nullable=False),  # the whole record, as JSON text
    Column("samples", Text),  # comparable samples (RunView.samples entry), JSON
    Column("environment", Text),  # cell_key.environment(record, run info), JSON
    UniqueConstraint("run_id", "job_id", name="uq_records_run_job"),
)
