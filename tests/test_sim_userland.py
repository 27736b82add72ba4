"""devices/sim userland: both profiles' props and device files (battery unit and sign quirks,
thermal zones, cpufreq, meminfo), dumpsys battery and thermalservice, driven by a fake clock."""

import dataclasses
import re

import pytest
from fake_clock import FakeClock

from npubench.devices.sim.profiles import load_profile
from npubench.devices.sim.userland import Userland
from npubench.errors import ConfigError

BAT = "/sys/class/power_supply/battery"


@pytest.fixture
def clock():
    return FakeClock(1000.0)


@pytest.fixture(params=["sm8650", "mt6989"])
def phone(request, clock):
    userland = Userland(request.param, clock=clock)
    yield userland
    userland.close()


def sh(phone, command):
    out, err, code = phone.run(command)
    assert (err, code) == (b"", 0), (command, err, code)
    return out.decode()


def read(phone, path):
    return phone.fs.read_bytes(path).decode().strip()


EXPECTED_PROPS = {
    "sm8650": {"ro.product.manufacturer": "samsung", "ro.product.model": "SM-S928B",
               "ro.product.brand": "samsung", "ro.product.device": "e3q",
               "ro.soc.manufacturer": "QTI", "ro.soc.model": "SM8650",
               "ro.board.platform": "pineapple", "ro.hardware": "qcom",
               "ro.build.version.release": "14", "ro.build.version.sdk": "34",
               "ro.product.cpu.abi": "arm64-v8a", "ro.serialno": "SIM-SM8650-0001"},
    "mt6989": {"ro.product.manufacturer": "vivo", "ro.product.model": "V2324A",
               "ro.soc.manufacturer": "Mediatek", "ro.soc.model": "MT6989",
               "ro.board.platform": "mt6989", "ro.hardware": "mt6989",
               "ro.build.version.release": "14", "ro.build.version.sdk": "34",
               "ro.product.cpu.abi": "arm64-v8a", "ro.serialno": "SIM-MT6989-0001"},
}


def test_props_and_banner(phone):
    name = phone.profile.name
    for key, value in EXPECTED_PROPS[name].items():
        assert sh(phone, f"getprop {key}") == value + "\n"
    assert phone.serial == EXPECTED_PROPS[name]["ro.serialno"]
    fingerprint = sh(phone, "getprop ro.build.fingerprint").strip()
    assert re.fullmatch(r"[^/]+/[^/]+/[^:]+:14/UP1A\.231005\.007/[^:]+:userdebug/release-keys",
                        fingerprint)
    assert phone.banner_props() == {k: phone.props[k] for k in (
        "ro.product.name", "ro.product.model", "ro.product.device")}


def test_an_unknown_profile_is_a_config_error():
    with pytest.raises(ConfigError, match="no simulated phone profile 'sm0000'"):
        load_profile("sm0000")


def test_profiles_carry_npu_and_nnapi_names():
    sm, mt = load_profile("sm8650"), load_profile("mt6989")
    assert sm.accelerators["npu"] == "Hexagon NPU (HTP v75)"
    assert {"qti-dsp", "qti-gpu", "qti-default"} <= set(sm.accelerators["nnapi"])
    assert mt.accelerators["npu"] == "MediaTek APU 790"
    assert {"mtk-neuron", "mtk-mdla"} <= set(mt.accelerators["nnapi"])


def test_meminfo_cpuinfo_and_cpufreq(phone):
    name = phone.profile.name
    mem_total = {"sm8650": 11221380, "mt6989": 15388512}[name]
    assert read(phone, "/proc/meminfo").splitlines()[0] == f"MemTotal:       {mem_total} kB"
    parts = re.findall(r"CPU part\t: (0x[0-9a-f]+)", read(phone, "/proc/cpuinfo"))
    assert parts == {"sm8650": ["0xd80"] * 2 + ["0xd81"] * 5 + ["0xd82"],
                     "mt6989": ["0xd81"] * 4 + ["0xd82"] * 4}[name]
    policies = {"sm8650": {"policy0": ("0 1", 2265600), "policy2": ("2 3 4", 3148800),
                           "policy5": ("5 6", 2956800), "policy7": ("7", 3302400)},
                "mt6989": {"policy0": ("0 1 2 3", 2000000), "policy4": ("4 5 6", 2850000),
                           "policy7": ("7", 3250000)}}[name]
    assert sh(phone, "ls /sys/devices/system/cpu/cpufreq").split() == list(policies)
    for policy, (cpus, max_khz) in policies.items():
        base = f"/sys/devices/system/cpu/cpufreq/{policy}"
        assert read(phone, f"{base}/related_cpus") == cpus
        assert read(phone, f"{base}/cpuinfo_max_freq") == str(max_khz)
        assert read(phone, f"{base}/scaling_available_frequencies").split()[-1] == str(max_khz)
        assert read(phone, f"{base}/scaling_cur_freq") == read(phone, f"{base}/cpuinfo_min_freq")
    assert read(phone, "/sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq") == str(
        policies["policy7"][1])
    assert sh(phone, "nproc; cat /sys/devices/system/cpu/online") == "8\n0-7\n"


def test_thermal_zones_have_types_and_vendor_units(phone):
    out = sh(phone, "for z in /sys/class/thermal/thermal_zone*; do "
                    "echo $(cat $z/type) $(cat $z/temp); done")
    temps = dict(line.split() for line in out.splitlines())
    expected = {"sm8650": {"cpuss-0", "cpu-2-0-0", "gpuss-0", "nsphvx-0", "nsphmx-0", "aoss-0",
                           "battery", "skin-msm-therm", "sys-therm-0"},
                "mt6989": {"mtktscpu", "mtktsAP", "soc_max", "cpu-big-core0", "apu",
                           "battery", "shell_front"}}[phone.profile.name]
    assert expected <= set(temps)
    for zone, raw in temps.items():
        value = int(raw)
        if phone.profile.name == "mt6989" and zone == "battery":
            assert 200 <= value <= 450  # tenths of a degree: the profile's quirk
        else:
            assert 20_000 <= value <= 45_000  # millidegrees
    assert int(read(phone, f"{BAT}/temp")) == pytest.approx(
        phone.physics.temperature_c("battery") * 10, abs=1)


def test_battery_units_signs_and_suspend_input(phone, clock):
    quirks = {"sm8650": (1e6, -1), "mt6989": (1e3, +1)}[phone.profile.name]
    scale, discharge_sign = quirks
    assert read(phone, f"{BAT}/status") == "Charging"
    clock.advance(1)
    charging = int(read(phone, f"{BAT}/current_now"))
    assert -discharge_sign * charging / scale == pytest.approx(1.6, abs=0.3)  # amperes in
    assert sh(phone, "dumpsys battery suspend_input") == ""
    clock.advance(1)
    assert read(phone, f"{BAT}/status") == "Not charging"
    discharging = int(read(phone, f"{BAT}/current_now"))
    assert discharge_sign * discharging / scale == pytest.approx(0.2, abs=0.06)
    volts = int(read(phone, f"{BAT}/voltage_now")) / 1e6
    assert 3.6 < volts < 4.4
    state = sh(phone, "dumpsys battery")
    assert "  USB powered: true\n" in state and "  status: 4\n" in state
    assert sh(phone, "dumpsys battery reset") == ""
    clock.advance(1)
    assert read(phone, f"{BAT}/status") == "Charging"
    assert int(read(phone, f"{BAT}/current_now")) == pytest.approx(charging, rel=0.05)


def test_suspend_input_needs_a_debuggable_build(clock):
    profile = load_profile("sm8650")
    retail = dataclasses.replace(profile, props={**profile.props, "ro.debuggable": "0",
                                                 "ro.build.type": "user"})
    phone = Userland(retail, clock=clock)
    try:
        out = sh(phone, "dumpsys battery suspend_input")
        assert out.startswith("Security exception: battery suspend_input is only supported "
                              "on debuggable builds\n")
        clock.advance(1)
        assert read(phone, f"{BAT}/status") == "Charging"
        assert int(read(phone, f"{BAT}/current_now")) > 0
    finally:
        phone.close()


def test_unplug_only_freezes_the_reported_state(phone, clock):
    assert sh(phone, "dumpsys battery unplug") == ""
    state = sh(phone, "dumpsys battery")
    assert state.startswith("Current Battery Service state:\n"
                            "  (UPDATES STOPPED -- use 'reset' to restart)\n"
                            "  AC powered: false\n  USB powered: false\n")
    clock.advance(1)
    assert read(phone, f"{BAT}/status") == "Charging"  # the kernel still charges
    sh(phone, "dumpsys battery set level 42")
    assert "  level: 42\n" in sh(phone, "dumpsys battery")
    assert read(phone, f"{BAT}/capacity") == str(phone.profile.battery.start_level)
    sh(phone, "dumpsys battery reset")
    assert "  USB powered: true\n" in sh(phone, "dumpsys battery")


def test_dumpsys_battery_format(phone):
    lines = sh(phone, "dumpsys battery").splitlines()
    keys = [line.split(":")[0].strip() for line in lines[1:]]
    assert lines[0] == "Current Battery Service state:"
    assert keys == ["AC powered", "USB powered", "Wireless powered", "Dock powered",
                    "Max charging current", "Max charging voltage", "Charge counter",
                    "status", "health", "present", "level", "scale", "voltage", "temperature",
                    "technology", "Charging state", "Charging policy"]
    values = dict(line.strip().split(": ", 1) for line in lines[1:])
    assert values["level"] == str(phone.profile.battery.start_level)
    assert 3600 < int(values["voltage"]) < 4500 and 200 < int(values["temperature"]) < 450


def test_dumpsys_thermalservice(phone):
    out = sh(phone, "dumpsys thermalservice")
    assert "\nThermal Status: 0\n" in out
    hal = out.split("Current temperatures from HAL:\n")[1].split("Current cooling")[0]
    entries = re.findall(r"\tTemperature\{mValue=([\d.]+), mType=(\d+), mName=([\w-]+), "
                         r"mStatus=0\}\n", hal)
    assert {int(t) for _, t, _ in entries} >= {0, 1, 2, 3, 9}
    assert all(20 < float(v) < 45 for v, _, _ in entries)


def test_uptime_and_date_follow_the_device_clock(phone, clock):
    up0 = float(read(phone, "/proc/uptime").split()[0])
    date0 = float(sh(phone, "date +%s.%N"))
    clock.advance(12.5)
    assert float(read(phone, "/proc/uptime").split()[0]) == pytest.approx(up0 + 12.5, abs=0.02)
    assert float(sh(phone, "date +%s.%N")) == pytest.approx(date0 + 12.5, abs=0.01)
    assert re.fullmatch(r"\d+\.\d{9}\n", sh(phone, "date +%s.%N"))


def test_close_removes_the_private_storage(clock):
    phone = Userland("mt6989", clock=clock)
    root = phone.root
    sh(phone, "echo x > /data/local/tmp/x")
    assert root.is_dir()
    phone.close()
    assert not root.exists()


def test_settings_and_getenforce(phone):
    assert sh(phone, "settings get global adb_enabled; settings get system nope; "
                     "settings put system npubench 1; settings get system npubench; "
                     "getenforce") == "1\nnull\n1\nEnforcing\n"
