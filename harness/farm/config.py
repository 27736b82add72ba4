"""``farm.yaml``: the device farm as data (issue 12) — its phones with their labels and limits,
what runs each night, the deadline — read into dataclasses.

Pure apart from reading the file: no Dask, no device is opened. Every mistake is a
``ConfigError`` whose lines each read ``FILE:LINE: what is wrong; what to write instead``, all
of a file's mistakes together. README.md ("Device farm (farm.yaml)") documents every key.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from yaml.nodes import MappingNode, Node, SequenceNode

from npubench.errors import ConfigError
from npubench.harness.farm import yaml_nodes as yn
from npubench.harness.farm.nightly import NightlyEntry, parse_nightly

TOP_KEYS = ("phones", "limits", "nightly", "deadline", "retries", "store")
PHONE_KEYS = ("device", "count", "timing", "labels", "limits")
TIMINGS = ("measured", "modeled")
CLASS_LABEL = "class"
_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_SPEC_TIMING = re.compile(r"[?&,]timing=([A-Za-z]*)")


@dataclass(frozen=True)
class Limits:
    """What a phone must satisfy before each job (the farm's, or a phone's own)."""

    battery_min_percent: float = 20.0
    battery_max_percent: float = 100.0
    max_temperature_c: float = 40.0
    cooldown_timeout_s: float = 300.0
    min_free_mb: int = 1024


LIMIT_RANGES = {  # key -> (lowest, highest or None, unit)
    "battery_min_percent": (0, 100, "%"), "battery_max_percent": (0, 100, "%"),
    "max_temperature_c": (0, 150, "°C"), "cooldown_timeout_s": (0, None, "seconds"),
    "min_free_mb": (0, None, "MB"),
}


@dataclass(frozen=True)
class PhoneSlot:
    """One concrete phone of the farm: a ``count: N`` sim entry gives N slots."""

    name: str
    """Stable and unique in the farm: ``usb:SERIAL``, ``tcp:HOST:PORT``, ``sim:PROFILE#N``."""
    device: str
    """The device spec to open (``sim:`` specs keep their ``?options``)."""
    phone_class: str
    labels: dict[str, str]
    limits: Limits
    timing: str
    simulated: bool
    line: int

    @property
    def open_spec(self) -> str:
        """The spec that starts this phone: a modeled sim carries ``timing=modeled``."""
        if not self.simulated or self.timing == "measured" or "timing=" in self.device:
            return self.device
        return f"{self.device}{'&' if '?' in self.device else '?'}timing={self.timing}"


@dataclass(frozen=True)
class PhoneEntry:
    """One item of ``phones``, as written (``device`` normalised)."""

    device: str
    labels: dict[str, str]
    limits: Limits
    """The farm's limits with this phone's own overrides applied."""
    own_limits: dict[str, float] = field(default_factory=dict)
    count: int = 1
    timing: str = "measured"
    line: int = 0

    @property
    def simulated(self) -> bool:
        return self.device.startswith("sim:")

    @property
    def phone_class(self) -> str:
        """Its ``class`` label; without one, the device spec is the class."""
        return self.labels.get(CLASS_LABEL, self.device)

    def slots(self) -> list[PhoneSlot]:
        names = ([f"{self.device}#{i}" for i in range(1, self.count + 1)] if self.simulated
                 else [self.device])
        return [PhoneSlot(name, self.device, self.phone_class, dict(self.labels), self.limits,
                          self.timing, self.simulated, self.line) for name in names]


@dataclass(frozen=True)
class FarmConfig:
    source: str
    phones: tuple[PhoneEntry, ...]
    limits: Limits = field(default_factory=Limits)
    nightly: tuple[NightlyEntry, ...] = ()
    deadline_s: int | None = None
    """None: no deadline."""
    retries: int = 2
    """Infrastructure retries per job (on another healthy phone of its class)."""
    store: str | None = None
    """A results store URL or path (paths made absolute); None: npubench's default store."""

    def slots(self) -> list[PhoneSlot]:
        """Every concrete phone, in the file's order."""
        return [slot for phone in self.phones for slot in phone.slots()]

    def classes(self) -> list[str]:
        """The phone classes, in the order they first appear."""
        return list(dict.fromkeys(phone.phone_class for phone in self.phones))

    def slots_of_class(self, phone_class: str) -> list[PhoneSlot]:
        return [slot for slot in self.slots() if slot.phone_class == phone_class]


def load_farm(path: str | Path) -> FarmConfig:
    """Read and validate a farm file; suite paths and a store path in it are relative to it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such farm file",
                          hint="give the path of a farm.yaml (README: Device farm)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the farm file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                          "save the file as UTF-8") from None
    return parse_farm(text, str(path), base_dir=path.resolve().parent)


def parse_farm(text: str, source: str = "farm.yaml", base_dir: str | Path | None = None
               ) -> FarmConfig:
    """Validate a farm file's text. ``base_dir``: where relative paths start (default: the
    current folder)."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    problems = yn.Problems(source)
    root = yn.compose(text.removeprefix("\ufeff"), source)
    if root is None:
        raise ConfigError(f"{source}:1: the file is empty; a farm file needs at least "
                          "'phones:' (README: Device farm)")
    top = yn.mapping(root, problems, "the farm file", TOP_KEYS)
    limits, _ = _limits(top.get("limits"), Limits(), problems, "limits")
    classes: list[str] = []  # those of invalid phones too: no second error about them
    phones = _phones(top.get("phones"), root, limits, problems, classes)
    classes = list(dict.fromkeys(classes))
    nightly = (parse_nightly(top["nightly"], classes, base, problems) if "nightly" in top
               else [])
    deadline_s = retries = store = None
    if "deadline" in top and not yn.is_null(top["deadline"]):
        deadline_s = _duration(top["deadline"], problems, "deadline")
    if "retries" in top:
        retries = yn.integer(top["retries"], problems, "retries", 0)
    if "store" in top and not yn.is_null(top["store"]):
        store = yn.text(top["store"], problems, "store", "results.db or postgresql://HOST/DB")
        if store and "://" not in store:
            store = str((base / Path(store).expanduser()).resolve())
    problems.raise_if_any()
    return FarmConfig(source, tuple(phones), limits, tuple(nightly), deadline_s,
                      2 if retries is None else retries, store)


def parse_duration(value: str) -> int:
    """Seconds in ``6h``, ``90m``, ``45s``, ``1h30m`` (a ConfigError otherwise)."""
    try:
        return yn.duration_s(str(value))
    except ValueError as exc:
        raise ConfigError(f"{exc}", hint="write hours, minutes and seconds such as 6h, 90m, "
                          "45s or 1h30m") from None


def sim_profiles() -> list[str]:
    """The simulated phone profiles shipped with npubench (read as files: the harness does not
    import the simulator)."""
    folder = resources.files("npubench.devices") / "sim" / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _duration(node: Node, problems: yn.Problems, what: str) -> int | None:
    raw = yn.text(node, problems, what, "6h, 90m or 1h30m")
    if raw is None:
        return None
    try:
        return yn.duration_s(raw)
    except ValueError as exc:
        problems.add(node, f"{what}: {exc}; write hours, minutes and seconds such as 6h, 90m, "
                     "45s or 1h30m")
        return None


def _limits(node: Node | None, base: Limits, problems: yn.Problems, what: str
            ) -> tuple[Limits, dict[str, float]]:
    """``base`` with the keys written in ``node``; the window's ends must be in order."""
    if node is None:
        return base, {}
    given: dict[str, float] = {}
    for key, value in yn.mapping(node, problems, what, LIMIT_RANGES).items():
        low, high, unit = LIMIT_RANGES[key]
        got = (yn.integer(value, problems, f"{what}.{key}", low) if key == "min_free_mb"
               else yn.number(value, problems, f"{what}.{key}", low, high, unit))
        if got is not None:
            given[key] = got
    limits = dataclasses.replace(base, **given)
    if limits.battery_min_percent > limits.battery_max_percent:
        problems.add(node, f"{what}: battery_min_percent ({limits.battery_min_percent:g}) is "
                     f"above battery_max_percent ({limits.battery_max_percent:g}); the window "
                     "is min <= level <= max")
    return limits, given


def _phones(node: Node | None, root: Node, limits: Limits, problems: yn.Problems,
            classes: list[str]) -> list[PhoneEntry]:
    example = "phones: [{device: sim:sm8650, labels: {class: sd8gen3}}]"
    if node is None or yn.is_null(node):
        problems.add(node or root, f"the farm has no phones; list them, e.g. {example}")
        return []
    if not isinstance(node, SequenceNode) or not node.value:
        problems.add(node, f"phones must be a non-empty list, e.g. {example}")
        return []
    phones: list[PhoneEntry] = []
    first_line: dict[str, int] = {}
    for i, item in enumerate(node.value, 1):
        phone = _phone(item, f"phones[{i}]", limits, problems, classes)
        if phone is None:
            continue
        if phone.device in first_line:
            problems.add(item, f"phones[{i}]: {phone.device} is listed twice (first on line "
                         f"{first_line[phone.device]}); keep one entry"
                         + (" and raise its count" if phone.simulated else ""))
            continue
        first_line[phone.device] = phone.line
        phones.append(phone)
    return phones


def _phone(node: Node, what: str, farm_limits: Limits, problems: yn.Problems,
           classes: list[str]) -> PhoneEntry | None:
    if not isinstance(node, MappingNode):
        problems.add(node, f"{what} must be a mapping with device:, e.g. "
                     "{device: sim:sm8650, labels: {class: sd8gen3}}")
        return None
    keys = yn.mapping(node, problems, what, PHONE_KEYS)
    if "device" not in keys:
        problems.add(node, f"{what} has no device; write device: SERIAL, usb:SERIAL, "
                     "tcp:HOST:PORT or sim:PROFILE")
        return None
    device = _device(keys["device"], what, problems)
    raw = keys["device"].value if isinstance(keys["device"].value, str) else ""
    simulated = raw.strip().startswith("sim:")
    count, timing = 1, "measured"
    for key in ("count", "timing"):
        if key in keys and raw and not simulated:
            problems.add(keys[key], f"{what}: {key} is for sim: phones only; a real phone is "
                         "one entry with its own device (remove this key)")
    if "count" in keys and simulated:
        count = yn.integer(keys["count"], problems, f"{what}.count", 1) or 1
    if "timing" in keys and simulated:
        got = yn.text(keys["timing"], problems, f"{what}.timing", "modeled")
        if got is not None and got not in TIMINGS:
            problems.add(keys["timing"], f"{what}.timing: unknown timing {got!r}; "
                         f"{yn.did_you_mean(got, TIMINGS)}write measured or modeled")
        elif got is not None:
            timing = got
    in_spec = _SPEC_TIMING.search(raw) if simulated else None
    if in_spec and "timing" in keys and in_spec.group(1) != timing:
        problems.add(keys["timing"], f"{what}: timing {timing} here but timing="
                     f"{in_spec.group(1)} in the device spec; write it once, as timing:")
    elif in_spec and in_spec.group(1) in TIMINGS:
        timing = in_spec.group(1)
    labels = _labels(keys["labels"], what, problems) if "labels" in keys else {}
    limits, own = _limits(keys.get("limits"), farm_limits, problems, f"{what}.limits")
    classes.append(labels.get(CLASS_LABEL, device or raw.strip()))
    if device is None:
        return None
    return PhoneEntry(device, labels, limits, own, count, timing, yn.line_of(node))


def _device(node: Node, what: str, problems: yn.Problems) -> str | None:
    """The spec normalised: ``usb:SERIAL``, ``tcp:HOST:PORT`` or ``sim:PROFILE[?options]``."""
    from npubench.devices.registry import parse_host_port
    from npubench.devices.simulator import parse_sim_spec

    spec = yn.text(node, problems, f"{what}.device", "sim:sm8650 or tcp:192.168.1.20:5555")
    if spec is None:
        return None
    spec = spec.strip()
    try:
        if spec.startswith("sim:"):
            profile, _ = parse_sim_spec(spec[4:])
            if profile not in sim_profiles():
                raise ConfigError(f"unknown simulated phone profile {profile!r}; "
                                  f"{yn.did_you_mean(profile, sim_profiles())}"
                                  f"profiles: {', '.join(sim_profiles())}")
            return spec
        if spec.startswith("tcp:"):
            parse_host_port(spec[4:])
            return f"tcp:{spec[4:]}"
        if spec == "host":
            raise ConfigError("host is this machine, not a phone; a farm lists phones: "
                              "SERIAL, usb:SERIAL, tcp:HOST:PORT or sim:PROFILE")
        serial = spec.removeprefix("usb:")
        if not _SERIAL.fullmatch(serial):
            raise ConfigError(f"{spec!r} is not a device: write SERIAL (as `adb devices` "
                              "prints it), usb:SERIAL, tcp:HOST:PORT or sim:PROFILE")
        if ":" in serial and serial.rsplit(":", 1)[1].isdigit():
            parse_host_port(serial)
            return f"tcp:{serial}"  # what `adb devices` prints for a phone on TCP
        return f"usb:{serial}"
    except ConfigError as exc:
        problems.add(node, f"{what}.device: {exc.one_line}")
        return None


def _labels(node: Node, what: str, problems: yn.Problems) -> dict[str, str]:
    if yn.is_null(node):
        return {}
    if not isinstance(node, MappingNode):
        problems.add(node, f"{what}.labels must be a mapping of names to texts, e.g. "
                     "{class: sd8gen3, owner: lab-2}")
        return {}
    labels: dict[str, str] = {}
    for key_node, value in node.value:
        key = yn.text(key_node, problems, f"{what}.labels: a label name", "class")
        got = yn.text(value, problems, f"{what}.labels.{key}", "sd8gen3")
        if key is None or got is None:
            continue
        if key in labels:
            problems.add(key_node, f"{what}.labels: label {key!r} is written twice; keep one")
        labels[key] = got
    return labels
