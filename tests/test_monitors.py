"""harness.monitors against a folder that mimics sysfs, and against this machine."""

import os
import shutil
import sys
import threading
import time
import types
from itertools import pairwise
from pathlib import Path

import pytest

from npubench.harness.monitors import HostTelemetry, TelemetryResult

INTERVAL_S = 0.01


def _write(path: Path, text: str) -> None:
    """Replace a file atomically, as a sysfs read never sees half a value."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class FakeRapl:
    """RAPL domains whose energy_uj counters run at a known power, wrapping like the real ones.

    domains: (dir name, name, power_mw, max_energy_range_uj, start_uj)
    """

    def __init__(self, root: Path, domains):
        self.base = root / "sys/class/powercap"
        self.domains = domains
        self.t0 = time.monotonic()
        for folder, name, _, max_uj, start_uj in domains:
            d = self.base / folder
            d.mkdir(parents=True)
            (d / "name").write_text(f"{name}\n")
            (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
            (d / "energy_uj").write_text(f"{start_uj}\n")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.002):
            elapsed_s = time.monotonic() - self.t0
            for folder, _, power_mw, max_uj, start_uj in self.domains:
                energy_uj = int(start_uj + power_mw * 1000 * elapsed_s) % max_uj  # 1 mW = 1000 µJ/s
                _write(self.base / folder / "energy_uj", f"{energy_uj}\n")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# package-0 wraps a few times a second; the sub-zone and psys must not be added to the sum
DOMAINS = [
    ("intel-rapl:0", "package-0", 10_000.0, 3_000_000, 2_500_000),
    ("intel-rapl:1", "package-1", 5_000.0, 262_143_328_850, 1_000),
    ("intel-rapl:0:0", "core", 100_000.0, 262_143_328_850, 0),
    ("intel-rapl:2", "psys", 50_000.0, 262_143_328_850, 0),
]


def _make_thermal(root: Path) -> None:
    for n, (kind, milli_c) in enumerate([("x86_pkg_temp", 61_000), ("acpitz", 30_000)]):
        zone = root / f"sys/class/thermal/thermal_zone{n}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(f"{kind}\n")
        (zone / "temp").write_text(f"{milli_c}\n")
    hwmon = root / "sys/class/hwmon/hwmon0"
    hwmon.mkdir(parents=True)
    (hwmon / "name").write_text("k10temp\n")
    (hwmon / "temp1_input").write_text("52500\n")
    (hwmon / "temp1_label").write_text("Tctl\n")


def test_rapl_energy_counters_give_the_known_power(tmp_path):
    with FakeRapl(tmp_path, DOMAINS):
        telemetry = HostTelemetry(root=tmp_path, interval_s=INTERVAL_S)
        names, reasons = telemetry.available()
        assert names == ["rapl:package-0", "rapl:package-1"]
        assert "rapl" not in reasons
        telemetry.start()
        # 1.5 s: the fake counters are written by a thread, which a loaded machine may hold
        # back for tens of ms at either end; over 1.5 s that stays well inside 5%
        time.sleep(1.5)
        result = telemetry.stop()
    assert result.power_source == "rapl:package-0+rapl:package-1"
    assert result.power_missing_reason is None
    assert result.active_mw == pytest.approx(15_000.0, rel=0.05)
    times = [s["t_s"] for s in result.samples]  # the rate reported is the rate sampled
    assert result.sample_rate_hz == pytest.approx((len(times) - 1) / (times[-1] - times[0]))
    assert result.sample_rate_hz > 0.2 / INTERVAL_S  # it kept sampling, if not at full pace
    package0 = [s["power"]["rapl:package-0"] for s in result.samples]
    assert any(b < a for a, b in pairwise(package0)), "the counter should have wrapped"
    assert all(s["t_s"] < n["t_s"] for s, n in pairwise(result.samples))


def test_measure_idle_and_context_manager(tmp_path):
    with FakeRapl(tmp_path, DOMAINS[:2]):
        telemetry = HostTelemetry(root=tmp_path, interval_s=INTERVAL_S)
        assert telemetry.measure_idle(1.0) == pytest.approx(15_000.0, rel=0.05)
        with telemetry:
            pass  # a job shorter than one interval still gets a first and a last sample
    assert telemetry.result is not None
    assert len(telemetry.result.samples) >= 2
    assert telemetry.result.active_mw is not None


def test_missing_tree_gives_reasons_not_numbers(tmp_path):
    telemetry = HostTelemetry(root=tmp_path, interval_s=INTERVAL_S)
    names, reasons = telemetry.available()
    assert names == []
    assert reasons["rapl"].startswith("no RAPL powercap")
    assert reasons["thermal"].startswith("no thermal zones")
    assert "nvml" not in reasons  # NVML is not part of a fake root
    assert telemetry.measure_idle(0.05) is None
    assert telemetry.snapshot() == {}
    with telemetry:
        time.sleep(0.03)
    result = telemetry.result
    assert result.active_mw is None and result.power_source is None
    assert result.power_missing_reason.startswith("no RAPL powercap")
    assert result.start_c is None and result.max_c is None
    assert result.thermal_missing_reason.startswith("no thermal zones")


def test_powercap_without_package_domains(tmp_path):
    (tmp_path / "sys/class/powercap/intel-rapl").mkdir(parents=True)  # the control type only
    _, reasons = HostTelemetry(root=tmp_path).available()
    assert reasons["rapl"].startswith("no RAPL package domains")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads mode 000")
def test_unreadable_energy_counter(tmp_path):
    FakeRapl(tmp_path, DOMAINS[:1])
    energy_file = tmp_path / "sys/class/powercap/intel-rapl:0/energy_uj"
    energy_file.chmod(0)
    try:
        telemetry = HostTelemetry(root=tmp_path, interval_s=INTERVAL_S)
        names, reasons = telemetry.available()
        assert names == []
        assert "not readable" in reasons["rapl"]
        with telemetry:
            pass
        assert telemetry.result.active_mw is None
        assert "not readable" in telemetry.result.power_missing_reason
    finally:
        energy_file.chmod(0o644)


def test_partly_unreadable_rapl_is_refused(tmp_path):
    # a directory where energy_uj should be: unreadable whoever we run as
    FakeRapl(tmp_path, DOMAINS[:2])
    energy_file = tmp_path / "sys/class/powercap/intel-rapl:1/energy_uj"
    energy_file.unlink()
    energy_file.mkdir()
    names, reasons = HostTelemetry(root=tmp_path).available()
    assert names == []  # package-0 alone would understate the power
    assert "intel-rapl:1/energy_uj cannot be read" in reasons["rapl"]


def test_temperatures_and_a_zone_that_vanishes(tmp_path):
    _make_thermal(tmp_path)
    telemetry = HostTelemetry(root=tmp_path, interval_s=INTERVAL_S)
    assert telemetry.snapshot() == {"x86_pkg_temp": 61.0, "acpitz": 30.0, "k10temp/Tctl": 52.5}
    telemetry.start()
    time.sleep(0.08)
    shutil.rmtree(tmp_path / "sys/class/thermal/thermal_zone0")
    time.sleep(0.08)
    result = telemetry.stop()
    assert result.thermal_source == "thermal_zone+hwmon"
    assert result.thermal_missing_reason is None
    assert result.start_c == 61.0  # the hottest zone at the start
    assert result.end_c == 52.5  # the hottest zone left at the end
    assert result.max_c == 61.0
    assert "x86_pkg_temp" in result.read_errors
    assert result.samples[-1]["temp_c"] == {"acpitz": 30.0, "k10temp/Tctl": 52.5}
    assert result.active_mw is None and result.power_missing_reason


def test_duplicate_zone_types_are_kept_apart(tmp_path):
    for n in range(2):
        zone = tmp_path / f"sys/class/thermal/thermal_zone{n}"
        zone.mkdir(parents=True)
        (zone / "type").write_text("acpitz\n")
        (zone / "temp").write_text(f"{40_000 + n * 1000}\n")
    assert HostTelemetry(root=tmp_path).snapshot() == {"acpitz": 40.0, "acpitz.1": 41.0}


def test_this_machine_never_raises():
    telemetry = HostTelemetry(interval_s=INTERVAL_S)
    names, reasons = telemetry.available()
    with telemetry:
        time.sleep(0.05)
    result = telemetry.result
    assert isinstance(result, TelemetryResult)
    assert (result.active_mw is None) == bool(result.power_missing_reason)
    assert (result.max_c is None) == bool(result.thermal_missing_reason)
    if not names:
        assert result.active_mw is None
        assert telemetry.measure_idle(0.05) is None
    if not Path("/sys/class/powercap").exists():  # the build machines: no RAPL, no GPU
        assert reasons["rapl"].startswith("no RAPL powercap")
    result.summary()  # JSON-friendly, samples left out
    assert "samples" not in result.summary()


class FakeNvml(types.ModuleType):
    """The part of nvidia-ml-py's ``pynvml`` the monitors use: one GPU at 300 W, 55 °C."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    def __init__(self):
        super().__init__("pynvml")
        self.t0 = time.monotonic()

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return f"handle{index}"

    def nvmlDeviceGetName(self, handle):
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):  # mJ since the driver loaded
        return int(1_000_000 + 300_000 * (time.monotonic() - self.t0))

    def nvmlDeviceGetPowerUsage(self, handle):  # mW
        return 300_000

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 55


def test_nvml_energy_counter_and_temperature(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    telemetry = HostTelemetry(root=tmp_path, interval_s=INTERVAL_S, use_nvml=True)
    names, reasons = telemetry.available()
    assert names == ["nvml:gpu0"] and "nvml" not in reasons
    with telemetry:
        time.sleep(0.2)
    result = telemetry.result
    assert result.power_source == "nvml:gpu0"
    assert result.active_mw == pytest.approx(300_000.0, rel=0.02)
    assert result.thermal_source == "nvml"
    assert result.max_c == 55.0


def test_nvml_not_installed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    _, reasons = HostTelemetry(root=tmp_path, use_nvml=True).available()
    assert reasons["nvml"].startswith("nvidia-ml-py not installed")


def test_host_device_lists_nvml_gpus(monkeypatch):
    from npubench.devices.host import HostDevice

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    assert "nvidia:NVIDIA H100 80GB HBM3" in HostDevice().info().accelerators
