"""The simulated phone's /proc, /sys and /dev/null: read-only virtual files made from the
profile and the physical model, in the kernel's formats and with the vendor's units and signs
(battery ``current_now`` in µA negative while discharging, or mA positive; thermal zones in
millidegrees, tenths or degrees). Served to SimFS as ``file(path)`` and ``listdir(path)``."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from npubench.devices.sim.physics import Physics
from npubench.devices.sim.profiles import Cluster, Profile

BAT = "/sys/class/power_supply/battery"
USB = "/sys/class/power_supply/usb"
CPU = "/sys/devices/system/cpu"
IPC = {"Cortex-X4": 1.0, "Cortex-A720": 0.78, "Cortex-A520": 0.42}
THERMAL_SCALE = {"millidegree": 1000, "decidegree": 10, "degree": 1}


class SysFS:
    def __init__(self, profile: Profile, physics: Physics, boot_epoch_s: Callable[[], float]):
        self.profile = profile
        self.physics = physics
        self._boot_epoch_s = boot_epoch_s
        self._files: dict[str, str | Callable[[], str]] = {}
        self._build()
        self._dirs: dict[str, set[str]] = {"/": {"data"}}
        for path in self._files:
            while path != "/":
                parent = posixpath.dirname(path)
                self._dirs.setdefault(parent, set()).add(posixpath.basename(path))
                path = parent

    def file(self, path: str) -> bytes | None:
        content = self._files.get(path)
        if content is None:
            return None
        return (content() if callable(content) else content).encode()

    def listdir(self, path: str) -> list[str] | None:
        names = self._dirs.get(path)
        return sorted(names) if names is not None else None

    # --- the tree ----------------------------------------------------------------------------

    def _build(self) -> None:
        p, f = self.profile, self._files
        f["/dev/null"] = ""
        f["/proc/cpuinfo"] = self._cpuinfo()
        f["/proc/meminfo"] = self._meminfo
        f["/proc/uptime"] = self._uptime
        f["/proc/stat"] = self._stat
        f["/proc/loadavg"] = self._loadavg
        f["/proc/version"] = (
            f"Linux version {p.kernel_release} (build-user@build-host) (Android (10087095, +pgo,"
            " +bolt, +lto, -mlgo, based on r487747c) clang version 17.0.2, LLD 17.0.2) "
            f"{p.kernel_version}\n")
        cpus = f"0-{p.cpu_count - 1}\n"
        for name in ("possible", "present", "online"):
            f[f"{CPU}/{name}"] = cpus
        top = max(c.max_khz * IPC.get(c.core, 0.8) for c in p.clusters)
        for cluster in p.clusters:
            self._policy(cluster)
            capacity = round(1024 * cluster.max_khz * IPC.get(cluster.core, 0.8) / top)
            for cpu in cluster.cpus:
                f[f"{CPU}/cpu{cpu}/cpu_capacity"] = f"{capacity}\n"
                f[f"{CPU}/cpu{cpu}/online"] = "1\n"
                f[f"{CPU}/cpu{cpu}/topology/cluster_id"] = f"{p.clusters.index(cluster)}\n"
        for n, zone in enumerate(p.thermal.zones):
            base = f"/sys/class/thermal/thermal_zone{n}"
            f[f"{base}/type"] = f"{zone.type}\n"
            f[f"{base}/temp"] = self._zone_temp(zone.type, zone.unit or p.thermal.unit)
            f[f"{base}/mode"] = "enabled\n"
            f[f"{base}/policy"] = "step_wise\n"
        self._battery()
        for path, content in p.extra_files.items():
            f[path] = content if content.endswith("\n") else content + "\n"

    def _policy(self, cluster: Cluster) -> None:
        first = cluster.cpus[0]
        cpus = " ".join(map(str, cluster.cpus)) + "\n"
        freqs = " ".join(map(str, cluster.freqs_khz)) + " \n"
        static = {
            "affected_cpus": cpus, "related_cpus": cpus,
            "cpuinfo_min_freq": f"{cluster.min_khz}\n", "cpuinfo_max_freq": f"{cluster.max_khz}\n",
            "cpuinfo_transition_latency": "0\n", "scaling_available_frequencies": freqs,
            "scaling_available_governors": "performance schedutil powersave\n",
            "scaling_driver": ("qcom-cpufreq-hw\n" if self.profile.soc_vendor == "Qualcomm"
                               else "mtk-cpufreq-hw\n"),
            "scaling_governor": "schedutil\n", "scaling_min_freq": f"{cluster.min_khz}\n",
            "scaling_setspeed": "<unsupported>\n",
        }
        dynamic = {
            "scaling_cur_freq": lambda: f"{self.physics.cluster_freqs_khz(cluster)[0]}\n",
            "scaling_max_freq": lambda: f"{self.physics.cluster_freqs_khz(cluster)[1]}\n",
            "stats/time_in_state": lambda: "".join(
                f"{freq} {int(s * 100)}\n"
                for freq, s in sorted(self.physics.time_in_state_s(cluster).items())),
        }
        for base in [f"{CPU}/cpufreq/policy{first}"] + [f"{CPU}/cpu{c}/cpufreq"
                                                         for c in cluster.cpus]:
            for name, content in {**static, **dynamic}.items():
                self._files[f"{base}/{name}"] = content

    def _zone_temp(self, zone: str, unit: str) -> Callable[[], str]:
        scale = THERMAL_SCALE[unit]
        resolution = next(z.resolution_c for z in self.profile.thermal.zones if z.type == zone)

        def read() -> str:
            celsius = round(self.physics.temperature_c(zone) / resolution) * resolution
            return f"{round(celsius * scale)}\n"
        return read

    # --- battery -----------------------------------------------------------------------------

    def battery_status(self) -> str:
        ph = self.physics
        if not ph.plugged:
            return "Discharging"
        if ph.input_suspended:
            return "Not charging"
        return "Full" if ph.level_percent() >= 99.95 else "Charging"

    def current_value(self) -> int:
        """current_now in the vendor's unit and sign."""
        b = self.profile.battery
        amps = self.physics.gauge().current_a
        value = round(amps * (1e6 if b.current_unit == "uA" else 1e3))
        return -value if b.discharge_sign == "negative" else value

    def voltage_value(self) -> int:
        volts = self.physics.gauge().voltage_v
        return round(volts * (1e6 if self.profile.battery.voltage_unit == "uV" else 1e3))

    def battery_temp_tenths(self) -> int:
        return round(self.physics.temperature_c("battery") * 10)

    def level(self) -> int:
        return min(100, max(0, round(self.physics.level_percent())))

    def charge_counter_uah(self) -> int:
        return round(self.physics.level_percent() / 100 * self.profile.battery.capacity_mah
                     * 1000)

    def _battery(self) -> None:
        b, f = self.profile.battery, self._files
        full = round(b.capacity_mah * 1000 * 0.97)
        values: dict[str, str | Callable[[], object]] = {
            "type": "Battery", "status": self.battery_status, "health": "Good", "present": "1",
            "online": "1", "technology": b.technology, "capacity": self.level,
            "current_now": self.current_value, "voltage_now": self.voltage_value,
            "voltage_max": "4450000" if b.voltage_unit == "uV" else "4450",
            "temp": self.battery_temp_tenths, "charge_counter": self.charge_counter_uah,
            "charge_full": str(full), "charge_full_design": str(round(b.capacity_mah * 1000)),
            "cycle_count": str(b.cycle_count),
        }
        for name, value in values.items():
            f[f"{BAT}/{name}"] = (lambda v=value: f"{v()}\n") if callable(value) else f"{value}\n"
        keys = ("type", "status", "present", "capacity", "current_now", "voltage_now", "temp",
                "charge_counter", "technology")
        f[f"{BAT}/uevent"] = lambda: "".join(
            f"POWER_SUPPLY_{k.upper()}={values[k]() if callable(values[k]) else values[k]}\n"
            for k in keys)
        f[f"{USB}/type"] = "USB\n"
        f[f"{USB}/online"] = lambda: "1\n" if self.physics.plugged else "0\n"
        f[f"{USB}/present"] = lambda: "1\n" if self.physics.plugged else "0\n"
        f[f"{USB}/voltage_now"] = lambda: "5000000\n" if self.physics.plugged else "0\n"
        f[f"{USB}/current_max"] = f"{round(b.charger_w / 5 * 1e6)}\n"

    # --- /proc ---------------------------------------------------------------------------------

    def _cpuinfo(self) -> str:
        p, blocks = self.profile, []
        for cpu in range(p.cpu_count):
            c = p.cluster_of(cpu)
            blocks.append(
                f"processor\t: {cpu}\nBogoMIPS\t: {p.bogomips}\nFeatures\t: {p.cpu_features}\n"
                "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
                f"CPU part\t: {c.part}\nCPU revision\t: 1\n")
        return "\n".join(blocks) + "\n"

    def _meminfo(self) -> str:
        total = self.profile.mem_total_kb
        used_by_load = int(self.physics.snapshot().system_power_w * 20_000)
        free = int(total * 0.18) - used_by_load
        rows = [("MemTotal", total), ("MemFree", free), ("MemAvailable", int(total * 0.46)),
                ("Buffers", 9_852), ("Cached", int(total * 0.31)), ("SwapCached", 41_220),
                ("Active", int(total * 0.29)), ("Inactive", int(total * 0.27)),
                ("Unevictable", 214_532), ("Mlocked", 214_464), ("SwapTotal", 8_388_604),
                ("SwapFree", 6_204_532), ("Dirty", 244), ("Writeback", 0),
                ("AnonPages", int(total * 0.22)), ("Mapped", int(total * 0.09)),
                ("Shmem", 95_112), ("KReclaimable", 262_880), ("Slab", 651_808),
                ("KernelStack", 101_824), ("PageTables", 190_340), ("CommitLimit", 14_000_000),
                ("Committed_AS", 161_000_000), ("VmallocTotal", 263_061_440),
                ("VmallocUsed", 310_480), ("CmaTotal", 282_624), ("CmaFree", 1_652)]
        return "".join(f"{name + ':':<16}{value:>8} kB\n" for name, value in rows)

    def _uptime(self) -> str:
        up = self.physics.now()
        idle = up * self.profile.cpu_count - sum(self.physics.busy_s())
        return f"{up:.2f} {max(idle, 0):.2f}\n"

    def _stat(self) -> str:
        up, busy = self.physics.now(), self.physics.busy_s()
        lines, total = [], [0] * 7
        for cpu, b in enumerate(busy):
            row = [int(b * 85), 0, int(b * 15), int(max(up - b, 0) * 100), 0, 0, 0]
            total = [a + r for a, r in zip(total, row, strict=True)]
            lines.append(f"cpu{cpu} " + " ".join(map(str, row)) + " 0 0 0\n")
        head = "cpu  " + " ".join(map(str, total)) + " 0 0 0\n"
        boot = int(self._boot_epoch_s())
        return (head + "".join(lines) + f"intr 0\nctxt {int(up * 5200)}\nbtime {boot}\n"
                f"processes {int(up * 3.1)}\nprocs_running 1\nprocs_blocked 0\n")

    def _loadavg(self) -> str:
        snap = self.physics.snapshot()
        busy = max(snap.system_power_w - 0.8, 0) / 1.6
        return f"{busy + 1.1:.2f} {busy * 0.8 + 1.0:.2f} {busy * 0.5 + 0.9:.2f} 2/2391 31337\n"
