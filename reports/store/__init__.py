"""The results store (issue 11): every record of every run in one database, SQLite by default
(a file in the user's data folder), PostgreSQL by URL for a team or a farm.

    from npubench.reports.store import open_store

    store = open_store(None)        # $NPUBENCH_STORE, else ~/.local/share/npubench/results.sqlite
    store.ingest("runs/20261206-013348-bc53")
    view = store.run_view(store.resolve_run("latest"))

Modules: ``url`` (where), ``engine`` (per-database settings), ``schema`` (tables),
``migrate`` (Alembic, locked), ``rows`` (records -> rows, filters -> SQL), ``store`` (the API).
"""

from __future__ import annotations

import os

from npubench.reports.store.url import STORE_ENV, default_store_path, store_url

__all__ = ["STORE_ENV", "ResultsStore", "default_store_path", "open_store", "store_url"]


def open_store(target: str | os.PathLike | None = None):
    """Open (creating or upgrading its schema) the store at ``target``: None for
    ``$NPUBENCH_STORE`` or the default SQLite file, a path (SQLite) or a URL
    (``postgresql://user@host/db``). Raises ``ResultsError`` when it cannot be opened."""
    from sqlalchemy.exc import SQLAlchemyError

    from npubench.errors import ResultsError
    from npubench.reports.store.engine import make_engine
    from npubench.reports.store.migrate import ensure_schema
    from npubench.reports.store.store import ResultsStore

    url = store_url(target)
    try:
        engine = make_engine(url)
    except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:
        raise ResultsError(f"cannot use the results store {url!r}: {exc}",
                           hint="give a file path or a postgresql:// URL") from None
    where = engine.url.render_as_string(hide_password=True)
    try:
        ensure_schema(engine, where)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ResultsError(f"cannot open the results store {where}: {reason}",
                           hint="check that the database is reachable and writable, or give "
                           "another store with --store or NPUBENCH_STORE") from None
    except BaseException:
        engine.dispose()
        raise
    return ResultsStore(engine, where)


def __getattr__(name: str):
    if name == "ResultsStore":
        from npubench.reports.store.store import ResultsStore

        return ResultsStore
    raise AttributeError(name)
