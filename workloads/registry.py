"""The workload registry: built-in models (``builtin.yaml``), generated ones, and user files.

``resolve()`` turns what the user typed (a built-in name or a model path) into a ``Workload``;
``Workload.path()`` gets the model file onto this machine (fetch, build or check) and returns it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import yaml

from npubench.errors import ConfigError, WorkloadError
from npubench.workloads.camera_entries import camera_entries
from npubench.workloads.fetch import Wheel, WheelModel, sha256_file
from npubench.workloads.generated import BuiltModel, FramedModel, GeneratedModel, PackagedModel
from npubench.workloads.inputs import InputSpec
from npubench.workloads.llm_config import LlmSpec
from npubench.workloads.llm_workloads import (
    DecoderEntry,
    is_decoder_spec,
    parse_decoder_spec,
    parse_presets,
    preset_entries,
)
from npubench.workloads.user import FORMATS, inspect_user_model

__all__ = ["InputSpec", "Workload", "builtin", "parse_input_shapes", "resolve"]

BUILTIN_YAML = Path(__file__).with_name("builtin.yaml")
PRECISIONS = {"fp32", "fp16", "bf16", "int8", "int16", "int4", "mixed", "unknown"}
_ENTRY_FIELDS = {"name", "task", "format", "precision", "license", "description", "tags",
                 "inputs", "wheel", "path", "sha256", "generate", "installed", "reference",
                 "frame"}
_ORIGINS = ("wheel", "generate", "installed")


class Origin(Protocol):
    """Where a model file comes from: fetched, generated, installed or the user's."""

    source: str

    def cached(self) -> Path | None: ...  # the local file if present (no network, no build)

    def materialize(self) -> Path: ...  # the verified local file, fetched or built as needed


@dataclass(frozen=True)
class Workload:
    """A model file with what a result needs to say about it."""

    name: str
    task: str
    format: str  # "tflite" | "onnx"
    precision: str  # fp32 | fp16 | int8 | ...
    source: str
    license: str
    sha256: str | None  # pinned for fetched models; computed for generated/user ones
    synthetic: bool  # architecture-real, weights random or constant: never a trained model
    description: str = ""
    inputs: Mapping[str, InputSpec] = field(default_factory=dict, hash=False)
    tags: tuple[str, ...] = ()
    origin: Origin | None = field(default=None, compare=False, hash=False, repr=False)
    llm: LlmSpec | None = None
    """Set for LLM workloads: prompt and generated tokens, the decoder's configuration."""
    alternates: Mapping[str, Workload] = field(default_factory=dict, compare=False, hash=False,
                                               repr=False)
    """The same model in other formats, by format (a generated decoder's GGUF for llama.cpp)."""
    reference: str = ""
    """Where the architecture is defined (paper, repository): for a synthetic model, the source
    of its layer shapes."""

    def __post_init__(self) -> None:
        if self.format not in FORMATS.values():
            raise WorkloadError(f"workload {self.name}: unknown format '{self.format}'")
        object.__setattr__(self, "inputs", dict(self.inputs))  # a copy (picklable, unlike a proxy)
        object.__setattr__(self, "tags", tuple(self.tags))

    def for_format(self, fmt: str) -> Workload | None:
        """This workload in ``fmt`` (itself, or its alternate in that format), or None."""
        return self if fmt == self.format else self.alternates.get(fmt)

    def with_tokens(self, prompt: int | None, generate: int | None) -> Workload:
        """An LLM workload with other prompt / generated token counts (None keeps one)."""
        if self.llm is None or (prompt is None and generate is None):
            return self
        llm = replace(self.llm, prompt_tokens=prompt or self.llm.prompt_tokens,
                      gen_tokens=generate or self.llm.gen_tokens)
        return replace(self, llm=llm, alternates={k: replace(v, llm=llm)
                                                  for k, v in self.alternates.items()})

    def path(self) -> Path:
        """The local model file, verified against its sha256; fetched or built if needed."""
        if self.origin is None:
            raise WorkloadError(f"workload {self.name} has no model source")
        return self.origin.materialize()

    def to_record(self) -> dict:
        """The ``workload`` field of a result record (size and sha once the file is local)."""
        record: dict[str, Any] = {
            "name": self.name, "format": self.format, "sha256": self.sha256, "task": self.task,
            "precision": self.precision, "source": self.source, "license": self.license,
            "synthetic": self.synthetic, "trained": not self.synthetic,
        }
        if self.reference:
            record["reference"] = self.reference
        local = self.origin.cached() if self.origin is not None else None
        if local is not None:
            record["size_bytes"] = local.stat().st_size
            if record["sha256"] is None and isinstance(self.origin, BuiltModel):
                record["sha256"] = self.origin.cached_sha256()
        if self.inputs:
            record["inputs"] = {k: v.to_record() for k, v in self.inputs.items()}
        if self.llm is not None:
            record["llm"] = self.llm.to_record()
            if self.llm.config is not None:
                record["params"] = self.llm.config.param_count()
                record["weight_bytes"] = self.llm.config.weight_bytes(self.precision)
        return record


def builtin() -> dict[str, Workload]:
    """Every built-in workload (``builtin.yaml``: real and synthetic), by name."""
    return load_registry(BUILTIN_YAML.read_text(encoding="utf-8"), where=BUILTIN_YAML.name)


def resolve(
    name_or_path: str, input_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> Workload:
    """A built-in workload by name, or a user's .tflite/.onnx file by path; ``input_shapes``
    override the shapes of the named inputs."""
    table = builtin()
    if name_or_path in table:
        workload = table[name_or_path]
    elif is_decoder_spec(name_or_path):
        workload = decoder_workload(parse_decoder_spec(name_or_path, _llm_presets()))
    elif _looks_like_path(name_or_path):
        workload = _user_workload(name_or_path)
    else:
        close = difflib.get_close_matches(name_or_path, table, n=3)
        raise WorkloadError(
            f"unknown workload '{name_or_path}'"
            + (f" (did you mean {', '.join(close)}?)" if close else ""),
            hint="valid names: " + ", ".join(table) + "; or give the path of a .tflite, .onnx "
            "or .gguf file, or a decoder spec (decoder:preset=llama_125m,layers=4,precision=int4)",
        )
    if input_shapes:
        inputs = dict(workload.inputs)
        for name, shape in input_shapes.items():
            inputs[name] = replace(inputs.get(name, InputSpec()), shape=tuple(shape))
        workload = replace(workload, inputs=inputs)
    return workload


def parse_input_shapes(texts: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["x=1,3,640,640", "y=1,10"]`` -> ``{"x": (1, 3, 640, 640), "y": (1, 10)}``.

    The name is everything before the last ``=`` (TFLite names hold ``:`` and ``/``); an empty
    dim list (``sr=``) means a scalar.
    """
    form = "expected NAME=d0,d1,... with positive integers, e.g. --input-shape x=1,3,640,640"
    shapes: dict[str, tuple[int, ...]] = {}
    for text in texts:
        name, sep, dims = text.rpartition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--input-shape {text!r}: no input name", hint=form)
        try:
            shape = tuple(int(d) for d in dims.split(",")) if dims.strip() else ()
        except ValueError:
            raise ConfigError(f"--input-shape {text!r}: {dims!r} is not a list of integers",
                              hint=form) from None
        if any(d <= 0 for d in shape):
            raise ConfigError(f"--input-shape {text!r}: dimensions must be positive", hint=form)
        if name in shapes:
            raise ConfigError(f"--input-shape {text!r}: input '{name}' is given twice")
        shapes[name] = shape
    return shapes


@dataclass(frozen=True)
class UnusableModel:
    """The origin of a user's model file that cannot be used (missing, garbage): its jobs
    fail with ``error`` while the run goes on with the other workloads."""

    text: str
    error: WorkloadError

    @property
    def source(self) -> str:
        return f"user:{self.text}"

    def cached(self) -> Path | None:
        return None

    def materialize(self) -> Path:
        raise self.error


def resolve_path_or_failure(name_or_path: str, input_shapes=None) -> Workload:
    """Like ``resolve``, but a model *file* that cannot be used becomes a workload whose jobs
    fail with the reason (so one bad file does not stop a run). Unknown names still raise."""
    try:
        return resolve(name_or_path, input_shapes)
    except WorkloadError as exc:
        if name_or_path in builtin() or not _looks_like_path(name_or_path):
            raise
        path = Path(name_or_path)
        return Workload(
            name=path.stem or name_or_path, task="user",
            format=FORMATS.get(path.suffix.lower(), "unknown"), precision="unknown",
            source=f"user:{name_or_path}", license="unknown", sha256=None, synthetic=False,
            description=f"user model {name_or_path} (unusable)", tags=("user",),
            origin=UnusableModel(name_or_path, exc),
        )


def _looks_like_path(text: str) -> bool:
    return (os.sep in text or "/" in text or Path(text).suffix != "" or Path(text).exists())


def _user_workload(text: str) -> Workload:
    origin, fmt, precision = inspect_user_model(text)
    llm = None
    if fmt == "gguf":  # an LLM for llama-bench; its configuration from the GGUF's metadata
        from npubench.workloads.gguf_files import read_gguf

        llm = LlmSpec(config=read_gguf(origin.path).config)
    return Workload(
        name=origin.path.stem, task="text-generation" if llm else "user", format=fmt,
        precision=precision, source=origin.source, license="unknown", sha256=origin.sha256,
        synthetic=False, description=f"user model {origin.path}", tags=("user",),
        origin=origin, llm=llm,
    )


def decoder_workload(entry: DecoderEntry) -> Workload:
    """A generated decoder: ONNX (host, ONNX Runtime) with its GGUF alternate (llama-bench)."""
    from npubench.workloads.gguf_files import GeneratedGguf
    from npubench.workloads.llm_models import GeneratedDecoder

    llm = LlmSpec(entry.prompt_tokens, entry.gen_tokens, entry.config)
    onnx_origin = GeneratedDecoder(entry.name, entry.config, entry.precision, entry.seed,
                                   entry.prompt_tokens + entry.gen_tokens)
    gguf_origin = GeneratedGguf(entry.name, entry.config, entry.precision, entry.seed)
    params = entry.config.param_count()
    description = (f"{entry.description} {params / 1e6:.0f}M parameters, {entry.precision} "
                   "weights; random weights (architecture-real, never a trained model).").strip()
    common = dict(name=entry.name, task="text-generation", precision=entry.precision,
                  license="Apache-2.0", synthetic=True, description=description,
                  tags=("synthetic", "llm"), llm=llm, reference=entry.reference)
    gguf = Workload(format="gguf", source=gguf_origin.source,
                    sha256=gguf_origin.cached_sha256(), origin=gguf_origin, **common)
    return Workload(format="onnx", source=onnx_origin.source,
                    sha256=onnx_origin.cached_sha256(), origin=onnx_origin,
                    alternates={"gguf": gguf}, **common)


# --- builtin.yaml -------------------------------------------------------------------------------


def load_registry(text: str, where: str = "registry") -> dict[str, Workload]:
    """Parse and validate a registry document (the format of ``builtin.yaml``)."""
    data = _load_yaml(text)
    if not isinstance(data, dict) or not isinstance(data.get("workloads"), list):
        raise ConfigError(f"{where}: expected a mapping with a 'workloads' list")
    wheels = {key: _wheel(key, value, where) for key, value in (data.get("wheels") or {}).items()}
    entries = data["workloads"]
    siblings: dict[str, list[tuple[str, str]]] = {}
    for entry in entries:
        if isinstance(entry, dict) and "wheel" in entry:
            siblings.setdefault(entry["wheel"], []).append((entry.get("path"), entry.get("sha256")))
    table: dict[str, Workload] = {}
    camera = camera_entries(data.get("camera_models"), where)  # size x format x precision
    located = [*((entry, f"{where}: workloads[{i}]") for i, entry in enumerate(entries)),
               *((entry, f"{where}: camera_models") for entry in camera)]
    for entry, at in located:
        workload = _entry(entry, wheels, siblings, at)
        if workload.name in table:
            raise ConfigError(f"{where}: workload '{workload.name}' is defined twice")
        table[workload.name] = workload
    presets = parse_presets(data.get("llm_presets"), data.get("llm_precisions"), where)
    for entry in preset_entries(presets):
        if entry.name in table:
            raise ConfigError(f"{where}: workload '{entry.name}' is defined twice")
        table[entry.name] = decoder_workload(entry)
    return table


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def _llm_presets() -> dict[str, dict[str, Any]]:
    data = _load_yaml(BUILTIN_YAML.read_text(encoding="utf-8"))
    return parse_presets(data.get("llm_presets"), data.get("llm_precisions"), BUILTIN_YAML.name)


def _wheel(key: str, value: Any, where: str) -> tuple[Wheel, str]:
    if not isinstance(value, dict) or not {"package", "url", "sha256", "license"} <= set(value):
        raise ConfigError(f"{where}: wheel '{key}' needs package, url, sha256 and license")
    return Wheel(value["package"], value["url"], _sha(value["sha256"], where)), value["license"]


def _sha(value: Any, where: str) -> str:
    text = value.lower() if isinstance(value, str) else ""
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ConfigError(f"{where}: {value!r} is not a sha256 (64 hex digits)")
    return text


def _entry(entry: Any, wheels: dict, siblings: dict, where: str) -> Workload:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(entry) - _ENTRY_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    missing = {"name", "task", "format", "precision"} - set(entry)
    if missing:
        raise ConfigError(f"{where}: missing field(s) {', '.join(sorted(missing))}")
    name = entry["name"]
    where = f"{where} ({name})"
    origins = [key for key in _ORIGINS if key in entry]
    if len(origins) != 1:
        raise ConfigError(f"{where}: needs exactly one of {', '.join(_ORIGINS)}")
    if entry["precision"] not in PRECISIONS:
        raise ConfigError(f"{where}: unknown precision '{entry['precision']}'")
    license_ = entry.get("license")
    sha256: str | None = None
    origin: Any
    if origins[0] == "wheel":
        if entry["wheel"] not in wheels or "path" not in entry or "sha256" not in entry:
            raise ConfigError(f"{where}: 'wheel' must name a wheel of 'wheels:', with path and "
                              f"sha256 of the model")
        wheel, wheel_license = wheels[entry["wheel"]]
        sha256 = _sha(entry["sha256"], where)
        kin = tuple(dict.fromkeys((p, _sha(s, where)) for p, s in siblings[entry["wheel"]]))
        origin = WheelModel(name, wheel, entry["path"], sha256, kin)
        license_ = license_ or wheel_license
        path = entry["path"]
        if "frame" in entry:  # the real model run at a camera frame (resized in and out)
            frame = entry["frame"]
            if not isinstance(frame, dict) or set(frame) != {"width", "height"}:
                raise ConfigError(f"{where}: 'frame' must be a mapping of width and height")
            origin = FramedModel(name, origin, sha256, int(frame["width"]), int(frame["height"]))
            sha256 = origin.cached_sha256()
    elif origins[0] == "generate":
        if not isinstance(entry["generate"], dict):
            raise ConfigError(f"{where}: 'generate' must be a mapping with builder, seed, ...")
        spec = dict(entry["generate"])
        origin = GeneratedModel(name, spec.pop("builder", ""), int(spec.pop("seed", 0)),
                                spec.pop("config", {}) or {}, spec.pop("quantize", None),
                                str(entry["format"]))
        if spec:
            raise ConfigError(f"{where}: unknown generate field(s) {', '.join(sorted(spec))}")
        sha256 = origin.cached_sha256()
        path = origin.cache_path().name
    else:
        spec = entry["installed"]
        if not isinstance(spec, dict) or set(spec) != {"package", "path"}:
            raise ConfigError(f"{where}: 'installed' must be a mapping of package and path")
        origin = PackagedModel(name, spec["package"], spec["path"])
        local = origin.cached()
        sha256 = sha256_file(local) if local is not None else None
        path = spec["path"]
    if FORMATS.get(Path(path).suffix.lower()) != entry["format"]:
        raise ConfigError(f"{where}: format '{entry['format']}' does not match file {path}")
    synthetic = origins[0] != "wheel"
    tags = tuple(entry.get("tags") or ())
    kind = "synthetic" if synthetic else "real"
    return Workload(
        name=name, task=entry["task"], format=entry["format"], precision=entry["precision"],
        source=origin.source, license=license_ or "unknown", sha256=sha256, synthetic=synthetic,
        description=str(entry.get("description", "")).strip(),
        inputs={k: _input_spec(v, f"{where}: inputs.{k}")
                for k, v in (entry.get("inputs") or {}).items()},
        tags=tags if kind in tags else (kind, *tags), origin=origin,
        reference=str(entry.get("reference", "")).strip(),
    )


def _input_spec(value: Any, where: str) -> InputSpec:
    if not isinstance(value, dict) or not set(value) <= {"shape", "value", "low", "high"}:
        raise ConfigError(f"{where}: expected a mapping of shape, value, low, high")
    shape = value.get("shape")
    return InputSpec(shape=tuple(shape) if shape is not None else None, value=value.get("value"),
                     low=value.get("low"), high=value.get("high"))
