"""The simulated phone's ground-truth slowdown knob: ``WORKLOAD[:BACKEND]=FACTOR``.

A knob makes the emulated tools report a slower phone: every time a tool measures (init, each
warm-up and timed iteration, llama-bench's repetitions) is multiplied by FACTOR, and rates
follow (they are computed from those times). It exists so that a regression gate can be
measured against a known truth (issue 11): "this cell is 5% slower" is then a fact, not an
estimate. The work itself is not slowed; the tool reports the scaled times.

- WORKLOAD is the model file's stem on the phone, or ``*`` for every model. The harness pushes
  a model under its workload's name (``.../files/<hash>/mobilenet_v2_synth.onnx``; a user's
  file keeps its own name, which is its workload's name), so WORKLOAD is the name a run shows.
- BACKEND (optional) is a backend spec (``tflite:qnn-htp``, ``ort:cpu``, ``llama:htp``) or a
  class (``npu``, ``gpu``, ``cpu``), decided from the tool's own flags (``backend_of_*`` below).
- Where several knobs match, the most specific wins (a named workload over ``*``, a backend
  spec over a class over none); among equals the last one given.

The knob lives in the simulator only: it is logged on the simulator's stderr
(``npubench-sim: slowdown ...``) when it first applies to a workload and backend, and never
reaches the phone's output as a word, nor a record as a field. The harness cannot import this
module (tests/test_layering.py).
"""

from __future__ import annotations

import math
import posixpath
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from npubench.errors import ConfigError

CLASSES = ("npu", "gpu", "cpu")
BACKEND_CLASS = {
    "tflite:cpu": "cpu", "tflite:xnnpack": "cpu", "tflite:gpu": "gpu", "tflite:nnapi": "npu",
    "tflite:qnn-htp": "npu", "tflite:neuron": "npu", "ort:cpu": "cpu", "ort:xnnpack": "cpu",
    "ort:nnapi": "npu", "ort:qnn-htp": "npu", "llama:cpu": "cpu", "llama:gpu": "gpu",
    "llama:htp": "npu",
}
"""The backends the emulated tools can run, and their class."""
HINT = ("a slowdown knob is WORKLOAD[:BACKEND]=FACTOR, e.g. face_detection_short_range=1.05 or "
        "'*:npu=1.5' (BACKEND: a backend spec such as tflite:qnn-htp, or npu, gpu, cpu; "
        "FACTOR: a positive number)")


@dataclass(frozen=True)
class Knob:
    workload: str
    backend: str | None
    factor: float

    def __str__(self) -> str:
        where = self.workload if self.backend is None else f"{self.workload}:{self.backend}"
        return f"{where}={self.factor:g}"

    def matches(self, workload: str, backend: str) -> bool:
        if self.workload not in ("*", workload):
            return False
        return self.backend is None or self.backend in (backend, BACKEND_CLASS.get(backend))

    def specificity(self) -> tuple[int, int]:
        backend = 0 if self.backend is None else 1 if self.backend in CLASSES else 2
        return (self.workload != "*", backend)


def parse_knob(text: str) -> Knob:
    """One knob; ConfigError naming what is wrong."""
    where, eq, factor_text = text.strip().rpartition("=")
    if not eq or not where:
        raise ConfigError(f"slowdown knob {text!r} has no WORKLOAD=FACTOR", hint=HINT)
    try:
        factor = float(factor_text)
    except ValueError:
        factor = math.nan
    if not math.isfinite(factor) or factor <= 0:
        raise ConfigError(f"slowdown knob {text!r}: the factor {factor_text!r} is not a "
                          "positive number", hint=HINT)
    workload, _, backend = where.partition(":")
    workload, backend = workload.strip(), backend.strip()
    if not workload:
        raise ConfigError(f"slowdown knob {text!r} names no workload", hint=HINT)
    if backend and backend not in CLASSES and backend not in BACKEND_CLASS:
        raise ConfigError(f"slowdown knob {text!r}: unknown backend {backend!r}",
                          hint=f"{HINT}; the simulated phone runs "
                               f"{', '.join(sorted(BACKEND_CLASS))}")
    return Knob(workload, backend or None, factor)


class Slowdown:
    """The knobs of one simulated phone (none: nothing is scaled)."""

    def __init__(self, knobs: Iterable[Knob | str] = ()):
        self.knobs = tuple(k if isinstance(k, Knob) else parse_knob(k) for k in knobs)
        self._logged: set[tuple[Knob, str, str, str]] = set()

    def __bool__(self) -> bool:
        return bool(self.knobs)

    def describe(self) -> str:
        return ", ".join(str(k) for k in self.knobs) or "none"

    def knob_for(self, workload: str, backend: str) -> Knob | None:
        best: Knob | None = None
        for knob in self.knobs:
            if knob.matches(workload, backend) and (
                    best is None or knob.specificity() >= best.specificity()):
                best = knob
        return best

    def factor(self, model_path: str, backend: str, tool: str) -> float:
        """The factor for a tool run of the model at ``model_path`` (a path on the phone) on
        ``backend``; 1.0 when no knob matches. Logs the knob on the simulator's stderr the
        first time it applies to a workload, backend and tool (a run starts a tool per
        round)."""
        workload = model_stem(model_path)
        knob = self.knob_for(workload, backend)
        if knob is None:
            return 1.0
        if (knob, workload, backend, tool) in self._logged:
            return knob.factor
        self._logged.add((knob, workload, backend, tool))
        print(f"npubench-sim: slowdown {knob} applied: {tool} measures {workload} on {backend} "
              f"x{knob.factor:g}", file=sys.stderr, flush=True)
        return knob.factor


def parse_knobs(texts: Iterable[str]) -> Slowdown:
    return Slowdown(parse_knob(t) for t in texts if t.strip())


def model_stem(path: str) -> str:
    name = posixpath.basename(path)
    return name.rsplit(".", 1)[0] if "." in name else name


# --- the backend a tool runs, from its own flags -------------------------------------------------

def backend_of_benchmark_model(params) -> str:
    """benchmark_model's flags (``tflite_flags.Params``) -> a tflite backend spec."""
    if str(params["external_delegate_path"]).endswith("libQnnTFLiteDelegate.so"):
        return "tflite:qnn-htp"
    if params["use_neuron"]:
        return "tflite:neuron"
    if params["use_nnapi"]:
        return "tflite:nnapi"
    if params["use_gpu"]:
        return "tflite:gpu"
    if params.is_set("use_xnnpack") and not params["use_xnnpack"]:
        return "tflite:cpu"
    return "tflite:xnnpack"


ORT_PROVIDERS = {"qnn": "ort:qnn-htp", "nnapi": "ort:nnapi", "xnnpack": "ort:xnnpack"}


def backend_of_ort(provider: str) -> str:
    """onnxruntime_perf_test's ``-e`` -> an ort backend spec."""
    return ORT_PROVIDERS.get(provider, "ort:cpu")


def backend_of_llama(units: Iterable[str]) -> str:
    """The units (``npu``, ``gpu``) of the devices llama-bench offloads to -> a llama spec."""
    units = set(units)
    return "llama:htp" if "npu" in units else "llama:gpu" if "gpu" in units else "llama:cpu"
