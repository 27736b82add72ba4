"""The results store: one run folder, ``results.jsonl`` appended one record per finished job.

Schema history (bump ``SCHEMA_VERSION`` and note the change here):

* 1 (0.1.0): first version. One JSON object per job; units in the field names; per-iteration
  samples in ``samples/<n>-<slug>.json`` beside the records, named by ``samples_path``.

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

    def update_run_info(self, **fields: Any) -> None:
        path = self.run_dir / RUN_FILE
        info = json.loads(path.read_text()) if path.exists() else {}
        info.update(fields)
        _write_json(path, info)

    def write_samples(self, index: int, job_id: str, samples: dict[str, list[float]]) -> str:
        """Write a job's per-iteration samples; returns the path relative to the run folder."""
        rel = f"samples/{index:03d}-{slug(job_id)}.json"
        _write_json(self.run_dir / rel, samples)
        return rel

    def log_path(self, index: int, job_id: str) -> Path:
        return self.logs_dir / f"{index:03d}-{slug(job_id)}.log"

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

    A last line cut short by a crash is skipped; a record from a newer schema is refused.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise ResultsError(
            f"no results at {path}", hint="give the folder that `npubench run --out` wrote"
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # interrupted while writing the last line
                continue
            raise ResultsError(f"{path}:{number}: not a JSON record") from None
        version = record.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ResultsError(
                f"{path}:{number}: results schema version {version!r} is newer than this "
                f"npubench understands ({SCHEMA_VERSION})",
                hint="upgrade npubench to read these results",
            )
        yield record


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """The lines of a JSON-lines file that parse, in order; none when it does not exist. A
    line cut short by a kill, or being written now, is left out."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    return list(iter_records(run_dir))


def read_run_info(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def read_samples(run_dir: Path, record: dict[str, Any]) -> dict[str, list[float]]:
    """The per-iteration samples of a record, or an empty dict when there are none."""
    rel = record.get("samples_path")
    if not rel:
        return {}
    path = Path(run_dir) / rel
    if not path.exists():
        return {}
    return json.loads(path.read_text())
