"""What makes two records comparable (their **cell**) and what they ran in (their
**environment**). Pure: records and run.json dicts in, plain values out.

A cell is what a comparison or a history line follows across runs:

* the device: model and SoC (and the unit's serial/id when "same phone" is asked),
* the workload: name and the sha256 of its file (a changed model is a different cell),
* the backend: its spec (``RUNTIME:ACCELERATOR?options``) and the options that change the
  number (threads, LLM prompt and generation lengths, fixed input shapes).

The environment is everything else that may move a number without being the thing under test:
build fingerprint, tool and runtime versions, library versions, host CPU and kernel, simulated
or not. A change of environment between two runs is shown beside a comparison as a possible
cause, never hidden and never a reason to refuse the comparison.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class CellKey:
    device_model: str
    soc: str
    workload: str
    workload_sha256: str
    backend: str
    options: str
    """JSON (sorted keys) of the options that change the number; ``"{}"`` when none."""
    unit: str = ""
    """The phone's id when the comparison is per unit (``same_phone``), else empty."""

    def as_text(self) -> str:
        """One line for people: ``workload · backend · device (SoC)``."""
        device = self.device_model + (f" ({self.soc})" if self.soc else "")
        options = "" if self.options in ("", "{}") else f" {self.options}"
        unit = f" [{self.unit}]" if self.unit else ""
        return f"{self.workload} · {self.backend}{options} · {device}{unit}"

    def as_id(self) -> str:
        """A stable string id (for a database column, a file name's source, a JSON key)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_id(cls, text: str) -> CellKey:
        return cls(**json.loads(text))


def dig(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def number_options(record: dict[str, Any]) -> dict[str, Any]:
    """The options of a record that change its numbers (beyond workload and backend)."""
    options: dict[str, Any] = {}
    backend_options = dig(record, "backend", "options")
    if isinstance(backend_options, dict) and backend_options:
        options.update({str(k): v for k, v in backend_options.items()})
    else:  # the spec's query, e.g. ort:cpu?threads=2
        query = _text(dig(record, "backend", "spec")).partition("?")[2]
        for part in filter(None, query.split("&")):
            key, _, value = part.partition("=")
            options[key] = value
    threads = dig(record, "settings", "threads")
    if threads is not None:
        options.setdefault("threads", threads)
    llm = dig(record, "llm")
    if isinstance(llm, dict):
        for key in ("prompt_tokens", "gen_tokens"):
            if llm.get(key) is not None:
                options[key] = llm[key]
    shapes = dig(record, "workload", "input_shapes")
    if shapes:
        options["input_shapes"] = shapes
    return options


def cell_key(record: dict[str, Any], *, same_phone: bool = False) -> CellKey:
    """The cell of one record. ``same_phone``: one cell per unit (device id / serial)."""
    device = record.get("device") if isinstance(record.get("device"), dict) else {}
    soc = dig(device, "soc", "part") or dig(device, "soc", "name") or device.get("cpu")
    backend = dig(record, "backend", "spec") or ":".join(
        filter(None, [dig(record, "backend", "runtime"), dig(record, "backend", "accelerator")]))
    return CellKey(
        device_model=_text(device.get("model") or device.get("id")),
        soc=_text(soc),
        workload=_text(dig(record, "workload", "name")),
        workload_sha256=_text(dig(record, "workload", "sha256")),
        backend=_text(backend).partition("?")[0],
        options=json.dumps(number_options(record), sort_keys=True, default=str),
        unit=_text(device.get("serial") or device.get("id")) if same_phone else "",
    )


def environment(record: dict[str, Any], run_info: dict[str, Any] | None = None) -> dict[str, str]:
    """What the record ran in, as ``{name: value}`` (values as text; unknown ones left out)."""
    run_info = run_info or {}
    device = record.get("device") if isinstance(record.get("device"), dict) else {}
    host = run_info.get("host") if isinstance(run_info.get("host"), dict) else {}
    env: dict[str, Any] = {
        "simulated": "yes" if device.get("simulated") else "no",
        "simulated_timing": device.get("simulated_timing"),
        "device.build_fingerprint": device.get("build_fingerprint"),
        "device.os": device.get("os"),
        "tool": " ".join(filter(None, [_text(dig(record, "tool", "name")),
                                       _text(dig(record, "tool", "version"))])) or None,
        "runtime": " ".join(filter(None, [_text(dig(record, "backend", "library")),
                                          _text(dig(record, "backend", "library_version"))]))
        or None,
        "harness_version": record.get("harness_version") or run_info.get("harness_version"),
        "host.cpu": host.get("cpu") or host.get("model"),
        "host.kernel": host.get("os"),
    }
    versions = run_info.get("versions")
    if isinstance(versions, dict):
        env.update({f"library.{name}": version for name, version in versions.items()})
    return {key: _text(value) for key, value in env.items() if value not in (None, "")}


def environment_changes(base: dict[str, str], new: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(name, base value, new value)`` for every environment entry that differs (a value
    missing on one side is shown as an empty string)."""
    return [(key, base.get(key, ""), new.get(key, ""))
            for key in sorted(set(base) | set(new)) if base.get(key, "") != new.get(key, "")]
