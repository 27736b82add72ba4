"""The phone session (devices.phone_session): prepared once per run, measured per job, and
charging always restored. Pure rules with literal numbers; sessions against the simulated phone
over real ADB; and whole `npubench run`s as separate processes against a simulated phone in
this process, so that the test can count what the phone saw (``dumpsys battery suspend_input``
and ``reset``) and kill the process that drives it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import phone_waits
import pytest
from phone_waits import counts, wait_for

from npubench.devices.calibration_store import CalibrationStore, device_key
from npubench.devices.charging_guard import MARKER, ChargingGuard, parse_claim
from npubench.devices.cpu_topology import big_cores, cpu_mask, parse_cpu_list, plan
from npubench.devices.idle_baseline import Baseline, BaselineRule, PhoneState, decide
from npubench.devices.phone_power import Calibration
from npubench.devices.phone_session import PhoneSession, SessionOptions
from npubench.devices.power_window import interior_window, tail_needed_s
from npubench.errors import DeviceLost
from npubench.results import read_records

QUICK = SessionOptions(idle_s=0.6, settle_s=1.0, cooldown_c=95.0, poll_s=0.1,
                       rule=BaselineRule(max_temp_delta_c=30.0))
"""Short waits, no cooldown, and a baseline that a few °C do not invalidate (the sim's CPU
zones move fast; the rule's temperature limit has tests of its own)."""


# --- the idle-baseline rule (pure) -------------------------------------------------------------

BASE = Baseline((100.0, 102.0), 700.0, PhoneState(102.0, 35.0, 80.0, 1), "t", "job0")


@pytest.mark.parametrize("now, reused, why", [
    (PhoneState(130.0, 36.5, 80.0, 1), True, "unchanged"),
    (PhoneState(130.0, 41.0, 80.0, 1), False, "moved +6.0 °C"),
    (PhoneState(130.0, 29.0, 80.0, 1), False, "moved -6.0 °C"),
    (PhoneState(500.0, 35.0, 80.0, 1), False, "398 s old"),
    (PhoneState(130.0, 35.0, 80.0, 2), False, "charging was suspended again"),
    (PhoneState(130.0, 35.0, 76.0, 1), False, "battery level fell 4"),
    (PhoneState(90.0, 35.0, 80.0, 1), False, "clock went back"),
    (PhoneState(130.0, None, 80.0, 1), False, "unknown"),
])
def test_baseline_reused_only_while_nothing_it_depends_on_moved(now, reused, why):
    decision, reason = decide(BASE, now)
    assert decision is reused and why in reason
    assert decide(None, now)[0] is False


def test_baseline_rule_limits_are_settable():
    now = PhoneState(130.0, 37.0, 80.0, 1)
    assert decide(BASE, now, BaselineRule(max_temp_delta_c=1.0))[0] is False
    assert decide(BASE, now, BaselineRule(max_age_s=10.0))[0] is False
    block = BASE.describe(now, True, "why")
    assert block["age_s"] == 28.0 and block["window"] == [100.0, 102.0] and block["reused"]


# --- CPU topology (pure) ------------------------------------------------------------------------

def test_big_cores_from_cpufreq_policies():
    sm8650 = {"policy0": ((0, 1), 2265600.0), "policy2": ((2, 3, 4), 3148800.0),
              "policy5": ((5, 6), 2956800.0), "policy7": ((7,), 3302400.0)}
    pixel2 = {"policy0": ((0, 1, 2, 3), 1900800.0), "policy4": ((4, 5, 6, 7), 2457600.0)}
    same = {"policy0": ((0, 1, 2, 3), 2000000.0)}
    assert big_cores(sm8650) == (2, 3, 4, 5, 6, 7)
    assert big_cores(pixel2) == (4, 5, 6, 7) and cpu_mask(big_cores(pixel2)) == "f0"
    assert big_cores(same) == (0, 1, 2, 3) and big_cores({}) == ()
    assert parse_cpu_list("0-3,6") == (0, 1, 2, 3, 6) and parse_cpu_list("4 5 6 7\n") == (
        4, 5, 6, 7)


def test_explicit_threads_win_and_unknown_topology_falls_back():
    pixel2 = {"policy0": ((0, 1, 2, 3), 1900800.0), "policy4": ((4, 5, 6, 7), 2457600.0)}
    auto = plan(pixel2)
    assert (auto.threads, auto.cpus, auto.mask) == (4, (4, 5, 6, 7), "f0")
    two = plan(pixel2, explicit_threads=2)
    assert (two.threads, two.mask) == (2, "f0") and "?threads=2" in two.source
    many = plan(pixel2, explicit_threads=8)
    assert (many.threads, many.cpus) == (8, None)
    unpinned = plan(pixel2, can_pin=False, pin_reason="taskset refused")
    assert unpinned.cpus is None and "taskset refused" in unpinned.source
    blind = plan({})
    assert (blind.threads, blind.cpus) == (4, None)


# --- the gauge's tail and the calibration store (pure, files) ----------------------------------

def test_tail_only_where_the_window_is_too_short_for_an_interior_reading():
    assert interior_window(10.0, 13.0, 0.25) == (10.5, 13.0)
    assert tail_needed_s(10.0, 13.0, 0.25, 0.04) == 0.0
    assert interior_window(10.0, 11.0, 0.5) is None
    assert tail_needed_s(10.0, 11.0, 0.5, 0.04) == pytest.approx(1.08)


def test_calibration_store_round_trip(tmp_path):
    store = CalibrationStore(tmp_path / "cal.json")
    key = device_key("SM-S928B", "samsung/e3q/e3q:14/UP1A/1:userdebug/test-keys")
    assert store.get(key) is None and device_key("m", None) is None
    cal = Calibration("uA", -1, "uV", "basis")
    stored = store.put(key, cal, 0.25, "run-1")
    again = store.get(key)
    assert again.calibration == cal and again.gauge_lag_s == 0.25
    assert again.provenance == stored.provenance and "run-1" in again.provenance
    (tmp_path / "cal.json").write_text('{"k": {"current_unit": "kA"}}')
    assert store.get("k") is None


def test_claim_output():
    assert parse_claim("@@npubench-restored\nrun=r1 host=h\n\nCharging\n") == (
        True, "run=r1 host=h", "Charging")
    assert parse_claim("\nCharging\n") == (False, None, "Charging")


# --- the simulated phone's hang-up --------------------------------------------------------------

def test_a_shell_that_ignores_sighup_outlives_its_stream(android):
    device = android()
    userland = device.phone.userland
    guard = ChargingGuard(device, "run-x")
    guard.arm()
    device.run("dumpsys battery suspend_input")
    assert guard.alive and counts(device.phone) == (1, 0)
    device.transport.close()  # the phone sees its link go: adbd hangs the guardian up
    assert wait_for(lambda: counts(device.phone) == (1, 1), 10)
    assert not userland.physics.input_suspended and not guard.alive
    assert device.run(f"ls {MARKER} 2>/dev/null; true").text.strip() == ""
    # a command line without the trap dies of the hang-up: it never gets to its second part
    held = device.transport.hold_shell("echo up; read -r x; dumpsys battery reset", 10)
    assert held.first.startswith(b"up")
    held.close()
    time.sleep(0.3)
    assert counts(device.phone) == (1, 1)


# --- sessions on the simulated phone -------------------------------------------------------------

def body(session: PhoneSession, physics, seconds: float = 0.6, **load) -> dict:
    with session.measure(expect_active_s=seconds) as m:
        with m.active():
            with physics.load(**(load or {"cores": 2})):
                time.sleep(seconds)
        m.set_work(100, seconds)
    return m.result


def test_session_suspends_once_restores_once_and_reuses_the_baseline(android, tmp_path):
    device = android("mt6989")
    physics = device.phone.userland.physics
    store = CalibrationStore(tmp_path / "cal.json")
    with PhoneSession(device, QUICK, run_id="run-a", store=store) as session:
        first, second = body(session, physics), body(session, physics)
        assert counts(device.phone) == (1, 0)
        third = body(session, physics)
    assert counts(device.phone) == (1, 1) and not physics.input_suspended
    base = [r["preconditions"]["idle_baseline"] for r in (first, second, third)]
    assert base[0]["reused"] is False and "first baseline" in base[0]["reason"]
    assert base[1]["reused"] is True and base[1]["window"] == base[0]["window"]
    assert base[1]["age_s"] > 0 and base[1]["taken_at"] == base[0]["taken_at"]
    for r in (first, second, third):
        assert r["power"] is not None, r["power_missing_reason"]
        assert r["power"]["calibration"]["provenance"].startswith("calibrated in this run (run-a")
        assert r["preconditions"]["charging"]["epoch"] == 1
    # the next run on a phone of this model and build takes the stored calibration
    with PhoneSession(device, QUICK, run_id="run-b", store=store) as session:
        again = body(session, physics)
    provenance = again["power"]["calibration"]["provenance"]
    assert provenance.startswith("stored calibration from run run-a"), provenance
    assert counts(device.phone) == (2, 2)


def test_baseline_measured_again_when_the_phone_warmed_or_it_aged(android):
    device = android()
    physics = device.phone.userland.physics
    rule = BaselineRule(max_temp_delta_c=5.0, max_age_s=60.0)
    with PhoneSession(device, SessionOptions(**{**QUICK.__dict__, "rule": rule})) as session:
        cold = body(session, physics)["preconditions"]["idle_baseline"]
        with physics.load(cores=8):  # something heats the phone between two jobs
            assert wait_for(lambda: _hottest(session) > cold["hottest_c_then"] + 8, 20)
        warm = body(session, physics)["preconditions"]["idle_baseline"]
        assert warm["reused"] is False and "hottest zone moved" in warm["reason"]
        session.options.rule = BaselineRule(max_temp_delta_c=50.0, max_age_s=0.01)
        aged = body(session, physics)["preconditions"]["idle_baseline"]
        assert aged["reused"] is False and "old" in aged["reason"]
    assert counts(device.phone) == (1, 1)


def _hottest(session: PhoneSession) -> float:
    from npubench.devices.phone_steps import Cooldown

    return max(Cooldown(session.device, session.sensors).show().values())


def test_a_lost_link_has_the_phone_restore_charging_and_the_session_suspend_it_again(android):
    device = android()
    phone = device.phone
    with PhoneSession(device, QUICK) as session:
        body(session, phone.userland.physics)
        phone.faults.drop_after_bytes = 1  # the cable is pulled on the next message
        with pytest.raises(DeviceLost):
            device.run("true")
        phone.faults.drop_after_bytes = None
        assert wait_for(lambda: counts(phone) == (1, 1), 10)  # the guardian restored it
        after = body(session, phone.userland.physics)
        assert counts(phone) == (2, 1)
        assert after["preconditions"]["charging"]["epoch"] == 2
        assert "link to the phone was lost" in after["preconditions"]["charging"]["why_again"]
        assert after["preconditions"]["idle_baseline"]["reused"] is False
        assert after["power"] is not None
    assert counts(phone) == (2, 2) and not phone.userland.physics.input_suspended


def test_threads_and_cores_from_the_phones_topology(android):
    for profile, threads, mask in (("sm8650", 6, "fc"), ("mt6989", 4, "f0")):
        device = android(profile)
        with PhoneSession(device, SessionOptions(measure_power=False)) as session:
            auto = session.cpu_plan()
            assert (auto.threads, auto.mask) == (threads, mask), auto
            assert "cpuinfo_max_freq" in auto.source
            assert session.cpu_plan(2).threads == 2 and session.cpu_plan(2).mask == mask
        assert counts(device.phone) == (0, 0)  # power not asked for: charging left alone


# --- whole runs, as a separate process -----------------------------------------------------------

@pytest.fixture
def run_env(tmp_path, adb_home):
    return phone_waits.run_env(tmp_path, adb_home)


SMALL = ["--set", "max_seconds=1", "--set", "min_seconds=0.2", "--set", "device_rounds_min=2",
         "--set", "device_rounds_max=3", "--set", "device_round_min_secs=0.2",
         "--set", "idle_baseline_s=0.5", "--cooldown-c", "95", "--no-report"]


def npubench_run(phone, model, out, env, *extra, backends=("tflite:cpu", "tflite:xnnpack")):
    host, port = phone.address
    args = [sys.executable, "-m", "npubench", "run", "--device", f"tcp:{host}:{port}",
            "--workload", str(model), "--out", str(out), *SMALL, *extra]
    for backend in backends:
        args += ["--backend", backend]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def test_a_run_suspends_once_and_the_next_run_reuses_the_calibration(sim_phone, run_env,
                                                                      tmp_path):
    model, env = run_env
    phone = sim_phone("sm8650")
    proc = npubench_run(phone, model, tmp_path / "one", env,
                        backends=("tflite:cpu", "tflite:xnnpack", "tflite:gpu"))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err
    assert counts(phone) == (1, 1) and not phone.userland.physics.input_suspended
    first = read_records(tmp_path / "one")
    assert len(first) == 3 and all(r["status"] == "ok" for r in first)
    run_id = first[0]["run_id"]
    for r in first:
        assert r["power"]["calibration"]["provenance"].startswith(f"calibrated in this run "
                                                                   f"({run_id}")
        details = r["backend"]["details"]
        assert (details["threads"], details["cpus"], details["taskset_mask"]) == (
            6, [2, 3, 4, 5, 6, 7], "fc")
        assert "taskset fc" in open(tmp_path / "one" / r["log_path"]).read()
    proc = npubench_run(phone, model, tmp_path / "two", env, backends=("tflite:cpu",))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err
    second = read_records(tmp_path / "two")
    assert second[0]["power"]["calibration"]["provenance"].startswith(
        f"stored calibration from run {run_id}")
    assert counts(phone) == (2, 2)


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_charging_restored_when_the_run_is_stopped_in_the_middle_of_a_job(sim_phone, run_env,
                                                                          tmp_path, how):
    model, env = run_env
    phone = sim_phone("mt6989")
    phone.userland.tool_faults.hang = True  # the tool never ends: the run is stopped in it
    proc = npubench_run(phone, model, tmp_path / "run", env)
    try:
        assert wait_for(lambda: counts(phone)[0] == 1 and phone.userland.processes, 120), (
            proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        time.sleep(0.3)  # in the tool
        assert counts(phone) == (1, 0) and phone.userland.physics.input_suspended
        proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (130 if how == "ctrl-c" else -signal.SIGKILL)
    assert wait_for(lambda: counts(phone) == (1, 1), 15), counts(phone)
    assert not phone.userland.physics.input_suspended
    assert wait_for(lambda: not phone.userland.processes, 15)  # the hung tool was stopped
