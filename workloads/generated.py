"""Synthetic workloads: models npubench builds itself, or that installed packages ship.

Every model here has a real architecture and random or constant weights: valid for speed and
memory, never for accuracy, and labelled ``synthetic``.

- ``GeneratedModel``: built by a builder of ``onnx_builders`` from (config, seed), optionally
  quantized to int8 with ``onnxruntime.quantization`` (``qdq``: static, QDQ format, calibrated on
  seeded random inputs; ``dynamic``: weights int8, activations quantized at run time). Cached at
  ``generated/<key>/model.onnx`` where the key hashes the config, the seed and the versions of the
  libraries that shape the bytes; a second use does not rebuild.
- ``PackagedModel``: a model file inside an installed package, e.g. the constant-weight
  ``light_*`` models in ``onnx/backend/test/data/light``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npubench.errors import WorkloadError
from npubench.workloads.fetch import cache_dir, sha256_file
from npubench.workloads.ort_session import inspection_session

log = logging.getLogger(__name__)

BUILDER_VERSION = 1  # bump when a builder changes the graph it makes for the same config
QUANTIZE_MODES = ("qdq", "dynamic")
BUILDER_MODULES = {
    # builder name -> the module of npubench.workloads whose BUILDERS dict holds it (imported
    # only when a model is built, so listing the workloads does not import onnx)
    "mobilenet_v2": "onnx_builders",
    "tiny_bert": "onnx_builders",
    "whisper_encoder": "whisper_builders", "whisper_decoder": "whisper_builders",
}
BUILDER_NAMES = tuple(BUILDER_MODULES)
CALIBRATION_SAMPLES = 8


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


@dataclass(frozen=True)
class GeneratedModel:
    """A model built from ``builder`` with ``config`` (keyword arguments) and ``seed``."""

    name: str
    builder: str
    seed: int = 0
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    quantize: str | None = None

    def __post_init__(self) -> None:
        if self.builder not in BUILDER_NAMES:
            raise WorkloadError(f"{self.name}: unknown builder '{self.builder}'",
                                hint="known builders: " + ", ".join(BUILDER_NAMES))
        if self.quantize is not None and self.quantize not in QUANTIZE_MODES:
            raise WorkloadError(f"{self.name}: unknown quantize mode '{self.quantize}'",
                                hint="known modes: " + ", ".join(QUANTIZE_MODES))

    @property
    def source(self) -> str:
        return f"generated:{self.name}"

    def key(self) -> str:
        """Cache key: config + seed + the library versions that shape the bytes."""
        versions = {"onnx": _version("onnx"), "numpy": np.__version__.rsplit(".", 1)[0]}
        if self.quantize:
            versions["onnxruntime"] = _version("onnxruntime")
        blob = json.dumps(
            {"builder": self.builder, "builder_version": BUILDER_VERSION, "seed": self.seed,
             "config": dict(self.config), "quantize": self.quantize, "versions": versions},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def cache_path(self) -> Path:
        return cache_dir() / "generated" / self.key() / "model.onnx"

    def cached(self) -> Path | None:
        path = self.cache_path()
        return path if path.is_file() and _sidecar(path).is_file() else None

    def cached_sha256(self) -> str | None:
        """The sha256 recorded when the model was built, if it is in the cache."""
        path = self.cached()
        return _sidecar(path).read_text().strip() if path else None

    def materialize(self) -> Path:
        """The cached model file, built now if missing or no longer matching its sha256."""
        path = self.cache_path()
        recorded = self.cached_sha256()
        if recorded is not None and sha256_file(path) == recorded:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("building synthetic model %s in %s", self.name, path.parent)
        data = self.build()
        with _atomic(path) as out:
            out.write_bytes(data)
        with _atomic(_sidecar(path)) as out:
            out.write_text(hashlib.sha256(data).hexdigest() + "\n")
        return path

    def build(self) -> bytes:
        """The serialized model (deterministic for the same key)."""
        model = builder(self.builder)(seed=self.seed, **dict(self.config))
        data = model.SerializeToString()
        if self.quantize:
            data = _quantize(data, self.quantize, self.seed)
        return data


def builder(name: str):
    """The builder function called ``name`` (see BUILDER_MODULES)."""
    import importlib

    module = importlib.import_module(f"npubench.workloads.{BUILDER_MODULES[name]}")
    return module.BUILDERS[name]


@dataclass(frozen=True)
class PackagedModel:
    """A model file shipped inside an installed Python package (used in place, not copied)."""

    name: str
    package: str  # import name, also the distribution name
    path_in_package: str

    @property
    def source(self) -> str:
        return f"installed:{self.package}=={_version(self.package)}!" \
               f"{self.package}/{self.path_in_package}"

    def cached(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(list(spec.submodule_search_locations)[0]) / self.path_in_package
        return path if path.is_file() else None

    def materialize(self) -> Path:
        path = self.cached()
        if path is None:
            raise WorkloadError(
                f"{self.name}: {self.package}/{self.path_in_package} is not installed",
                hint=f"install the '{self.package}' package (a version that ships this file)",
            )
        return path


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Write to a temp file beside ``path``, then move it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization warns on the root logger about pre-processing; hide that."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize(data: bytes, mode: str, seed: int) -> bytes:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    from npubench.workloads.inputs import make_inputs, specs_from_ort

    with tempfile.TemporaryDirectory(prefix="npubench-quant-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(data)
        with _quiet_root_logger():
            if mode == "dynamic":
                quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
            else:
                session = inspection_session(data)
                specs = specs_from_ort(session.get_inputs())
                del session
                samples = iter([make_inputs(specs, seed=seed + i)
                                for i in range(CALIBRATION_SAMPLES)])

                class Reader(CalibrationDataReader):
                    def get_next(self) -> dict | None:
                        return next(samples, None)

                quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return dst.read_bytes()
