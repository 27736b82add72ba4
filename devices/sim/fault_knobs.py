"""The simulated phone's faults as text, for ``npubench sim --fault KNOB[=VALUE]`` and a device
spec's ``sim:PROFILE?fault=KNOB[=VALUE],...``: pure parsing (text -> ``FaultPlan``); what a
plan sets on a started phone is ``FaultPlan.apply``.

A knob names a field of ``faults.Faults`` (the ADB link), of ``tools.ToolFaults`` (the phone's
benchmark tools), the storage (``fs.full``) or the physics (``set_temperatures``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from npubench.errors import ConfigError

DELEGATES = ("gpu", "nnapi", "qnn", "neuron", "xnnpack")

KNOBS: dict[str, str] = {
    "drop-after-s=S": "close each ADB connection S seconds after its handshake",
    "drop-after-bytes=N": "close each ADB connection once N bytes came from the host",
    "refuse-auth": "never answer 'Allow USB debugging?' (with --auth: an unauthorized phone)",
    "slow-link=BYTES_PER_S": "throttle what the phone sends to this rate",
    "latency=S": "wait S seconds before every ADB message the phone sends",
    "corrupt-checksums": "send wrong ADB checksums",
    "refuse-service=PREFIX": "answer ADB services starting with PREFIX (shell, sync:) as unknown",
    "storage-full": "the phone's storage is full: writes and pushes fail (ENOSPC)",
    "tool-hang": "the benchmark tools print a little, then hang until killed",
    "tool-crash": "the benchmark tools die with a segmentation fault (exit 139)",
    "refuse-delegate=NAME": f"the tools fail to apply this delegate ({', '.join(DELEGATES)})",
    "hot=C": "every thermal zone at C degrees at start (then it cools towards the ambient)",
}
"""Every knob, as written, with what it does (``npubench sim --help`` lists them)."""

NAMES = tuple(knob.partition("=")[0] for knob in KNOBS)
_VALUED = {knob.partition("=")[0] for knob in KNOBS if "=" in knob}
_LINK = {"drop-after-s": "drop_after_s", "drop-after-bytes": "drop_after_bytes",
         "refuse-auth": "refuse_auth", "slow-link": "slow_link_bytes_per_s",
         "latency": "latency_s", "corrupt-checksums": "corrupt_checksums",
         "refuse-service": "refuse_services"}
"""A link knob -> its ``Faults`` field."""


def knobs_help() -> str:
    """One line per knob, for ``--help`` and error hints."""
    return "; ".join(f"{knob}: {what}" for knob, what in KNOBS.items())


@dataclass(frozen=True)
class FaultPlan:
    """What the knobs set: ``link`` holds ``Faults`` fields, the rest the phone's userland."""

    link: dict = field(default_factory=dict)
    storage_full: bool = False
    tool_hang: bool = False
    tool_crash: bool = False
    refuse_delegates: frozenset[str] = frozenset()
    hot_c: float | None = None

    def __bool__(self) -> bool:
        return self != FaultPlan()

    def faults(self, base=None):
        """The ADB server's ``Faults``: ``base`` (or the defaults) with this plan's fields."""
        from npubench.devices.sim.faults import Faults

        return replace(base or Faults(), **self.link)

    def apply(self, userland) -> None:
        """Set the userland's faults on a started phone (the link's go to its server)."""
        userland.fs.full = userland.fs.full or self.storage_full
        tools = userland.tool_faults
        tools.hang = tools.hang or self.tool_hang
        tools.crash = tools.crash or self.tool_crash
        tools.refuse_delegates = set(tools.refuse_delegates) | set(self.refuse_delegates)
        if self.hot_c is not None:
            userland.physics.set_temperatures(self.hot_c)

    def describe(self) -> str:
        """The knobs in force, as they are written."""
        words = [knob + ("" if self.link[name] is True else f"={_text(self.link[name])}")
                 for knob, name in _LINK.items() if name in self.link]
        words += [name for name, on in (("storage-full", self.storage_full),
                                        ("tool-hang", self.tool_hang),
                                        ("tool-crash", self.tool_crash)) if on]
        words += [f"refuse-delegate={d}" for d in sorted(self.refuse_delegates)]
        if self.hot_c is not None:
            words.append(f"hot={_text(self.hot_c)}")
        return ", ".join(words)


def _text(value) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bad(text: str, why: str) -> ConfigError:
    return ConfigError(f"simulated fault {text!r}: {why}",
                       hint=f"the knobs are {', '.join(KNOBS)} (e.g. --fault storage-full "
                       "--fault hot=85, or --device 'sim:sm8650?fault=storage-full,hot=85')")


def _number(text: str, value: str, low: float, high: float, integer: bool = False):
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        kind = "a whole number" if integer else "a number"
        raise _bad(text, f"the value is {kind} from {low:g} to {high:g}")
    return number


def parse_fault_knobs(texts) -> FaultPlan:
    """``KNOB[=VALUE]`` strings (repeatable ones may repeat) -> FaultPlan; an unknown knob, a
    missing, extra or bad value is a ConfigError naming the knob and listing the valid ones."""
    link: dict = {}
    plan: dict = {"refuse_delegates": set()}
    for raw in texts:
        text = str(raw).strip()
        name, eq, value = text.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name not in NAMES:
            raise _bad(text, "no such knob")
        if name in _VALUED and not value:
            raise _bad(text, f"{name} needs a value ({name}=...)")
        if name not in _VALUED and eq:
            raise _bad(text, f"{name} takes no value")
        if name == "drop-after-s":
            link[_LINK[name]] = _number(text, value, 0.001, 86400)
        elif name == "drop-after-bytes":
            link[_LINK[name]] = _number(text, value, 1, 2**62, integer=True)
        elif name == "slow-link":
            link[_LINK[name]] = _number(text, value, 1, 1e12)
        elif name == "latency":
            link[_LINK[name]] = _number(text, value, 0, 60)
        elif name == "refuse-service":
            link[_LINK[name]] = (*link.get(_LINK[name], ()), value)
        elif name in _LINK:  # refuse-auth, corrupt-checksums
            link[_LINK[name]] = True
        elif name == "refuse-delegate":
            if value.lower() not in DELEGATES:
                raise _bad(text, f"the delegate is one of {', '.join(DELEGATES)}")
            plan["refuse_delegates"].add(value.lower())
        elif name == "hot":
            plan["hot_c"] = _number(text, value, -20, 150)
        else:  # storage-full, tool-hang, tool-crash
            plan[name.replace("-", "_")] = True
    plan["refuse_delegates"] = frozenset(plan["refuse_delegates"])
    return FaultPlan(link=link, **plan)
