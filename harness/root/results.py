"""The results store: one run folder, ``results.jsonl`` appended one record per finished job.

Schema history (bump ``SCHEMA_VERSION`` and note the change here):

* 1 (0.1.0): first version. One JSON object per job; units in the field names; per-iteration
  samples in ``samples/<n>-<slug>.json`` beside the records, named by ``samples_path``.
  Newer runs name the samples and log files by job id (``<slug>-<hash>``), not by the job's
  index, so that a resumed run never writes over another job's files; readers follow
  ``samples_path`` and ``log_path`` and read both namings.

Optional fields added within version 1 (older records lack them; readers must not need them):

* ``delegation.delegates``: one verdict per delegate the tool or the runtime applied, in the
  order applied (``delegate``, ``kernel``, ``nodes_total``, ``nodes_delegated``, ``kernels``,
  ``status``, ``applied_by``); the rest of ``delegation`` is the verdict of the backend's own
  delegate.
* LLM jobs on a phone, ``delegation``: ``devices`` (llama-bench's ``devices`` field), ``ran_on``,
  ``expected_on`` and ``placement_from`` (``devices``, or ``backends`` where the build does not
  name its devices).
* ``precision`` (ONNX Runtime host jobs of a model holding float16): ``model`` (fp16 or
  fp16+fp32), ``inputs`` and ``weights`` types, ``provider``, ``executed`` (what ran at fp32:
  ``nodes_at_fp32`` of ``nodes_total``, ``ops_at_fp32``, ``casts_inserted``, ``source``), or
  ``executed: null`` with ``missing_reason``.
* ``memory_fit`` (LLM jobs of a generated decoder, decided at plan time; a ``skipped`` record
  when ``fits`` is false): ``fits``, ``need_bytes``, ``weights_bytes``, ``kv_cache_bytes``,
  ``runtime_bytes``, ``limit_bytes``, ``limit_source``, ``runtime`` (onnxruntime | llama.cpp),
  ``tokens``, ``precision``, ``params``.
* LLM jobs on the host, ``llm.memory``: ``peak_mb``, ``weights_plus_kv_mb``, ``ratio``,
  ``target_ratio``, ``parts_mb`` (``before_load``, ``weights``, ``prepacked_block_sums``,
  ``kv_cache``, ``rest``), ``measured_mb`` (/proc readings at load and at the end), ``source``.

A run folder::

    RUN_DIR/results.jsonl     one record per job, appended as each job ends
    RUN_DIR/run.json          the run's identity, host and versions (written at start)
    RUN_DIR/samples/*.json    per-iteration latencies of each job (``latency_ms``, ``warmup_ms``)
    RUN_DIR/logs/*.log        what each job's worker printed
    RUN_DIR/report.html       the report, made from the files above
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from npubench.errors import ResultsError

SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (job ids contain ':' '?' '/' and worse)."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_")[:80] or "job"


def job_file_stem(job_id: str) -> str:
    """A job's file name without suffix: its id made file-safe, and a short hash of the id so
    that two ids that make the same slug (``a:b``, ``a?b``) never share a file."""
    return f"{slug(job_id)[:70]}-{hashlib.sha1(job_id.encode()).hexdigest()[:8]}"


def holds_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a run already (its run.json or results.jsonl): a new run must
    not write over it."""
    path = Path(run_dir)
    return (path / RUN_FILE).exists() or (path / RESULTS_FILE).exists()


class RunStore:
    """Writes one run folder. Every record is flushed and fsynced as soon as it is appended."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.samples_dir = self.run_dir / "samples"
        self.logs_dir = self.run_dir / "logs"

    def create(self, run_info: dict[str, Any]) -> None:
        for d in (self.run_dir, self.samples_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        info = {"schema_version": SCHEMA_VERSION, **run_info}
        _write_json(self.run_dir / RUN_FILE, info)

    def reopen(self) -> bool:
        """Make a run folder ready for more records (``npubench run --resume``): a last line
        of results.jsonl cut short by a kill is cut off, so that the next record starts a
        line of its own; returns whether one was cut."""
        for d in (self.samples_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / RESULTS_FILE
        if not path.exists():
            return False
        data = path.read_bytes()
        if not data or data.endswith(b"\n"):
            return False
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def update_run_info(self, **fields: Any) -> None:
        path = self.run_dir / RUN_FILE
        info = read_run_info(self.run_dir)  # a damaged run.json: a ResultsError naming it
        info.update(fields)
        _write_json(path, info)

    def write_samples(self, index: int, job_id: str, samples: dict[str, list[float]]) -> str:
        """Write a job's per-iteration samples; returns the path relative to the run folder.
        The file is named by ``job_id`` (``index`` is no part of it: a resumed run plans the
        same jobs again, and a job's files must not depend on what else is planned)."""
        rel = f"samples/{job_file_stem(job_id)}.json"
        _write_json(self.run_dir / rel, samples)
        return rel

    def log_path(self, index: int, job_id: str) -> Path:
        """Where a job's worker log goes, named by ``job_id`` as its samples are."""
        return self.logs_dir / f"{job_file_stem(job_id)}.log"

    def append(self, record: dict[str, Any]) -> None:
        record = {"schema_version": SCHEMA_VERSION, **record}
        line = json.dumps(record, allow_nan=False, default=_json_default)
        with open(self.run_dir / RESULTS_FILE, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _json_default(value: Any) -> Any:
    # numpy scalars and paths reach records from runners; make them plain.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` (parents created) through a temporary file and a rename, so
    a reader never sees half a file; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False, default=_json_default))


def iter_records(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a run folder (or a ``results.jsonl`` path).

    A last line cut short by a crash is skipped with a warning; a line that is not a JSON
    object, or a record from a newer schema, is refused.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise ResultsError(
            f"no results at {path}", hint="give the folder that `npubench run --out` wrote"
        )
    for number, record, last in _json_lines(path):
        if record is _UNREADABLE:
            if last:  # interrupted while writing the last line
                _warn_once(path, f"{path}:{number}: the last line is cut short (the run was "
                           "interrupted while writing it); it is left out")
                continue
            raise ResultsError(f"{path}:{number}: not a JSON record",
                               hint="results.jsonl holds one JSON object per line, as "
                               "`npubench run` writes it") from None
        if not isinstance(record, dict):
            raise ResultsError(f"{path}:{number}: not a JSON object but a "
                               f"{type(record).__name__}",
                               hint="results.jsonl holds one JSON object per line, as "
                               "`npubench run` writes it")
        version = record.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ResultsError(
                f"{path}:{number}: results schema version {version!r} is newer than this "
                f"npubench understands ({SCHEMA_VERSION})",
                hint="upgrade npubench to read these results",
            )
        yield record


_UNREADABLE = object()
"""What ``_json_lines`` gives for a line that is not JSON (or not UTF-8)."""
_warned: set[tuple[str, str]] = set()


def _json_lines(path: Path) -> Iterator[tuple[int, Any, bool]]:
    """``(line number, value or _UNREADABLE, whether it is the last line)`` for each non-blank
    line of a JSON-lines file, read as bytes so that one bad byte spoils only its line."""
    lines = [(n, line) for n, line in enumerate(path.read_bytes().splitlines(), 1)
             if line.strip()]
    for i, (number, line) in enumerate(lines):
        try:
            value = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            value = _UNREADABLE
        yield number, value, i == len(lines) - 1


def _warn_once(path: Path, message: str) -> None:
    """Log ``message`` once per file and message (a report reads the records more than once)."""
    import logging

    if (str(path), message) not in _warned:
        _warned.add((str(path), message))
        logging.getLogger("npubench.results").warning("warning: %s", message)


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """The lines of a JSON-lines file that parse, in order; none when it does not exist. A
    line cut short by a kill, or being written now, is left out."""
    path = Path(path)
    if not path.exists():
        return []
    return [value for _, value, _ in _json_lines(path) if value is not _UNREADABLE]


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    return list(iter_records(run_dir))


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """The run's run.json (empty when there is none); a file cut short or not a JSON object is
    a ResultsError that names it."""
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        return {}
    info = _read_json_file(path, "the run's description")
    if not isinstance(info, dict):
        raise ResultsError(f"{path}: not a JSON object",
                           hint="run.json is written by `npubench run` at the start of a run")
    return info


def _read_json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: {what} is not valid JSON (cut short or damaged: {exc})",
                           hint="restore the file from a copy, or delete it: the records in "
                           "results.jsonl do not need it") from None


def read_samples(run_dir: Path, record: dict[str, Any]) -> dict[str, list[float]]:
    """The per-iteration samples of a record, or an empty dict when there are none."""
    rel = record.get("samples_path")
    if not rel:
        return {}
    path = Path(run_dir) / rel
    if not path.exists():
        return {}
    try:
        samples = _read_json_file(path, "a job's samples file")
    except ResultsError as exc:  # the record keeps its summary: show it without the samples
        _warn_once(path, f"{exc.message}; that job is shown without its samples")
        return {}
    return samples if isinstance(samples, dict) else {}
