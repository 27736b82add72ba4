"""The simulated phone's adbd against Google's own ``adb`` client (29.0.6, Debian package
``adb``), through a PRIVATE adb server: its own port, its own HOME (so its own key), no
emulator scan, and always killed at the end."""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sim_userland_standin import StandInUserland

from npubench.devices.sim.adbd import SimAdbServer

ADB = shutil.which("adb") or "/usr/bin/adb"
pytestmark = pytest.mark.skipif(not os.path.exists(ADB),
                                reason="Google's adb is not installed (Debian package 'adb')")
TMP = "/data/local/tmp"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateAdb:
    """An adb client bound to its own adb server (port, HOME and key of its own)."""

    def __init__(self, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("ANDROID_", "ADB_"))}
        self.env.update(HOME=str(home), TMPDIR=str(home), ADB_EMU="0",
                        ANDROID_ADB_SERVER_PORT=str(_free_port()))

    def __call__(self, *args: str, input: bytes | None = None,
                 timeout_s: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run([ADB, *args], env=self.env, input=input, capture_output=True,
                              timeout=timeout_s)

    def text(self, *args: str) -> str:
        result = self(*args)
        return (result.stdout + result.stderr).decode()

    def kill_server(self) -> None:
        self("kill-server", timeout_s=10)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with SimAdbServer(StandInUserland(tmp_path_factory.mktemp("phone"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def adb(sim: SimAdbServer, tmp_path_factory):
    client = PrivateAdb(tmp_path_factory.mktemp("adbhome"))
    try:
        assert client("start-server").returncode == 0
        assert client.text("connect", sim.serial).strip() == f"connected to {sim.serial}"
        yield client
    finally:
        client.kill_server()


def test_devices_lists_the_banner_model(adb: PrivateAdb, sim: SimAdbServer):
    line = next(x for x in adb.text("devices", "-l").splitlines() if x.startswith(sim.serial))
    assert "device product:standin model:Stand_In device:sid" in line
    assert adb.text("-s", sim.serial, "get-state").strip() == "device"


def test_shell_v2_exit_code_and_separate_streams(adb: PrivateAdb, sim: SimAdbServer):
    result = adb("-s", sim.serial, "shell", "echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    assert adb("-s", sim.serial, "shell", "true").returncode == 0


def test_shell_stdin_reaches_the_command(adb: PrivateAdb, sim: SimAdbServer):
    result = adb("-s", sim.serial, "shell", "cat", input=b"hello\nworld\n")
    assert (result.returncode, result.stdout) == (0, b"hello\nworld\n")


def test_shell_without_command_runs_stdin_as_a_script(adb: PrivateAdb, sim: SimAdbServer):
    result = adb("-s", sim.serial, "shell", input=b"echo one\necho two >&2\nexit 4\n")
    assert (result.returncode, result.stdout, result.stderr) == (4, b"one\n", b"two\n")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")
def test_interactive_shell_on_a_terminal(adb: PrivateAdb, sim: SimAdbServer):
    master, slave = os.openpty()
    proc = subprocess.Popen([ADB, "-s", sim.serial, "shell"], stdin=slave, stdout=slave,
                            stderr=slave, env=dict(adb.env, TERM="xterm"))
    os.close(slave)
    screen = bytearray()

    def read_until(marker: bytes) -> None:
        deadline = time.monotonic() + 5
        while marker not in screen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    screen.extend(os.read(master, 4096))
                except OSError:  # the child side closed
                    return

    try:
        read_until(b"sid:/ # ")
        os.write(master, b"echo hix\x7f\r")  # a typo fixed with backspace
        read_until(b"hi\r\nsid:/ # ")
        os.write(master, b"exit 5\r")
        assert proc.wait(timeout=5) == 5
        read_until(b"exit 5")
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    assert bytes(screen).startswith(b"sid:/ # echo hix\b \b\r\nhi\r\nsid:/ # exit 5")


def test_exec_out(adb: PrivateAdb, sim: SimAdbServer):
    assert adb("-s", sim.serial, "exec-out", "seq 3").stdout == b"1\n2\n3\n"


def test_push_pull_ls(adb: PrivateAdb, sim: SimAdbServer, tmp_path: Path):
    data = os.urandom(4 << 20)
    (tmp_path / "up.bin").write_bytes(data)
    push = adb("-s", sim.serial, "push", str(tmp_path / "up.bin"), f"{TMP}/dir/up.bin")
    assert push.returncode == 0, push.stdout + push.stderr  # the device made dir/
    (tmp_path / "two.txt").write_bytes(b"2")
    assert adb("-s", sim.serial, "push", str(tmp_path / "two.txt"), f"{TMP}/dir/").returncode == 0
    pull = adb("-s", sim.serial, "pull", f"{TMP}/dir/up.bin", str(tmp_path / "down.bin"))
    assert pull.returncode == 0, pull.stdout + pull.stderr
    assert hashlib.sha256((tmp_path / "down.bin").read_bytes()).digest() == \
        hashlib.sha256(data).digest()
    listing = adb.text("-s", sim.serial, "ls", f"{TMP}/dir").splitlines()
    two, up = (tmp_path / "two.txt").stat(), (tmp_path / "up.bin").stat()
    assert listing[2:] == [  # after "." and ".."; mode, size and mtime as pushed
        f"{two.st_mode:08x} {1:08x} {int(two.st_mtime):08x} two.txt",
        f"{up.st_mode:08x} {len(data):08x} {int(up.st_mtime):08x} up.bin"]


def test_sync_errors_are_reported(adb: PrivateAdb, sim: SimAdbServer, tmp_path: Path):
    (tmp_path / "f.txt").write_bytes(b"x")
    push = adb("-s", sim.serial, "push", str(tmp_path / "f.txt"), "/system/f.txt")
    assert push.returncode == 1
    assert b"remote couldn't create file: Read-only file system" in push.stdout + push.stderr
    pull = adb("-s", sim.serial, "pull", f"{TMP}/missing", str(tmp_path / "m"))
    assert pull.returncode == 1 and b"No such file or directory" in pull.stdout + pull.stderr


def test_unknown_service_is_refused(adb: PrivateAdb, sim: SimAdbServer):
    result = adb("-s", sim.serial, "reverse", "--list")
    assert (result.returncode, result.stderr.strip()) == (1, b"error: closed")
    assert adb.text("-s", sim.serial, "root") == "adbd is already running as root\n"


def test_auth_accepts_adbs_key_then_verifies_its_signature(tmp_path: Path):
    with SimAdbServer(StandInUserland(tmp_path / "phone"), auth="verify") as srv:
        client = PrivateAdb(tmp_path / "home")
        try:
            # the first connect has to send the public key: adb 29 then prints "failed to
            # authenticate" although the device goes online at once (reference §2.4)
            assert "authenticate" in client.text("connect", srv.serial)
            client("-s", srv.serial, "wait-for-device", timeout_s=10)
            assert client.text("-s", srv.serial, "shell", "echo hi") == "hi\n"
            assert (srv.stats.keys_accepted, srv.stats.signatures_verified) == (1, 0)
            adb_key = (client.home / ".android" / "adbkey.pub").read_bytes()
            from npubench.devices.sim import auth as adb_auth
            assert [adb_auth.key_id(k) for k in srv.trusted_keys()] == \
                [adb_auth.key_id(adb_auth.decode_public_key(adb_key))]

            client("disconnect", srv.serial)
            assert client.text("connect", srv.serial).strip() == f"connected to {srv.serial}"
            assert client.text("-s", srv.serial, "shell", "echo again") == "again\n"
            assert (srv.stats.keys_accepted, srv.stats.signatures_verified) == (1, 1)
        finally:
            client.kill_server()


@pytest.mark.parametrize("profile, model", [("sm8650", "SM_S928B"), ("mt6989", "V2324A")])
def test_google_adb_against_the_real_profiles(profile, model, tmp_path: Path):
    """`adb connect`, `devices -l` with the profile's model, shell exit codes, push and pull
    against the simulated phone with its emulated userland."""
    from npubench.devices.sim import start_sim

    phone = start_sim(profile)
    client = PrivateAdb(tmp_path / "adbhome")
    try:
        serial = phone.serial
        assert client("start-server").returncode == 0
        assert client.text("connect", serial).strip() == f"connected to {serial}"
        line = next(x for x in client.text("devices", "-l").splitlines()
                    if x.startswith(serial))
        assert f"model:{model}" in line and " device " in line
        result = client("-s", serial, "shell", "getprop ro.soc.model; echo oops >&2; exit 5")
        assert result.returncode == 5
        assert result.stdout.decode().strip() == profile.upper()
        assert result.stderr.decode().strip() == "oops"
        data = os.urandom(3 * 2**20 + 7)
        (tmp_path / "up.bin").write_bytes(data)
        assert client("-s", serial, "push", str(tmp_path / "up.bin"),
                      f"{TMP}/up.bin").returncode == 0
        remote = client("-s", serial, "shell", f"sha256sum {TMP}/up.bin").stdout.decode()
        assert remote.split()[0] == hashlib.sha256(data).hexdigest()
        assert client("-s", serial, "pull", f"{TMP}/up.bin",
                      str(tmp_path / "down.bin")).returncode == 0
        assert (tmp_path / "down.bin").read_bytes() == data
    finally:
        client.kill_server()
        phone.stop()
