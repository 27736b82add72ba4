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

from npubench.errors import ConfigError, NpubenchError, WorkloadError
from npubench.workloads.fetch import cache_dir, sha256_file
from npubench.workloads.generated import _atomic, _version
from npubench.workloads.llm_config import (
    LLM_PRECISIONS,
    DecoderConfig,
    memory_fit,
    memory_fit_message,
)

log = logging.getLogger(__name__)

DECODER_BUILDER_VERSION = 1  # bump when decoder_builder changes the graph for the same config
ALIGN = 4096  # external-data offsets: page-aligned, so ORT may mmap them
MEMORY_ENV = "NPUBENCH_MEMORY_AVAILABLE_MB"
"""Overrides what this machine is taken to have free (for a farm host shared with other work)."""
PHONE_SHARE_ENV = "NPUBENCH_PHONE_MEMORY_SHARE"
PHONE_MEMORY_SHARE = 0.6
"""The share of a phone's RAM (MemTotal) one app's model may take. Android keeps the rest for
the system, the launcher and cached apps, and its low-memory killer ends the foreground app
when it grows past that; 60% is what Off Grid (an on-device llama.cpp app) budgets before it
refuses to load a model (alichherawalla/off-grid-mobile-ai, docs technical/memory-management:
"a 60% safe limit of total device RAM", from DeviceInfo.getTotalMemory). Overridden by
$NPUBENCH_PHONE_MEMORY_SHARE (a fraction, e.g. 0.5)."""
PHONE_SHARE_SOURCE = ("share of the phone's RAM (MemTotal) an app's model may take: 60%, the "
                      "budget of the Off Grid on-device LLM app")


def available_memory_bytes() -> int:
    return host_memory_limit()[0]


def host_memory_limit() -> tuple[int, str]:
    """(bytes, where the figure comes from): $NPUBENCH_MEMORY_AVAILABLE_MB, else the memory
    psutil says is available now."""
    override = os.environ.get(MEMORY_ENV)
    if override:
        try:
            return int(float(override) * 2**20), f"${MEMORY_ENV}={override}"
        except ValueError:
            raise ConfigError(f"${MEMORY_ENV}={override!r} is not a number of MiB") from None
    import psutil

    return psutil.virtual_memory().available, "available memory of this host (psutil)"


def phone_memory_limit(ram_bytes: int) -> tuple[int, str]:
    """(bytes, source): the share of the phone's RAM an app's model may take."""
    text = os.environ.get(PHONE_SHARE_ENV)
    share, source = PHONE_MEMORY_SHARE, PHONE_SHARE_SOURCE
    if text:
        try:
            share = float(text)
        except ValueError:
            share = -1.0
        if not 0 < share <= 1:
            raise ConfigError(f"${PHONE_SHARE_ENV}={text!r} is not a fraction in (0, 1]",
                              hint="e.g. NPUBENCH_PHONE_MEMORY_SHARE=0.5")
        source = f"${PHONE_SHARE_ENV}={text} of the phone's RAM (MemTotal)"
    return int(ram_bytes * share), f"{source}: {share:g} x {ram_bytes / 2**30:.1f} GiB"


def device_memory_fit(device_info, config: DecoderConfig, precision: str, tokens: int,
                      fmt: str) -> dict[str, Any] | None:
    """The memory fit of a decoder on a device (``DeviceInfo``) before anything is built: on
    the host the ONNX form in ONNX Runtime against the memory available, on a phone the GGUF
    form in llama.cpp against its share of the phone's RAM. None where the limit is unknown (a
    phone that did not say its RAM)."""
    if device_info.kind == "host":
        limit, source = host_memory_limit()
    elif device_info.ram_bytes:
        limit, source = phone_memory_limit(device_info.ram_bytes)
    else:
        return None
    runtime = "llama.cpp" if fmt == "gguf" else "onnxruntime"
    return memory_fit(config, precision, tokens, runtime, limit, source)


def plan_memory_fit(device, workload) -> tuple[str | None, dict[str, Any] | None]:
    """(why the job cannot run, its memory fit) of an LLM workload on a device at plan time,
    so that nothing is built or pushed for a model the device cannot hold; (None, None) for
    a workload that is not a decoder of known shape, or a device of unknown memory."""
    llm = getattr(workload, "llm", None)
    if llm is None or llm.config is None or workload.precision not in LLM_PRECISIONS:
        return None, None
    info = getattr(device, "info", None)
    try:
        info = info() if info is not None else None
    except NpubenchError:  # a phone that does not answer: its job will say so
        info = None
    if info is None:
        return None, None
    fit = device_memory_fit(info, llm.config, workload.precision,
                            llm.prompt_tokens + llm.gen_tokens, workload.format)
    if fit is None or fit["fits"]:
        return None, fit
    return f"{memory_fit_message(workload.name, fit)}: {FIT_HINT}", fit


def check_fits(name: str, config: DecoderConfig, precision: str, tokens: int) -> None:
    """A WorkloadError with the estimate when running the model needs more memory than is
    free. Called before building, so that nothing is written for a model that cannot be used."""
    limit, source = host_memory_limit()
    fit = memory_fit(config, precision, tokens, "onnxruntime", limit, source)
    if not fit["fits"]:
        raise WorkloadError(memory_fit_message(name, fit), hint=FIT_HINT)


FIT_HINT = ("choose a smaller preset or a lower precision (int4), a shorter prompt, or free "
            f"memory (${MEMORY_ENV} sets what the host may use, ${PHONE_SHARE_ENV} the share "
            "of a phone's RAM)")


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
