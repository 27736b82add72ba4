"""Suite overhead: wall time of `npubench run --suite quick` (models cached) against the time
spent inside inference (first inference + warm-up + measured iterations, summed over jobs).

Target (issue 2): wall time at most 1.5x the inference time. Also checks that a second run
downloads nothing: the timed run has every proxy pointed at a closed local port, so any
download attempt would fail the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from npubench.results import read_records


def run(out: Path, env: dict) -> float:
    exe = shutil.which("npubench")
    cmd = [exe] if exe else [sys.executable, "-m", "npubench"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd + ["run", "--suite", "quick", "--out", str(out)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 4):
        sys.exit(f"npubench run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall


def main() -> None:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run(tmp / "warm", env)  # fills the model cache if needed
        offline = dict(env, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
                       HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
        wall = run(tmp / "timed", offline)
        records = read_records(tmp / "timed")
        ok = [r for r in records if r["status"] == "ok"]
        inference = sum(r["inference_s"] for r in ok)
        fetch_failures = [r["job_id"] for r in records
                          if (r.get("error") or {}).get("kind") == "fetch"]
    print(json.dumps({
        "jobs": len(records), "ok": len(ok), "wall_s": round(wall, 2),
        "inference_s": round(inference, 2), "ratio": round(wall / inference, 3),
        "target_ratio": 1.5, "met": wall / inference <= 1.5,
        "second_run_downloaded_nothing": not fetch_failures,
    }, indent=1))


if __name__ == "__main__":
    main()
