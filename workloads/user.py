"""A user's own model file: checks that catch garbage early, and a cheap precision guess.

``check_model_file`` refuses what is obviously not a model (random bytes, a truncated or corrupt
file) with a message that says so, before a runtime gets a chance to fail obscurely on it. For
TFLite it walks the flatbuffer's top-level structure (root table, subgraphs, tensors, buffers)
and checks every offset stays inside the file; for ONNX it parses the protobuf and checks that
the graph is connected; for GGUF (llama.cpp's format) it reads the header, metadata and tensor
table with ``gguf_files.read_gguf``, checking that every tensor's data lies inside the file.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from npubench.errors import WorkloadError
from npubench.workloads.fetch import sha256_file

FORMATS = {".tflite": "tflite", ".onnx": "onnx", ".gguf": "gguf"}

# TFLite TensorType enum values (schema.fbs) -> precision words.
_TFLITE_TYPES = {0: "fp32", 1: "fp16", 3: "int8", 7: "int16", 9: "int8", 10: "fp64", 17: "int4",
                 18: "bf16"}
_ONNX_TYPES = {1: "fp32", 10: "fp16", 2: "int8", 3: "int8"}  # FLOAT, FLOAT16, UINT8, INT8
_ONNX_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
                   "MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul"}


@dataclass(frozen=True)
class UserModel:
    """A model file named by the user; its bytes are pinned by the sha256 taken at resolve time."""

    path: Path
    sha256: str

    @property
    def source(self) -> str:
        return f"user:{self.path}"

    def cached(self) -> Path | None:
        return self.path if self.path.is_file() else None

    def materialize(self) -> Path:
        if not self.path.is_file():
            raise WorkloadError(f"model file not found: {self.path}")
        actual = sha256_file(self.path)
        if actual != self.sha256:
            raise WorkloadError(f"model file {self.path} changed since it was resolved "
                                f"(sha256 {self.sha256} -> {actual})")
        return self.path


def model_format(path: Path) -> str:
    """'tflite', 'onnx' or 'gguf' from the file extension; WorkloadError for anything else."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise WorkloadError(
            f"{path}: unsupported model file extension '{path.suffix or '(none)'}'",
            hint="npubench runs .tflite, .onnx and .gguf files",
        )
    return fmt


def inspect_user_model(text: str) -> tuple[UserModel, str, str]:
    """(origin, format, precision) of a user's model path; WorkloadError when it is unusable."""
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise WorkloadError(f"model file not found: {path}",
                            hint="give a builtin workload name or the path of a .tflite, .onnx or "
                                 ".gguf file")
    if not path.is_file():
        raise WorkloadError(f"{path} is not a file")
    fmt = model_format(path)
    precision = check_model_file(path, fmt)
    return UserModel(path, sha256_file(path)), fmt, precision


def check_model_file(path: Path | str, format: str) -> str:
    """Raise WorkloadError when ``path`` is not a valid ``format`` model; else return a precision
    guess (fp32, fp16, int8, int4 or unknown; a GGUF's from its file type, also bf16 or mixed)."""
    path = Path(path)
    if format == "tflite":
        return _check_tflite(path)
    if format == "onnx":
        return _check_onnx(path)
    if format == "gguf":
        from npubench.workloads.gguf_files import read_gguf

        return read_gguf(path).precision
    raise WorkloadError(f"{path}: unknown model format '{format}'")


def _invalid(path: Path, fmt: str, why: str) -> WorkloadError:
    return WorkloadError(f"{path} is not a valid {fmt} model ({why}): the file is truncated, "
                         f"corrupt or of another kind")


class _FlatBuffer:
    """Bounds-checked reads of a flatbuffer (just what the TFLite check needs)."""

    def __init__(self, data: bytes | mmap.mmap):
        self.data = data

    def read(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise ValueError(f"offset {pos} is outside the file ({len(self.data)} bytes)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int) -> int:
        """Position of the table referenced by the uoffset at ``pos`` (its inline part checked)."""
        table = pos + self.read("<I", pos)
        vtable = table - self.read("<i", table)
        if table + self.read("<H", vtable + 2) > len(self.data):
            raise ValueError(f"a table at {table} runs past the end")
        return table

    def field(self, table: int, index: int) -> int | None:
        """Position of field ``index`` of ``table``, None when absent."""
        vtable = table - self.read("<i", table)
        vsize = self.read("<H", vtable)
        if 4 + 2 * index >= vsize:
            return None
        offset = self.read("<H", vtable + 4 + 2 * index)
        return table + offset if offset else None

    def vector(self, table: int, index: int, item_size: int) -> tuple[int, int]:
        """(start, length) of a vector (or string) field; (0, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        start = pos + self.read("<I", pos)
        length = self.read("<I", start)
        if start + 4 + length * item_size > len(self.data):
            raise ValueError(f"a vector of {length} items at {start} runs past the end")
        return start + 4, length

    def tables(self, table: int, index: int) -> list[int]:
        """The tables of a vector-of-tables field."""
        start, length = self.vector(table, index, 4)
        return [self.table(start + 4 * i) for i in range(length)]


def _check_tflite(path: Path) -> str:
    """Walk the flatbuffer in a read-only map of the file: only the pages of its structure are
    read, never the weights (a 4 GB model is not loaded to check its header)."""
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size < 8:
                raise _invalid(path, "TFLite", "shorter than a flatbuffer header")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _walk_tflite(path, data)
    except OSError as exc:
        raise WorkloadError(f"cannot read {path}: {exc.strerror or exc}") from None


def _walk_tflite(path: Path, data) -> str:
    if data[4:8] != b"TFL3":
        raise _invalid(path, "TFLite", "no TFL3 flatbuffer identifier at bytes 4..8")
    fb = _FlatBuffer(data)
    weight_bytes: Counter[str] = Counter()
    try:
        model = fb.table(0)
        for code in fb.tables(model, 1):  # operator_codes
            fb.vector(code, 1, 1)  # custom_code
        fb.vector(model, 3, 1)  # description
        buffer_bytes = []
        for i, buf in enumerate(fb.tables(model, 4)):
            _, size = fb.vector(buf, 0, 1)
            offset_pos, size_pos = fb.field(buf, 1), fb.field(buf, 2)
            if offset_pos is not None and size_pos is not None:  # data stored after the flatbuffer
                offset, size = fb.read("<Q", offset_pos), fb.read("<Q", size_pos)
                if offset + size > len(data):
                    raise ValueError(f"buffer {i} lies past the end of the file")
            buffer_bytes.append(size)
        for entry in fb.tables(model, 6):  # metadata
            fb.vector(entry, 0, 1)
        fb.tables(model, 7)  # signature_defs
        subgraphs = fb.tables(model, 2)
        if not subgraphs:
            raise ValueError("no subgraph")
        for graph in subgraphs:
            for vector in (1, 2):  # inputs, outputs
                fb.vector(graph, vector, 4)
            for op in fb.tables(graph, 3):
                for vector in (1, 2):
                    fb.vector(op, vector, 4)
            for t, tensor in enumerate(fb.tables(graph, 0)):
                fb.vector(tensor, 0, 4)  # shape
                fb.vector(tensor, 3, 1)  # name
                type_pos, buffer_pos = fb.field(tensor, 1), fb.field(tensor, 2)
                kind = fb.read("<b", type_pos) if type_pos is not None else 0
                index = fb.read("<I", buffer_pos) if buffer_pos is not None else 0
                if index >= max(len(buffer_bytes), 1):
                    raise ValueError(f"tensor {t} names buffer {index} of {len(buffer_bytes)}")
                if index and buffer_bytes[index] and kind in _TFLITE_TYPES:
                    weight_bytes[_TFLITE_TYPES[kind]] += buffer_bytes[index]
    except (ValueError, struct.error) as exc:
        raise _invalid(path, "TFLite", str(exc)) from None
    return weight_bytes.most_common(1)[0][0] if weight_bytes else "unknown"


def _check_onnx(path: Path) -> str:
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises several kinds on garbage  # noqa: BLE001
        raise _invalid(path, "ONNX", f"{type(exc).__name__}: {exc}") from None
    graph = model.graph
    if not model.opset_import or not graph.node or not graph.output:
        raise _invalid(path, "ONNX", "no graph, nodes, outputs or opset")
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    known |= {o for node in graph.node for o in node.output}
    missing = sorted({i for node in graph.node for i in node.input} - known)
    missing += sorted({o.name for o in graph.output} - known)
    if missing:
        raise _invalid(path, "ONNX", "values used but never defined: " + ", ".join(missing[:5]))
    for init in graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            entry = {e.key: e.value for e in init.external_data}
            location = path.parent / entry.get("location", "")
            if not location.is_file():
                raise WorkloadError(f"{path}: external data file {location} is missing")
    weight_bytes: Counter[str] = Counter()
    for tensor in _weights(graph):
        word = _ONNX_TYPES.get(tensor.data_type)
        if word:
            count = 1
            for d in tensor.dims:
                count *= d
            weight_bytes[word] += count * (2 if word == "fp16" else 4 if word == "fp32" else 1)
    ops = {node.op_type for node in graph.node}
    if "MatMulNBits" in ops:
        return "int4"
    if ops & _ONNX_QUANT_OPS:
        return "int8"
    return weight_bytes.most_common(1)[0][0] if weight_bytes else "unknown"


def _weights(graph) -> Iterator:
    """Initializers and Constant-node tensors of a graph and its subgraphs (If, Loop, Scan)."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            if attr.HasField("g"):
                yield from _weights(attr.g)
            for sub in attr.graphs:
                yield from _weights(sub)
