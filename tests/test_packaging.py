"""The installed package (issue 10): a wheel built from this checkout holds the four rooms as
``npubench.harness``, ``npubench.devices``, ``npubench.workloads`` and ``npubench.reports``
(with their data files) and nothing as a top-level ``harness``/``devices``/``workloads``/
``reports``; installed into a folder of its own, it imports and runs from there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # from a copy: pip builds in the source folder, and a build/ left there (with files since
    # removed from the checkout) would go into the next wheel
    source = tmp_path_factory.mktemp("source") / "npubench"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tox", "build", "dist", "runs", "*.egg-info", "__pycache__",
        ".pytest_cache", ".ruff_cache"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (path,) = out.glob("npubench-*.whl")
    return path


def test_the_wheel_holds_only_the_npubench_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert not top & {"harness", "devices", "workloads", "reports"}
    assert top - {"npubench"} == {n for n in top if n.endswith((".dist-info", ".data"))}
    for needed in ("npubench/__init__.py", "npubench/__main__.py", "npubench/errors.py",
                   "npubench/energy.py", "npubench/results.py", "npubench/harness/cli.py",
                   "npubench/harness/parsers/benchmark_model.py",
                   "npubench/devices/sim/tools/stub.py", "npubench/devices/soc_catalogue.yaml",
                   "npubench/devices/sim/profiles/sm8650.yaml",
                   "npubench/workloads/builtin.yaml", "npubench/workloads/suites/quick.yaml",
                   "npubench/reports/templates/report.html.j2"):
        assert needed in names, needed
    # the package root's folder is not installed a second time inside the harness
    assert not any(n.startswith("npubench/harness/root/") for n in names)


def test_every_package_of_the_checkout_is_in_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in sorted(ROOT.glob("*/**/__init__.py")):
        rel = init.relative_to(ROOT)
        if rel.parts[0] not in ("harness", "devices", "workloads", "reports"):
            continue
        installed = ("npubench/" + "/".join(rel.parts[2:]) if rel.parts[:2] ==
                     ("harness", "root") else "npubench/" + rel.as_posix())
        assert installed in names, f"{rel} is not packaged (add it to pyproject.toml)"


def test_the_installed_wheel_imports_and_runs_outside_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(target), str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = textwrap.dedent(f"""
        import npubench, npubench.harness, npubench.devices.sim, npubench.workloads.registry
        import npubench.reports.html, npubench.harness.suites as s
        assert npubench.__file__.startswith({str(target)!r}), npubench.__file__
        assert 'quick' in s.builtin_suite_names()
        for name in ('harness', 'devices', 'workloads', 'reports'):
            try:
                __import__(name)
            except ImportError:
                continue
            raise SystemExit(f'{{name}} is importable as a top-level package')
        """)
    # run from an empty folder: the checkout must not be on the path
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    help_text = subprocess.run([sys.executable, "-m", "npubench", "--help"], cwd=tmp_path,
                               env=env, capture_output=True, text=True)
    assert help_text.returncode == 0 and "usage: npubench" in help_text.stdout


def test_the_wheel_holds_the_results_store_migrations_and_runs_them(wheel, tmp_path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("npubench/reports/store/migrations/env.py",
                   "npubench/reports/store/migrations/script.py.mako",
                   "npubench/reports/store/migrations/versions/0001_initial.py",
                   "npubench/reports/store/migrations/versions/0002_environment_filters.py"):
        assert needed in names, needed
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(target), str(wheel)], check=True, timeout=300)
    code = textwrap.dedent(f"""
        import npubench.reports.store.migrate as m
        from npubench.reports.store import open_store
        assert m.__file__.startswith({str(target)!r}), m.__file__
        store = open_store({str(tmp_path / "fresh.sqlite")!r})
        assert store.runs() == []
        """)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(target)},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
