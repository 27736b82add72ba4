"""Runners: open one (workload, backend) on the host as a Session whose ``invoke()`` is timed.

Runtimes are imported inside ``open_session`` only, never at module import time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench.errors import BackendUnavailable
from npubench.harness.backends import BackendSpec


@dataclass
class Session:
    """A loaded model ready to run: ``invoke()`` runs one inference on inputs already set."""

    invoke: Callable[[], object]
    init_ms: float
    library: str
    library_version: str
    details: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    """The seeded input arrays, by input name, in the model's input order."""
    outputs: Callable[[], list] = list
    """The output arrays of the last ``invoke()``."""


def open_session(
    model_path: Path,
    backend: BackendSpec,
    input_overrides: Mapping[str, Any] | None,
    seed: int,
) -> Session:
    """Load ``model_path`` on ``backend`` and set deterministic inputs."""
    if backend.runtime == "tflite":
        from npubench.harness.runners.tflite import open_tflite

        return open_tflite(model_path, backend, input_overrides, seed)
    if backend.runtime == "ort":
        from npubench.harness.runners.ort import open_ort

        return open_ort(model_path, backend, input_overrides, seed)
    raise BackendUnavailable(f"{backend}: no host runner for runtime {backend.runtime!r}")
