"""Synthetic workloads: models npubench builds itself, or that installed packages ship.

Every model here has a real architecture and random or constant weights: valid for speed and
memory, never for accuracy, and labelled ``synthetic``.

- ``GeneratedModel``: built by a builder (``BUILDER_MODULES`` names its module) from (config,
  seed), as ONNX or, where the module has a TFLite emitter (``TFLITE_BUILDERS``), as TFLite;
  optionally quantized to int8 by ``quantize`` (ONNX: ``qdq`` static QDQ or ``dynamic``, with
  ``onnxruntime.quantization``; TFLite: ``int8`` full integer, with TFLite's own calibrator).
  A builder module may say the value range of its inputs (``INPUT_RANGE``) and a small
  configuration to calibrate on (``calibration_config``). Cached at ``generated/<key>/model.onnx``
  (or ``model.tflite``) where the key hashes the config, the seed and the versions of the
  libraries that shape the bytes; a second use does not rebuild.
- ``PackagedModel``: a model file inside an installed package, e.g. the constant-weight
  ``light_*`` models in ``onnx/backend/test/data/light``.
"""

from __future__ import annotations

import abc
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

log = logging.getLogger(__name__)

BUILDER_VERSION = 1  # bump when a builder changes the graph it makes for the same config
QUANTIZE_MODES = {"onnx": ("qdq", "dynamic"), "tflite": ("int8",)}
BUILDER_MODULES = {
    # builder name -> the module of npubench.workloads whose BUILDERS dict (ONNX) and, for
    # TFLite, TFLITE_BUILDERS dict hold it (imported only when a model is built, so listing the
    # workloads does not import onnx)
    "mobilenet_v2": "onnx_builders",
    "tiny_bert": "onnx_builders",
    "whisper_encoder": "whisper_builders", "whisper_decoder": "whisper_builders",
    "espcn": "camera_builders", "srvgg": "camera_builders", "ffdnet": "camera_builders",
    "zero_dce_pp": "camera_builders",
}
BUILDER_NAMES = tuple(BUILDER_MODULES)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


class BuiltModel(abc.ABC):
    """A model file npubench makes and caches: ``generated/<key()>/model.<format>`` with a
    ``.sha256`` sidecar, written atomically; subclasses give ``key``, ``build`` and ``format``."""

    name: str
    format: str

    @abc.abstractmethod
    def key(self) -> str:
        """Hash of everything that shapes the bytes (the cache folder's name)."""

    @abc.abstractmethod
    def build(self) -> bytes:
        """The model file's bytes (deterministic for the same key)."""

    def cache_path(self) -> Path:
        return cache_dir() / "generated" / self.key() / f"model.{self.format}"

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
        log.info("building model %s in %s", self.name, path.parent)
        data = self.build()
        with _atomic(path) as out:
            out.write_bytes(data)
        with _atomic(_sidecar(path)) as out:
            out.write_text(hashlib.sha256(data).hexdigest() + "\n")
        return path


@dataclass(frozen=True)
class GeneratedModel(BuiltModel):
    """A model built from ``builder`` with ``config`` (keyword arguments) and ``seed``."""

    name: str
    builder: str
    seed: int = 0
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    quantize: str | None = None
    format: str = "onnx"  # onnx | tflite

    def __post_init__(self) -> None:
        if self.builder not in BUILDER_NAMES:
            raise WorkloadError(f"{self.name}: unknown builder '{self.builder}'",
                                hint="known builders: " + ", ".join(BUILDER_NAMES))
        if self.format not in QUANTIZE_MODES:
            raise WorkloadError(f"{self.name}: a generated model cannot be '{self.format}'",
                                hint="generated formats: " + ", ".join(QUANTIZE_MODES))
        modes = QUANTIZE_MODES[self.format]
        if self.quantize is not None and self.quantize not in modes:
            raise WorkloadError(f"{self.name}: unknown quantize mode '{self.quantize}' for "
                                f"{self.format}", hint="known modes: " + ", ".join(modes))

    @property
    def source(self) -> str:
        return f"generated:{self.name}"

    def key(self) -> str:
        """Cache key: config + seed + the library versions that shape the bytes."""
        versions = {"onnx": _version("onnx"), "numpy": np.__version__.rsplit(".", 1)[0]}
        if self.format == "tflite":
            versions = {"ai-edge-litert": _version("ai-edge-litert"),
                        "flatbuffers": _version("flatbuffers"), "numpy": versions["numpy"]}
        elif self.quantize:
            versions["onnxruntime"] = _version("onnxruntime")
        spec = {"builder": self.builder, "builder_version": BUILDER_VERSION, "seed": self.seed,
                "config": dict(self.config), "quantize": self.quantize, "versions": versions}
        if self.format != "onnx":  # ONNX keys stay as they were (no rebuild of cached models)
            spec["format"] = self.format
        blob = json.dumps(spec, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def build(self) -> bytes:
        """The serialized model (deterministic for the same key)."""
        from npubench.workloads import quantize

        make = builder(self.builder, self.format)

        def serialized(config: Mapping[str, Any]) -> bytes:
            model = make(seed=self.seed, **dict(config))
            return model if isinstance(model, bytes) else model.SerializeToString()

        data = serialized(self.config)
        if not self.quantize:
            return data
        module = _builder_module(self.builder)
        value_range = getattr(module, "INPUT_RANGE", None)
        small = getattr(module, "calibration_config", lambda config: None)(dict(self.config))
        calibration = serialized(small) if small is not None else None
        if self.format == "tflite":
            return quantize.quantize_tflite(data, self.seed, value_range, calibration)
        return quantize.quantize_onnx(data, self.quantize, self.seed, value_range, calibration)


@dataclass(frozen=True)
class FramedModel(BuiltModel):
    """A real TFLite model (``inner``, e.g. a fetched MediaPipe model) run at a camera frame:
    the frame resized to the model's input, the output resized back to the frame
    (``tflite_writer.resize_around``). The model's weights are its own (trained)."""

    name: str
    inner: Any  # the origin of the real model (verified against ``inner_sha256`` when fetched)
    inner_sha256: str
    width: int
    height: int
    format: str = "tflite"

    @property
    def source(self) -> str:
        return f"{self.inner.source} (run at {self.width}x{self.height}: resized in and out)"

    def key(self) -> str:
        blob = json.dumps({"framed": self.inner_sha256, "width": self.width,
                           "height": self.height, "builder_version": BUILDER_VERSION,
                           "versions": {"ai-edge-litert": _version("ai-edge-litert"),
                                        "flatbuffers": _version("flatbuffers")}},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def build(self) -> bytes:
        from npubench.workloads.tflite_writer import resize_around

        return resize_around(self.inner.materialize().read_bytes(), self.width, self.height)


def _builder_module(name: str):
    import importlib

    return importlib.import_module(f"npubench.workloads.{BUILDER_MODULES[name]}")


def builder(name: str, fmt: str = "onnx"):
    """The builder function called ``name`` (see BUILDER_MODULES) for format ``fmt``."""
    module = _builder_module(name)
    table = module.BUILDERS if fmt == "onnx" else getattr(module, "TFLITE_BUILDERS", {})
    if name not in table:
        raise WorkloadError(f"builder '{name}' makes no {fmt} model",
                            hint=f"use format onnx, or a builder of {fmt}")
    return table[name]




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
