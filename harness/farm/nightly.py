"""The ``nightly`` list of a farm file: which suite runs on which backends on the phones of
which classes each night (validated against the suites npubench has and the farm's classes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, Node, SequenceNode

from npubench.errors import ConfigError
from npubench.harness.farm import yaml_nodes as yn

NIGHTLY_KEYS = ("suite", "backends", "classes", "workloads")


@dataclass(frozen=True)
class NightlyEntry:
    """One item of ``nightly``: a suite on some backends on the phones of some classes."""

    suite: str
    """A built-in suite name, or an absolute path (written relative to the farm file)."""
    classes: tuple[str, ...]
    """The classes it runs on (every class of the farm when the file names none)."""
    backends: tuple[str, ...] = ()
    """Empty: the suite's own backends."""
    workloads: tuple[str, ...] = ()
    """Empty: the suite's own workloads; else these instead."""
    line: int = 0



def parse_nightly(node: Node, classes: list[str], base: Path, problems: yn.Problems
             ) -> list[NightlyEntry]:
    if yn.is_null(node):
        return []
    if not isinstance(node, SequenceNode):
        problems.add(node, "nightly must be a list of {suite: NAME, backends: [...], "
                     "classes: [...]}")
        return []
    out = []
    for i, item in enumerate(node.value, 1):
        entry = _nightly_entry(item, f"nightly[{i}]", classes, base, problems)
        if entry is not None:
            out.append(entry)
    return out


def _nightly_entry(node: Node, what: str, classes: list[str], base: Path,
                   problems: yn.Problems) -> NightlyEntry | None:
    from npubench.harness.backends import KNOWN_BACKENDS, parse_backend
    from npubench.harness.suites import builtin_suite_names, load_suite

    keys = yn.mapping(node, problems, what, NIGHTLY_KEYS)
    if "suite" not in keys:
        if isinstance(node, MappingNode) or yn.is_null(node):
            problems.add(node, f"{what} has no suite; write suite: quick (a built-in suite) "
                         "or suite: PATH.yaml")
        return None
    suite = yn.text(keys["suite"], problems, f"{what}.suite", "quick")
    if suite is not None and suite not in builtin_suite_names():
        path = (base / Path(suite).expanduser()).resolve()
        if not path.is_file():
            problems.add(keys["suite"], f"{what}.suite: {suite!r} is neither a built-in suite "
                         f"nor a file (looked for {path}); "
                         f"{yn.did_you_mean(suite, builtin_suite_names())}built-in suites: "
                         f"{', '.join(builtin_suite_names())}")
            suite = None
        else:
            try:
                load_suite(str(path))
                suite = str(path)
            except ConfigError as exc:
                problems.add(keys["suite"], f"{what}.suite: {exc.one_line}")
                suite = None
    backends = []
    if "backends" in keys:
        backends = yn.text_list(keys["backends"], problems, f"{what}.backends", "npu, tflite:gpu")
        for spec in backends or []:
            if spec.strip() in ("npu", "all"):
                continue
            try:
                parse_backend(spec, known=list(KNOWN_BACKENDS))
            except ConfigError as exc:
                problems.add(keys["backends"], f"{what}.backends: {exc.message}; "
                             f"{yn.did_you_mean(spec, KNOWN_BACKENDS)}write npu, all or "
                             "RUNTIME:ACCELERATOR such as tflite:gpu")
    wanted = classes
    if "classes" in keys:
        wanted = yn.text_list(keys["classes"], problems, f"{what}.classes", "sd8gen3") or []
        for name in wanted:
            if name not in classes:
                problems.add(keys["classes"], f"{what}.classes: no phone has class {name!r}; "
                             f"{yn.did_you_mean(name, classes)}the farm's classes: "
                             f"{', '.join(classes) or 'none'} (a phone's labels: {{class: ...}})")
    workloads = []
    if "workloads" in keys:
        workloads = yn.text_list(keys["workloads"], problems, f"{what}.workloads",
                                 "mobilenet_v2_synth") or []
    if suite is None:
        return None
    return NightlyEntry(suite, tuple(dict.fromkeys(wanted)), tuple(backends or ()),
                        tuple(workloads), yn.line_of(node))
