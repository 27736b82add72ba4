"""The device abstraction: DeviceInfo and what every device offers the harness."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SocInfo:
    vendor: str | None = None
    part: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class DeviceInfo:
    """What a device is. Serialised as the ``device`` field of every result record."""

    id: str
    kind: str  # "host" | "android"
    model: str
    manufacturer: str | None = None
    soc: SocInfo = field(default_factory=SocInfo)
    npu: str | None = None
    cpu: str | None = None
    cpu_cores: int | None = None
    ram_bytes: int | None = None
    os: str | None = None
    build_fingerprint: str | None = None
    abi: str | None = None
    accelerators: tuple[str, ...] = ()
    simulated: bool = False
    simulated_timing: str | None = None
    """A simulated phone's timing (``ro.npubench.timing``): ``measured`` (its tools compute on
    the host CPU) or ``modeled`` (they wait modeled times); None on a real device."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["accelerators"] = list(self.accelerators)
        return data


class Device(Protocol):
    """A thing that runs workloads. ``spec`` is the string that addresses it (``host``, ...)."""

    spec: str

    def info(self) -> DeviceInfo: ...

    def backends(self) -> dict[str, str | None]:
        """Every backend spec this kind of device knows, mapped to None when it can run here
        or to the reason it cannot."""
        ...
