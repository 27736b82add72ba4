"""The farm's pure parts and its worker-side pool, without Dask: health rules, attempts and
the ``farm`` block of records, the night's folder, lending phones and quarantine."""

from __future__ import annotations

import json
import threading
import time

import pytest

from npubench.errors import ConfigError
from npubench.harness.farm.config import Limits, parse_farm
from npubench.harness.farm.health import judge
from npubench.harness.farm.night import FarmJob, NightFolder
from npubench.harness.farm.pool import PhonePool, class_resource
from npubench.harness.farm.records import attempt_entry, bare_record, farm_block, is_infrastructure
from npubench.harness.farm.worker_command import select_slots

LIMITS = Limits(battery_min_percent=30, battery_max_percent=95, max_temperature_c=40,
                min_free_mb=2048)


def test_health_rules_name_each_limit_and_ignore_what_was_not_read():
    assert judge({"battery_percent": 50, "temperature_c": 35, "free_mb": 4096}, LIMITS) == []
    reasons = judge({"battery_percent": 12, "temperature_c": 44.2, "hottest_zone": "cpu-1",
                     "cooldown_s": 300, "free_mb": 100}, LIMITS)
    assert len(reasons) == 3
    assert "battery at 12 %" in reasons[0] and "battery_min_percent 30" in reasons[0]
    assert "cpu-1 at 44.2 °C after 300 s" in reasons[1]
    assert "100 MB free" in reasons[2] and "min_free_mb 2048" in reasons[2]
    assert "over battery_max_percent" in judge({"battery_percent": 100}, LIMITS)[0]
    assert judge({"battery_percent": None, "temperature_c": None, "free_mb": None}, LIMITS) == []
    assert judge({"temperature_c": 40.0}, LIMITS)  # at the limit is too hot


def test_attempts_say_what_failed_and_only_infrastructure_is_retried():
    ok = attempt_entry({"attempt": 1, "phone": "p1", "record": {"status": "ok"},
                        "job_started_ts": 1.0e9, "job_ended_ts": 1.0e9 + 2})
    assert ok["status"] == "ok" and ok["started_at"].startswith("2001-09-09T01:46:40")
    assert not is_infrastructure(ok)
    health = attempt_entry({"attempt": 1, "record": None,
                            "error": {"kind": "health", "infrastructure": True}})
    lost = attempt_entry({"attempt": 2, "record": None,
                          "error": {"kind": "worker_lost", "infrastructure": True}})
    nophone = attempt_entry({"record": None, "error": {"kind": "no_phone"}})
    assert (health["status"], lost["status"], nophone["status"]) == (
        "health_failed", "lost", "no_phone")
    assert all(map(is_infrastructure, (health, lost, nophone)))
    hang = attempt_entry({"record": {"status": "failed", "error": {"infrastructure": True}},
                          "error": {"infrastructure": True}})
    crash = attempt_entry({"record": {"status": "failed", "error": {"infrastructure": False}},
                           "error": {"infrastructure": False}})
    assert is_infrastructure(hang) and not is_infrastructure(crash)
    job = FarmJob(3, "m@tflite:cpu@c", "c", "quick", "m", "tflite:cpu")
    block = farm_block(job, [health, lost, ok], {"phone": "p1", "worker": "w"})
    assert [a["outcome"] for a in block["attempts"]] == ["retried", "retried", "final"]
    assert block["attempt"] == 3 and block["phone"] == "p1" and block["class"] == "c"


def test_a_job_that_never_ran_has_a_record_with_the_reason_and_no_figures():
    job = FarmJob(0, "m@npu@c", "c", "quick", "m", "npu")
    record = bare_record(job, "R", None, "skipped", {"kind": "deadline", "message": "late",
                                                     "infrastructure": False}, "2026-01-01")
    assert record["job_id"] == "m@npu@c" and record["status"] == "skipped"
    assert record["latency_ms"] is None and record["power"] is None
    assert record["backend"]["runtime"] == "npu"  # as written: no phone said what npu is


def test_the_night_folder_keeps_the_plan_and_survives_a_cut_event_line(tmp_path):
    folder = NightFolder(tmp_path)
    jobs = [FarmJob(0, "a@x:y@c", "c", "quick", "a", "x:y", None),
            FarmJob(1, "b@x:y@c", "c", "quick", "b", "x:y", "no tool")]
    folder.write_plan("R", jobs, {"c": {"model": "M"}})
    assert folder.read_plan() == (jobs, {"c": {"model": "M"}})
    folder.event({"event": "job_start", "phone": "p"})
    with open(tmp_path / "events.jsonl", "a") as fh:
        fh.write('{"event": "job_e')  # the controller was killed mid-line
    assert [e["event"] for e in folder.events()] == ["job_start"]
    assert folder.done_keys() == set()
    folder.store.append({"job_id": "a@x:y@c", "status": "ok"})
    assert folder.done_keys() == {"a@x:y@c"}
    with pytest.raises(ConfigError, match="no plan"):
        NightFolder(tmp_path / "other").read_plan()


def _pool(text: str) -> tuple[PhonePool, list[dict]]:
    farm = parse_farm(text)
    said: list[dict] = []
    pool = PhonePool(farm.slots(), name="w", emit=said.append, log=open("/dev/null", "w"))
    for phone in pool.phones:
        phone.device = object()  # opened (nothing here talks to it)
    return pool, said


FARM = """
phones:
  - {device: sim:sm8650, count: 3, labels: {class: a, host: h1}}
  - {device: sim:mt6989, labels: {class: b, host: h2}}
"""


def test_worker_serves_the_phones_of_its_host_label():
    farm = parse_farm(FARM)
    assert [s.name for s in select_slots(farm, "h2")] == ["sim:mt6989#1"]
    assert len(select_slots(farm, None)) == 4
    with pytest.raises(ConfigError, match="hosts in the file: h1, h2"):
        select_slots(farm, "h3")


def test_a_phone_is_lent_to_one_job_at_a_time_and_a_retry_prefers_a_fresh_one():
    pool, _ = _pool(FARM)
    first = pool.acquire("a", "j1")
    third = pool.acquire("a", "j2", avoid=["sim:sm8650#2"])
    assert (first.name, third.name) == ("sim:sm8650#1", "sim:sm8650#3")
    assert pool.acquire("a", "j3").name == "sim:sm8650#2"
    assert pool.acquire("b", "j4").name == "sim:mt6989#1"
    assert pool.acquire("b", "j5", wait_s=0.3) is None  # its one phone is busy
    pool.release(first)
    # only the phone it failed on is free: a retry waits for another one...
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(
        pool.acquire("a", "j6", avoid=["sim:sm8650#1"], wait_s=5)))
    waiter.start()
    time.sleep(0.3)
    assert not got
    pool.release(third)
    waiter.join(5)
    assert got[0].name == "sim:sm8650#3"
    # ...and takes the one it failed on when nothing else frees up in time
    assert pool.acquire("a", "j7", avoid=["sim:sm8650#1"], wait_s=0.4).name == "sim:sm8650#1"


def test_two_health_failures_quarantine_a_phone_and_lower_its_class_resource():
    pool, said = _pool(FARM)
    capacity: list[dict] = []
    pool.on_capacity = capacity.append
    assert pool.resources() == {class_resource("a"): 3, class_resource("b"): 1}
    phone = pool.phones[0]
    pool.strike(phone, "battery at 3 %")
    assert phone.quarantined is None and phone.usable
    pool.strike(phone, "ADB: the phone does not answer")
    assert "failed health 2 times" in phone.quarantined and "battery at 3 %" in \
        phone.quarantined
    assert capacity == [{class_resource("a"): 2, class_resource("b"): 1}]
    assert [m["event"] for m in said] == ["health_failed", "health_failed", "quarantine"]
    assert all(p.name != phone.name for p in
               (pool.acquire("a", "j1"), pool.acquire("a", "j2")))
    assert pool.acquire("a", "j3", wait_s=0.2) is None
    state = pool.state()
    assert state["phones"][0]["quarantined"] and json.dumps(state)


def test_a_new_night_releases_the_quarantines_of_the_last_and_a_resumed_one_keeps_them():
    pool, said = _pool(FARM)
    capacity: list[dict] = []
    pool.on_capacity = capacity.append
    pool.start_night("night-1")
    phone = pool.phones[0]
    pool.strike(phone, "hot")
    pool.strike(phone, "hot")
    assert phone.quarantined
    pool.start_night("night-1")  # --resume of the same night
    assert phone.quarantined
    pool.start_night("night-2")
    assert phone.quarantined is None and phone.strikes == [] and phone.usable
    assert capacity[-1] == {class_resource("a"): 3, class_resource("b"): 1}
    assert said[-1]["event"] == "phone_released" and said[-1]["phone"] == phone.name
