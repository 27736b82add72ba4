"""How often is `npubench compare`'s alarm wrong, and how often does it catch a real slowdown?

Measured against a ground truth: the simulated phone's slowdown knob
(``sim:PROFILE?slowdown=WORKLOAD:BACKEND=FACTOR``) makes one cell slower by a known factor, in
what the emulated tool measures; everything else is the same real code path as a phone.

* **A/A pairs** (phone and host): two runs of the same suite with nothing changed. Any cell
  called ``slower`` or ``faster`` is a false alarm.
* **A/B pairs** (phone): the second run has one cell slowed by 5%, and separately by 2% (and
  by 20%, to see where detection starts).
  The slowed cell called ``slower`` is a detection; any other cell flagged is a false alarm.

Runs are interleaved (A, B5, B2, A, ...) so that a drift of the machine over the benchmark
touches A and B alike; an A/A pair is two consecutive A runs. The verdicts are taken at several
thresholds, because the threshold is what trades false alarms for detection, and twice:

* **within-run**: the bootstrap interval alone (what `compare` does with no history);
* **with history**: the interval widened by each cell's run-to-run spread
  (``reports/compare/noise.py``), measured on the *other* A runs of the same kind (all A runs
  but the pair's own, at most 20) — standing in for the earlier nights a results store holds.

Usage::

    python benchmarks/regression_gate.py [--pairs 20] [--host-pairs 10] [--out DIR]

Run folders already in ``--out`` are reused (delete the folder to measure again); the result
is printed and written to ``DIR/regression_gate.md`` and ``.json``. The phone numbers come
from the simulated phone (host CPU); they measure the gate, not a phone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import npubench
from npubench.reports.compare.comparison import compare_runs
from npubench.reports.run_view import read_run_folder

PROFILE = "sm8650"
SIM_WORKLOADS = ["okay_nabu", "face_detection_short_range", "silero_vad"]
SIM_BACKENDS = ["tflite:qnn-htp", "ort:cpu"]
SLOWED = ("face_detection_short_range", "tflite:qnn-htp")
HOST_WORKLOADS = ["okay_nabu", "face_detection_short_range", "silero_vad"]
HOST_BACKENDS = ["tflite:xnnpack", "ort:cpu"]
SIM_SETTINGS = {"device_rounds_min": 15, "device_rounds_max": 15, "device_round_min_secs": 0.2,
                "max_seconds": 5}
HOST_SETTINGS = {"min_iterations": 200, "min_seconds": 1.0, "max_seconds": 3.0}
SLOWDOWNS = {"B5": 1.05, "B2": 1.02, "B20": 1.20}
"""The A/B sets: the issue's 5% and 2%, and 20% to show where detection starts on a machine
whose run-to-run noise hides the small ones."""
THREADS = 1
"""One runtime thread: on a 2-core machine a job using every core shares them with the
harness's own sampler and the OS, and its median moved by 10-30% from run to run (measured:
face_detection_short_range on XNNPACK, 11 runs, CV 19% with 2 threads, 1.3% with 1)."""


def run_once(out: Path, device: str, workloads, backends, settings) -> Path:
    if (out / "results.jsonl").exists() and (out / "run.json").exists():
        info = json.loads((out / "run.json").read_text())
        if info.get("finished_at") and not info.get("interrupted"):
            return out  # measured before: reuse
    npubench.run_suite(None, device=device, workloads=workloads, backends=backends,
                       settings=settings, threads=THREADS, measure_power=False, cooldown_c=95,
                       report=False, out=out, store=False)
    return out


TIMING = "measured"
"""The simulated phone's timing (``--timing``): ``measured`` runs the models on this host's CPU
(the host's noise between runs is the noise the gate faces); ``modeled`` waits the profile's
modeled times (log-normal noise per inference, thermal clock): the gate's statistics against a
known, small noise, not a phone's."""


def sim_spec(factor: float | None) -> str:
    options = [f"timing={TIMING}"] if TIMING != "measured" else []
    if factor is not None:
        options.append(f"slowdown={SLOWED[0]}:{SLOWED[1]}={factor}")
    return f"sim:{PROFILE}" + ("?" + "&".join(options) if options else "")


def measure(out: Path, pairs: int, host_pairs: int) -> dict[str, list[Path]]:
    runs: dict[str, list[Path]] = defaultdict(list)
    started = time.monotonic()
    for i in range(pairs + 1):
        runs["A"].append(run_once(out / f"sim-A-{i:02d}", sim_spec(None), SIM_WORKLOADS,
                                  SIM_BACKENDS, SIM_SETTINGS))
        if i < pairs:
            for name, factor in SLOWDOWNS.items():
                runs[name].append(run_once(out / f"sim-{name}-{i:02d}", sim_spec(factor),
                                           SIM_WORKLOADS, SIM_BACKENDS, SIM_SETTINGS))
        print(f"phone round {i + 1}/{pairs + 1} done ({time.monotonic() - started:.0f} s)",
              file=sys.stderr, flush=True)
    for i in range(host_pairs + 1 if host_pairs else 0):
        runs["H"].append(run_once(out / f"host-A-{i:02d}", "host", HOST_WORKLOADS,
                                  HOST_BACKENDS, HOST_SETTINGS))
    print(f"all runs done ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    return runs


THRESHOLDS = (0.01, 0.02, 0.03, 0.05)


_VIEWS: dict[Path, object] = {}


def view(run: Path):
    if run not in _VIEWS:
        _VIEWS[run] = read_run_folder(run)
    return _VIEWS[run]


def verdicts(base: Path, new: Path, threshold: float, history: list[Path]) -> dict[str, str]:
    """cell text -> verdict of ``npubench compare BASE NEW --threshold`` (with ``history``
    as the earlier runs of the results store)."""
    others = [view(h) for h in history if h not in (base, new)][-20:]
    result = compare_runs(view(base), view(new), threshold=threshold, history=others)
    return {cell.key.as_text(): cell.verdict for cell in result.cells}


def tally(pairs: list[tuple[Path, Path]], threshold: float, slowed: str | None,
          history: list[Path]):
    """Per cell: (alarms, pairs compared, incomparable) — an alarm is ``slower``/``faster`` on
    a cell that was not slowed, or ``slower`` on the slowed one (then it is a detection)."""
    flagged, compared, incomparable = Counter(), Counter(), Counter()
    for base, new in pairs:
        for cell, verdict in verdicts(base, new, threshold, history).items():
            if verdict == "incomparable":
                incomparable[cell] += 1
                continue
            compared[cell] += 1
            if cell == slowed:
                flagged[cell] += verdict == "slower"
            else:
                flagged[cell] += verdict in ("slower", "faster")
    return flagged, compared, incomparable


def slowed_cell(run: Path) -> str:
    for record in read_run_folder(run).records:
        if (record["workload"]["name"], record["backend"]["spec"].partition("?")[0]) == SLOWED:
            from npubench.reports.cell_key import cell_key

            return cell_key(record).as_text()
    raise SystemExit(f"{run}: no record of the slowed cell {SLOWED}")


def analyse(runs: dict[str, list[Path]]) -> dict:
    slowed = slowed_cell(runs["A"][0])
    a, h = runs["A"], runs["H"]
    sets = {  # name: (pairs, the slowed cell or None, the runs that stand for history)
        "phone A/A": (list(zip(a, a[1:], strict=False)), None, a),
        "phone A/B 5%": (list(zip(a, runs["B5"], strict=False)), slowed, a),
        "phone A/B 2%": (list(zip(a, runs["B2"], strict=False)), slowed, a),
        "phone A/B 20%": (list(zip(a, runs["B20"], strict=False)), slowed, a),
        "host A/A": (list(zip(h, h[1:], strict=False)), None, h),
    }
    if not h:
        del sets["host A/A"]
    out: dict = {"slowed_cell": slowed, "thresholds": {}}
    for mode in ("within-run", "with history"):
        for threshold in THRESHOLDS:
            rows = out["thresholds"][f"{mode}, threshold {threshold:.0%}"] = []
            for name, (pairs, target, history) in sets.items():
                flagged, compared, incomparable = tally(
                    pairs, threshold, target, history if mode == "with history" else [])
                for cell in sorted(set(compared) | set(incomparable)):
                    n = compared[cell]
                    rows.append({"set": name, "cell": cell,
                                 "measure": "detection" if cell == target else "false alarm",
                                 "flagged": flagged[cell], "pairs": n,
                                 "rate": flagged[cell] / n if n else None,
                                 "incomparable": incomparable[cell]})
    return out


def summary_lines(result: dict) -> list[str]:
    lines = ["# Regression gate, measured", "",
             f"Slowed cell (ground truth): `{result['slowed_cell']}`", ""]
    for threshold, rows in result["thresholds"].items():
        alarms = [r for r in rows if r["measure"] == "false alarm" and r["pairs"]]
        fa = sum(r["flagged"] for r in alarms) / max(1, sum(r["pairs"] for r in alarms))
        det = {r["set"]: r for r in rows if r["measure"] == "detection"}
        lines += [f"## {threshold}", "",
                  f"false alarms over all unslowed cells: {fa:.1%} "
                  f"({sum(r['flagged'] for r in alarms)} of {sum(r['pairs'] for r in alarms)})",
                  *(f"detection, {name}: {r['rate']:.0%} ({r['flagged']} of {r['pairs']})"
                    for name, r in det.items() if r["pairs"]), "",
                  "| set | cell | measure | flagged | pairs | rate | incomparable |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['set']} | {r['cell']} | {r['measure']} | {r['flagged']} | "
                  f"{r['pairs']} | {_rate(r['rate'])} | {r['incomparable']} |" for r in rows]
        lines.append("")
    return lines


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.0%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20, help="phone A/A and A/B pairs (20)")
    parser.add_argument("--host-pairs", type=int, default=10, help="host A/A pairs (10)")
    parser.add_argument("--out", type=Path, default=Path("runs/regression-gate"))
    parser.add_argument("--timing", choices=["measured", "modeled"], default="measured",
                        help="the simulated phone's timing (default measured: the host's CPU)")
    parser.add_argument("--no-host", action="store_true", help="skip the host A/A pairs")
    args = parser.parse_args(argv)
    global TIMING
    TIMING = args.timing
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    runs = measure(args.out, args.pairs, 0 if args.no_host else args.host_pairs)
    result = analyse(runs)
    result["wall_s"] = round(time.monotonic() - started, 1)
    (args.out / "regression_gate.json").write_text(json.dumps(result, indent=1))
    text = "\n".join(summary_lines(result))
    (args.out / "regression_gate.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
