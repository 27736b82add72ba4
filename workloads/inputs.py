"""Model inputs: concrete shapes and deterministic random tensors (pure: numpy only).

Runners describe a model's inputs as ``TensorSpec`` (from LiteRT ``get_input_details()`` or ORT
``session.get_inputs()``, see ``specs_from_litert`` / ``specs_from_ort``); a workload's
``InputSpec`` fixes what the model leaves open. ``make_inputs`` then fills every input:

- ``value`` set: a constant of the input's dtype (e.g. silero-vad's ``sr`` = 16000);
- floats: uniform in ``[low, high]``, default ``[-1, 1]`` (zero-centred, the range of normalised
  images and audio);
- int8 / uint8 / int16 with quantization parameters (quantized TFLite inputs): integers over the
  whole range of the dtype, so every quantized level can occur;
- other integers (token ids, indices): ``[low, high]``, default ``[0, 9]`` — small and
  non-negative, valid as an index into any table of ten or more rows;
- bool: random True / False.

Each input draws from its own generator seeded by (seed, input name), so an array does not depend
on the order or number of the other inputs. Same seed -> identical arrays.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from npubench.errors import WorkloadError

DEFAULT_FLOAT_RANGE = (-1.0, 1.0)
DEFAULT_INT_RANGE = (0, 9)

Dim = int | str | None


@dataclass(frozen=True)
class InputSpec:
    """Per-input settings from a workload definition or ``--input-shape``."""

    shape: tuple[int, ...] | None = None  # fixes dynamic dims
    value: float | None = None  # constant fill
    low: float | None = None  # value range for random fill (in the tensor's own units)
    high: float | None = None

    def __post_init__(self) -> None:
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
            if any(d < 0 for d in self.shape):
                raise WorkloadError(f"input shape {self.shape} has a negative dimension")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise WorkloadError(f"input range low={self.low} is above high={self.high}")

    def to_record(self) -> dict:
        """The settings that are set, JSON-ready."""
        out: dict[str, Any] = {}
        if self.shape is not None:
            out["shape"] = list(self.shape)
        for key in ("value", "low", "high"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class TensorSpec:
    """One model input as a runtime describes it."""

    name: str
    shape: tuple[Dim, ...]  # dynamic dims are None, -1 or a symbolic name (ORT gives strings)
    dtype: np.dtype
    quantization: tuple[float, int] | None = None  # (scale, zero_point) of a quantized input

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(self.shape))


def is_dynamic(dim: Dim) -> bool:
    """True for a dimension the model leaves open: None, a negative number or a symbolic name."""
    return dim is None or isinstance(dim, str) or int(dim) < 0


def concrete_shape(spec: TensorSpec, override: InputSpec | None) -> tuple[int, ...]:
    """The shape to feed: the override's, else the model's with a dynamic batch (first dim) as 1."""
    if override is not None and override.shape is not None:
        shape = override.shape
        if len(shape) != len(spec.shape):
            raise WorkloadError(
                f"input '{spec.name}': the given shape {_fmt(shape)} has rank {len(shape)}, "
                f"the model's shape {_fmt(spec.shape)} has rank {len(spec.shape)}"
            )
        for axis, (want, have) in enumerate(zip(shape, spec.shape, strict=True)):
            if not is_dynamic(have) and int(have) != want:
                raise WorkloadError(
                    f"input '{spec.name}': dim {axis} is fixed to {have} by the model, "
                    f"the given shape {_fmt(shape)} asks for {want}"
                )
        return shape
    out = []
    for axis, dim in enumerate(spec.shape):
        if not is_dynamic(dim):
            out.append(int(dim))
        elif axis == 0:
            out.append(1)
        else:
            example = ",".join(
                "1" if i == 0 and is_dynamic(d) else _dim_hint(d) for i, d in enumerate(spec.shape)
            )
            raise WorkloadError(
                f"input '{spec.name}' has a dynamic dim {axis} ({dim!r}) in shape "
                f"{_fmt(spec.shape)}",
                hint=f"pass --input-shape {spec.name}=d0,d1,... "
                f"(e.g. --input-shape {spec.name}={example})",
            )
    return tuple(out)


def make_inputs(
    specs: Sequence[TensorSpec],
    overrides: Mapping[str, InputSpec] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """One array per input, deterministic for ``seed`` (rules in the module docstring)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {s.name for s in specs})
    if unknown:
        raise WorkloadError(
            f"settings given for input(s) {', '.join(unknown)} that the model does not have",
            hint="the model's inputs are: " + ", ".join(s.name for s in specs),
        )
    return {s.name: _fill(s, overrides.get(s.name), seed) for s in specs}


def _fill(spec: TensorSpec, override: InputSpec | None, seed: int) -> np.ndarray:
    shape = concrete_shape(spec, override)
    dtype = spec.dtype
    low = override.low if override else None
    high = override.high if override else None
    if override is not None and override.value is not None:
        return np.full(shape, override.value, dtype=dtype)
    rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode("utf-8"))])
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.floating):
        lo = DEFAULT_FLOAT_RANGE[0] if low is None else low
        hi = DEFAULT_FLOAT_RANGE[1] if high is None else high
        return rng.uniform(lo, hi, size=shape).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if _is_quantized(spec) and info.bits <= 16:
            lo_default, hi_default = info.min, info.max
        else:
            lo_default, hi_default = DEFAULT_INT_RANGE
        lo = lo_default if low is None else max(int(np.ceil(low)), info.min)
        hi = hi_default if high is None else min(int(np.floor(high)), info.max)
        if lo > hi:
            raise WorkloadError(f"input '{spec.name}': no {dtype} integer in [{low}, {high}]")
        return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64).astype(dtype)
    raise WorkloadError(
        f"input '{spec.name}' has dtype {dtype}, for which npubench cannot make inputs",
        hint="give it a constant with a workload input 'value'",
    )


def _is_quantized(spec: TensorSpec) -> bool:
    return spec.quantization is not None and spec.quantization[0] != 0


_ORT_TYPES = {
    "float": np.float32, "float16": np.float16, "double": np.float64, "bfloat16": None,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    "bool": np.bool_, "string": np.str_,
}


def ort_dtype(type_str: str) -> np.dtype:
    """numpy dtype of an ORT type string such as ``'tensor(float)'``."""
    inner = type_str.strip()
    if inner.startswith("tensor(") and inner.endswith(")"):
        inner = inner[len("tensor("):-1]
    kind = _ORT_TYPES.get(inner)
    if kind is None:
        raise WorkloadError(f"ONNX Runtime input type {type_str!r} is not supported by npubench")
    return np.dtype(kind)


def specs_from_ort(inputs: Sequence[Any]) -> list[TensorSpec]:
    """TensorSpecs from ``InferenceSession.get_inputs()`` (objects with name, shape, type)."""
    return [TensorSpec(i.name, tuple(i.shape), ort_dtype(i.type)) for i in inputs]


def specs_from_litert(details: Sequence[Mapping[str, Any]]) -> list[TensorSpec]:
    """TensorSpecs from LiteRT ``get_input_details()`` (``shape_signature`` keeps the -1s)."""
    specs = []
    for d in details:
        shape = d.get("shape_signature")
        if shape is None or len(shape) != len(d["shape"]):
            shape = d["shape"]
        scale, zero_point = d.get("quantization", (0.0, 0))
        quant = (float(scale), int(zero_point)) if scale else None
        specs.append(TensorSpec(d["name"], tuple(int(x) for x in shape), d["dtype"], quant))
    return specs


def _fmt(shape: Sequence[Dim]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _dim_hint(dim: Dim) -> str:
    return "N" if is_dynamic(dim) else str(dim)
