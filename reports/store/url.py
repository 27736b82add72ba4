"""Where the results store lives: a SQLAlchemy URL from what a user gives (nothing, a path, or a
URL). Pure apart from reading the environment."""

from __future__ import annotations

import os
from pathlib import Path

STORE_ENV = "NPUBENCH_STORE"
"""Environment variable naming the default store (a path or a URL)."""


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/npubench/results.sqlite`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "npubench" / "results.sqlite"


def store_url(target: str | os.PathLike | None = None) -> str:
    """The SQLAlchemy URL of a store: ``None`` means ``$NPUBENCH_STORE``, else the SQLite file
    in the user's data folder; a plain path means SQLite; ``postgresql://`` URLs use psycopg 3."""
    if target is None:
        target = os.environ.get(STORE_ENV) or default_store_path()
    text = os.fspath(target).strip()
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if "://" in text:  # sqlite:///..., postgresql+psycopg://... as given
        return text
    path = Path(text).expanduser()
    return f"sqlite:///{path.resolve()}"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases or an in-memory one)."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    rest = rest.split("?", 1)[0]
    return Path(rest) if rest and rest != ":memory:" else None
