"""Simulated phone profiles: what a phone is (props, CPU clusters, thermal zones, battery and its
vendor quirks), as data in ``devices/sim/profiles/<soc part>.yaml``, loaded into frozen
dataclasses. Pure apart from reading the YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from npubench.devices.sim.timing import TimingSpec
from npubench.errors import ConfigError

PROFILE_DIR = Path(__file__).with_name("profiles")

HEAT_SOURCES = ("cpu", "gpu", "npu", "soc", "sys", "charge")
"""Heat sources a thermal zone may name besides ``core.N`` and ``cluster.NAME``: all CPU cores
with their uncore, the GPU, the NPU, the whole SoC, the whole phone, and charging losses."""


@dataclass(frozen=True)
class Cluster:
    name: str
    core: str  # e.g. Cortex-X4
    part: str  # the MIDR part number in /proc/cpuinfo, e.g. 0xd82
    cpus: tuple[int, ...]
    freqs_khz: tuple[int, ...]  # ascending; the cpufreq table
    active_w: float  # one core busy at the highest frequency

    @property
    def min_khz(self) -> int:
        return self.freqs_khz[0]

    @property
    def max_khz(self) -> int:
        return self.freqs_khz[-1]


@dataclass(frozen=True)
class Zone:
    type: str  # /sys/class/thermal/thermal_zoneN/type
    ref: str  # "ambient" or the type of the zone this one sits on
    heat: dict[str, float]  # heat source -> °C per W above ``ref`` in the steady state
    tau_s: float  # first-order time constant
    android_type: int | None = None  # Temperature.TYPE_* in dumpsys thermalservice; None: not there
    unit: str | None = None  # overrides ThermalSpec.unit for this zone
    resolution_c: float = 0.1
    offset_c: float = 0.0


@dataclass(frozen=True)
class ThermalSpec:
    ambient_c: float
    unit: str  # millidegree | decidegree | degree
    zones: tuple[Zone, ...]
    throttle_zone: str
    throttle_start_c: float
    throttle_span_c: float
    throttle_min_scale: float
    status_zone: str
    status_thresholds_c: tuple[float, ...]  # LIGHT, MODERATE, SEVERE, CRITICAL, EMERGENCY, SHUTDOWN


@dataclass(frozen=True)
class BatterySpec:
    capacity_mah: float
    start_level: float  # percent
    internal_resistance_ohm: float
    ocv: tuple[tuple[float, float], ...]  # (state of charge 0..1, open-circuit volts)
    current_unit: str  # uA | mA
    discharge_sign: str  # negative (kernel ABI) | positive
    voltage_unit: str  # uV | mV
    gauge_period_s: float  # the fuel gauge averages over this window and updates once per window
    noise_ma: float  # standard deviation of the gauge's current noise
    usb_plugged: bool
    charger_w: float  # what the USB port delivers at most
    max_charge_w: float  # what the charger IC puts into the cell at most
    charger_loss: float  # fraction of the input power lost as heat
    technology: str = "Li-ion"
    cycle_count: int = 0


@dataclass(frozen=True)
class PowerSpec:
    soc_idle_w: float
    platform_w: float  # everything outside the SoC with the screen off (radios, memory, USB)
    uncore_w: float  # DSU, L3 and interconnect when any core is busy
    gpu_w: float  # GPU fully busy
    npu_w: float  # NPU fully busy


@dataclass(frozen=True)
class Profile:
    name: str  # the SoC part in lower case: sm8650, mt6989
    description: str
    soc_vendor: str
    soc_part: str
    soc_name: str
    props: dict[str, str]
    mem_total_kb: int
    data_total_bytes: int
    data_used_bytes: int  # what the OS and apps already use on /data
    block_device: str
    kernel_release: str
    kernel_version: str
    bogomips: str
    cpu_features: str
    clusters: tuple[Cluster, ...]
    power: PowerSpec
    battery: BatterySpec
    thermal: ThermalSpec
    accelerators: dict[str, Any]  # nnapi: [names], npu: "...", gpu: "..."
    extra_files: dict[str, str]
    delegates: dict[str, Any] = field(default_factory=dict)
    """The ``delegates:`` section as written: which delegates the SoC has and the op types
    each takes (schema: ``devices/sim/tools/delegation.py``)."""
    timing: TimingSpec = field(default_factory=TimingSpec)
    """The ``timing:`` section: the modeled speeds of ``--timing modeled`` (``timing.py``)."""
    ram_gb: float | None = None
    """The RAM the phone is sold with (GB); ``mem_total_kb`` is that less the carve-outs."""

    @property
    def cpu_count(self) -> int:
        return sum(len(c.cpus) for c in self.clusters)

    @property
    def debuggable(self) -> bool:
        """A userdebug/eng build: ``dumpsys battery suspend_input`` works only there."""
        return self.props.get("ro.debuggable") == "1"

    def cluster_of(self, cpu: int) -> Cluster:
        return next(c for c in self.clusters if cpu in c.cpus)


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def with_ram(profile: Profile, ram_gb: float) -> Profile:
    """``profile`` as sold with ``ram_gb`` GB of RAM (``sim:sm8650?ram_gb=8``): MemTotal is that
    less the same share of carve-outs (modem, TrustZone, GPU and DSP memory) as the profile's
    own RAM, which /proc/meminfo then shows and DeviceInfo.ram_bytes reads."""
    carved = profile.mem_total_kb / (profile.ram_gb * 2**20) if profile.ram_gb else 0.9
    return replace(profile, mem_total_kb=int(ram_gb * 2**20 * carved), ram_gb=float(ram_gb))


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (``sm8650``) or from a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PROFILE_DIR / f"{str(name_or_path).lower()}.yaml"
        if not path.is_file():
            raise ConfigError(f"no simulated phone profile {name_or_path!r}",
                              hint=f"available: {', '.join(available())}")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    try:
        return profile_from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: bad simulated phone profile: {exc}") from None


def _build(cls, data: dict, drop: tuple[str, ...] = (), **computed):
    """``cls`` from a YAML mapping: unknown keys are errors; ``drop`` are keys read elsewhere."""
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names - set(computed) - set(drop)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    kept = {k: v for k, v in data.items() if k not in computed and k not in drop}
    return cls(**kept, **computed)


def freq_table(min_khz: int, max_khz: int, steps: int) -> tuple[int, ...]:
    """An ascending cpufreq table from min to max, on a 9.6 MHz grid like the real ones."""
    grid = 9600
    values = {min_khz, max_khz}
    for i in range(1, steps - 1):
        f = min_khz + (max_khz - min_khz) * i / (steps - 1)
        values.add(int(round(f / grid)) * grid)
    return tuple(sorted(values))


def profile_from_dict(data: dict) -> Profile:
    cpu = data["cpu"]
    clusters = tuple(
        _build(Cluster, c, cpus=tuple(c["cpus"]),
               freqs_khz=freq_table(*c["freq_range_khz"], c.get("freq_steps", 16)),
               drop=("freq_range_khz", "freq_steps"))
        for c in cpu["clusters"])
    zones = tuple(_build(Zone, z, heat=dict(z.get("heat", {}))) for z in data["thermal"]["zones"])
    thermal = _build(ThermalSpec, data["thermal"], zones=zones,
                     status_thresholds_c=tuple(data["thermal"]["status_thresholds_c"]))
    battery = _build(BatterySpec, data["battery"],
                     ocv=tuple((float(s), float(v)) for s, v in data["battery"]["ocv"]))
    profile = _build(
        Profile, data, props={k: str(v) for k, v in data["props"].items()},
        clusters=clusters, power=_build(PowerSpec, data["power"]), battery=battery,
        thermal=thermal, bogomips=str(cpu["bogomips"]), cpu_features=cpu["features"],
        extra_files=dict(data.get("extra_files") or {}),
        delegates=dict(data.get("delegates") or {}),
        timing=TimingSpec.from_dict(data.get("timing")), drop=("cpu",))
    _validate(profile)
    return profile


def _validate(p: Profile) -> None:
    cpus = sorted(c for cl in p.clusters for c in cl.cpus)
    if cpus != list(range(len(cpus))):
        raise ValueError(f"CPUs must be numbered 0..N-1, got {cpus}")
    types = [z.type for z in p.thermal.zones]
    if len(set(types)) != len(types):
        raise ValueError("thermal zone types must be unique")
    clusters = {c.name for c in p.clusters}
    for z in p.thermal.zones:
        if z.ref != "ambient" and z.ref not in types:
            raise ValueError(f"zone {z.type}: unknown ref {z.ref!r}")
        for src in z.heat:
            kind, _, arg = src.partition(".")
            ok = (src in HEAT_SOURCES or (kind == "core" and arg.isdigit() and int(arg) in cpus)
                  or (kind == "cluster" and arg in clusters))
            if not ok:
                raise ValueError(f"zone {z.type}: unknown heat source {src!r}")
    for zone in (p.thermal.throttle_zone, p.thermal.status_zone):
        if zone not in types:
            raise ValueError(f"unknown zone {zone!r}")
    b = p.battery
    if b.current_unit not in ("uA", "mA") or b.voltage_unit not in ("uV", "mV"):
        raise ValueError("battery units: current uA|mA, voltage uV|mV")
    if b.discharge_sign not in ("negative", "positive"):
        raise ValueError("battery discharge_sign: negative|positive")
    units = {p.thermal.unit} | {z.unit for z in p.thermal.zones if z.unit}
    if not units <= {"millidegree", "decidegree", "degree"}:
        raise ValueError(f"thermal units: millidegree|decidegree|degree, got {sorted(units)}")
