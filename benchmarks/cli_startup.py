"""`npubench --help` start-up time (target: under 0.1 s, issue 10) and the heavy modules it must not
import (runtimes, pandas, matplotlib, numpy)."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time

HEAVY = ["numpy", "scipy", "pandas", "matplotlib", "onnxruntime", "onnx", "ai_edge_litert",
         "tflite_runtime", "rich"]


def main(repeats: int = 10) -> None:
    exe = shutil.which("npubench")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "npubench", "--help"]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    probe = ("import sys\nfrom npubench.harness.cli import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\n"
             f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    median = statistics.median(times)
    print(json.dumps({"command": " ".join(cmd), "median_s": round(median, 4),
                      "max_s": round(max(times), 4), "target_s": 0.1, "met": median < 0.1,
                      "heavy_modules_imported": out}, indent=1))


if __name__ == "__main__":
    main()
