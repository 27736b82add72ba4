"""The SoC catalogue (``soc_catalogue.yaml``): from a phone's props to vendor, marketing name,
NPU and the backends worth trying. Pure lookup; the data is in YAML, not in code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

PROP_ORDER = ("ro.soc.model", "ro.board.platform", "ro.hardware", "ro.product.board")


@dataclass(frozen=True)
class SocEntry:
    part: str
    vendor: str
    name: str
    npu: str
    npu_backend: str
    backends: tuple[str, ...]
    nnapi_accelerators: tuple[str, ...]
    match: tuple[str, ...]


@lru_cache(maxsize=1)
def catalogue() -> tuple[SocEntry, ...]:
    import yaml

    text = (resources.files("npubench.devices") / "soc_catalogue.yaml").read_text()
    entries = []
    for item in yaml.safe_load(text)["socs"]:
        entries.append(SocEntry(
            part=item["part"], vendor=item["vendor"], name=item["name"], npu=item["npu"],
            npu_backend=item["npu_backend"], backends=tuple(item["backends"]),
            nnapi_accelerators=tuple(item.get("nnapi_accelerators", ())),
            match=tuple(m.lower() for m in item["match"]),
        ))
    return tuple(entries)


def lookup(props: dict[str, str]) -> SocEntry | None:
    """The catalogue entry for a phone's props, trying the most specific prop first."""
    for key in PROP_ORDER:
        value = (props.get(key) or "").strip().lower()
        if not value:
            continue
        for entry in catalogue():
            if value in entry.match or value == entry.part.lower():
                return entry
    return None
