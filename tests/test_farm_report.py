"""The farm's morning report (reports/farm): synthetic nights written in the exact format a
farm night's folder has (run.json with its farm block, farm-plan.json, results.jsonl with
farm blocks and samples, events.jsonl), two nights of which the second has one job 30%
slower, a failed job with retries, a quarantined phone, a deadline skip, an unknown event
and a name holding ``<script>``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from npubench.reports.farm import write_farm_report
from npubench.reports.farm.matrix import safe_link
from npubench.reports.farm.night import read_events, read_night
from npubench.reports.farm.report import night_summary
from npubench.reports.farm.timeline import build_timeline, layout, ticks
from npubench.results import RunStore, job_file_stem

FARM = "lab"
HOSTILE = "<script>alert(1)</script>"
BASE_MS = [10.0, 10.2, 9.8, 10.1, 9.9, 10.0, 10.3, 9.7, 10.05, 9.95]
GPU_MS = [2.0, 2.04, 1.96, 2.02, 1.98, 2.0, 2.06, 1.94, 2.01, 1.99]
PHONES = [
    {"name": "sim:sm8650#1", "class": "sd8gen3", "labels": {"class": "sd8gen3", "rack": "A"}},
    {"name": "sim:sm8650#2", "class": "sd8gen3", "labels": {"class": "sd8gen3", "rack": "A"}},
    {"name": "sim:sm8550#1", "class": "sd8gen2", "labels": {"class": "sd8gen2", "rack": "B"}},
]
DEVICES = {
    "sd8gen3": {"id": "sim:sm8650", "kind": "android", "model": "SM-S928B",
                "manufacturer": "samsung", "soc": {"vendor": "Qualcomm", "part": "SM8650",
                                                   "name": "Snapdragon 8 Gen 3"},
                "os": "Android 14 (SDK 34)", "build_fingerprint": "samsung/e3q/1",
                "simulated": True, "simulated_timing": "modeled"},
    "sd8gen2": {"id": "sim:sm8550", "kind": "android", "model": "SM-S918B",
                "manufacturer": "samsung", "soc": {"vendor": "Qualcomm", "part": "SM8550",
                                                   "name": "Snapdragon 8 Gen 2"},
                "os": "Android 14 (SDK 34)", "build_fingerprint": "samsung/dm3q/1",
                "simulated": True, "simulated_timing": "modeled"},
}


def key(workload: str, backend: str, klass: str = "sd8gen3") -> str:
    return f"{workload}@{backend}@{klass}"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


def attempt(n: int, phone: str, start: float, end: float, status: str, outcome: str,
            error: dict | None = None) -> dict[str, Any]:
    return {"attempt": n, "phone": phone, "worker": "npubench-hostA", "started_at": iso(start),
            "ended_at": iso(end), "status": status, "error": error, "outcome": outcome}


def record(workload: str, backend: str, *, klass: str = "sd8gen3", status: str = "ok",
           phone: str | None = "sim:sm8650#1", error: dict | None = None,
           attempts: list[dict] | None = None, started: float = 0.0) -> dict[str, Any]:
    """A record as a farm night writes it: a ``npubench run --device sim:...`` record plus
    its ``farm`` block (latency filled in by ``write_night`` from the samples)."""
    runtime, _, accelerator = backend.partition(":")
    return {
        "job_id": key(workload, backend, klass), "started_at": iso(started),
        "harness_version": "0.1.0", "device": dict(DEVICES[klass]),
        "workload": {"name": workload, "format": "tflite", "sha256": "b" * 64,
                     "task": "face-detection", "precision": "fp16", "source": "test"},
        "backend": {"spec": backend, "runtime": runtime, "accelerator": accelerator,
                    "options": {}},
        "status": status, "error": error, "validity": "valid" if status == "ok" else None,
        "init_ms": 20.0, "memory_peak_mb": 16.0,
        "farm": {"phone": phone, "class": klass, "labels": {"class": klass},
                 "worker": "npubench-hostA" if phone else None,
                 "attempt": len(attempts) if attempts is not None else 1,
                 "attempts": attempts if attempts is not None else
                 [attempt(1, phone or "", started, started + 8, status, "final", error)]},
    }


def write_night(run_dir: Path, run_id: str, t0: float,
                jobs: list[tuple[dict[str, Any], list[float] | None]],
                events: list[dict[str, Any] | str], *, plan_extra: list[dict] = (),
                farm: str = FARM, finished: bool = True) -> Path:
    """A night's folder in the exact farm format (``RunStore`` writes what it writes for a
    run; the farm files are written beside)."""
    store = RunStore(run_dir)
    store.create({
        "run_id": run_id, "started_at": iso(t0), "argv": ["npubench", "farm", "run"],
        "harness_version": "0.1.0", "host": {"cpu": "test cpu", "os": "Linux"},
        "versions": {"npubench": "0.1.0"}, "interrupted": False, "kind": "farm-night",
        "farm": {"name": farm, "source": f"/etc/npubench/{farm}.yaml",
                 "classes": ["sd8gen3", "sd8gen2"], "phones": PHONES, "deadline_s": 3600,
                 "retries": 2, "scheduler": "tcp://127.0.0.1:8786",
                 "dashboard": "http://127.0.0.1:8787/status", "resumed_at": []},
    })
    plan = [{"index": i, "key": rec["job_id"], "class": rec["farm"]["class"],
             "suite": "quick", "workload": rec["workload"]["name"],
             "backend": rec["backend"]["spec"]} for i, (rec, _) in enumerate(jobs)]
    plan += [{"index": len(plan) + i, **extra} for i, extra in enumerate(plan_extra)]
    (run_dir / "farm-plan.json").write_text(json.dumps({"run_id": run_id, "jobs": plan}))
    for index, (rec, samples) in enumerate(jobs):
        rec = {"run_id": run_id, "index": index, **rec}
        if samples:
            ordered = sorted(samples)
            rec["latency_ms"] = {"n": len(samples), "median": ordered[len(ordered) // 2],
                                 "p90": ordered[int(0.9 * (len(ordered) - 1))]}
            rec["samples_path"] = store.write_samples(index, rec["job_id"],
                                                      {"latency_ms": samples})
        log = store.log_path(index, rec["job_id"])
        log.write_text(f"log of {rec['job_id']}\n")
        rec["log_path"] = str(log.relative_to(run_dir))
        store.append(rec)
    lines = [e if isinstance(e, str) else json.dumps(
        {"t": iso(e["ts"]), "phone": None, "worker": None, "job": None, "attempt": None,
         "reason": None, "waited_s": None, "status": None, **e}) for e in events]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
    if finished:
        store.update_run_info(finished_at=iso(t0 + 3000))
    return run_dir


def ev(ts: float, event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "event": event, **fields}


def job_events(ts: float, phone: str, job: str, attempt_n: int, length: float,
               status: str) -> list[dict[str, Any]]:
    return [ev(ts, "cooldown", phone=phone, job=job, waited_s=30.0),
            ev(ts, "job_start", phone=phone, job=job, attempt=attempt_n,
               worker="npubench-hostA"),
            ev(ts + length, "job_end", phone=phone, job=job, attempt=attempt_n,
               status=status, worker="npubench-hostA")]


CPU, GPU = key("face_detection_short_range", "tflite:cpu"), key(
    "face_detection_short_range", "tflite:gpu")
VAD = key("okay_nabu", "tflite:cpu")
LATE = key("silero_vad", "tflite:cpu")
NOPHONE = key("face_landmark", "tflite:gpu", "sd8gen2")
EVIL = key(HOSTILE, "tflite:cpu")
T1, T2 = 1_733_460_000.0, 1_733_546_400.0  # two nights, one day apart


@pytest.fixture
def nights(tmp_path: Path) -> tuple[Path, Path]:
    first = write_night(tmp_path / "night1", "20241206-050000-aaaa", T1, [
        (record("face_detection_short_range", "tflite:cpu", started=T1 + 60), BASE_MS),
        (record("face_detection_short_range", "tflite:gpu", started=T1 + 120), GPU_MS),
        (record("okay_nabu", "tflite:cpu", started=T1 + 200), BASE_MS),
    ], [ev(T1, "night_start"), *job_events(T1 + 60, "sim:sm8650#1", CPU, 1, 50, "ok"),
        *job_events(T1 + 120, "sim:sm8650#2", GPU, 1, 50, "ok"),
        *job_events(T1 + 200, "sim:sm8650#1", VAD, 1, 50, "ok"), ev(T1 + 400, "night_end")])
    failed = {"kind": "runtime", "message": "delegate refused the graph", "infrastructure": False}
    lost = {"kind": "device_lost", "message": "adb: device offline", "infrastructure": True}
    second = write_night(tmp_path / "night2", "20241207-050000-bbbb", T2, [
        (record("face_detection_short_range", "tflite:cpu", phone="sim:sm8650#2",
                started=T2 + 60), [v * 1.3 for v in BASE_MS]),
        (record("face_detection_short_range", "tflite:gpu", started=T2 + 120), GPU_MS),
        (record("okay_nabu", "tflite:cpu", status="failed", phone="sim:sm8650#2",
                error=failed, started=T2 + 200, attempts=[
                    attempt(1, "sim:sm8650#1", T2 + 200, T2 + 230, "failed", "retried", lost),
                    attempt(2, "sim:sm8650#2", T2 + 260, T2 + 300, "failed", "final",
                            failed)]), None),
        (record("face_landmark", "tflite:gpu", klass="sd8gen2", status="failed", phone=None,
                attempts=[], error={"kind": "no_phone", "infrastructure": True,
                                    "message": "no healthy phone of class sd8gen2 left"}),
         None),
        (record(HOSTILE, "tflite:cpu", phone="sim:sm8650#1", started=T2 + 320), GPU_MS),
        (record("silero_vad", "tflite:cpu", status="skipped", phone=None, attempts=[],
                error={"kind": "deadline", "message": "the night's deadline passed before "
                       "this job started", "infrastructure": False}), None),
    ], [
        ev(T2, "night_start"),
        ev(T2 + 5, "phone_ready", phone="sim:sm8650#1"),
        ev(T2 + 5, "phone_ready", phone="sim:sm8650#2"),
        ev(T2 + 6, "phone_failed", phone="sim:sm8550#1", reason="adb: unauthorized"),
        ev(T2 + 10, "health_failed", phone="sim:sm8550#1", reason="battery 9% < 20%"),
        ev(T2 + 11, "quarantine", phone="sim:sm8550#1", reason=f"battery low {HOSTILE}"),
        *job_events(T2 + 60, "sim:sm8650#2", CPU, 1, 50, "ok"),
        *job_events(T2 + 120, "sim:sm8650#1", GPU, 1, 50, "ok"),
        ev(T2 + 150, "job_start", phone="sim:sm8650#2", job=VAD, attempt=1),
        ev(T2 + 152, "job_end", phone="sim:sm8650#2", job=VAD, attempt=1,
           status="health_failed", reason="hottest zone 52 C > 45 C"),
        *job_events(T2 + 200, "sim:sm8650#1", VAD, 1, 30, "failed"),
        ev(T2 + 231, "retry", phone="sim:sm8650#1", job=VAD, attempt=1,
           reason="adb: device offline"),
        ev(T2 + 232, "worker_lost", worker="npubench-hostB"),
        ev(T2 + 240, "telemetry_blip", phone="sim:sm8650#1", weird={"x": [1, 2]}),
        "not json at all {",
        *job_events(T2 + 260, "sim:sm8650#2", VAD, 2, 40, "failed"),
        *job_events(T2 + 320, "sim:sm8650#1", EVIL, 1, 40, "ok"),
        ev(T2 + 3600, "deadline_skip", job=LATE, reason="deadline"),
        ev(T2 + 3610, "night_end"),
    ])
    return first, second


def test_regression_row_comes_first_with_the_comparison(nights):
    first, second = nights
    data = night_summary(read_night(second), previous=first)
    rows = data["rows"]
    assert rows[0]["key"] == CPU and rows[0]["verdict"] == "regression"
    assert rows[0]["ratio"] == pytest.approx(1.3, rel=0.02)
    assert rows[0]["phone"] == "sim:sm8650#2"
    assert rows[0]["previous_median_ms"] == pytest.approx(10.0, rel=0.02)
    # then the failures, then the skipped job, then the rest
    assert [r["status"] for r in rows[1:4]] == ["failed", "failed", "skipped"]
    by_key = {r["key"]: r for r in rows}
    assert by_key[GPU]["verdict"] == "unchanged"
    assert by_key[VAD]["verdict"] == "incomparable"
    assert "failed in NEW: delegate refused" in by_key[VAD]["verdict_reason"]
    assert by_key[VAD]["attempt_count"] == 2
    assert by_key[VAD]["attempts"][0]["outcome"] == "retried"
    assert by_key[EVIL]["verdict_reason"] == "only in NEW"
    assert data["counts"] == {"ok": 3, "failed": 2, "skipped": 1, "not run": 0,
                              "regression": 1, "improvement": 0, "unchanged": 1,
                              "incomparable": 4}
    assert data["simulated"] and data["modeled"]
    assert data["phones"]["total"] == 3 and data["phones"]["quarantined"] == ["sim:sm8550#1"]


def test_write_farm_report_writes_the_three_files(nights):
    first, second = nights
    paths = write_farm_report(second, previous=first)
    assert paths == {"html": second / "farm-report.html", "junit": second / "farm-junit.xml",
                     "markdown": second / "farm-summary.md"}
    comparison = json.loads((second / "farm-comparison.json").read_text())
    assert comparison["regressed"] is True and comparison["regressions"] == [CPU]
    assert comparison["previous"] == "20241206-050000-aaaa"
    assert set(comparison["classes"]) == {"sd8gen3", "sd8gen2"}
    page = paths["html"].read_text()
    matrix = page.split('<section id="matrix">')[1].split("</section>")[0]
    first_row = matrix.split("<tbody>")[1].split("</tr>")[0]
    assert "face_detection_short_range" in first_row and "tflite:cpu" in first_row
    assert "regression" in first_row and "+30.0%" in first_row
    assert "SIMULATED PHONES — modeled timing, not a phone&#39;s numbers" in page
    assert f'href="logs/{job_file_stem(VAD)}.log"' in page
    assert "delegate refused the graph" in page  # a failed row shows its error
    assert "no healthy phone of class sd8gen2 left" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from the network


def test_timeline_shows_the_quarantine_bars_and_deadline(nights):
    _, second = nights
    page = write_farm_report(second, previous=second.parent / "night1")["html"].read_text()
    svg = page.split("<svg")[1].split("</svg>")[0]
    quarantine = re.search(r'<rect class="quarantine"[^>]*><title>([^<]*)</title>', svg)
    assert quarantine and "sim:sm8550#1 quarantined at" in quarantine[1]
    assert "battery low &lt;script&gt;" in quarantine[1]
    assert svg.count('<rect class="st-') == 6  # one bar per attempt
    assert svg.count('class="st-failed"') == 2
    assert re.search(r'class="st-health_failed"[^>]*><title>[^<]*hottest zone 52 C', svg)
    assert 'class="deadline"' in svg and "1 job skipped" in svg
    assert 'class="cool"' in svg and 'class="m-retry"' in svg
    assert 'class="m-health_failed"' in svg
    assert re.findall(r'<rect class="st-[^"]*"[^>]*>(<title>)?', svg) == ["<title>"] * 6
    lanes = layout(build_timeline(read_night(second).events, PHONES, deadline_s=3600))
    assert [lane["quarantined"] for lane in lanes["lanes"]] == [False, False, True]
    assert lanes["ticks"] and all(t["label"] for t in lanes["ticks"])


def test_junit_fails_each_failed_job_and_each_regression(nights):
    first, second = nights
    root = ET.parse(write_farm_report(second, previous=first)["junit"]).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"npubench farm · sd8gen3", "npubench farm · sd8gen2"}
    failures = {(c.get("classname"), c.get("name")): f.get("type")
                for c in root.iter("testcase") for f in c.findall("failure")}
    assert failures == {
        ("npubench.farm.sd8gen3", "face_detection_short_range · tflite:cpu"): "regression",
        ("npubench.farm.sd8gen3", "okay_nabu · tflite:cpu"): "runtime",
        ("npubench.farm.sd8gen2", "face_landmark · tflite:gpu"): "no_phone",
    }
    skipped = [c.get("name") for c in root.iter("testcase") if c.find("skipped") is not None]
    assert skipped == ["silero_vad · tflite:cpu"]
    assert suites["npubench farm · sd8gen3"].get("failures") == "2"
    assert any(c.get("name") == f"{HOSTILE} · tflite:cpu" for c in root.iter("testcase"))


def test_markdown_lists_regressions_failures_and_quarantines(nights):
    first, second = nights
    md = write_farm_report(second, previous=first)["markdown"].read_text()
    regressions = md.split("### Regressions (1)")[1].split("###")[0]
    assert "face\\_detection\\_short\\_range" in regressions and "\\+30\\.0%" in regressions
    problems = md.split("### Failed, skipped and unrun jobs (3)")[1].split("###")[0]
    assert "delegate refused the graph" in problems and "no\\_phone" in problems
    assert "deadline" in problems
    quarantines = md.split("### Quarantined phones (1)")[1]
    assert "sim:sm8550\\#1" in quarantines and "battery low &lt;script&gt;" in quarantines
    assert "modeled timing" in md and "1 regression" in md


def test_no_markup_from_the_night_reaches_the_page_unescaped(nights):
    first, second = nights
    paths = write_farm_report(second, previous=first)
    for name in ("html", "markdown"):
        text = paths[name].read_text()
        assert "<script" not in text.lower()
        assert "&lt;script&gt;" in text
    ET.parse(paths["junit"])  # well-formed despite the name


def test_a_night_with_no_previous_says_so(nights, tmp_path):
    first, _ = nights
    data = night_summary(read_night(first), store=tmp_path / "empty.sqlite")
    assert data["previous"]["run_id"] is None
    assert data["previous"]["reason"].startswith("no previous night")
    assert all(r["verdict"] is None for r in data["rows"])
    page = write_farm_report(first, store=tmp_path / "empty.sqlite")["html"].read_text()
    assert "no previous night" in page and "the matrix shows no comparison" in page
    assert "No run report (report.html)" in page
    comparison = json.loads((first / "farm-comparison.json").read_text())
    assert comparison["regressed"] is False and comparison["classes"] is None


def test_the_previous_night_is_found_in_the_store(nights, tmp_path):
    from npubench.reports.store import open_store

    first, second = nights
    other = write_night(tmp_path / "other-farm", "20241207-010000-cccc", T2 - 3600,
                        [(record("okay_nabu", "tflite:cpu"), BASE_MS)], [], farm="other")
    path = tmp_path / "store.sqlite"
    with open_store(path) as store:
        for night in (first, other, second):
            store.ingest(night)
    data = night_summary(read_night(second), store=path)
    assert data["previous"]["run_id"] == "20241206-050000-aaaa"
    assert data["rows"][0]["verdict"] == "regression"
    assert night_summary(read_night(first), store=path)["previous"]["run_id"] is None


def test_a_previous_night_that_cannot_be_loaded_still_renders(nights, tmp_path):
    _, second = nights
    page = write_farm_report(second, previous=tmp_path / "gone")["html"].read_text()
    assert "cannot be loaded" in page and "no run folder" in page
    data = night_summary(read_night(second), previous=tmp_path / "gone")
    assert all(r["verdict"] is None and r["ratio"] is None for r in data["rows"])


def test_unknown_and_broken_events_are_ignored(tmp_path):
    notes: list[str] = []
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([
        json.dumps({"ts": T1, "event": "night_start"}),
        json.dumps({"ts": T1 + 1, "event": "from_the_future", "phone": {"odd": 1}}),
        json.dumps({"t": "not a time", "event": "job_start"}),
        json.dumps([1, 2]),
        '{"ts": ',
        json.dumps({"t": iso(T1 + 9), "event": "job_start", "phone": "p", "job": "j",
                    "attempt": 1}),
    ]) + "\n")
    events = read_events(path, notes)
    assert [e["event"] for e in events] == ["night_start", "from_the_future", "job_start"]
    assert notes == ["3 lines of events.jsonl left out (not an event with a time)"]
    timeline = build_timeline(events, [])
    assert [lane.phone for lane in timeline.lanes] == ["p"]
    bar = timeline.lanes[0].bars[0]
    assert bar.status == "unfinished" and bar.end == timeline.end  # never ended
    assert build_timeline([{"ts": T1, "event": "mystery"}], []) is None
    assert build_timeline([], []) is None


def test_an_interrupted_night_shows_unrun_jobs(tmp_path):
    night = write_night(tmp_path / "cut", "20241208-050000-dddd", T2, [
        (record("face_detection_short_range", "tflite:cpu", started=T2 + 60), BASE_MS),
    ], [ev(T2, "night_start"), *job_events(T2 + 60, "sim:sm8650#1", CPU, 1, 50, "ok"),
        ev(T2 + 120, "job_start", phone="sim:sm8650#1", job=GPU, attempt=1),
        ev(T2 + 130, "interrupted", reason="SIGINT")],
        plan_extra=[{"key": GPU, "class": "sd8gen3", "suite": "quick",
                     "workload": "face_detection_short_range", "backend": "tflite:gpu"}],
        finished=False)
    data = night_summary(read_night(night), store=tmp_path / "s.sqlite")
    assert [r["status"] for r in data["rows"]] == ["not run", "ok"]
    assert "no record" in data["rows"][0]["error"]
    page = write_farm_report(night, store=tmp_path / "s.sqlite")["html"].read_text()
    assert 'class="st-unfinished"' in page and 'class="mark"' in page
    assert "end not recorded" in page


def test_safe_link_keeps_links_inside_the_run_folder():
    assert safe_link("logs/003-a b.log") == "logs/003-a%20b.log"
    assert safe_link("logs/x\"onmouseover=1.log") == "logs/x%22onmouseover%3D1.log"
    for bad in ("javascript:alert(1)", "/etc/passwd", "../other/run.log", "", None,
                "C:\\logs\\x.log"):
        assert safe_link(bad) is None


def test_ticks_are_round_clock_times():
    assert ticks(0, 3600) == [0.0, 600.0, 1200.0, 1800.0, 2400.0, 3000.0, 3600.0]
    assert ticks(5, 50) == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0]


def test_a_folder_without_the_farm_files_still_renders(tmp_path):
    store = RunStore(tmp_path / "plain")
    store.create({"run_id": "plain-1", "started_at": iso(T1),
                  "farm": {"name": 3, "classes": "sd8gen3", "deadline_s": "six hours",
                           "phones": "none", "resumed_at": 7}})
    store.append({"run_id": "plain-1", "job_id": "x@tflite:cpu@sim:sm8650", "status": "ok",
                  "log_path": "javascript:alert(1)", "latency_ms": {"median": 1.5}})
    paths = write_farm_report(tmp_path / "plain", store=tmp_path / "s.sqlite")
    page = paths["html"].read_text()
    assert "no farm-plan.json" in page and "no events.jsonl: no timeline" in page
    assert "does not say kind" in page and 'href="javascript' not in page
    assert "(no class)" in page and "1.50" in page
    ET.parse(paths["junit"])


def test_a_night_that_ended_before_its_first_record_renders(tmp_path):
    night = write_night(tmp_path / "early", "20241209-050000-eeee", T2, [], [
        ev(T2, "night_start"), ev(T2 + 3, "job_start", phone="sim:sm8650#1", job=CPU,
                                  attempt=1), ev(T2 + 9, "interrupted")],
        plan_extra=[{"key": CPU, "class": "sd8gen3", "suite": "quick",
                     "workload": "face_detection_short_range", "backend": "tflite:cpu"}],
        finished=False)
    (night / "results.jsonl").unlink(missing_ok=True)
    paths = write_farm_report(night, store=tmp_path / "s.sqlite")
    page = paths["html"].read_text()
    assert "no results.jsonl: no job finished" in page and "not run" in page
    root = ET.parse(paths["junit"]).getroot()
    assert [c.find("skipped").get("message")[:7] for c in root.iter("testcase")] == ["not run"]
