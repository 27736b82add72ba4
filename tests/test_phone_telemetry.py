"""Phone telemetry against the simulated phone over the real ADB protocol: sensor discovery,
the on-phone sampler, energy against the physics' ground truth, and the system-state steps
(charging suspended and always restored, cooldown, battery check). Both SoC profiles: the
Snapdragon reports µA negative while discharging, the Dimensity mA positive."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from npubench.devices.android import WORK_DIR
from npubench.devices.phone_session import prepare_power_measurement
from npubench.devices.phone_steps import (
    BatteryCheck,
    Cooldown,
    SuspendCharging,
)
from npubench.devices.phone_telemetry import PhoneSampler, discover
from npubench.devices.sim.profiles import load_profile

FAST = {"idle_s": 1.5, "settle_s": 1.0, "tail_s": 1.5, "poll_s": 0.2}


def variant(name: str, props: dict | None = None, **battery):
    """A profile with changed props or battery (e.g. a retail build, a flat battery)."""
    p = load_profile(name)
    return dataclasses.replace(p, props={**p.props, **(props or {})},
                               battery=dataclasses.replace(p.battery, **battery))


def charging_state(device) -> tuple[str, bool, bool]:
    """(sysfs status, input suspended, BatteryService frozen) as the phone has them."""
    phone = device.phone.userland
    status = device.run("cat /sys/class/power_supply/battery/status").text.strip()
    return status, phone.physics.input_suspended, phone.battery_service.frozen is not None


@pytest.mark.parametrize("profile, zone, policy", [("sm8650", "cpu-2-0-0", "policy7"),
                                                    ("mt6989", "mtktscpu", "policy4")])
def test_discover_finds_battery_and_zones_by_type(android, profile, zone, policy):
    device = android(profile)
    calls, run = [], device.run
    device.run = lambda command, *a, **k: calls.append(command) or run(command, *a, **k)
    sensors = discover(device)
    assert len(calls) == 1  # one batched shell call
    assert sensors.has_power and sensors.plugged and sensors.status == "Charging"
    assert sensors.capacity_percent > 20
    assert sensors.zone_kinds[zone] == "cpu" and zone in sensors.hot_zones()
    assert sensors.zone_kinds["battery"] == "battery"
    assert 20 < sensors.zone_temps_c[zone] < 45
    assert sensors.policies[policy].cpuinfo_max_khz > 2_000_000
    assert sensors.policies[policy].max_path


def assert_sampled_steadily(quality: dict, t_s) -> None:
    """The sampler keeps its pace (20 Hz and more, median gap under 60 ms, at most 2% of gaps
    over 200 ms) and reports its worst gap truthfully. One gap a loaded host held back is not a
    failure: the record's max_gap_ms says it."""
    gaps_ms = np.diff(np.asarray(t_s, dtype=float)) * 1000
    assert quality["rate_hz"] >= 20 and float(np.median(gaps_ms)) < 60
    assert float(np.mean(gaps_ms > 200)) <= 0.02
    assert quality["max_gap_ms"] == pytest.approx(float(gaps_ms.max()), abs=0.1)


def test_sampler_rate_gaps_and_memory(android):
    device = android("mt6989")
    sensors = discover(device)
    # the sampler reads /proc/$(cat PIDFILE)/status; the simulated phone has no per-process
    # /proc, so the pid file names a folder that /proc/.. resolves to
    fake = f"{WORK_DIR}/fakeproc/4321"
    device.run(f"mkdir -p {fake} && printf 'Name:\\tbenchmark_model\\nVmHWM:\\t  153600 kB\\n"
               f"VmRSS:\\t  102400 kB\\n' > {fake}/status && "
               f"echo ../{fake.lstrip('/')} > {WORK_DIR}/tool.pid")
    with PhoneSampler(device, sensors, pid_file=f"{WORK_DIR}/tool.pid") as sampler:
        time.sleep(2.0)
    result = sampler.result
    assert result.reasons == []
    s = result.samples
    assert_sampled_steadily(result.quality, s.t_s)
    assert s.epoch_offset_s and abs(s.epoch_offset_s - (time.time() - s.t_s[-1])) < 5
    assert s.values["current_now"][0] < 0  # mt6989 charging: mA, negative into the battery
    assert s.vm_hwm_kb.max() == 153600 and s.vm_rss_kb.max() == 102400
    assert device.run(f"ls {WORK_DIR}").text.count("sampler-") == 0  # its file is removed
    side = result.side_file()
    assert side["columns"][0] == "uptime_s" and len(side["rows"]) == s.n


def test_sampler_never_raises(android):
    device = android()
    sensors = discover(device)
    sensors.zones["ghost"] = "/sys/class/thermal/thermal_zone99/temp"  # vanished sensor
    sensors.zone_kinds["ghost"] = "cpu"
    with PhoneSampler(device, sensors) as sampler:
        time.sleep(0.3)
    assert sampler.result.samples is None
    assert any("dropped" in r for r in sampler.result.reasons)
    never_started = PhoneSampler(device, sensors).stop()
    assert never_started.samples is None and never_started.quality["n"] == 0


@pytest.mark.parametrize("profile, unit, discharge", [("sm8650", "uA", "negative"),
                                                      ("mt6989", "mA", "positive")])
def test_energy_under_load_matches_ground_truth(android, profile, unit, discharge):
    device = android(profile)
    physics = device.phone.userland.physics
    with prepare_power_measurement(device, **FAST) as session:
        with session.active():
            with physics.load(cores=4):
                time.sleep(3.0)
        session.set_work(iterations=300, measured_s=3.0)
    r = session.result
    assert r["power_missing_reason"] is None, r["power_missing_reason"]
    power = r["power"]
    assert (power["calibration"]["current_unit"], power["calibration"]["discharge"]) == (
        unit, discharge)
    a0, a1 = session.window
    truth_mw = physics.energy_between(a0, a1) / (a1 - a0) * 1000
    assert power["active_mw"] == pytest.approx(truth_mw, rel=0.05)
    i0, i1 = r["preconditions"]["idle_baseline"]["window"]
    idle_truth_mw = physics.energy_between(i0, i1) / (i1 - i0) * 1000
    assert power["idle_mw"] == pytest.approx(idle_truth_mw, rel=0.05)
    expected = (truth_mw - idle_truth_mw) * 3.0 / 300
    assert power["energy_mj_per_inference"] == pytest.approx(expected, rel=0.05)
    assert power["sample_rate_hz"] >= 20 and power["max_gap_ms"] > 0
    assert r["thermal"]["max_c"] > r["thermal"]["start_c"] and not r["validity_reasons"]
    assert r["preconditions"]["charging"]["applied"]
    assert charging_state(device) == ("Charging", False, False)  # restored


def test_charging_restored_when_the_body_fails_after_a_reconnect(android):
    device = android()
    with pytest.raises(RuntimeError, match="tool crashed"):
        with prepare_power_measurement(device, idle_s=0.3, settle_s=0.2, tail_s=0.1):
            assert charging_state(device)[:2] == ("Not charging", True)
            device.transport.close()  # the link dropped: the restore has to reconnect
            raise RuntimeError("tool crashed")
    assert charging_state(device) == ("Charging", False, False)


def test_retail_build_leaves_charging_alone(android):
    device = android(variant("sm8650", {"ro.debuggable": "0", "ro.build.type": "user"}))
    device.run("dumpsys battery set level 77")  # a state of the user's that reset would undo
    with prepare_power_measurement(device, **FAST) as session:
        pass
    r = session.result
    assert r["power"] is None
    assert "SecurityException" in r["power_missing_reason"]
    assert r["thermal"] is not None  # temperatures are still measured
    assert r["preconditions"]["charging_restore"]["reason"] == "nothing to restore"
    assert charging_state(device) == ("Charging", False, True)


def test_unplugged_phone_needs_no_suspension(android):
    device = android()
    device.phone.userland.physics.set_charging(plugged=False)
    step = SuspendCharging(device)
    result = step.apply()
    assert not result.applied and "not needed" in result.reason and step.power_ok
    assert step.status == "Discharging"
    assert step.restore().reason == "nothing to restore"


def test_cooldown_reached_after_the_phone_cools(android):
    device = android()
    physics = device.phone.userland.physics
    sensors = discover(device)
    physics.set_load(cores=8)
    time.sleep(2.0)
    physics.set_load()
    cooldown = Cooldown(device, sensors, threshold_c=44.0, timeout_s=15.0, poll_s=0.2)
    hot = max(cooldown.show().values())
    assert hot > 46
    result = cooldown.apply()
    assert result.details["reached"] and cooldown.validity_reason is None
    assert result.details["start_c"] > 44 > result.details["end_c"]
    assert 0 < result.details["waited_s"] < 15


def test_cooldown_timeout_makes_the_job_semivalid(android):
    device = android("mt6989")
    with prepare_power_measurement(device, measure_power=False, cooldown_c=20.0,
                                   cooldown_timeout_s=0.4, poll_s=0.1) as session:
        pass
    r = session.result
    cooldown = r["preconditions"]["cooldown"]
    assert not cooldown["reached"] and cooldown["waited_s"] >= 0.4
    assert r["validity_reasons"] and "thermal precondition not met" in r["validity_reasons"][0]
    assert r["power"] is None and r["power_missing_reason"] == "power measurement not asked for"
    assert charging_state(device) == ("Charging", False, False)


def test_low_battery_gives_a_reason_and_keeps_charging(android):
    device = android(variant("mt6989", start_level=12))
    check = BatteryCheck(device, discover(device), min_percent=20)
    result = check.apply()
    assert not check.ok and "battery at 12 %" in result.reason
    with prepare_power_measurement(device, **FAST) as session:
        pass
    assert session.result["power"] is None
    assert "battery at 12 %" in session.result["power_missing_reason"]
    assert charging_state(device) == ("Charging", False, False)
