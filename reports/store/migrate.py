"""Bring a results store's schema up to date (Alembic, run programmatically), safely when
several processes open the same store at once, and refuse a store from a newer npubench.

The lock: on PostgreSQL a transaction-scoped advisory lock around the check and the upgrade;
on SQLite the write lock of a ``BEGIN IMMEDIATE`` transaction (the engine's ``begin`` hook in
``npubench.reports.store.engine``). Either way the revision is read again under the lock, so
the second process finds the work done.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, text

from npubench.errors import ResultsError
from npubench.reports.store.schema import HEAD_REVISION

_ADVISORY_KEY = 0x6E7075_62656E  # "npu" "ben": one lock id for npubench store upgrades
VERSION_TABLE = "alembic_version"


def current_revision(conn: Connection) -> str | None:
    """The store's schema revision, or None for an empty database."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "npubench.reports.store:migrations")
    return config


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config())
            .walk_revisions()}


def ensure_schema(engine: Engine, where: str, target: str = "head") -> None:
    """Upgrade the store to ``target`` (``head``) unless it is there already."""
    with engine.connect() as conn:
        if target == "head" and current_revision(conn) == HEAD_REVISION:
            return
    with engine.connect().execution_options(npubench_write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        revision = current_revision(conn)
        if revision is not None and revision not in known_revisions():
            raise ResultsError(
                f"the results store {where} has schema revision {revision!r}, written by a "
                f"newer npubench than this one ({HEAD_REVISION} is the newest it knows)",
                hint="upgrade npubench (pip install -U npubench), or give another store "
                "with --store or NPUBENCH_STORE")
        if revision == (HEAD_REVISION if target == "head" else target):
            return
        from alembic import command

        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, target)
