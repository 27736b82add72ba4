"""Backend specs: ``RUNTIME:ACCELERATOR[?key=value&...]``, e.g. ``tflite:xnnpack?threads=2``.

Pure parsing and naming; which backends a device can run is the device's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from npubench.errors import ConfigError

RUNTIMES = {"tflite": "tflite", "ort": "onnx", "llama": "gguf"}
"""Runtime name -> the model format it runs."""

KNOWN_BACKENDS = (
    "tflite:cpu", "tflite:xnnpack", "tflite:gpu", "tflite:nnapi", "tflite:qnn-htp",
    "tflite:neuron", "ort:cpu", "ort:xnnpack", "ort:nnapi", "ort:qnn-htp", "ort:cuda",
    "ort:tensorrt", "ort:openvino", "ort:coreml", "llama:cpu", "llama:gpu", "llama:htp",
)
"""Backends npubench knows on some device; a device adds the ones it has (e.g. more ORT
execution providers). A known backend that a device lacks is a skipped job, not an error."""

OPTION_TYPES: dict[str, type] = {"threads": int}
"""Options a backend spec may carry, with their types."""


@dataclass(frozen=True)
class BackendSpec:
    runtime: str
    accelerator: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def base(self) -> str:
        """The spec without options, e.g. ``tflite:xnnpack``."""
        return f"{self.runtime}:{self.accelerator}"

    @property
    def format(self) -> str:
        return RUNTIMES[self.runtime]

    def __str__(self) -> str:
        if not self.options:
            return self.base
        query = "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.base}?{query}"

    def with_options(self, **options: Any) -> BackendSpec:
        """A copy with ``options`` filled in where this spec does not set them."""
        merged = {**{k: v for k, v in options.items() if v is not None}, **self.options}
        return BackendSpec(self.runtime, self.accelerator, merged)

    def to_record(self) -> dict[str, Any]:
        return {
            "spec": str(self),
            "runtime": self.runtime,
            "accelerator": self.accelerator,
            "options": dict(self.options),
        }


def parse_backend(text: str, known: list[str] | None = None) -> BackendSpec:
    """Parse one backend spec. ``known`` (base specs) makes an unknown one a ConfigError that
    lists the valid ones."""
    raw = text.strip()
    base, _, query = raw.partition("?")
    runtime, sep, accelerator = base.partition(":")
    valid = ", ".join(sorted(known)) if known else ", ".join(f"{r}:..." for r in RUNTIMES)
    if not sep or not accelerator or runtime not in RUNTIMES:
        raise ConfigError(
            f"unknown backend {raw!r}", hint=f"a backend is RUNTIME:ACCELERATOR; valid: {valid}"
        )
    if known is not None and base not in known:
        raise ConfigError(f"unknown backend {raw!r}", hint=f"valid backends: {valid}")
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in OPTION_TYPES:
            raise ConfigError(
                f"unknown option {key!r} in backend {raw!r}",
                hint=f"valid options: {', '.join(sorted(OPTION_TYPES))}",
            )
        try:
            options[key] = OPTION_TYPES[key](value)
        except ValueError:
            raise ConfigError(
                f"option {key}={value!r} in backend {raw!r} is not a {OPTION_TYPES[key].__name__}"
            ) from None
    if "threads" in options and options["threads"] < 1:
        raise ConfigError(f"threads must be at least 1 in backend {raw!r}")
    return BackendSpec(runtime, accelerator, options)
