"""The harness's Android device layer against the simulated phone, over the real ADB protocol
(adb-shell as the client). Both SoC profiles."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from npubench.devices.android import FILES_DIR, WORK_DIR, AndroidDevice, q, size_text
from npubench.devices.sim.faults import Faults
from npubench.devices.transport import AdbShellTransport
from npubench.errors import DeviceError, DeviceLost


@pytest.mark.parametrize("profile, part, name, npu, manufacturer, model", [
    ("sm8650", "SM8650", "Snapdragon 8 Gen 3", "Hexagon HTP v75", "samsung", "SM-S928B"),
    ("mt6989", "MT6989", "Dimensity 9300", "MediaTek APU 790", "vivo", "V2324A"),
])
def test_device_info_and_soc(android, profile, part, name, npu, manufacturer, model):
    device = android(profile)
    info = device.info()
    assert info.kind == "android" and info.simulated is True
    assert (info.soc.part, info.soc.name, info.npu) == (part, name, npu)
    assert (info.manufacturer, info.model) == (manufacturer, model)
    assert info.os == "Android 14 (SDK 34)"
    assert info.abi == "arm64-v8a"
    assert info.cpu_cores == 8
    assert info.ram_bytes > 8 * 2**30
    assert info.build_fingerprint.count("/") >= 4
    backends = device.backends()
    assert ("tflite:qnn-htp" if part.startswith("SM") else "tflite:neuron") in backends


def test_one_shell_call_for_identity(android):
    device = android()
    before = device.phone.stats.messages_received if hasattr(device.phone.stats,
                                                             "messages_received") else None
    device.info()
    device.info()
    if before is not None:  # identity is read once, in one batched call
        assert device.phone.stats.messages_received - before < 12


def test_exit_codes_and_stderr_apart(android):
    device = android()
    result = device.run("echo out; echo err >&2; exit 3", check=False)
    assert result.exit_code == 3 and result.stdout == b"out\nerr\n"
    split = device.run("echo out; echo err >&2; exit 4", check=False, split_stderr=True)
    assert (split.stdout, split.stderr, split.exit_code) == (b"out\n", b"err\n", 4)
    with pytest.raises(DeviceError, match="exited with 1"):
        device.run("false")
    assert device.run("true").exit_code == 0


def test_batched_reads(android):
    device = android("mt6989")
    files = device.read_files([
        "/sys/class/power_supply/battery/current_now",
        "/sys/class/power_supply/battery/voltage_now",
        "/no/such/file",
        "/proc/meminfo",
    ])
    assert int(files["/sys/class/power_supply/battery/current_now"].strip()) != 0
    assert int(files["/sys/class/power_supply/battery/voltage_now"].strip()) > 3_000_000
    assert files["/no/such/file"] is None
    assert files["/proc/meminfo"].startswith(b"MemTotal:")


def test_push_pull_20_mb_identical(android, tmp_path):
    device = android()
    data = os.urandom(20 * 2**20)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    seen = []
    device.push(local, f"{WORK_DIR}/big.bin", progress=lambda done, total: seen.append(done))
    assert seen and seen[-1] == len(data)
    back = tmp_path / "back.bin"
    device.pull(f"{WORK_DIR}/big.bin", back)
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()
    remote_sum = device.run(f"sha256sum {WORK_DIR}/big.bin").text.split()[0]
    assert remote_sum == hashlib.sha256(data).hexdigest()


def test_push_by_content_sends_nothing_the_second_time(android, tmp_path):
    device = android()
    local = tmp_path / "model.tflite"
    local.write_bytes(os.urandom(3 * 2**20))
    first = device.push_by_content(local)
    assert first.sent_bytes == local.stat().st_size
    assert first.remote.startswith(FILES_DIR)
    received = device.phone.stats.bytes_received
    second = device.push_by_content(local)
    assert second == type(second)(first.remote, 0)
    assert device.phone.stats.bytes_received - received < 4096  # a stat, no data
    copy = tmp_path / "elsewhere.tflite"
    copy.write_bytes(local.read_bytes())
    assert device.push_by_content(copy, name="model.tflite").sent_bytes == 0


def test_a_hostile_file_name_is_one_name(android, tmp_path):
    device = android()
    name = "a b;rm -rf x'.tflite"
    local = tmp_path / name
    local.write_bytes(os.urandom(100_000))
    device.run(f"mkdir -p {WORK_DIR} && cd {WORK_DIR} && echo canary > x && mkdir -p keep "
               "&& echo keep > keep/file")
    before = device.run(f"cd {WORK_DIR} && ls -a . keep").text.splitlines()
    result = device.push_by_content(local)
    assert result.remote.endswith(name)
    assert device.run(f"cd {WORK_DIR} && echo {q(name)}").text == name + "\n"
    assert device.run(f"sha256sum {q(result.remote)}").text.split()[0] == \
        hashlib.sha256(local.read_bytes()).hexdigest()
    after = device.run(f"cd {WORK_DIR} && ls -a . keep").text.splitlines()
    assert [n for n in after if n != "files"] == before  # nothing else touched
    assert device.run(f"cat {WORK_DIR}/x").text == "canary\n"
    folder = result.remote.rsplit("/", 1)[0]
    assert device.run(f"ls {q(folder)}").text.splitlines() == [name]


def test_free_space_is_checked_before_a_push(android, tmp_path):
    device = android()
    local = tmp_path / "m.bin"
    local.write_bytes(b"x" * 1000)
    device.phone.userland.fs.full = True
    with pytest.raises(DeviceError, match="not enough space on the phone") as caught:
        device.push(local, f"{WORK_DIR}/m.bin")
    # the file's own size, what the push needs with the margin, and what the phone has
    assert "m.bin (1000 bytes): 16.0 MiB needed with 16.0 MiB kept free" in str(caught.value)
    free = device.free_bytes()
    assert f"{size_text(free)} free in {WORK_DIR}" in str(caught.value)


def test_sizes_read_as_a_person_reads_them():
    assert [size_text(n) for n in (812, 48 * 1024, int(3.2 * 2**20), int(4.1 * 2**30))] == [
        "812 bytes", "48.0 KiB", "3.2 MiB", "4.10 GiB"]


def test_a_command_that_hangs_times_out_and_the_device_recovers(android):
    device = android()
    with pytest.raises(DeviceError, match="'sleep 30' timed out after 0.5 s"):
        device.run("sleep 30", timeout_s=0.5)
    assert device.run("echo back").text == "back\n"


def test_connection_dropped_mid_push_is_device_lost_naming_the_device(android, tmp_path):
    device = android()
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(16 * 2**20))
    device.run(f"mkdir -p {WORK_DIR}")
    device.phone.faults.drop_after_bytes = device.phone.stats.bytes_received + 4 * 2**20
    with pytest.raises(DeviceLost) as info:
        device.push(local, f"{WORK_DIR}/big.bin")
    assert device.spec in str(info.value)
    assert info.value.device == device.spec
    device.phone.faults.drop_after_bytes = None
    listing = device.run(f"ls -a {WORK_DIR}").text.split()
    assert "big.bin" not in listing  # no half file under the real name


def test_unauthorized_phone_says_to_accept_the_prompt(sim_phone, adb_home):
    phone = sim_phone(auth="verify", faults=Faults(refuse_auth=True))
    host, port = phone.address
    device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}")
    with pytest.raises(DeviceError) as info:
        device.connect(timeout_s=1.0)
    assert "Allow USB debugging?" in str(info.value)
    assert f"tcp:{host}:{port}" in str(info.value)


def test_adb_key_is_created_private_and_reused(sim_phone, adb_home):
    phone = sim_phone(auth="verify")
    host, port = phone.address
    for _ in range(2):
        device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}")
        device.connect(timeout_s=5)
        assert device.run("echo ok").text == "ok\n"
        device.close()
    key = adb_home / "adbkey"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert phone.stats.signatures_verified >= 1  # the second connect signed with the same key


def test_unreachable_address_is_device_lost(adb_home):
    device = AndroidDevice(AdbShellTransport("tcp", "127.0.0.1", 9), "tcp:127.0.0.1:9")
    with pytest.raises(DeviceLost, match="tcp:127.0.0.1:9"):
        device.connect(timeout_s=2)


def test_clean_removes_what_npubench_left(android, tmp_path):
    device = android()
    local = tmp_path / "m.bin"
    local.write_bytes(b"model")
    device.push_by_content(local)
    device.run("echo mine > /data/local/tmp/users-own-file")
    device.clean()
    assert device.run(f"test -e {WORK_DIR}", check=False).exit_code == 1
    assert device.run("cat /data/local/tmp/users-own-file").text == "mine\n"
