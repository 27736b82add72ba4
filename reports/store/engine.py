"""The SQLAlchemy engine of a results store: one code path for SQLite and PostgreSQL, with
the few per-database settings that make concurrent writers safe."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event

from npubench.reports.store.url import sqlite_file

SQLITE_BUSY_TIMEOUT_S = 60
"""How long a SQLite writer waits for another process's write lock before giving up."""
POSTGRES_CONNECT_TIMEOUT_S = 10


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _sqlite_transactions(engine)
        return engine
    connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S} if url.startswith(
        "postgresql") else {}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_transactions(engine: Engine) -> None:
    """SQLite with its own transactions: WAL (readers never block the writer), a busy
    timeout, and ``BEGIN IMMEDIATE`` for writes (so two writers queue on the lock instead of
    one failing when it upgrades a read lock). As in SQLAlchemy's pysqlite recipe, the
    driver's own transaction handling is switched off and the BEGIN emitted here."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        write = conn.get_execution_options().get("npubench_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
