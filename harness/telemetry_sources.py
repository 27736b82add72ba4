"""Host telemetry sources: RAPL powercap, NVIDIA GPUs through NVML, thermal zones and hwmon.

Each source has ``probe()`` (None when usable, else the reason) and ``read()``; every sysfs path
hangs off ``root`` so that tests can point a source at a folder that mimics sysfs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POWERCAP_DIR = "sys/class/powercap"
THERMAL_DIR = "sys/class/thermal"
HWMON_DIR = "sys/class/hwmon"
_RAPL_PACKAGE = re.compile(r"^intel-rapl:(\d+)$")  # not the sub-zones intel-rapl:N:M

@dataclass(frozen=True)
class _Channel:
    """One power reading: a cumulative energy counter (µJ) or an instantaneous power (mW)."""

    name: str
    unit: str  # "energy_uj" | "power_mw"
    wrap_uj: float | None = None


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class RaplSource:
    """Linux powercap RAPL package domains (Intel, and AMD under the same names)."""

    kind = "rapl"

    def __init__(self, root: Path = Path("/")):
        self.base = Path(root) / POWERCAP_DIR
        self.channels: list[_Channel] = []
        self._files: dict[str, Path] = {}
        self.partial: dict[str, str] = {}  # domains left out, with the reason

    def probe(self) -> str | None:
        """Find the readable package domains; the reason the source is unusable, or None."""
        if not self.base.is_dir():
            return (
                f"no RAPL powercap at {self.base} (not an Intel/AMD machine, a VM, or the "
                "intel_rapl module is not loaded)"
            )
        domains = []
        for path in self.base.iterdir():
            match = _RAPL_PACKAGE.match(path.name)
            if match:
                name = _read_str(path / "name") or path.name
                domains.append((int(match.group(1)), name, path))
        if not domains:
            return f"no RAPL package domains (intel-rapl:N) under {self.base}"
        # psys (platform) already contains the packages: sum packages, psys only when alone
        packages = [d for d in domains if d[1].startswith("package")] or domains
        unreadable = []
        for _, name, path in sorted(packages):
            channel_name = f"rapl:{name}"
            if channel_name in self._files:
                channel_name = f"rapl:{path.name}"
            try:
                int((path / "energy_uj").read_text())
            except PermissionError:
                unreadable.append(
                    f"{path / 'energy_uj'} is not readable (only root may read RAPL energy "
                    "since Linux 5.10; run as root or make it readable)"
                )
                continue
            except (OSError, ValueError) as exc:
                unreadable.append(f"{path / 'energy_uj'} cannot be read ({_reason(exc)})")
                continue
            try:
                wrap = float(int((path / "max_energy_range_uj").read_text()))
            except (OSError, ValueError):
                wrap = None
            self._files[channel_name] = path / "energy_uj"
            self.channels.append(_Channel(channel_name, "energy_uj", wrap))
        if not self.channels:
            return "; ".join(unreadable)
        if unreadable:  # a partial sum would understate the power: refuse it too
            self.channels.clear()
            return "some RAPL package domains cannot be read: " + "; ".join(unreadable)
        return None

    def read(self, values: dict[str, float], errors: dict[str, str]) -> None:
        for name, path in self._files.items():
            try:
                values[name] = float(int(path.read_text()))
            except (OSError, ValueError) as exc:
                errors[name] = _reason(exc)


class NvmlSource:
    """NVIDIA GPUs through NVML: the total energy counter where the GPU has one (Volta and
    later), else the instantaneous power; and the GPU temperature."""

    kind = "nvml"

    def __init__(self) -> None:
        self.channels: list[_Channel] = []
        self._nvml: Any = None
        self._handles: list[tuple[int, Any, _Channel]] = []

    def probe(self) -> str | None:
        try:
            import pynvml
        except ImportError:
            return "nvidia-ml-py not installed (pip install nvidia-ml-py)"
        try:
            pynvml.nvmlInit()  # reference-counted by NVML; kept for the life of the process
            count = pynvml.nvmlDeviceGetCount()
        except Exception as exc:
            return f"NVML cannot start ({_reason(exc)})"
        if count == 0:
            return "no NVIDIA GPU found"
        reasons = []
        for index in range(count):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            except Exception as exc:
                reasons.append(f"gpu{index}: {_reason(exc)}")
                continue
            name = f"nvml:gpu{index}"
            try:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                channel = _Channel(name, "energy_uj")  # mJ counter, read as µJ; no wrap (64-bit)
            except Exception:
                try:
                    pynvml.nvmlDeviceGetPowerUsage(handle)
                    channel = _Channel(name, "power_mw")
                except Exception as exc:
                    reasons.append(f"gpu{index} reports no power ({_reason(exc)})")
                    continue
            self._handles.append((index, handle, channel))
            self.channels.append(channel)
        self._nvml = pynvml
        if reasons and not self.channels:
            return "; ".join(reasons)
        return None

    def read(self, values: dict[str, float], errors: dict[str, str]) -> None:
        nvml = self._nvml
        for _, handle, channel in self._handles:
            try:
                if channel.unit == "energy_uj":
                    values[channel.name] = (
                        float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle)) * 1000.0
                    )
                else:
                    values[channel.name] = float(nvml.nvmlDeviceGetPowerUsage(handle))
            except Exception as exc:
                errors[channel.name] = _reason(exc)

    def temperatures(self, temps: dict[str, float], errors: dict[str, str]) -> None:
        nvml = self._nvml
        for index, handle, _ in self._handles:
            try:
                temps[f"nvml:gpu{index}"] = float(
                    nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
                )
            except Exception as exc:
                errors[f"nvml:gpu{index}:temp"] = _reason(exc)


class ThermalSource:
    """Temperatures from ``thermal_zone*/{type,temp}`` and ``hwmon*/temp*_input`` (m°C)."""

    kind = "thermal"

    def __init__(self, root: Path = Path("/")):
        self.thermal_dir = Path(root) / THERMAL_DIR
        self.hwmon_dir = Path(root) / HWMON_DIR
        self.sensors: dict[str, Path] = {}
        self.kinds: list[str] = []

    def probe(self) -> str | None:
        zones = sorted(_numbered(self.thermal_dir, "thermal_zone"))
        for _, zone in zones:
            if (zone / "temp").exists():
                self._add(_read_str(zone / "type") or zone.name, zone / "temp")
        if self.sensors:
            self.kinds.append("thermal_zone")
        count = len(self.sensors)
        for _, hwmon in sorted(_numbered(self.hwmon_dir, "hwmon")):
            chip = _read_str(hwmon / "name") or hwmon.name
            inputs = sorted(_numbered(hwmon, "temp", suffix="_input"))
            for n, path in inputs:
                label = _read_str(hwmon / f"temp{n}_label") or f"temp{n}"
                self._add(f"{chip}/{label}", path)
        if len(self.sensors) > count:
            self.kinds.append("hwmon")
        if not self.sensors:
            return (
                f"no thermal zones under {self.thermal_dir} and no hwmon temperature "
                f"sensors under {self.hwmon_dir}"
            )
        return None

    def _add(self, label: str, path: Path) -> None:
        unique, k = label, 1
        while unique in self.sensors:
            unique, k = f"{label}.{k}", k + 1
        self.sensors[unique] = path

    def read(self, temps: dict[str, float], errors: dict[str, str]) -> None:
        for label, path in self.sensors.items():
            try:
                temps[label] = int(path.read_text()) / 1000.0
            except (OSError, ValueError) as exc:
                errors[label] = _reason(exc)


def _read_str(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _numbered(folder: Path, prefix: str, suffix: str = "") -> list[tuple[int, Path]]:
    """``prefixN[suffix]`` entries of ``folder`` with their N (numeric order, not 1, 10, 2)."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+){re.escape(suffix)}$")
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    found = []
    for path in entries:
        match = pattern.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found
