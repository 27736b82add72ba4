"""ADB figures against the simulated phone (issue 3), all in one script run:

* pushing a 64 MB file through the harness reaches at least 0.5x the throughput of Google's
  `adb push` of the same file to the same simulated phone;
* a shell round trip (with its exit code) has a median under 5 ms;
* pushing the unchanged 64 MB file again (push by content) takes under 0.2 s.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from npubench.devices.android import AndroidDevice
from npubench.devices.hashcache import HashCache
from npubench.devices.sim import start_sim
from npubench.devices.transport import AdbShellTransport

SIZE_BYTES = 64 * 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def adb_push_s(adb: str, serial: str, local: Path, env: dict) -> float:
    subprocess.run([adb, "connect", serial], env=env, check=True, capture_output=True,
                   timeout=30)
    t0 = time.perf_counter()
    subprocess.run([adb, "-s", serial, "push", str(local), "/data/local/tmp/adb-push.bin"],
                   env=env, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - t0


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="npb-bench-"))
    local = tmp / "model.bin"
    local.write_bytes(os.urandom(SIZE_BYTES))
    server = start_sim("sm8650")
    host, port = server.address
    out: dict = {"file_mb": SIZE_BYTES / 2**20}
    env = dict(os.environ, HOME=str(tmp), ANDROID_ADB_SERVER_PORT=str(free_port()), ADB_EMU="0")
    adb = shutil.which("adb")
    try:
        device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}",
                               hash_cache=HashCache(tmp / "hashes.json")).connect()
        rounds = []
        for _ in range(3):
            t0 = time.perf_counter()
            device.push(local, "/data/local/tmp/harness-push.bin")
            harness_s = time.perf_counter() - t0
            adb_s = adb_push_s(adb, f"{host}:{port}", local, env) if adb else None
            rounds.append((harness_s, adb_s))
        harness_s = statistics.median(r[0] for r in rounds)
        out["harness_push_mb_per_s"] = round(SIZE_BYTES / 2**20 / harness_s, 1)
        if adb:
            adb_s = statistics.median(r[1] for r in rounds)
            out["adb_push_mb_per_s"] = round(SIZE_BYTES / 2**20 / adb_s, 1)
            out["ratio"] = round(adb_s / harness_s, 3)
            out["ratio_target"] = 0.5
            out["ratio_met"] = out["ratio"] >= 0.5
        else:
            out["adb_push_mb_per_s"] = "adb not installed"

        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            device.run("true")
            times.append((time.perf_counter() - t0) * 1e3)
        out["shell_round_trip_median_ms"] = round(statistics.median(times), 3)
        out["shell_round_trip_target_ms"] = 5
        out["shell_met"] = out["shell_round_trip_median_ms"] < 5

        device.push_by_content(local)  # first: hashes and sends
        t0 = time.perf_counter()
        again = device.push_by_content(local)
        out["repush_unchanged_s"] = round(time.perf_counter() - t0, 4)
        out["repush_sent_bytes"] = again.sent_bytes
        out["repush_met"] = out["repush_unchanged_s"] < 0.2 and again.sent_bytes == 0
        device.close()
    finally:
        if adb:
            subprocess.run([adb, "kill-server"], env=env, capture_output=True, timeout=30)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
