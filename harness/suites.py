"""Suites: which workloads on which backends with which measurement settings, as YAML.

Built-in suites live in ``workloads/suites/NAME.yaml``; a path to a YAML file works too.
Every field is validated and an error names the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from npubench.errors import ConfigError
from npubench.harness.settings import MeasureSettings

SUITE_FIELDS = {"name", "description", "workloads", "backends", "settings", "pipelines"}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    workloads: tuple[str, ...]
    backends: tuple[str, ...] = ("all",)
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    input_shapes: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    """Per workload, input shapes fixed by the suite."""
    llm_tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per LLM workload, ``prompt_tokens`` / ``gen_tokens`` set by the suite."""
    pipelines: tuple = ()
    """Pipeline workloads (``workloads.pipelines.PipelineSpec``): one job each."""

    def job_names(self) -> list[str]:
        """What a run of the whole suite plans: its workloads, then its pipelines."""
        return [*self.workloads, *(p.name for p in self.pipelines)]

    def pipeline(self, name: str):
        """The suite's pipeline called ``name`` (a PipelineSpec), or None."""
        return next((p for p in self.pipelines if p.name == name), None)


def read_config_text(path: Path, what: str) -> str:
    """A YAML config file's text; a file that cannot be read or is not UTF-8 is a ConfigError
    that names the line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: the {what} is not UTF-8 text "
                          f"(byte 0x{data[exc.start]:02x})", hint="save it as UTF-8") from None


def builtin_suite_names() -> list[str]:
    folder = resources.files("npubench.workloads") / "suites"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a suite YAML file by path."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise ConfigError(f"suite file {name_or_path} does not exist")
        text, where = read_config_text(path, "suite file"), str(path)
    elif name_or_path in builtin_suite_names():
        resource = resources.files("npubench.workloads") / "suites" / f"{name_or_path}.yaml"
        text, where = resource.read_text(), f"suite {name_or_path}"
    else:
        raise ConfigError(
            f"unknown suite {name_or_path!r}",
            hint=f"built-in suites: {', '.join(builtin_suite_names())}; or give a YAML path",
        )
    return parse_suite(text, where)


def parse_suite(text: str, where: str = "suite") -> Suite:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a suite is a mapping with fields {sorted(SUITE_FIELDS)}")
    for key in data:
        if key not in SUITE_FIELDS:
            raise ConfigError(
                f"{where}: unknown field {key!r}", hint=f"valid fields: {sorted(SUITE_FIELDS)}"
            )
    name = data.get("name") or Path(where).stem
    pipelines = _pipelines(data.get("pipelines"), where)
    if pipelines and data.get("workloads") is None:
        workloads, shapes, tokens = [], {}, {}
    else:
        workloads, shapes, tokens = _workloads(data.get("workloads"), where)
    backends = data.get("backends", ["all"])
    if isinstance(backends, str):
        backends = [backends]
    if not isinstance(backends, list) or not all(isinstance(b, str) for b in backends):
        raise ConfigError(f"{where}: field 'backends' must be a list of backend specs")
    settings_data = data.get("settings") or {}
    if not isinstance(settings_data, dict):
        raise ConfigError(f"{where}: field 'settings' must be a mapping")
    settings = MeasureSettings.from_mapping(settings_data, where=f"{where}: settings")
    return Suite(
        name=str(name),
        description=str(data.get("description", "")),
        workloads=tuple(workloads),
        backends=tuple(backends),
        settings=settings,
        input_shapes=shapes,
        llm_tokens=tokens,
        pipelines=pipelines,
    )


def _pipelines(value: Any, where: str) -> tuple:
    """The suite's ``pipelines:`` (``workloads.pipelines``), each stage's workload and
    backend checked."""
    from npubench.harness.backends import KNOWN_BACKENDS, parse_backend
    from npubench.workloads.pipelines import parse_pipelines
    from npubench.workloads.registry import resolve

    return parse_pipelines(value, where, lambda name: resolve(name),
                           lambda text: parse_backend(text, known=list(KNOWN_BACKENDS)))


def _workloads(value: Any, where: str) -> tuple[list[str], dict, dict[str, dict[str, int]]]:
    """Names, per-workload input shapes, per-workload LLM token counts."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: field 'workloads' must be a non-empty list")
    names: list[str] = []
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    tokens: dict[str, dict[str, int]] = {}
    for i, item in enumerate(value):
        if isinstance(item, str):
            names.append(item)
            continue
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(
                f"{where}: workloads[{i}] must be a name or a mapping with 'name'"
            )
        extra = set(item) - {"name", "input_shapes", "prompt_tokens", "gen_tokens"}
        if extra:
            raise ConfigError(f"{where}: workloads[{i}]: unknown field {sorted(extra)[0]!r}")
        names.append(str(item["name"]))
        for key in ("prompt_tokens", "gen_tokens"):
            if key in item:
                count = item[key]
                if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                    raise ConfigError(f"{where}: workloads[{i}].{key} must be a positive whole "
                                      f"number, not {count!r}")
                tokens.setdefault(str(item["name"]), {})[key] = count
        raw = item.get("input_shapes") or {}
        try:
            shapes[str(item["name"])] = {k: tuple(int(d) for d in v) for k, v in raw.items()}
        except (TypeError, ValueError, AttributeError):
            raise ConfigError(
                f"{where}: workloads[{i}].input_shapes must map input names to lists of ints"
            ) from None
    return names, shapes, tokens
