"""The ADB key: reuse the user's ``~/.android/adbkey`` (so a phone that already trusts this
computer is not asked again), or create one with safe permissions when there is none."""

from __future__ import annotations

import os
from pathlib import Path

from npubench.errors import ConfigError


def adb_key_path() -> Path:
    """Where adb keeps its key: ``$ADB_VENDOR_KEYS`` is for extra keys, ``$ANDROID_USER_HOME``
    (or ``~/.android``) holds ``adbkey``."""
    home = os.environ.get("ANDROID_USER_HOME") or os.path.join(Path.home(), ".android")
    return Path(home) / "adbkey"


def load_signer(path: Path | None = None):
    """An adb-shell signer for the user's key, creating the key pair (mode 0600) if missing."""
    from adb_shell.auth.keygen import keygen
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    path = path or adb_key_path()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        old = os.umask(0o077)
        try:
            keygen(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
    try:
        return PythonRSASigner.FromRSAKeyPath(str(path))
    except Exception as exc:  # a key file that is not a key: say which and what to do
        raise ConfigError(f"cannot read the ADB key {path}: {exc}",
                          hint="move it away and npubench will create a new one") from None
