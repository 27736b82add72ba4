"""sha256 of local files, remembered by (path, size, mtime, inode), so that pushing an
unchanged multi-GB model again does not read it again."""

from __future__ import annotations

import json
import os
from pathlib import Path

from npubench.workloads.fetch import cache_dir, sha256_file


class HashCache:
    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "sha256-cache.json"
        self._entries: dict[str, list] | None = None

    def _load(self) -> dict[str, list]:
        if self._entries is None:
            try:
                self._entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def sha256(self, file: Path) -> str:
        real = os.path.realpath(file)
        st = os.stat(real)
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        entries = self._load()
        cached = entries.get(real)
        if cached and cached[:3] == key:
            return cached[3]
        digest = sha256_file(Path(real))
        entries[real] = [*key, digest]
        self._save()
        return digest

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._entries))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs time
