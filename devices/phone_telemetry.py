"""Phone telemetry, the I/O half: find the sensors a phone has (one shell call) and sample
them on the phone itself in one long-running shell loop (a sampler service).

The loop is one ``sh`` started in the background with its output in a file under
``WORK_DIR``; each turn is one ``cat`` of every sensor file (plus one ``grep`` of
``/proc/PID/status`` when a pid file is given) and a ``sleep``, so the phone's own timestamps
come with every sample and the ADB link carries nothing while the job runs. ``stop()`` kills
the loop, reads the file back and removes it. Parsing and all arithmetic are in
``devices.phone_power`` (pure). Nothing here raises into the job being watched: a failure
becomes a reason string in the result.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field

import numpy as np

from npubench.devices.android import WORK_DIR, q
from npubench.devices.cpu_topology import parse_cpu_list
from npubench.devices.phone_power import (
    HOT_KINDS,
    Samples,
    celsius_divisor,
    parse_samples,
    sampler_quality,
    zone_kind,
)

POWER_SUPPLY = "/sys/class/power_supply"
THERMAL = "/sys/class/thermal"
CPU = "/sys/devices/system/cpu"
BATTERY_FILES = ("type", "online", "current_now", "voltage_now", "capacity", "status", "temp")
POLICY_FILES = ("scaling_cur_freq", "scaling_max_freq", "cpuinfo_max_freq", "related_cpus")
SAMPLED_KINDS = ("cpu", "soc", "gpu", "npu", "skin", "battery")
MAX_ZONES = 40
"""At most this many zones per sample (CPU/SoC first): phones have up to ~100."""


@dataclass
class Policy:
    name: str  # policy0 (or cpu0 on kernels without policy folders)
    cur_path: str
    max_path: str | None
    cpuinfo_max_khz: float | None
    cpus: tuple[int, ...] = ()  # related_cpus: the cores this policy clocks


@dataclass
class Sensors:
    """What a phone can tell about power, temperature and frequency, found by ``discover``."""

    battery_dir: str | None = None
    current_path: str | None = None
    voltage_path: str | None = None
    capacity_path: str | None = None
    status_path: str | None = None
    status: str | None = None
    capacity_percent: float | None = None
    chargers_online: dict[str, bool] = field(default_factory=dict)  # usb, ac, wireless, ...
    zones: dict[str, str] = field(default_factory=dict)  # zone type -> temp path (sampled)
    zone_kinds: dict[str, str] = field(default_factory=dict)
    zone_divisors: dict[str, float] = field(default_factory=dict)  # raw / divisor = °C
    zone_temps_c: dict[str, float] = field(default_factory=dict)  # at discovery
    policies: dict[str, Policy] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # what -> why it is absent

    @property
    def has_power(self) -> bool:
        return self.current_path is not None and self.voltage_path is not None

    @property
    def plugged(self) -> bool:
        return any(self.chargers_online.values())

    def hot_zones(self) -> dict[str, str]:
        """The CPU/SoC zones (type -> temp path) that cooldown and throttling look at."""
        return {z: p for z, p in self.zones.items() if self.zone_kinds[z] in HOT_KINDS}

    def summary(self) -> dict:
        return {"battery": self.battery_dir, "status": self.status,
                "capacity_percent": self.capacity_percent, "chargers": self.chargers_online,
                "zones": {z: self.zone_kinds[z] for z in self.zones},
                "policies": {p.name: p.cpuinfo_max_khz for p in self.policies.values()},
                "missing": self.missing}


def discover(device) -> Sensors:
    """One shell call over the power supplies, thermal zones and cpufreq policies. Paths that
    do not exist are absent, with the reason kept in ``Sensors.missing``."""
    globs = ([f"{POWER_SUPPLY}/*/{name}" for name in BATTERY_FILES]
             + [f"{THERMAL}/thermal_zone*/type", f"{THERMAL}/thermal_zone*/temp"]
             + [f"{CPU}/cpufreq/policy*/{name}" for name in POLICY_FILES]
             + [f"{CPU}/cpu[0-9]*/cpufreq/{name}" for name in POLICY_FILES])
    command = (f"for f in {' '.join(globs)}; do echo \"@@ $f\"; "
               "cat \"$f\" 2>/dev/null || echo '@@!'; echo; done")
    files = parse_listing(device.run(command, check=False).text)
    return sensors_from_files(files)


def parse_listing(text: str) -> dict[str, str | None]:
    """``@@ PATH`` blocks into {path: content, or None when unreadable}; unmatched globs
    (a ``*`` left in the path) are left out."""
    files: dict[str, str | None] = {}
    path, lines = None, []

    def close() -> None:
        if path is not None and "*" not in path and "[" not in path:
            files[path] = None if "@@!" in lines else "\n".join(lines).strip()

    for line in text.splitlines():
        if line.startswith("@@ "):
            close()
            path, lines = line[3:].strip(), []
        elif path is not None:
            lines.append(line.strip())
    close()
    return files


def sensors_from_files(files: dict[str, str | None]) -> Sensors:
    s = Sensors()
    _battery(s, files)
    _zones(s, files)
    _policies(s, files)
    return s


def _number(text: str | bytes | None) -> float | None:
    """The first number in a sysfs file's text (or bytes), or None."""
    try:
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        return float(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


def _battery(s: Sensors, files: dict[str, str | None]) -> None:
    supplies = sorted({p.split("/")[4] for p in files if p.startswith(POWER_SUPPLY + "/")})
    for name in supplies:
        kind = (files.get(f"{POWER_SUPPLY}/{name}/type") or "").strip()
        online = files.get(f"{POWER_SUPPLY}/{name}/online")
        if kind != "Battery" and online is not None:
            s.chargers_online[name] = online.strip() == "1"
    batteries = [n for n in supplies if (files.get(f"{POWER_SUPPLY}/{n}/type") or "") == "Battery"]
    name = "battery" if "battery" in supplies else (batteries[0] if batteries else None)
    if name is None:
        s.missing["battery"] = f"no power supply of type Battery under {POWER_SUPPLY}"
        return
    base = s.battery_dir = f"{POWER_SUPPLY}/{name}"
    for attr, file in (("current_path", "current_now"), ("voltage_path", "voltage_now"),
                       ("capacity_path", "capacity"), ("status_path", "status")):
        path = f"{base}/{file}"
        if path not in files:
            s.missing[file] = f"{path} does not exist"
        elif files[path] is None:
            s.missing[file] = f"{path} is not readable"
        elif file in ("current_now", "voltage_now") and _number(files[path]) is None:
            s.missing[file] = f"{path} is not a number: {files[path]!r}"
        else:
            setattr(s, attr, path)
    s.status = (files.get(f"{base}/status") or None)
    s.capacity_percent = _number(files.get(f"{base}/capacity"))
    temp = _number(files.get(f"{base}/temp"))
    if temp is not None:  # the power-supply ABI says tenths of a degree
        s.zones["battery-psy"] = f"{base}/temp"
        s.zone_kinds["battery-psy"] = "battery"
        s.zone_divisors["battery-psy"] = 10.0
        s.zone_temps_c["battery-psy"] = temp / 10


def _zones(s: Sensors, files: dict[str, str | None]) -> None:
    found: list[tuple[int, str, str]] = []
    for path, content in files.items():
        if not (path.startswith(THERMAL + "/thermal_zone") and path.endswith("/type")):
            continue
        base = path[: -len("/type")]
        zone_type = (content or "").strip()
        raw = _number(files.get(f"{base}/temp"))
        if not zone_type:
            s.missing[base] = "zone type not readable"
            continue
        if zone_type in s.zones:  # duplicate types happen: keep them apart
            zone_type = f"{zone_type}#{base.rsplit('zone', 1)[1]}"
        if raw is None:
            s.missing[zone_type] = f"{base}/temp not readable"
            continue
        divisor = celsius_divisor([raw])
        celsius = raw / divisor
        if not -40 <= celsius <= 150:
            s.missing[zone_type] = f"{base}/temp reads {raw:g} (no plausible temperature)"
            continue
        kind = zone_kind(zone_type)
        if kind not in SAMPLED_KINDS:
            continue
        rank = HOT_KINDS.index(kind) if kind in HOT_KINDS else len(HOT_KINDS)
        found.append((rank, zone_type, f"{base}/temp"))
        s.zone_kinds[zone_type] = kind
        s.zone_divisors[zone_type] = divisor
        s.zone_temps_c[zone_type] = celsius
    found.sort(key=lambda item: item[0])
    for _, zone_type, path in found[:MAX_ZONES]:
        s.zones[zone_type] = path
    if not any(k in HOT_KINDS for k in s.zone_kinds.values()):
        s.missing["cpu zones"] = ("no readable CPU/SoC thermal zone (locked or absent); "
                                  "battery temperature is the fallback")


def _policies(s: Sensors, files: dict[str, str | None]) -> None:
    for pattern in (f"{CPU}/cpufreq/policy", f"{CPU}/cpu"):
        for path, content in sorted(files.items()):
            if not (path.startswith(pattern) and path.endswith("/scaling_cur_freq")):
                continue
            if content is None:
                continue
            base = path[: -len("/scaling_cur_freq")]
            name = base[len(f"{CPU}/cpufreq/"):] if "policy" in base else base.split("/")[5]
            cap = f"{base}/scaling_max_freq"
            cpus = parse_cpu_list(files.get(f"{base}/related_cpus"))
            if not cpus and "policy" not in base:  # cpuN/cpufreq: at least core N
                cpus = parse_cpu_list(base.split("/")[5][3:])
            s.policies[name] = Policy(name, path, cap if files.get(cap) is not None else None,
                                      _number(files.get(f"{base}/cpuinfo_max_freq")), cpus)
        if s.policies:
            return
    s.missing["cpufreq"] = "no readable scaling_cur_freq"


def device_uptime_s(device) -> float | None:
    """The phone's uptime (``/proc/uptime``, the sampler's clock), or None if unreadable."""
    try:
        return _number(device.run("cat /proc/uptime", check=False).text)
    except Exception:
        return None


def thermal_status(device) -> int | None:
    """Android's thermal status (0 NONE .. 6 SHUTDOWN) from ``dumpsys thermalservice``."""
    try:
        found = re.search(r"Thermal Status:\s*(\d+)",
                          device.run("dumpsys thermalservice", check=False).text)
        return int(found.group(1)) if found else None
    except Exception:
        return None


def pid_file_command(command: str, pid_file: str) -> str:
    """``command`` run so that its pid lands in ``pid_file`` (for the sampler's VmHWM):
    ``sh -c 'echo $$ > FILE; exec COMMAND'``."""
    return f"sh -c {q(f'echo $$ > {q(pid_file)}; exec {command}')}"


# --- the sampler -----------------------------------------------------------------------------

@dataclass
class TelemetrySamples:
    """What one sampler run saw. ``samples`` is None when nothing could be read, and
    ``reasons`` says why; problems that cost some samples are listed there too."""

    samples: Samples | None
    columns: tuple[str, ...]
    quality: dict
    reasons: list[str] = field(default_factory=list)
    interval_s: float | None = None

    def side_file(self) -> dict:
        """The raw samples, JSON-ready (NaN as null), for a side file of the run folder."""
        if self.samples is None:
            return {"columns": list(self.columns), "rows": [], "reasons": self.reasons}
        s = self.samples
        table = np.column_stack([s.t_s] + [s.values[c] for c in self.columns[1:]]
                                + [s.vm_hwm_kb, s.vm_rss_kb])
        rows = [[None if not math.isfinite(x) else x for x in row] for row in table.tolist()]
        return {"columns": list(self.columns) + ["vm_hwm_kb", "vm_rss_kb"], "rows": rows,
                "clock": "device uptime (s)", "epoch_offset_s": s.epoch_offset_s,
                "raw_units": "as the phone reports them (see power.calibration)",
                "quality": self.quality, "reasons": self.reasons}


class PhoneSampler:
    """One shell loop on the phone, sampling every ``interval_s``: uptime, battery current
    and voltage, the selected zones' temperatures, each cpufreq policy's current and capped
    frequency, and, with ``pid_file``, VmHWM/VmRSS of the process whose pid is in that file.
    The loop ends by itself after ``max_duration_s`` (a crashed host leaves nothing running
    for long). A service: ``start()``, ``stop()``, or a ``with`` block."""

    def __init__(self, device, sensors: Sensors, interval_s: float = 0.04,
                 pid_file: str | None = None, max_duration_s: float = 3600.0):
        self.device = device
        self.sensors = sensors
        self.interval_s = interval_s
        self.pid_file = pid_file
        self.max_duration_s = max_duration_s
        self.output = f"{WORK_DIR}/sampler-{secrets.token_hex(4)}.txt"
        self.pid: int | None = None
        self.reasons: list[str] = []
        self.result: TelemetrySamples | None = None
        self.files, self.columns = self._layout()

    def _layout(self) -> tuple[list[str], tuple[str, ...]]:
        s = self.sensors
        files, columns = ["/proc/uptime"], ["uptime_s", "idle_s"]
        if s.has_power:
            files += [s.current_path, s.voltage_path]
            columns += ["current_now", "voltage_now"]
        for zone, path in s.zones.items():
            files.append(path)
            columns.append(f"temp:{zone}")
        for p in s.policies.values():
            files.append(p.cur_path)
            columns.append(f"cur:{p.name}")
            if p.max_path:
                files.append(p.max_path)
                columns.append(f"max:{p.name}")
        return files, tuple(columns)

    def script(self) -> str:
        """The loop, as the phone's ``sh -c`` gets it."""
        sleep_s = max(self.interval_s - 0.008, 0.005)
        turns = max(1, int(self.max_duration_s / self.interval_s))
        read = f"echo S $(cat {' '.join(q(f) for f in self.files)} 2>/dev/null) M"
        if self.pid_file:
            pf = q(self.pid_file)
            read = (f"p=; [ -r {pf} ] && read -r p < {pf}; m=; [ -n \"$p\" ] && "
                    "m=$(grep -h -e ^VmHWM: -e ^VmRSS: /proc/$p/status 2>/dev/null); "
                    + read + " $m")
        return (f"echo T $(cat /proc/uptime) $(date +%s.%N); n=0; "
                f"while [ $n -lt {turns} ]; do n=$((n+1)); {read}; sleep {sleep_s:.3f}; done")

    def start(self) -> bool:
        """Start the loop on the phone; False (and a reason) when it could not be."""
        try:
            out = self.device.run(
                f"mkdir -p {q(WORK_DIR)} && nohup sh -c {q(self.script())} "
                f"> {q(self.output)} 2>&1 < /dev/null & echo $!", check=False).text
            self.pid = int(out.strip().splitlines()[-1])
            return True
        except Exception as exc:
            self.reasons.append(f"the sampler did not start: {_reason(exc)}")
            return False

    def peek(self) -> Samples | None:
        """The samples so far, the loop running on (one read of its file); None when there
        are none yet or they cannot be read. Never raises."""
        if self.pid is None:
            return None
        try:
            text = self.device.run(f"cat {q(self.output)} 2>/dev/null", check=False).text
        except Exception:
            return None
        samples = parse_samples(text, self.columns)
        return samples if samples.n else None

    def stop(self) -> TelemetrySamples:
        """Stop the loop, read its file back and remove it. Never raises."""
        if self.result is not None:
            return self.result
        text = ""
        if self.pid is not None:
            try:
                # wait (at most 1 s) for the loop to be gone, so its file is complete
                raw = self.device.run(
                    f"if kill {self.pid} 2>/dev/null; then echo @@alive; else echo @@gone; fi; "
                    f"i=0; while kill -0 {self.pid} 2>/dev/null && [ $i -lt 20 ]; do "
                    "sleep 0.05; i=$((i+1)); done; "
                    f"cat {q(self.output)} 2>/dev/null; rm -f {q(self.output)}",
                    check=False, timeout_s=max(30.0, self.max_duration_s / 60)).text
                head, _, text = raw.partition("\n")
                if head.strip() == "@@gone":
                    self.reasons.append("the sampler loop had already ended before stop() "
                                        "(max_duration_s reached, or killed on the phone)")
            except Exception as exc:
                self.reasons.append(f"the sampler's samples could not be read back: "
                                    f"{_reason(exc)}")
        samples = None
        if text:
            samples = parse_samples(text, self.columns)
            self.reasons += samples.problems
            if samples.n == 0:
                self.reasons.append(f"no complete sample in the sampler output "
                                    f"(first line: {text.splitlines()[0][:120]!r})")
                samples = None
        elif self.pid is not None and not self.reasons:
            self.reasons.append("the sampler wrote nothing")
        quality = sampler_quality(samples.t_s if samples is not None else [])
        self.result = TelemetrySamples(samples, self.columns, quality, list(self.reasons),
                                       self.interval_s)
        return self.result

    def __enter__(self) -> PhoneSampler:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
