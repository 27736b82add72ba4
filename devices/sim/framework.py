"""Android framework commands of the simulated phone: getprop, setprop, dumpsys (battery,
thermalservice), cmd battery, settings, getenforce. BatteryService keeps the state that
``dumpsys battery unplug|set|suspend_input|reset`` changes, as the real one does: ``unplug``
and ``set`` only freeze what BatteryService reports; ``suspend_input`` really stops charging
(on debuggable builds only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from npubench.devices.sim.cmdio import Invocation

if TYPE_CHECKING:
    from npubench.devices.sim.userland import Userland

SETTABLE_PREFIXES = ("debug.", "log.tag.", "persist.log.tag.", "persist.debug.", "vendor.debug.")
SECURITY = "battery suspend_input is only supported on debuggable builds"


class BatteryService:
    """What ``dumpsys battery`` reports, and the shell commands that change it."""

    SET_KEYS = {"ac": "ac", "usb": "usb", "wireless": "wireless", "dock": "dock",
                "level": "level", "status": "status", "temp": "temperature",
                "present": "present", "counter": "counter"}

    def __init__(self, userland: Userland):
        self.userland = userland
        self.frozen: dict[str, object] | None = None  # mUpdatesStopped
        self.suspended_count = 0
        """How many times ``suspend_input`` stopped charging (for tests: once per run)."""
        self.reset_count = 0
        """How many times ``reset`` ran (each restores charging)."""

    def live(self) -> dict[str, object]:
        u = self.userland
        ph, sysfs = u.physics, u.sysfs
        plugged = ph.plugged
        status = {"Charging": 2, "Discharging": 3, "Not charging": 4, "Full": 5}
        return {
            "ac": False, "usb": plugged, "wireless": False, "dock": False,
            "max_current": round(u.profile.battery.charger_w / 5 * 1e6) if plugged else 0,
            "max_voltage": 5_000_000 if plugged else 0,
            "counter": sysfs.charge_counter_uah(), "status": status[sysfs.battery_status()],
            "health": 2, "present": True, "level": sysfs.level(),
            "voltage": round(ph.gauge().voltage_v * 1000),
            "temperature": sysfs.battery_temp_tenths(), "technology": u.profile.battery.technology,
        }

    def state(self) -> dict[str, object]:
        return dict(self.frozen) if self.frozen is not None else self.live()

    def dump(self) -> str:
        s = self.state()

        def b(v: object) -> str:
            return "true" if v else "false"
        lines = ["Current Battery Service state:"]
        if self.frozen is not None:
            lines.append("  (UPDATES STOPPED -- use 'reset' to restart)")
        lines += [
            f"  AC powered: {b(s['ac'])}", f"  USB powered: {b(s['usb'])}",
            f"  Wireless powered: {b(s['wireless'])}", f"  Dock powered: {b(s['dock'])}",
            f"  Max charging current: {s['max_current']}",
            f"  Max charging voltage: {s['max_voltage']}", f"  Charge counter: {s['counter']}",
            f"  status: {s['status']}", f"  health: {s['health']}",
            f"  present: {b(s['present'])}", f"  level: {s['level']}", "  scale: 100",
            f"  voltage: {s['voltage']}", f"  temperature: {s['temperature']}",
            f"  technology: {s['technology']}", "  Charging state: 1", "  Charging policy: 1"]
        return "\n".join(lines) + "\n"

    def command(self, inv: Invocation, args: list[str]) -> int:
        """``dumpsys battery ARGS`` / ``cmd battery ARGS``."""
        ph = self.userland.physics
        args = [a for a in args if a != "-f"]
        verb = args[0] if args else ""
        if verb == "unplug":
            self.frozen = {**self.state(), "ac": False, "usb": False, "wireless": False,
                           "dock": False}
        elif verb == "set":
            if len(args) < 3:
                inv.out("No property specified\n" if len(args) < 2 else "No value specified\n")
                return 255
            key = self.SET_KEYS.get(args[1])
            if key is None:
                inv.out(f"Unknown set option: {args[1]}\n")
                return 0
            try:
                value = int(args[2])
            except ValueError:
                inv.out(f"Bad value: {args[2]}\n")
                return 255
            self.frozen = {**self.state(), key: value if key in (
                "level", "status", "temperature", "counter") else bool(value)}
        elif verb == "reset":
            self.frozen = None
            ph.set_charging(input_suspended=False)
            self.reset_count += 1
        elif verb == "suspend_input":
            if not self.userland.profile.debuggable:
                inv.out(f"Security exception: {SECURITY}\n\njava.lang.SecurityException: "
                        f"{SECURITY}\n\tat com.android.server.BatteryService"
                        ".suspendBatteryInput(BatteryService.java:1070)\n")
                return 255
            ph.set_charging(input_suspended=True)
            self.suspended_count += 1
        elif verb == "get" and len(args) > 1:
            s = self.live()
            inv.out(f"{s.get(self.SET_KEYS.get(args[1], ''), '')}\n".lower())
        else:
            inv.out(f"Unknown command: {verb}\n" if verb else self.dump())
        return 0


def getprop(inv: Invocation) -> int:
    props = inv.userland.props
    args = [a for a in inv.args if not a.startswith("-")]
    if not args:
        inv.out("".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items())))
    else:
        inv.out(props.get(args[0], args[1] if len(args) > 1 else "") + "\n")
    return 0


def setprop(inv: Invocation) -> int:
    if len(inv.args) != 2:
        return inv.error("need 2 arguments")
    key, value = inv.args
    if not key.startswith(SETTABLE_PREFIXES):
        inv.err(f"Failed to set property '{key}' to '{value}'.\nSee dmesg for error reason.\n")
        return 1
    inv.userland.props[key] = value
    return 0


def getenforce(inv: Invocation) -> int:
    inv.out("Enforcing\n")
    return 0


SERVICES = ("SurfaceFlinger", "activity", "battery", "batteryproperties", "cpuinfo", "meminfo",
            "package", "power", "settings", "thermalservice", "window")


def dumpsys(inv: Invocation) -> int:
    args = list(inv.args)
    if args[:1] == ["-l"]:
        inv.out("Currently running services:\n" + "".join(f"  {s}\n" for s in SERVICES))
        return 0
    if not args:
        return inv.error("dumping every service is not simulated; name one")
    service, rest = args[0], args[1:]
    if service == "battery":
        if rest and rest[0] not in ("-a",):
            inv.userland.battery_service.command(inv, rest)
            return 0  # dumpsys ignores what the service's shell command returned
        inv.out(inv.userland.battery_service.dump())
        return 0
    if service == "thermalservice":
        inv.out(thermal_dump(inv.userland))
        return 0
    if service in SERVICES:
        return 0
    inv.err(f"Can't find service: {service}\n")
    return 0


def cmd(inv: Invocation) -> int:
    if inv.args[:1] == ["battery"]:
        return inv.userland.battery_service.command(inv, inv.args[1:])
    service = inv.args[0] if inv.args else ""
    inv.err(f"cmd: Can't find service: {service}\n")
    return 20


def thermal_dump(userland: Userland) -> str:
    """``dumpsys thermalservice``: status, cached and current temperatures, thresholds."""
    ph, th = userland.physics, userland.profile.thermal
    status = ph.thermal_status()
    temps = "".join(
        f"\tTemperature{{mValue={ph.temperature_c(z.type):.6g}, mType={z.android_type}, "
        f"mName={z.type}, mStatus={status if z.type == th.status_zone else 0}}}\n"
        for z in th.zones if z.android_type is not None)
    limits = ", ".join(["NaN"] + [f"{t:.1f}" for t in th.status_thresholds_c])
    listeners = "\tcallbacks: 1\n\tkilled: false\n\tbroadcasts count: -1\n"
    cooling = "".join(f"\tCoolingDevice{{mValue={round((1 - ph.speed_factor(c.name)) * 10)}, "
                      f"mType=2, mName=thermal-cpufreq-{c.cpus[0]}}}\n"
                      for c in userland.profile.clusters)
    return (
        "IsStatusOverride: false\nThermalEventListeners:\n" + listeners
        + "ThermalStatusListeners:\n" + listeners + f"Thermal Status: {status}\n"
        + "Cached temperatures:\n" + temps + "HAL Ready: true\nHAL connection:\n"
        + "\tThermalHAL AIDL 1  connected: yes\nCurrent temperatures from HAL:\n" + temps
        + "Current cooling devices from HAL:\n" + cooling
        + "Temperature static thresholds from HAL:\n"
        + f"\tTemperatureThreshold{{mType=3, mName={th.status_zone}, mHotThrottlingThresholds="
        + f"[{limits}], mColdThrottlingThresholds=[{', '.join(['NaN'] * 7)}]}}\n")


NAMESPACES = ("system", "secure", "global")


def settings(inv: Invocation) -> int:
    args, store = inv.args, inv.userland.settings
    if len(args) < 2 or args[0] not in ("get", "put", "delete", "list"):
        inv.err("usage:  settings [--user <USER_ID> | current] get namespace key\n")
        return 255
    verb, namespace = args[0], args[1]
    if namespace not in NAMESPACES:
        inv.err(f"Invalid namespace '{namespace}'\n")
        return 255
    table = store.setdefault(namespace, {})
    if verb == "list":
        inv.out("".join(f"{k}={v}\n" for k, v in sorted(table.items())))
    elif verb == "get" and len(args) > 2:
        inv.out(f"{table.get(args[2], 'null')}\n")
    elif verb == "put" and len(args) > 3:
        table[args[2]] = args[3]
    elif verb == "delete" and len(args) > 2:
        inv.out(f"Deleted {int(table.pop(args[2], None) is not None)} rows\n")
    else:
        inv.err("usage:  settings [--user <USER_ID> | current] get namespace key\n")
        return 255
    return 0


COMMANDS = {"getprop": getprop, "setprop": setprop, "getenforce": getenforce,
            "dumpsys": dumpsys, "cmd": cmd, "settings": settings}
