"""``npubench farm run`` as a user with one host runs it: no scheduler given, so an embedded
LocalCluster and one ``farm worker`` subprocess with ``sim:`` phones (``count: 2``, modeled
timing); the next night, slower on one model, exits 2 and says which job regressed."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
from farm_helpers import SUITE, assert_night_complete

FARM = """\
phones:
  - device: {device}
    count: 2
    timing: modeled
    labels: {{class: sd8gen3}}
limits: {{battery_min_percent: 5, max_temperature_c: 60, min_free_mb: 64}}
nightly:
  - suite: suite.yaml
store: results.db
"""


def night(folder, device: str, out: str) -> subprocess.CompletedProcess:
    folder.mkdir(exist_ok=True)
    (folder / "suite.yaml").write_text(SUITE.format(timeout=60))
    (folder / "farm.yaml").write_text(FARM.format(device=device))
    return subprocess.run([sys.executable, "-m", "npubench", "farm", "run", "farm.yaml",
                           "--out", out], cwd=folder, capture_output=True, text=True,
                          timeout=300)


def workers_of(farm_file) -> list:
    return [p for p in psutil.process_iter(["cmdline"])
            if "worker" in (p.info["cmdline"] or []) and str(farm_file) in
            " ".join(p.info["cmdline"] or [])]


def test_an_embedded_night_then_a_slower_one_exits_2_with_the_regression(tmp_path):
    folder = tmp_path / "farm"
    first = night(folder, "sim:sm8650", "night1")
    assert first.returncode == 0, first.stdout + first.stderr
    by_key = assert_night_complete(folder / "night1")
    assert len(by_key) == 4 and all(r["status"] == "ok" for r in by_key.values())
    assert {r["farm"]["phone"] for r in by_key.values()} <= {"sim:sm8650#1", "sim:sm8650#2"}
    assert all(r["device"]["simulated_timing"] == "modeled" for r in by_key.values())
    assert "dashboard" in first.stdout or "no dashboard" in first.stdout
    assert not workers_of(folder / "farm.yaml")  # the embedded worker is gone
    log = (folder / "night1" / "worker.log").read_text()
    assert "sim:sm8650#1 ready" in log and "restored" in log

    second = night(folder, "sim:sm8650?slowdown=okay_nabu=1.6", "night2")
    assert second.returncode == 2, second.stdout + second.stderr
    comparison = json.loads((folder / "night2" / "farm-comparison.json").read_text())
    assert comparison["regressed"]
    summary = (folder / "night2" / "farm-summary.md").read_text().replace("\\", "")
    assert "okay_nabu" in summary and "regress" in summary.lower()
    junit = (folder / "night2" / "farm-junit.xml").read_text()
    assert "<failure" in junit and "okay_nabu" in junit
