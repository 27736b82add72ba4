"""devices.phone_power (and the pure parsers of phone_telemetry / phone_steps): worked
examples with literal numbers."""

import math

import numpy as np
import pytest

from npubench.devices.phone_power import (
    calibrate,
    celsius_divisor,
    gauge_lag_s,
    memory_peak_mb,
    parse_samples,
    power_mw,
    power_summary,
    sampler_quality,
    thermal_summary,
    to_celsius,
    window_power_mw,
    zone_kind,
)
from npubench.devices.phone_steps import _refusal, parse_dumpsys_battery
from npubench.devices.phone_telemetry import parse_listing, sensors_from_files

POWER = ("uptime_s", "idle_s", "current_now", "voltage_now")


def lines(rows, memory=None):
    """Sampler lines from (t, current, voltage) rows."""
    out = []
    for k, (t, i, v) in enumerate(rows):
        mem = memory[k] if memory else ""
        out.append(f"S {t:.2f} 0.00 {i} {v} M {mem}")
    return "\n".join(out)


def test_ua_negative_and_ma_positive_give_the_same_power():
    # 250 mA drawn at 4.0 V = 1000 mW, told two ways
    ua = parse_samples(lines([(100.0, -250000, 4000000), (100.5, -250000, 4000000),
                              (101.0, -250000, 4000000)]), POWER)
    ma = parse_samples(lines([(100.0, 250, 4000000), (100.5, 250, 4000000),
                              (101.0, 250, 4000000)]), POWER)
    cal_ua = calibrate(ua.values["current_now"], ua.values["voltage_now"], "Not charging")
    cal_ma = calibrate(ma.values["current_now"], ma.values["voltage_now"], "Discharging")
    assert (cal_ua.current_unit, cal_ua.discharge_sign) == ("uA", -1)
    assert (cal_ma.current_unit, cal_ma.discharge_sign) == ("mA", 1)
    assert power_mw(ua, cal_ua) == pytest.approx(1000.0)
    assert power_mw(ma, cal_ma) == pytest.approx(1000.0)
    assert cal_ua.as_dict()["discharge"] == "negative"


@pytest.mark.parametrize("current, unit", [(4999, "mA"), (5000, "uA"), (180, "mA"),
                                           (180000, "uA"), (-4200, "mA")])
def test_current_unit_by_magnitude(current, unit):
    assert calibrate([current] * 5, [3900000] * 5, "Discharging").current_unit == unit


@pytest.mark.parametrize("voltage, unit", [(3_870_000, "uV"), (3870, "mV"), (3.87, "V")])
def test_voltage_unit_by_magnitude(voltage, unit):
    assert calibrate([-200000] * 5, [voltage] * 5, "Discharging").voltage_unit == unit


@pytest.mark.parametrize("current, voltage, status, match", [
    ([-200000] * 5, [3900000] * 5, "Charging", "not discharging"),
    ([-200000] * 5, [3900000] * 5, None, "not discharging"),
    ([0] * 5, [3900000] * 5, "Discharging", "reads 0"),
    ([-200, 200, -200, 200, 150], [3900] * 5, "Not charging", "changes sign"),
    ([-200000] * 5, [12_000_000] * 5, "Discharging", "not a battery voltage"),
    ([-200000] * 2, [3900000] * 2, "Discharging", "too few"),
])
def test_calibration_refuses_what_it_cannot_decide(current, voltage, status, match):
    with pytest.raises(ValueError, match=match):
        calibrate(current, voltage, status)


def test_trapezoid_power_over_uneven_timestamps():
    # 1000 mW at 0 s, 2000 mW at 1 s and 3 s (4.0 V): (1500 x 1 + 2000 x 2) / 3 = 1833.3 mW
    s = parse_samples(lines([(0.0, -250000, 4000000), (1.0, -500000, 4000000),
                             (3.0, -500000, 4000000)]), POWER)
    cal = calibrate([-250000] * 3, [4000000] * 3, "Discharging")
    assert power_mw(s, cal) == pytest.approx(5500 / 3)
    assert power_mw(s, cal, start_s=1.0) == pytest.approx(2000.0)
    with pytest.raises(ValueError, match="no power samples"):
        power_mw(s, cal, 5.0, 6.0)


def test_repeated_gauge_values_are_not_deduplicated():
    # a gauge holding 1000 mW for 0.9 s then 2000 mW for 0.1 s: the time-weighted mean is
    # 1100 mW whatever the repeats (de-duplicating would give 1500)
    rows = [(k / 10, -250000, 4000000) for k in range(10)] + [(0.95, -500000, 4000000),
                                                              (1.0, -500000, 4000000)]
    s = parse_samples(lines(rows), POWER)
    cal = calibrate([-250000] * 3, [4000000] * 3, "Discharging")
    assert power_mw(s, cal) == pytest.approx(1075.0)  # trapezoid: the step is ramped 0.9..0.95


def synthetic_gauge(period_s=0.5, step_s=0.01, end_s=6.0, load=(1.1, 3.1)):
    """A gauge that reports the previous window's mean: 1000 mW idle, 5000 mW under load
    (4.0 V, µA, discharge negative)."""
    t = np.round(np.arange(0, end_s, step_s), 2)
    fine = np.arange(0, end_s + period_s, 0.001)
    truth = np.where((fine >= load[0]) & (fine < load[1]), 5000.0, 1000.0)
    k = np.floor(t / period_s).astype(int)
    reported = [truth[(fine >= (j - 1) * period_s) & (fine < j * period_s)].mean() if j else
                1000.0 for j in k]
    current = [-round(p / 4.0 * 1000) for p in reported]  # mW / V = mA -> µA
    return parse_samples(lines([(ti, ci, 4000000) for ti, ci in zip(t, current, strict=True)]),
                         POWER)


def test_gauge_lag_is_its_update_interval():
    s = synthetic_gauge()
    assert gauge_lag_s(s.t_s, s.values["current_now"]) == pytest.approx(0.5)
    assert gauge_lag_s([0.0, 0.04, 0.08], [1, 1, 1]) == pytest.approx(0.04)


def test_window_power_undoes_the_gauge_lag():
    s = synthetic_gauge()
    cal = calibrate([-250000] * 3, [4000000] * 3, "Discharging")
    naive = power_mw(s, cal, 1.1, 3.1)  # misses the first window of load
    shifted = window_power_mw(s, cal, 1.1, 3.1, lag_s=0.5)
    padded = window_power_mw(s, cal, 1.1, 3.1, lag_s=0.5, idle_mw=1000.0)
    # the load starts and ends 0.1 s into a 0.5 s window: the shifted window loses
    # 0.4 x 0.1 / 0.5 x 4000 mW x s at each edge, 320 mW over the 2 s
    assert naive < shifted == pytest.approx(5000 - 320, abs=15)
    assert padded == pytest.approx(5000, rel=0.005)
    with pytest.raises(ValueError, match="do not cover"):
        window_power_mw(s, cal, 1.1, 5.5, lag_s=0.5, idle_mw=1000.0)


def test_power_summary_and_energy_per_inference():
    # idle 1000 mW over 0..2 s, 3000 mW over 3..5 s, instantaneous gauge sampled at 20 Hz
    rows = [(t, -750000 if 3.0 <= t <= 5.0 else -250000, 4000000)
            for t in np.round(np.arange(0, 6.01, 0.05), 2)]
    s = parse_samples(lines(rows), POWER)
    p = power_summary(s, "Not charging", (0.0, 2.0), (3.0, 5.0), iterations=100,
                      measured_s=2.0)
    assert p["idle_mw"] == pytest.approx(1000.0)
    assert p["active_mw"] == pytest.approx(3000.0, rel=0.03)
    # (3000 - 1000) mW x 2 s / 100 = 40 mJ
    assert p["energy_mj_per_inference"] == pytest.approx(40.0, rel=0.05)
    assert p["sample_rate_hz"] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="active window is unknown"):
        power_summary(s, "Not charging", (0.0, 2.0), (None, 5.0))


@pytest.mark.parametrize("raw, celsius", [([45000], 45.0), ([452], 45.2), ([45], 45.0),
                                          ([1000], 1.0), ([-5000], -5.0), ([317], 31.7)])
def test_temperature_normalised_by_magnitude(raw, celsius):
    assert to_celsius(raw)[0] == pytest.approx(celsius)


def test_temperature_unit_is_decided_per_zone_and_nonsense_dropped():
    # one odd reading does not flip a millidegree zone
    assert celsius_divisor([41000, 42000, 900, 43000]) == 1000
    assert math.isnan(to_celsius([-273000], 1000)[0])
    assert math.isnan(to_celsius([200000], 1000)[0])


@pytest.mark.parametrize("zone, kind", [
    ("cpu-1-0-0", "cpu"), ("cpuss-0", "cpu"), ("mtktscpu", "cpu"), ("cpu-big-core3", "cpu"),
    ("BIG", "cpu"), ("soc_max", "soc"), ("aoss-0", "soc"), ("mtktsAP", "soc"),
    ("tsens_tz_sensor3", "soc"), ("gpuss-0", "gpu"), ("G3D", "gpu"), ("nsphmx-0", "npu"),
    ("apu", "npu"), ("skin-msm-therm", "skin"), ("shell_front", "skin"),
    ("xo_therm", "skin"), ("battery", "battery"), ("bms", "battery"), ("pm8550-tz", "other"),
    ("ddr", "other")])
def test_zone_kind_by_type(zone, kind):
    assert zone_kind(zone) == kind


def test_sampler_quality_rate_and_gaps():
    q = sampler_quality([10.0, 10.04, 10.08, 10.30, 10.34])
    assert q == {"n": 5, "rate_hz": pytest.approx(11.76, abs=0.01),
                 "max_gap_ms": pytest.approx(220.0)}
    assert sampler_quality([1.0]) == {"n": 1, "rate_hz": None, "max_gap_ms": None}


def test_parse_drops_bad_lines_and_reads_memory_and_clock():
    cols = ("uptime_s", "idle_s", "temp:cpu-0", "cur:policy0")
    text = ("T 100.00 500.00 1700000100.25\n"
            "S 100.02 500.1 41000 300000 M\n"
            "S 100.06 500.2 42000 M\n"  # a file went unreadable: one field short
            "S 100.10 500.3 43000 2000000 M VmHWM:  102400 kB VmRSS:  51200 kB\n"
            "S 100.14 500.4 42500 2000000 M VmHWM:  204800 kB VmRSS:  99000 kB\n"
            "S 100.18 500.5 425")  # cut by kill
    s = parse_samples(text, cols)
    assert s.n == 3 and s.dropped_lines == 2
    assert s.epoch_offset_s == pytest.approx(1700000000.25)
    assert list(s.values["temp:cpu-0"]) == [41000, 43000, 42500]
    assert math.isnan(s.vm_hwm_kb[0])
    assert memory_peak_mb(s.vm_hwm_kb) == 200.0  # 204800 kB / 1024
    assert memory_peak_mb([math.nan]) is None
    assert "2 sampler lines dropped" in s.problems[0]


def test_thermal_summary_hottest_zone_and_throttling():
    cols = ("uptime_s", "idle_s", "temp:cpu-0", "temp:gpuss-0", "temp:battery",
            "cur:policy0", "max:policy0")
    text = "\n".join([
        "S 1.00 0 41000 60000 300 600000 3000000 M",
        "S 2.00 0 55000 61000 305 3000000 3000000 M",
        "S 3.00 0 48000 62000 310 2400000 2400000 M"])
    s = parse_samples(text, cols)
    kinds = {"cpu-0": "cpu", "gpuss-0": "gpu", "battery": "battery"}
    t = thermal_summary(s, kinds, {"policy0": 3000000}, thermal_status=(0, 0))
    # the GPU is hotter but it is not a CPU/SoC zone
    assert (t["start_c"], t["end_c"], t["max_c"], t["hottest_zone"]) == (41.0, 48.0, 55.0,
                                                                         "cpu-0")
    assert t["throttled"] and "policy0 capped at 2400000" in t["throttle_evidence"][0]
    assert t["zones_c_max"]["battery"] == 31.0
    calm = thermal_summary(s, kinds, {"policy0": 3000000.0 * 2}, thermal_status=(0, 1))
    assert calm["throttled"] and "thermal status 1" in calm["throttle_evidence"][-1]
    only_battery = thermal_summary(s, {"battery": "battery"})
    assert only_battery["hottest_zone"] == "battery" and not only_battery["throttled"]


def test_discovery_listing_and_sensors():
    text = ("@@ /sys/class/power_supply/battery/type\nBattery\n\n"
            "@@ /sys/class/power_supply/usb/type\nUSB\n\n"
            "@@ /sys/class/power_supply/usb/online\n1\n\n"
            "@@ /sys/class/power_supply/battery/current_now\n-184000\n\n"
            "@@ /sys/class/power_supply/usb/current_now\n@@!\n\n"
            "@@ /sys/class/power_supply/battery/voltage_now\n4031000\n\n"
            "@@ /sys/class/power_supply/battery/status\nNot charging\n\n"
            "@@ /sys/class/power_supply/battery/temp\n317\n\n"
            "@@ /sys/class/thermal/thermal_zone1/type\ncpu-1-0-0\n\n"
            "@@ /sys/class/thermal/thermal_zone1/temp\n41300\n\n"
            "@@ /sys/class/thermal/thermal_zone7/type\ntsens_tz_sensor7\n\n"
            "@@ /sys/class/thermal/thermal_zone7/temp\n-273000\n\n"
            "@@ /sys/class/thermal/thermal_zone9/type\npm8550-tz\n\n"
            "@@ /sys/class/thermal/thermal_zone9/temp\n35000\n\n"
            "@@ /sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq\n364800\n\n"
            "@@ /sys/devices/system/cpu/cpufreq/policy0/cpuinfo_max_freq\n2265600\n\n"
            "@@ /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq\n@@!\n\n")
    files = parse_listing(text)
    assert files["/sys/class/power_supply/usb/current_now"] is None
    assert not any("*" in p for p in files)
    s = sensors_from_files(files)
    assert s.has_power and s.plugged and s.status == "Not charging"
    assert s.capacity_path is None and "capacity" in s.missing
    assert s.zones == {"cpu-1-0-0": "/sys/class/thermal/thermal_zone1/temp",
                       "battery-psy": "/sys/class/power_supply/battery/temp"}
    assert s.zone_temps_c == {"cpu-1-0-0": 41.3, "battery-psy": 31.7}
    assert "no plausible temperature" in s.missing["tsens_tz_sensor7"]
    assert s.policies["policy0"].cpuinfo_max_khz == 2265600 and not s.policies[
        "policy0"].max_path


def test_dumpsys_battery_and_refusals():
    state = parse_dumpsys_battery("Current Battery Service state:\n  AC powered: false\n"
                                  "  USB powered: true\n  Wireless powered: false\n"
                                  "  status: 2\n  level: 78\n")
    assert state["plugged"] and state["usb"] and state["status"] == 2 and state["level"] == 78
    assert not state["frozen"]
    assert _refusal("") is None
    assert _refusal("Security exception: no\n\njava.lang.SecurityException: battery "
                    "suspend_input is only supported on debuggable builds\n\tat x") == (
        "java.lang.SecurityException: battery suspend_input is only supported on debuggable "
        "builds")
    assert _refusal("Unknown command: suspend_input\n") == "Unknown command: suspend_input"
