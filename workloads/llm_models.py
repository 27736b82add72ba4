"""Generated decoder models on disk: built once from (config, precision, seed), cached by key.

A decoder is ``model.onnx`` plus its weights in ``model.onnx.data`` (ONNX external data, each
tensor aligned to a page so that ONNX Runtime can map it), in ``generated/<key>/`` of the cache,
where the key hashes everything that shapes the bytes. Each weight is written as it is made, so
building a 1B model never holds more than one matrix in memory; a model too large for the memory
this machine has free is refused before anything is built, with the estimate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from npubench.errors import WorkloadError
from npubench.workloads.fetch import cache_dir, sha256_file
from npubench.workloads.generated import _atomic, _version
from npubench.workloads.llm_config import DecoderConfig

log = logging.getLogger(__name__)

DECODER_BUILDER_VERSION = 1  # bump when decoder_builder changes the graph for the same config
ALIGN = 4096  # external-data offsets: page-aligned, so ORT may mmap them
MEMORY_ENV = "NPUBENCH_MEMORY_AVAILABLE_MB"
"""Overrides what this machine is taken to have free (for a farm host shared with other work)."""


def available_memory_bytes() -> int:
    override = os.environ.get(MEMORY_ENV)
    if override:
        return int(float(override) * 2**20)
    import psutil

    return psutil.virtual_memory().available


def check_fits(name: str, config: DecoderConfig, precision: str, tokens: int) -> None:
    """A WorkloadError with the estimate when running the model needs more memory than is
    free. Called before building, so that nothing is written for a model that cannot be used."""
    estimate = config.memory_estimate(precision, tokens)
    free = available_memory_bytes()
    need = estimate["run"]
    if need > free:
        gib = 2**30
        raise WorkloadError(
            f"{name}: {config.param_count() / 1e9:.2f}B parameters at {precision} need about "
            f"{need / gib:.1f} GiB to run (weights {estimate['weights'] / gib:.1f} GiB + KV cache "
            f"{estimate['kv_cache'] / gib:.2f} GiB for {tokens} tokens + runtime), but only "
            f"{free / gib:.1f} GiB of memory is available",
            hint="choose a smaller preset or a lower precision (int4), or free memory")


class ExternalData:
    """A ``Store`` for decoder_builder: appends each weight to one data file, page-aligned."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.offset = 0

    def __call__(self, name: str, array: np.ndarray):
        from onnx import TensorProto, helper

        pad = -self.offset % ALIGN
        if pad:
            self.file.write(b"\0" * pad)
            self.offset += pad
        data = np.ascontiguousarray(array)
        self.file.write(data.data)
        tensor = TensorProto(name=name, dims=list(data.shape),
                             data_type=helper.np_dtype_to_tensor_dtype(data.dtype),
                             data_location=TensorProto.EXTERNAL)
        for key, value in (("location", self.path.name), ("offset", str(self.offset)),
                           ("length", str(data.nbytes))):
            tensor.external_data.add(key=key, value=value)
        self.offset += data.nbytes
        return tensor

    def close(self) -> None:
        self.file.close()


class CachedBuild:
    """What generated LLM files share: built once into ``generated/<key>/FILENAME`` of the
    cache, where the key hashes everything that shapes the bytes (``key_fields()``), with a
    ``manifest.json`` written last (a build cut short leaves no manifest, so it is redone)."""

    FILENAME: ClassVar[str]
    name: str

    @property
    def source(self) -> str:
        return f"generated:{self.name}"

    def key(self) -> str:
        fields = {**self.key_fields(), "numpy": np.__version__.rsplit(".", 1)[0]}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]

    def cache_path(self) -> Path:
        return cache_dir() / "generated" / self.key() / self.FILENAME

    def _manifest(self) -> Path:
        return self.cache_path().with_name("manifest.json")

    def cached(self) -> Path | None:
        path = self.cache_path()
        return path if path.is_file() and self._manifest().is_file() else None


@dataclass(frozen=True)
class GeneratedDecoder(CachedBuild):
    """The origin of a decoder workload: ``materialize()`` builds it on first use."""

    FILENAME: ClassVar[str] = "model.onnx"
    name: str
    config: DecoderConfig
    precision: str
    seed: int = 0
    tokens: int = 640  # prompt + generated: what the memory check reserves KV cache for

    def key_fields(self) -> dict[str, Any]:
        return {"builder": "llama_decoder", "version": DECODER_BUILDER_VERSION,
                "config": self.config.to_record(), "precision": self.precision,
                "seed": self.seed, "onnx": _version("onnx")}

    def cached_sha256(self) -> str | None:
        """sha256 of model.onnx (which names its data file, offsets and lengths), as built."""
        if self.cached() is None:
            return None
        return json.loads(self._manifest().read_text())["files"]["model.onnx"]

    def files(self) -> dict[str, int]:
        """Bytes of each file of the built model (model.onnx and its data)."""
        folder = self.cache_path().parent
        manifest = json.loads(self._manifest().read_text())
        return {name: (folder / name).stat().st_size for name in manifest["files"]}

    def materialize(self) -> Path:
        """The cached model, checked against its manifest; built now if missing or changed."""
        path = self.cache_path()
        if self.cached() is not None and self._intact():
            return path
        check_fits(self.name, self.config, self.precision, self.tokens)
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("building synthetic decoder %s (%s) in %s", self.name, self.precision,
                 path.parent)
        self._build(path)
        return path

    def _intact(self) -> bool:
        """Every file has the size the manifest says, and model.onnx its sha256 (the data file
        is checked by size: hashing gigabytes on every use would cost seconds)."""
        folder = self.cache_path().parent
        manifest = json.loads(self._manifest().read_text())
        for name, digest in manifest["files"].items():
            file = folder / name
            if not file.is_file() or file.stat().st_size != manifest["sizes"][name]:
                return False
            if name == "model.onnx" and sha256_file(file) != digest:
                return False
        return True

    def _build(self, path: Path) -> None:
        from npubench.workloads.decoder_builder import build_decoder

        data_path = path.with_name("model.onnx.data")
        store = ExternalData(data_path)
        try:
            model = build_decoder(self.config, self.precision, self.seed, store=store)
        finally:
            store.close()
        with _atomic(path) as out:
            out.write_bytes(model.SerializeToString())
        files = {name: sha256_file(path.with_name(name))
                 for name in ("model.onnx", "model.onnx.data")}
        sizes = {name: path.with_name(name).stat().st_size for name in files}
        with _atomic(self._manifest()) as out:
            out.write_text(json.dumps({"files": files, "sizes": sizes,
                                       "config": self.config.to_record(),
                                       "precision": self.precision, "seed": self.seed},
                                      indent=1, sort_keys=True))
