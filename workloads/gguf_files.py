"""GGUF files (llama.cpp's model format): anyone's read back, generated ones cached.

``write_gguf`` (in ``workloads.gguf_write``) writes a Llama-architecture GGUF with random
weights that llama.cpp loads as it would a converted model: the ``llama.*`` hyperparameters, a
SentencePiece-style vocabulary (``<unk>``, ``<s>``, ``</s>``, the 256 byte tokens, then
``tok_N``) and the tensors of its llama
architecture. Quantized weights are made as raw Q8_0 / Q4_0 blocks (a fp16 scale and 32 values),
never by quantizing floats, and written tensor by tensor: a 1B model never needs more memory
than its largest tensor (1.1B at int4: 591 MiB in about 3 s, 160 MiB peak RSS). llama.cpp
(as bundled in llama-cpp-python 0.3.36) loads these files at every precision and generates.

``read_gguf`` parses the header, the metadata and the tensor table itself, checking every length
and offset against the file, so that random bytes, another format or a truncated download become
a WorkloadError that says so (never a raw exception), and a 1B file is read in milliseconds
(the tensor data is not touched).

``GeneratedGguf`` is the origin of a generated decoder's GGUF: built once from (config,
precision, seed) into ``generated/<key>/model.gguf`` of the cache.
"""

from __future__ import annotations

import json
import logging
import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from npubench.errors import WorkloadError
from npubench.workloads.fetch import sha256_file
from npubench.workloads.generated import _atomic, _version
from npubench.workloads.gguf_write import GGUF_PRECISIONS, write_gguf
from npubench.workloads.llm_config import DecoderConfig
from npubench.workloads.llm_models import CachedBuild

__all__ = ["GGUF_PRECISIONS", "GeneratedGguf", "GgufInfo", "read_gguf", "write_gguf"]

log = logging.getLogger(__name__)

GGUF_BUILDER_VERSION = 1  # bump when write_gguf writes other bytes for the same arguments

_READ_HINT = ("give a GGUF model file (llama.cpp's format, version 2 or 3), e.g. one made by "
              "llama.cpp's convert_hf_to_gguf.py; download or copy it again if it was cut short")
_VERSIONS = (2, 3)  # llama.cpp refuses version 1 (its lengths are 32-bit)
_MAX_DIMS = 4  # GGML_MAX_DIMS
_SMALL_ARRAY = 4096
"""Numeric metadata arrays up to this length are read (per-layer values); longer are skipped."""
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}  # GGUFValueType -> struct format (little-endian)
_STRING, _ARRAY, _FLOAT32 = 8, 9, 6
_TYPE_PRECISION = {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "F64": "fp64", "Q8_0": "int8"}


@dataclass(frozen=True)
class GgufInfo:
    """What the header of a GGUF says about its model."""

    architecture: str  # general.architecture ("unknown" when absent)
    config: DecoderConfig | None  # from the {arch}.* keys; None when they do not describe one
    params: int  # sum of the tensors' element counts
    file_type: str | None  # general.file_type as llama.cpp names it ("Q4_0", "Q4_K_M", "F16")
    precision: str  # fp32 | fp16 | bf16 | int8 | int4 | mixed | unknown
    size_bytes: int
    name: str | None  # general.name


class _NotGguf(Exception):
    """Why a file is not a (readable) GGUF; read_gguf turns it into a WorkloadError."""


def read_gguf(path: Path | str) -> GgufInfo:
    """The model a GGUF file describes; WorkloadError ("PATH is not a GGUF file: why") for a
    file that is not one, is truncated, or has a version llama.cpp does not read."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise _NotGguf("the file is empty")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _parse(data, size)
    except FileNotFoundError:
        raise WorkloadError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise WorkloadError(f"{path} is not a file") from None
    except OSError as exc:
        raise WorkloadError(f"cannot read {path}: {exc.strerror or exc}") from None
    except _NotGguf as exc:
        raise WorkloadError(f"{path} is not a GGUF file: {exc}", hint=_READ_HINT) from None


class _Cursor:
    """Bounds-checked little-endian reads of a mapped file."""

    def __init__(self, data: Any, size: int):
        self.data, self.size, self.pos = data, size, 0

    def unpack(self, fmt: str, what: str) -> tuple:
        need = struct.calcsize("<" + fmt)
        if self.pos + need > self.size:
            raise _NotGguf(f"the file ends (at {self.size} bytes) inside {what}: it is truncated")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += need
        return values

    def u32(self, what: str) -> int:
        return self.unpack("I", what)[0]

    def u64(self, what: str) -> int:
        return self.unpack("Q", what)[0]

    def skip(self, count: int, what: str) -> None:
        if count > self.size - self.pos:
            raise _NotGguf(f"{what} claims {count} bytes, past the end of the file "
                           f"({self.size} bytes): it is truncated or corrupt")
        self.pos += count

    def raw_string(self, what: str) -> bytes:
        length = self.u64(f"the length of {what}")
        start = self.pos
        self.skip(length, what)
        return bytes(self.data[start:self.pos])

    def string(self, what: str) -> str:
        return self.raw_string(what).decode("utf-8", errors="replace")


def _parse(data: Any, size: int) -> GgufInfo:
    cur = _Cursor(data, size)
    magic = bytes(data[:4])
    if magic != b"GGUF":
        raise _NotGguf(f"it starts with {magic!r}, not the magic b'GGUF'")
    version = cur.unpack("4xI", "the header")[0]
    if version not in _VERSIONS:
        if version & 0xFFFF == 0 and (version >> 24) in _VERSIONS:
            raise _NotGguf("it is a big-endian GGUF, which llama.cpp reads only on big-endian "
                           "machines")
        raise _NotGguf(f"it has GGUF version {version}; llama.cpp reads versions 2 and 3")
    tensor_count, kv_count = cur.unpack("QQ", "the header")
    if kv_count * 13 > size or tensor_count * 24 > size:
        raise _NotGguf(f"its header claims {tensor_count} tensors and {kv_count} metadata "
                       f"entries, more than {size} bytes can hold: it is corrupt")
    meta: dict[str, Any] = {}
    lengths: dict[str, int] = {}  # metadata arrays: their lengths
    for i in range(kv_count):
        key = cur.string(f"the key of metadata entry {i}")
        if key in meta:
            raise _NotGguf(f"the metadata key {key!r} appears twice")
        meta[key] = _value(cur, cur.u32(f"the type of metadata entry {key!r}"), key, lengths)
    tensors = _tensor_table(cur, tensor_count)
    alignment = meta.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise _NotGguf(f"general.alignment is {alignment!r}, not a power of two")
    start = cur.pos + (-cur.pos % alignment)
    for name, _, _, offset, nbytes in tensors:
        if offset % alignment:
            raise _NotGguf(f"tensor {name!r} starts at offset {offset}, not a multiple of the "
                           f"alignment {alignment}: it is corrupt")
        if start + offset + nbytes > size:
            raise _NotGguf(f"the data of tensor {name!r} ends at byte {start + offset + nbytes}, "
                           f"past the end of the file ({size} bytes): it is truncated")
    return _info(meta, lengths, tensors, size)


def _value(cur: _Cursor, vtype: int, key: str, lengths: dict[str, int], depth: int = 0) -> Any:
    """A metadata value; arrays: a tuple when numeric and short, else None (length in
    ``lengths``)."""
    if vtype in _SCALARS:
        value = cur.unpack(_SCALARS[vtype], f"the value of {key!r}")[0]
        return _shortest_float32(value) if vtype == _FLOAT32 else value
    if vtype == _STRING:
        return cur.string(f"the value of {key!r}")
    if vtype != _ARRAY or depth > 1:
        raise _NotGguf(f"metadata entry {key!r} has the unknown value type {vtype}")
    item_type, count = cur.unpack("IQ", f"the array {key!r}")
    if depth == 0:
        lengths[key] = count
    if item_type in _SCALARS:
        fmt = _SCALARS[item_type]
        nbytes = count * struct.calcsize(fmt)
        if count <= _SMALL_ARRAY:
            return cur.unpack(f"{count}{fmt}", f"the array {key!r}")
        cur.skip(nbytes, f"the array {key!r}")
        return None
    if count * 8 > cur.size - cur.pos:  # each string or array needs at least 8 bytes
        raise _NotGguf(f"the array {key!r} claims {count} items, more than the rest of the file "
                       "can hold: it is truncated or corrupt")
    for i in range(count):
        if item_type == _STRING:
            cur.skip(cur.u64(f"item {i} of {key!r}"), f"item {i} of {key!r}")
        else:
            _value(cur, item_type, f"{key}[{i}]", lengths, depth + 1)
    return None


def _shortest_float32(value: float) -> float:
    """A float32 as the shortest decimal that reads back to it (1e-05, not 9.99999974e-06)."""
    return float(str(np.float32(value)))


def _tensor_table(cur: _Cursor, count: int) -> list[tuple[str, tuple[int, ...], str, int, int]]:
    """(name, GGML dims (ne, innermost first), type name, offset, bytes) of each tensor."""
    import gguf

    tensors = []
    names = set()
    for i in range(count):
        name = cur.string(f"the name of tensor {i}")
        if name in names:
            raise _NotGguf(f"tensor {name!r} appears twice")
        names.add(name)
        n_dims = cur.u32(f"tensor {name!r}")
        if n_dims > _MAX_DIMS:
            raise _NotGguf(f"tensor {name!r} has {n_dims} dimensions (GGML allows at most "
                           f"{_MAX_DIMS}): it is corrupt")
        dims = cur.unpack(f"{n_dims}Q", f"tensor {name!r}")
        type_id, offset = cur.unpack("IQ", f"tensor {name!r}")
        try:
            kind = gguf.GGMLQuantizationType(type_id)
            block, type_size = gguf.GGML_QUANT_SIZES[kind]
        except (ValueError, KeyError):
            raise _NotGguf(f"tensor {name!r} has the unknown type {type_id}") from None
        elements = math.prod(dims)
        if dims and dims[0] % block:
            raise _NotGguf(f"tensor {name!r} has rows of {dims[0]} values, not a multiple of "
                           f"the {block}-value blocks of its type {kind.name}")
        tensors.append((name, tuple(dims), kind.name, offset, elements // block * type_size))
    return tensors


def _info(meta: dict[str, Any], lengths: dict[str, int], tensors: list, size: int) -> GgufInfo:
    import gguf

    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) and arch else "unknown"
    weights: dict[str, int] = {}  # type name -> elements of the 2-D tensors of that type
    params = 0
    for _, dims, kind, _, _ in tensors:
        elements = math.prod(dims)
        params += elements
        if len(dims) == 2:
            weights[kind] = weights.get(kind, 0) + elements
    majority = max(weights, key=weights.__getitem__) if weights else None
    file_type = majority
    ftype = meta.get("general.file_type")
    if isinstance(ftype, int) and not isinstance(ftype, bool):
        try:
            member = gguf.LlamaFileType(ftype & ~int(gguf.LlamaFileType.GUESSED))
            file_type = member.name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    name = meta.get("general.name")
    return GgufInfo(architecture=arch, config=_config(meta, lengths, tensors, arch),
                    params=params, file_type=file_type,
                    precision=_precision_word(file_type) if file_type else "unknown",
                    size_bytes=size, name=name if isinstance(name, str) else None)


def _precision_word(type_name: str) -> str:
    """npubench's word for a GGML type or llama.cpp file type: Q4_* / IQ4_* / MXFP4 are int4,
    Q8_0 int8; the other quantizations (2, 3, 5, 6 bits, k-quant mixes) are "mixed"."""
    if type_name in _TYPE_PRECISION:
        return _TYPE_PRECISION[type_name]
    if type_name.startswith(("Q4", "IQ4", "MXFP4", "NVFP4")):
        return "int4"
    return "mixed"


def _config(meta: dict[str, Any], lengths: dict[str, int], tensors: list,
            arch: str) -> DecoderConfig | None:
    """The decoder the ``{arch}.*`` keys describe, as they say it (not checked against
    DecoderConfig.check: a real model may have other shapes); None when keys are missing."""

    def whole(key: str) -> int | None:
        value = meta.get(f"{arch}.{key}")
        if isinstance(value, tuple):  # per-layer values: one config only when all agree
            value = value[0] if value and all(v == value[0] for v in value) else None
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return value if ok else None

    def real(key: str, default: float) -> float:
        value = meta.get(f"{arch}.{key}")
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        return float(value) if ok else default

    needed = {"layers": whole("block_count"), "hidden": whole("embedding_length"),
              "heads": whole("attention.head_count"),
              "intermediate": whole("feed_forward_length"),
              "context": whole("context_length")}
    if any(v is None for v in needed.values()):
        return None
    embedding = [dims for name, dims, *_ in tensors if name == "token_embd.weight"]
    vocab = (whole("vocab_size") or lengths.get("tokenizer.ggml.tokens")
             or (embedding[0][1] if embedding and len(embedding[0]) == 2 else None))
    if not vocab:
        return None
    return DecoderConfig(**needed, kv_heads=whole("attention.head_count_kv") or needed["heads"],
                         vocab=vocab, rope_theta=real("rope.freq_base", 10000.0),
                         norm_eps=real("attention.layer_norm_rms_epsilon", 1e-5))


# --- generated GGUF files in the cache -----------------------------------------------------------


@dataclass(frozen=True)
class GeneratedGguf(CachedBuild):
    """The origin of a generated decoder's GGUF (for llama.cpp): ``materialize()`` writes it
    on first use into ``generated/<key>/model.gguf`` of the cache, with a manifest."""

    FILENAME: ClassVar[str] = "model.gguf"
    name: str
    config: DecoderConfig
    precision: str
    seed: int = 0

    def key_fields(self) -> dict[str, Any]:
        return {"builder": "llama_gguf", "version": GGUF_BUILDER_VERSION,
                "config": self.config.to_record(), "precision": self.precision,
                "seed": self.seed, "gguf": _version("gguf")}

    def cached_sha256(self) -> str | None:
        """sha256 of model.gguf as built, if it is in the cache."""
        if self.cached() is None:
            return None
        return json.loads(self._manifest().read_text())["sha256"]

    def materialize(self) -> Path:
        """The cached GGUF (checked by size: hashing a gigabyte on every use would cost
        seconds); written now if missing or changed."""
        path = self.cache_path()
        if self.cached() is not None and self._intact():
            return path
        # no memory check: the file is written tensor by tensor (peak: the largest tensor);
        # whether the phone can hold the model is for llama.cpp on the phone to say
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("writing synthetic GGUF %s (%s) in %s", self.name, self.precision, path.parent)
        with _atomic(path) as out:
            write_gguf(out, self.config, self.precision, self.seed)
        with _atomic(self._manifest()) as out:
            out.write_text(json.dumps({"sha256": sha256_file(path),
                                       "size_bytes": path.stat().st_size,
                                       "config": self.config.to_record(),
                                       "precision": self.precision, "seed": self.seed},
                                      indent=1, sort_keys=True))
        return path

    def _intact(self) -> bool:
        try:
            manifest = json.loads(self._manifest().read_text())
            return self.cache_path().stat().st_size == manifest["size_bytes"]
        except (OSError, ValueError, KeyError):
            return False
