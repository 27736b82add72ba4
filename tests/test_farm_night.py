"""The farm for real: a Dask scheduler, ``npubench farm worker`` processes and the controller,
with simulated phones (modeled timing) reached over ADB on TCP. Each fault case asserts what a
farm's user relies on: every planned job has exactly one record (none lost, none twice) and
every phone that is still there has its charging back on."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from farm_helpers import (
    assert_night_complete,
    events,
    make_farm,
    records,
    run_night,
    start_scheduler,
    wait_until,
)


@pytest.fixture
def scheduler():
    cluster = start_scheduler()
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture
def farm_factory(tmp_path, scheduler):
    made = []

    def make(phones, **kwargs):
        farm = make_farm(tmp_path, phones, **kwargs)
        farm.scheduler = scheduler
        made.append(farm)
        return farm

    yield make
    for farm in made:
        farm.close()


def charging_restored(farm, skip=()) -> bool:
    return all(not p.charging_suspended for i, p in enumerate(farm.phones) if i not in skip)


def test_two_workers_two_phones_each_every_job_once_on_its_class(farm_factory, tmp_path):
    """Into the shared PostgreSQL store, as a farm of several hosts writes."""
    from store_helpers import postgres_schema

    with postgres_schema() as url:
        _two_workers(farm_factory, tmp_path, url)


def _two_workers(farm_factory, tmp_path, store: str) -> None:
    from npubench.reports.store import open_store

    farm = farm_factory([("a", "sd8gen3", "sm8650"), ("a", "d9300", "mt6989"),
                         ("b", "sd8gen3", "sm8650"), ("b", "d9300", "mt6989")])
    farm.start_worker("a")
    farm.start_worker("b")
    out = tmp_path / "night"
    done = run_night(farm, out, "--store", store)
    assert done.returncode == 0, done.stdout + done.stderr
    by_key = assert_night_complete(out)
    assert len(by_key) == 8  # 2 workloads x 2 backends x 2 classes
    names = {p.name: p for p in farm.phones}
    for key, record in by_key.items():
        assert record["status"] == "ok", record["error"]
        phone = names[record["farm"]["phone"]]
        assert key.endswith("@" + phone.phone_class) and record["farm"]["class"] == \
            phone.phone_class
        assert record["device"]["soc"]["part"].upper() == (
            "SM8650" if phone.phone_class == "sd8gen3" else "MT6989")
        assert record["device"]["simulated"] is True
        assert record["farm"]["attempt"] == 1 and record["farm"]["attempts"][0]["outcome"] == \
            "final"
    # identical phones share the load; both hosts' workers ran jobs
    assert len({r["farm"]["phone"] for r in by_key.values()}) >= 3
    assert {r["farm"]["host"] for r in by_key.values()}
    with open_store(str(store)) as results:
        stored = results.records(run_id=json.loads((out / "run.json").read_text())["run_id"])
    assert sorted(r["job_id"] for r in stored) == sorted(by_key)
    info = json.loads((out / "run.json").read_text())
    assert info["kind"] == "farm-night" and info["finished_at"] and not info["interrupted"]
    assert {p["name"] for p in info["farm"]["phones"]} == set(names)
    assert (out / "farm-report.html").exists() and (out / "farm-junit.xml").exists()
    assert charging_restored(farm)
    assert farm.stop_workers() == {"a": 0, "b": 0}


def test_a_phone_killed_mid_job_is_retried_on_another_and_quarantined(farm_factory, tmp_path):
    farm = farm_factory([("a", "sd8gen3", "sm8650"), ("a", "sd8gen3", "sm8650")])
    victim = farm.phone(0)
    farm.start_worker("a")
    out = tmp_path / "night"
    night = run_night(farm, out, wait=False)
    assert wait_until(lambda: any(e.get("event") == "job_start" and e.get("phone") ==
                                  victim.name for e in events(out)), 90)
    time.sleep(0.3)
    victim.sim.stop()
    output, _ = night.communicate(timeout=240)
    by_key = assert_night_complete(out)
    assert all(r["status"] == "ok" for r in by_key.values()), output
    retried = [r for r in by_key.values() if r["farm"]["attempt"] > 1]
    assert retried, output
    first = retried[0]["farm"]["attempts"][0]
    assert first["phone"] == victim.name and first["outcome"] == "retried"
    assert retried[0]["farm"]["phone"] == farm.phone(1).name
    assert any(e.get("event") == "quarantine" and e.get("phone") == victim.name
               for e in events(out)) or all(r["farm"]["phone"] != victim.name
                                             for r in by_key.values() if r["farm"]["attempt"]
                                             == 1 and r is not retried[0])
    assert night.returncode == 0, output
    assert charging_restored(farm, skip={0})


def test_a_worker_killed_mid_job_its_job_runs_on_the_other_host(farm_factory, tmp_path):
    farm = farm_factory([("a", "sd8gen3", "sm8650"), ("b", "sd8gen3", "sm8650")])
    farm.start_worker("a")
    farm.start_worker("b")
    out = tmp_path / "night"
    night = run_night(farm, out, wait=False)
    victim = farm.phone(0)
    assert wait_until(lambda: any(e.get("event") == "job_start" and e.get("phone") ==
                                  victim.name for e in events(out)), 90)
    os.killpg(farm.workers["a"].pid, signal.SIGKILL)
    output, _ = night.communicate(timeout=240)
    by_key = assert_night_complete(out)
    assert all(r["status"] == "ok" for r in by_key.values()), output
    lost = [a for r in by_key.values() for a in r["farm"]["attempts"]
            if a["status"] == "lost"]
    assert lost and lost[0]["phone"] == victim.name and lost[0]["outcome"] == "retried"
    assert "worker running it was lost" in lost[0]["error"]["message"]
    assert all(r["farm"]["phone"] == farm.phone(1).name for r in by_key.values())
    assert any(e.get("event") == "worker_lost" for e in events(out))
    assert night.returncode == 0, output
    # the killed worker could not restore its phone: the phone's guardian did, when the link
    # dropped (devices/charging_guard.py)
    assert wait_until(lambda: charging_restored(farm), 30)


def test_an_unauthorized_phone_is_out_for_the_night_and_the_others_run(farm_factory, tmp_path):
    from npubench.devices.sim.faults import Faults

    farm = farm_factory([("a", "sd8gen3", "sm8650"), ("a", "sd8gen3", "sm8650")],
                        sim_options={0: {"auth": "verify",
                                         "faults": Faults(refuse_auth=True)}})
    farm.start_worker("a", timeout_s=120)
    out = tmp_path / "night"
    done = run_night(farm, out)
    assert done.returncode == 0, done.stdout + done.stderr
    by_key = assert_night_complete(out)
    assert {r["farm"]["phone"] for r in by_key.values()} == {farm.phone(1).name}
    phones = {p["name"]: p for p in json.loads((out / "run.json").read_text())["farm"]
              ["phones"]}
    assert "could not be opened" in phones[farm.phone(0).name]["quarantined"]
    assert "Allow USB debugging" in phones[farm.phone(0).name]["quarantined"]
    assert f"{farm.phone(0).name} is out" in done.stdout
    assert charging_restored(farm)


def test_hot_phones_wait_then_run_or_are_quarantined_and_a_full_disk_too(farm_factory,
                                                                         tmp_path):
    import threading

    farm = farm_factory([("a", "sd8gen3", "sm8650"), ("a", "sd8gen3", "sm8650"),
                         ("a", "sd8gen3", "sm8650")], limits={"max_temperature_c": 45})
    for index in (0, 2):  # 0 stays hot; 2 cools down while it waits
        farm.phone(index).sim.userland.physics.set_ambient(80.0)
        farm.phone(index).sim.userland.physics.set_temperatures(80.0)
    farm.phone(1).sim.userland.fs.full = True
    out = tmp_path / "night"

    def cool_phone_2() -> None:
        if wait_until(lambda: any(e.get("event") == "job_start" and e.get("phone") ==
                                  farm.phone(2).name for e in events(out)), 120):
            time.sleep(0.7)
            farm.phone(2).sim.userland.physics.set_ambient(25.0)
            farm.phone(2).sim.userland.physics.set_temperatures(30.0)

    cooler = threading.Thread(target=cool_phone_2, daemon=True)
    cooler.start()
    farm.start_worker("a")
    done = run_night(farm, out)
    by_key = assert_night_complete(out)
    assert all(r["status"] == "ok" for r in by_key.values()), done.stdout
    assert {r["farm"]["phone"] for r in by_key.values()} == {farm.phone(2).name}
    waited = [r["farm"]["attempts"][-1]["health"]["cooldown_s"] for r in by_key.values()]
    assert max(waited) >= 0.5  # the first job on phone 2 waited for it to cool
    quarantined = {e["phone"]: e["reason"] for e in events(out) if e["event"] == "quarantine"}
    hot, full = quarantined[farm.phone(0).name], quarantined[farm.phone(1).name]
    assert "hot:" in hot and "cooldown" in hot
    assert "MB free" in full and "min_free_mb" in full
    assert farm.phone(2).name not in quarantined
    cooled = [e for e in events(out) if e["event"] == "cooldown"
              and e["phone"] == farm.phone(0).name]
    assert cooled and cooled[0]["waited_s"] >= 1.5  # it waited the cooldown out first
    health = [a for r in by_key.values() for a in r["farm"]["attempts"]
              if a["status"] == "health_failed"]
    assert health and all(a["outcome"] == "retried" for a in health)
    assert done.returncode == 0, done.stdout
    farm.phone(1).sim.userland.fs.full = False
    assert charging_restored(farm)


def test_a_hanging_tool_is_retried_elsewhere_and_a_crash_is_not(farm_factory, tmp_path):
    farm = farm_factory([("a", "sd8gen3", "sm8650"), ("a", "sd8gen3", "sm8650"),
                         ("a", "d9300", "mt6989")], timeout_s=4)
    farm.phone(0).sim.userland.tool_faults.hang = True
    farm.phone(2).sim.userland.tool_faults.crash = True
    farm.start_worker("a")
    out = tmp_path / "night"
    done = run_night(farm, out)
    by_key = assert_night_complete(out)
    sd = {k: r for k, r in by_key.items() if k.endswith("@sd8gen3")}
    assert all(r["status"] == "ok" and r["farm"]["phone"] == farm.phone(1).name
               for r in sd.values()), done.stdout
    hung = [a for r in sd.values() for a in r["farm"]["attempts"] if a["status"] == "failed"]
    assert hung and all("did not finish within" in a["error"]["message"] and
                        a["error"]["infrastructure"] for a in hung)
    crashed = {k: r for k, r in by_key.items() if k.endswith("@d9300")}
    for record in crashed.values():  # a product failure: recorded once, not retried
        assert record["status"] == "failed" and record["farm"]["attempt"] == 1
        assert not record["error"]["infrastructure"], record["error"]
    assert done.returncode == 4, done.stdout  # failed jobs, not only infrastructure
    assert charging_restored(farm)


def test_ctrl_c_then_resume_finishes_the_night_without_repeating_a_job(farm_factory,
                                                                      tmp_path):
    farm = farm_factory([("a", "sd8gen3", "sm8650")])
    farm.start_worker("a")
    out = tmp_path / "night"
    night = run_night(farm, out, wait=False)
    assert wait_until(lambda: len(records(out)) >= 1, 120)
    night.send_signal(signal.SIGINT)
    output, _ = night.communicate(timeout=120)
    assert night.returncode == 130, output
    assert "--resume" in output
    first = [r["job_id"] for r in records(out)]
    assert 1 <= len(first) < 4
    assert wait_until(lambda: charging_restored(farm), 30)
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    done = run_night(farm, out, "--resume", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(first)} of 4 jobs have their record" in done.stdout
    by_key = assert_night_complete(out)  # no job twice, none lost
    assert [r["job_id"] for r in records(out)][:len(first)] == first
    assert all(r["status"] == "ok" for r in by_key.values())
    info = json.loads((out / "run.json").read_text())
    assert info["farm"]["resumed_at"] and not info["interrupted"]
    assert charging_restored(farm)


def test_jobs_not_started_by_the_deadline_are_skipped(farm_factory, tmp_path):
    farm = farm_factory([("a", "sd8gen3", "sm8650")])
    farm.start_worker("a")
    out = tmp_path / "night"
    done = run_night(farm, out, "--deadline", "3s")
    by_key = assert_night_complete(out)
    skipped = [r for r in by_key.values() if r["status"] == "skipped"]
    assert skipped and all(r["error"]["kind"] == "deadline" for r in skipped)
    assert all(r["farm"]["attempts"] == [] for r in skipped)
    assert any(r["status"] == "ok" for r in by_key.values())
    assert done.returncode == 0, done.stdout
    assert any(e["event"] == "deadline_skip" for e in events(out))
    assert charging_restored(farm)


def test_a_class_with_no_usable_phone_left_fails_its_jobs_as_infrastructure(farm_factory,
                                                                            tmp_path):
    farm = farm_factory([("a", "sd8gen3", "sm8650")], retries=1)
    farm.phone(0).sim.userland.fs.full = True
    farm.start_worker("a")
    out = tmp_path / "night"
    done = run_night(farm, out)
    by_key = assert_night_complete(out)
    assert all(r["status"] == "failed" and r["error"]["infrastructure"]
               for r in by_key.values())
    kinds = {r["error"]["kind"] for r in by_key.values()}
    assert kinds <= {"health", "no_phone"} and "no_phone" in kinds
    assert any("no usable phone of class sd8gen3" in r["error"]["message"]
               for r in by_key.values())
    assert done.returncode == 3, done.stdout  # only infrastructure failed
    farm.phone(0).sim.userland.fs.full = False
    assert charging_restored(farm)
