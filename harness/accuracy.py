"""Accuracy beside speed: a delegate's outputs against a CPU reference on the same inputs.

``reference`` runs in a worker process (LiteRT on the host, builtin kernels, XNNPACK off) and
returns the seeded inputs and the reference outputs; ``compare`` is pure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = "host LiteRT CPU (builtin kernels, XNNPACK off)"


def reference(job: dict[str, Any]) -> dict[str, Any]:
    """Inputs (name, shape, bytes) and reference outputs of ``job['model_path']``: the host's
    own runner on ``tflite:cpu``, one thread, with the same seeded inputs."""
    from npubench.harness.backends import parse_backend
    from npubench.harness.runners import open_session

    session = open_session(Path(job["model_path"]), parse_backend("tflite:cpu?threads=1"),
                           job.get("inputs") or {}, job.get("seed", 0))
    session.invoke()
    return {
        "status": "ok",
        "inputs": [(name, tuple(a.shape), a.tobytes()) for name, a in session.inputs.items()],
        "outputs": [(o.dtype.str, o.shape, o.tobytes()) for o in session.outputs()],
    }


def compare(reference_outputs: list[tuple[str, tuple, bytes]], dumped: bytes) -> dict[str, Any]:
    """Max absolute error and cosine similarity of the dumped outputs (the tool writes each
    output tensor's raw bytes, in order) against the reference."""
    expected_size = sum(len(raw) for _, _, raw in reference_outputs)
    if len(dumped) != expected_size:
        return {"reference": REFERENCE, "max_abs_error": None, "cosine_similarity": None,
                "missing_reason": f"the tool dumped {len(dumped)} bytes of outputs, "
                                  f"{expected_size} expected"}
    got, want = [], []
    offset = 0
    for dtype, _shape, raw in reference_outputs:
        size = len(raw)
        got.append(np.frombuffer(dumped[offset:offset + size], dtype=np.dtype(dtype))
                   .astype(np.float64).ravel())
        want.append(np.frombuffer(raw, dtype=np.dtype(dtype)).astype(np.float64).ravel())
        offset += size
    a, b = np.concatenate(got), np.concatenate(want)
    finite = np.isfinite(a) & np.isfinite(b)
    max_abs = float(np.max(np.abs(a[finite] - b[finite]))) if finite.any() else None
    norm = float(np.linalg.norm(a[finite]) * np.linalg.norm(b[finite])) if finite.any() else 0
    if norm > 0:
        cosine = float(np.dot(a[finite], b[finite]) / norm)
    else:  # an all-zero output: identical is a perfect match, else the angle is undefined
        cosine = 1.0 if np.array_equal(a[finite], b[finite]) else None
    return {"reference": REFERENCE, "max_abs_error": max_abs, "cosine_similarity": cosine,
            "outputs": len(reference_outputs), "non_finite": int((~finite).sum())}


def write_inputs(folder: Path, inputs: list[tuple[str, tuple, bytes]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (_name, _shape, raw) in enumerate(inputs):
        path = folder / f"input{index}.bin"
        path.write_bytes(raw)
        paths.append(path)
    return paths
