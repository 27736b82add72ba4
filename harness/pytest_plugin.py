"""npubench's pytest plugin: an ``npubench`` fixture for a user's own test suite.

Installed with npubench (entry point ``pytest11``), so every pytest session where npubench is
installed loads it: it imports nothing heavy until a test uses the fixture, and its options
are all ``--npubench-*`` (they never clash with a project's own ``--device``)::

    def test_detector_is_fast_enough(npubench):
        result = npubench.run("models/detector.tflite", backend="npu", max_seconds=5)
        assert result.median_ms < 8.0

``npubench.run(MODEL, backend=..., **settings)`` runs one job on the device chosen with
``--npubench-device SPEC`` (``host`` by default; ``sim:sm8650``, ``usb:SERIAL``,
``tcp:HOST:PORT``) through ``npubench.run_suite`` and returns a ``Result`` (the record, its
median, its device-measured per-iteration samples). A failed job fails the test with the
record's error message; a job the device cannot run (no NPU on this host, a backend the phone
lacks) skips it with the reason. ``MODEL`` is a model file or a built-in workload name.

``backend``: a backend spec (``tflite:xnnpack``, ``ort:qnn-htp``...) or a class: ``cpu``
(``tflite:xnnpack``, ``ort:cpu``, ``llama:cpu`` by the model's format), ``gpu``
(``tflite:gpu``, ``ort:cuda``, ``llama:gpu``) or ``npu`` (for TFLite the device's NPU path from
the SoC catalogue, as ``npubench run --backend npu``; for ONNX ``ort:qnn-htp``, else
``ort:nnapi``; for GGUF ``llama:htp``). The host has no NPU: ``npu`` there skips the test.

pytest-benchmark: when it is installed and not skipped, the samples the device measured (one
iteration per round, in seconds) become the test's ``benchmark`` stats, so ``--benchmark-json``
holds them and ``--benchmark-save`` / ``--benchmark-compare`` /
``--benchmark-compare-fail=median:5%`` work as usual; ``benchmark.extra_info`` names the
device, backend, workload and whether the device was simulated. One test fills one benchmark:
the first ``run`` of a test does.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

RUN_OPTIONS = ("threads", "input_shapes", "tools", "require_npu", "measure_power", "cooldown_c",
               "prompt_tokens", "gen_tokens")
"""Keyword arguments of ``run`` that are ``npubench run`` options; the others are measurement
settings (``min_iterations``, ``max_seconds``, ...)."""
CLASS_BACKENDS = {
    "cpu": {"tflite": ["tflite:xnnpack"], "onnx": ["ort:cpu"], "gguf": ["llama:cpu"]},
    "gpu": {"tflite": ["tflite:gpu"], "onnx": ["ort:cuda"], "gguf": ["llama:gpu"]},
    "npu": {"tflite": ["npu"], "onnx": ["ort:qnn-htp", "ort:nnapi"], "gguf": ["llama:htp"]},
}
"""A backend class -> the backends tried in order for a model format (the first the device
runs is used)."""
SUFFIX_FORMATS = {".tflite": "tflite", ".onnx": "onnx", ".gguf": "gguf"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("npubench", "npubench: measure models on a device (fixture npubench)")
    group.addoption("--npubench-device", metavar="SPEC", default="host",
                    help="the device the npubench fixture runs on: host (default), sim:PROFILE, "
                    "usb:SERIAL, tcp:HOST:PORT")
    group.addoption("--npubench-out", metavar="DIR", default=None,
                    help="where the npubench fixture's run folders go (default: a folder "
                    "under pytest's basetemp)")
    group.addoption("--npubench-store", metavar="PATH_OR_URL", default=None,
                    help="the results store its runs also go to (default: as npubench run: "
                    "NPUBENCH_STORE, else the user's SQLite file; 'none' for no store)")


@dataclass
class Result:
    """One job's outcome: ``record`` (as in results.jsonl), ``samples`` (its samples file:
    ``latency_ms`` per iteration, ...) and its run folder."""

    record: dict[str, Any]
    samples: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def median_ms(self) -> float | None:
        return (self.record.get("latency_ms") or {}).get("median")

    @property
    def p90_ms(self) -> float | None:
        return (self.record.get("latency_ms") or {}).get("p90")

    @property
    def samples_ms(self) -> list[float]:
        """The device-measured latencies, one per iteration (a round's, on a phone)."""
        return list(self.samples.get("latency_ms") or [])

    @property
    def backend(self) -> str:
        return self.record["backend"]["spec"]

    @property
    def device(self) -> str:
        return self.record["device"]["id"]

    @property
    def simulated(self) -> bool:
        return bool(self.record["device"].get("simulated"))

    @property
    def error(self) -> str | None:
        return (self.record.get("error") or {}).get("message")


class Npubench:
    """The ``npubench`` fixture: ``run`` a model on the session's device."""

    def __init__(self, request: pytest.FixtureRequest, out_root: Path):
        self._request = request
        self._out_root = out_root
        self._runs = 0
        self._benchmark_filled = False
        self.device = request.config.getoption("npubench_device") or "host"

    def run(self, model: str | Path, backend: str = "cpu", **settings: Any) -> Result:
        """Run ``model`` (a file or a built-in workload name) on ``backend`` (a spec or
        ``cpu``/``gpu``/``npu``) with measurement ``settings``; see the module's docstring."""
        import npubench
        from npubench.errors import NpubenchError

        options = {k: settings.pop(k) for k in RUN_OPTIONS if k in settings}
        store = self._request.config.getoption("npubench_store")
        if store is not None:
            options["store"] = False if store.lower() == "none" else store
        skipped: list[str] = []
        for candidate in self._candidates(model, backend):
            self._runs += 1
            out = self._out_root / f"{_slug(self._request.node.name)}-{self._runs}"
            try:
                finished = npubench.run_suite(
                    None, device=self.device, workloads=[str(model)], backends=[candidate],
                    settings=settings, out=out, report=False, **options)
            except NpubenchError as exc:
                problem = str(exc)  # with its hint; failed outside the except: no chain
            else:
                problem = None
            if problem is not None:
                pytest.fail(f"npubench could not run {model} on {self.device}: {problem}",
                            pytrace=False)
            record = finished.records[0]
            if record["status"] == "skipped":
                skipped.append(str((record.get("error") or {}).get("message")))
                continue
            result = Result(record, _samples(finished.run_dir, record), finished.run_dir)
            if result.status != "ok":
                pytest.fail(f"{record['job_id']} failed: {result.error} (log: "
                            f"{finished.run_dir / (record.get('log_path') or '')})",
                            pytrace=False)
            self._fill_benchmark(result)
            return result
        pytest.skip(f"{model} does not run on {self.device} with backend {backend}: "
                    + "; ".join(skipped))

    # --- helpers ----------------------------------------------------------------------------

    def _candidates(self, model: str | Path, backend: str) -> list[str]:
        if backend not in CLASS_BACKENDS:
            return [backend]
        if backend == "npu" and self.device == "host":
            pytest.skip("backend npu: this host has no NPU; run on a phone with "
                        "--npubench-device SPEC (e.g. sim:sm8650, usb:SERIAL)")
        fmt = _model_format(model)
        candidates = CLASS_BACKENDS[backend].get(fmt)
        if not candidates:
            pytest.fail(f"backend {backend}: npubench knows no {backend} backend for "
                        f"{fmt} models; name a backend spec", pytrace=False)
        return candidates

    def _fill_benchmark(self, result: Result) -> None:
        """The device-measured samples become pytest-benchmark's stats for this test."""
        config = self._request.config
        if not config.pluginmanager.hasplugin("benchmark") \
                or config.getoption("benchmark_skip", False):
            return
        bench = self._request.getfixturevalue("benchmark")
        if self._benchmark_filled or getattr(bench, "_mode", None):
            warnings.warn(pytest.PytestWarning(
                f"npubench: the benchmark of {self._request.node.nodeid} already holds a "
                f"run's samples; {result.record['job_id']} is not added to it"), stacklevel=3)
            return
        # used, as pedantic() marks it (also when disabled: pytest-benchmark then warns of a
        # fixture "not used at all" otherwise)
        bench._mode = "npubench.run(...)"
        self._benchmark_filled = True
        samples_s = [ms / 1000.0 for ms in result.samples_ms if ms is not None]
        if getattr(bench, "disabled", False) or not samples_s:
            return
        # pytest-benchmark's own path (BenchmarkFixture.pedantic): one Metadata per fixture,
        # one stats.update per round; here a round is one device-measured iteration
        stats = bench._make_stats(1)
        for seconds in samples_s:
            stats.update(seconds)
        bench.extra_info.update({
            "npubench_device": result.device, "device_model": result.record["device"]
            .get("model"), "backend": result.backend, "simulated": result.simulated,
            "workload": result.record["workload"]["name"],
            "workload_sha256": result.record["workload"].get("sha256"),
            "run_id": result.record["run_id"], "samples": "device-measured latency_ms",
        })


@pytest.fixture
def npubench(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Npubench:
    """Run a model on the device chosen with ``--npubench-device`` (see the plugin's docs)."""
    out = request.config.getoption("npubench_out")
    root = Path(out) if out else tmp_path_factory.getbasetemp() / "npubench"
    root.mkdir(parents=True, exist_ok=True)
    return Npubench(request, root)


def _model_format(model: str | Path) -> str:
    suffix = Path(str(model)).suffix.lower()
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix]
    from npubench.errors import NpubenchError
    from npubench.workloads.registry import resolve

    try:
        return resolve(str(model)).format
    except NpubenchError as exc:
        problem = str(exc)
    pytest.fail(f"npubench: {problem}", pytrace=False)


def _samples(run_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    import json

    path = record.get("samples_path")
    if not path:
        return {}
    try:
        return json.loads((Path(run_dir) / path).read_text())
    except (OSError, ValueError):
        return {}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "test"
