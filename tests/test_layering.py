"""Who may import whom, read from the code with ``ast`` (issue 10):

* nothing under ``harness/`` imports ``npubench.devices.sim``: a simulated phone is reached only
  as a phone (over ADB), through ``npubench.devices`` (``devices/simulator.py`` is its door);
* ``devices/`` (the simulator included) and ``workloads/`` import nothing from the harness;
* ``reports/`` builds from results without the harness;
* nobody imports the old top-level names (``harness``, ``devices``, ...): they are not
  installed, so such an import works only from a checkout.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OLD_TOP_LEVEL = ("harness", "devices", "workloads", "reports")


def module_name(path: Path) -> str:
    """The installed name of a file in the repository (``harness/root`` is ``npubench``)."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[:2] == ["harness", "root"]:
        parts = ["npubench", *parts[2:]]
    elif parts[0] in OLD_TOP_LEVEL:
        parts = ["npubench", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            # ``from npubench.devices import sim`` imports npubench.devices.sim
            out += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return out


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py")
                  if "__pycache__" not in p.parts)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {name}"
            for path in files for line, name in imports(path)
            if any(within(name, f) for f in forbidden)]


def test_the_harness_never_imports_the_simulator():
    assert violations(python_files("harness"), ("npubench.devices.sim",)) == []


def test_devices_and_workloads_never_import_the_harness():
    assert violations(python_files("devices", "workloads"), ("npubench.harness",)) == []


def test_the_simulator_never_imports_the_harness():
    assert violations(python_files("devices/sim"), ("npubench.harness",)) == []


def test_reports_are_built_from_results_without_the_harness():
    assert violations(python_files("reports"), ("npubench.harness",)) == []


def test_the_shared_root_imports_no_room_at_module_level():
    """npubench.errors, .energy and .results sit under every room, so they import none."""
    for name in ("errors.py", "energy.py", "results.py"):
        path = ROOT / "harness" / "root" / name
        assert violations([path], tuple(f"npubench.{r}" for r in OLD_TOP_LEVEL)) == []


def test_nothing_imports_the_old_top_level_names():
    files = python_files(*OLD_TOP_LEVEL, "tests", "benchmarks") + [ROOT / "conftest.py"]
    assert violations(files, OLD_TOP_LEVEL) == []


@pytest.mark.parametrize("source, expected", [
    ("from npubench.devices import sim\n", "npubench.devices.sim"),
    ("import npubench.devices.sim.launch\n", "npubench.devices.sim.launch"),
    ("from ..sim import launch\n", "npubench.harness.sim.launch"),
    ("def f():\n    from npubench.devices.sim.tools import stub\n", "npubench.devices.sim.tools"),
])
def test_the_walker_sees_every_form_of_import(tmp_path, monkeypatch, source, expected):
    """The rules above can fail: each way of writing an import is seen (a relative one is
    resolved as if the file were harness/x/probe.py, i.e. npubench.harness.x)."""
    folder = ROOT / "harness" / "x"
    path = folder / "probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: source)
    assert expected in [name for _, name in imports(path)]
    assert violations([path], (expected,))
