"""The simulated phone's adbd against the real adb-shell 0.4.4 client (no protocol mocks), plus
the pure pieces (framing, banners, packet reassembly, keys) with literal values."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import time
from pathlib import Path

import pytest
from sim_userland_standin import StandInUserland

from npubench.devices.sim import auth as adb_auth
from npubench.devices.sim import protocol as p
from npubench.devices.sim.adbd import Faults, SimAdbServer

adb_device = pytest.importorskip("adb_shell.adb_device")
from adb_shell import exceptions as adb_exc  # noqa: E402
from adb_shell.auth.keygen import keygen  # noqa: E402
from adb_shell.auth.sign_pythonrsa import PythonRSASigner  # noqa: E402

TMP = "/data/local/tmp"
MB = 1 << 20


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture
def userland(tmp_path: Path) -> StandInUserland:
    return StandInUserland(tmp_path / "phone")


@pytest.fixture
def server(userland: StandInUserland):
    with SimAdbServer(userland) as srv:
        yield srv


def _device(srv: SimAdbServer, **connect_kwargs):
    dev = adb_device.AdbDeviceTcp(srv.host, srv.port, default_transport_timeout_s=5)
    assert dev.connect(transport_timeout_s=5, read_timeout_s=5, **connect_kwargs) is True
    return dev


@pytest.fixture
def device(server: SimAdbServer):
    dev = _device(server)
    yield dev
    dev.close()


@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> PythonRSASigner:
    key_path = tmp_path_factory.mktemp("adbkey") / "adbkey"
    keygen(str(key_path))
    return PythonRSASigner.FromRSAKeyPath(str(key_path))


@pytest.fixture(scope="module")
def random_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "random.bin"
    path.write_bytes(os.urandom(20 * MB))
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wait_for(condition, timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# --- pure protocol pieces --------------------------------------------------------------------

def test_header_matches_the_reference_example():
    # ADB_PROTOCOL.md §1.1: OKAY(1, 0xc)
    expected = bytes.fromhex("4f4b4159 01000000 0c000000 00000000 00000000 b0b4bea6")
    assert p.pack_message(p.A_OKAY, 1, 0xC) == expected


def test_checksum_is_a_byte_sum_for_small_and_large_payloads():
    small, large = b"host::\0", os.urandom(3 * MB + 7)
    assert p.checksum(small) == sum(small)
    assert p.checksum(large) == sum(large) & 0xFFFFFFFF
    msg = p.pack_message(p.A_WRTE, 2, 3, large)
    assert struct.unpack_from("<I", msg, 16)[0] == sum(large) & 0xFFFFFFFF


def test_banner_has_no_nul_and_round_trips():
    banner = p.build_banner({"ro.product.name": "n", "ro.product.model": "M x",
                             "ro.product.device": "d", "ro.other": "ignored"})
    assert banner == (b"device::ro.product.name=n;ro.product.model=M x;ro.product.device=d;"
                      b"features=shell_v2,cmd,stat_v2,ls_v2,fixed_push_mkdir")
    parsed = p.parse_banner(banner)
    assert parsed.system_type == "device" and parsed.props["ro.product.model"] == "M x"
    assert "shell_v2" in parsed.features
    host = p.parse_banner(b"host::features=cmd,shell_v2\0")
    assert host.features == {"cmd", "shell_v2"}


@pytest.mark.parametrize("service, command, v2", [
    ("shell:echo hi", "echo hi", False),
    ("shell,v2,TERM=xterm,raw:echo a:b,c", "echo a:b,c", True),
    ("shell,v2,pty:", "", True),
])
def test_shell_service_parsing(service, command, v2):
    request = p.parse_shell_service(service)
    assert request is not None and (request.command, request.v2) == (command, v2)
    assert p.parse_shell_service("sync:") is None


def test_packet_reader_reassembles_split_and_joined_packets():
    stream = (p.sync_header(p.ID_SEND, 7) + b"/x,0644" + p.sync_data(b"abc")
              + p.sync_header(p.ID_DONE, 1234) + p.sync_header(p.ID_QUIT, 0))
    reader, got = p.sync_reader(), []
    for i in range(0, len(stream), 5):  # pieces that cut through headers and payloads
        got += [(i, n, bytes(v)) for i, n, v in reader.feed(stream[i:i + 5])]
    assert got == [(p.ID_SEND, 7, b"/x,0644"), (p.ID_DATA, 3, b"abc"),
                   (p.ID_DONE, 1234, b""), (p.ID_QUIT, 0, b"")]
    assert p.parse_send_target(b"/a,b/c,33188") == ("/a,b/c", 0o100644)
    assert p.parse_send_target(b"/a,0755") == ("/a", 0o755)


def test_adb_public_key_round_trip(signer: PythonRSASigner):
    key = adb_auth.decode_public_key(signer.GetPublicKey())
    token = adb_auth.new_token()
    assert len(token) == 20
    assert adb_auth.verify_signature(key, token, signer.Sign(token))
    assert not adb_auth.verify_signature(key, adb_auth.new_token(), signer.Sign(token))
    again = adb_auth.decode_public_key(adb_auth.encode_public_key(key, "me@host"))
    assert adb_auth.key_id(again) == adb_auth.key_id(key)
    assert adb_auth.encode_public_key(key) == signer.GetPublicKey().split()[0].encode()
    with pytest.raises(ValueError):
        adb_auth.decode_public_key(b"not a key")


# --- connection and shell --------------------------------------------------------------------

def test_connect_without_auth_and_shell(server: SimAdbServer, device):
    assert device.shell("echo hi") == "hi\n"
    # raw shell: stderr merged, no exit code
    assert device.shell("echo out; echo err >&2; exit 3") == "out\nerr\n"
    assert device.exec_out("echo exec") == "exec\n"
    assert device.shell("nosuchtool") == "sh: nosuchtool: not found\n"
    assert server.stats.connections == 1 and server.connection_count() == 1
    assert server.serial == f"127.0.0.1:{server.port}"
    assert not 5555 <= server.port <= 5585


def test_large_shell_output_is_delivered_in_order(device):
    out = device.shell("seq 200000", decode=False)  # ~1.3 MB: several maxdata WRTEs
    assert out == "".join(f"{i}\n" for i in range(1, 200001)).encode()


def test_streaming_shell_yields_output_as_it_comes(device):
    chunks = list(device.streaming_shell("echo a; sleep 0.2; echo b"))
    assert "".join(chunks) == "a\nb\n"
    assert len(chunks) == 2  # "a" arrived before the sleep ended


def test_device_socket_has_nodelay(server, device):
    # adb-shell sends header and payload in two writes; a device socket with Nagle and delayed
    # ACKs stalls it ~40 ms per message (ADB_PROTOCOL.md 11.1). Speed itself is measured in
    # benchmarks/sim_push_throughput.py, not asserted here.
    device.shell("true")
    (conn,) = list(server._connections)
    assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_closing_a_stream_kills_its_command(server, device, userland):
    gen = device.streaming_shell("echo started; sleep 30")
    assert next(gen) == "started\n"
    device.close()  # the host goes away in the middle of the command
    assert _wait_for(lambda: server.connection_count() == 0)
    assert _wait_for(lambda: userland.processes[-1].killed)
    userland.processes[-1].join(2)
    assert userland.processes[-1].exit_code == 143


def test_root_answers_and_keeps_the_connection(device):
    assert device.root() is None
    assert device.shell("echo still here") == "still here\n"


def test_reboot_drops_the_connection(server, device, userland):
    device.reboot()  # adb-shell only waits for the OKAY
    assert _wait_for(lambda: server.connection_count() == 0)
    assert userland.reboots == [""]
    again = _device(server)
    assert again.shell("echo back") == "back\n"
    again.close()


def test_two_clients_at_once(server):
    first, second = _device(server), _device(server)
    try:
        assert first.shell("echo 1") == "1\n" and second.shell("echo 2") == "2\n"
        assert server.stats.connections == 2
    finally:
        first.close()
        second.close()


# --- sync ------------------------------------------------------------------------------------

def test_push_and_pull_20mb_identical(device, userland, random_file: Path):
    data = random_file.read_bytes()
    device.push(str(random_file), f"{TMP}/sub/r.bin", st_mode=0o100644, mtime=1_600_000_000)
    host_file = userland.fs.host_path(f"{TMP}/sub/r.bin")
    assert _sha256(host_file.read_bytes()) == _sha256(data)
    assert host_file.stat().st_mode & 0o777 == 0o644
    assert device.stat(f"{TMP}/sub/r.bin") == (0o100644, len(data), 1_600_000_000)
    pulled = io.BytesIO()
    device.pull(f"{TMP}/sub/r.bin", pulled)
    assert _sha256(pulled.getvalue()) == _sha256(data)
    assert [f for f in os.listdir(host_file.parent)] == ["r.bin"]  # no temp file left


def test_list_and_stat(device, userland):
    userland.fs.host_path(f"{TMP}/a.txt").write_bytes(b"12345")
    entries = {bytes(f.filename): f for f in device.list(TMP)}
    assert set(entries) == {b".", b"..", b"a.txt"}
    assert entries[b"a.txt"].size == 5 and entries[b"a.txt"].mode & 0o170000 == 0o100000
    assert device.stat(TMP)[0] & 0o170000 == 0o040000
    assert device.list(f"{TMP}/missing") == []
    assert device.stat("/")[0] & 0o170000 == 0o040000


def test_pull_and_stat_of_a_missing_file(device):
    with pytest.raises(adb_exc.AdbCommandFailureException, match="No such file or directory"):
        device.pull(f"{TMP}/missing.bin", io.BytesIO())
    # sync v1 STAT has no error field: a missing path is all zeros, as on a real phone
    assert device.stat(f"{TMP}/missing.bin") == (0, 0, 0)
    assert device.shell("echo alive") == "alive\n"


def test_push_to_a_read_only_path_fails(device, tmp_path):
    src = tmp_path / "small.txt"
    src.write_bytes(b"x" * 1000)
    with pytest.raises(adb_exc.PushFailedError, match="Read-only file system"):
        device.push(str(src), "/system/small.txt")
    assert device.shell("echo alive") == "alive\n"


def test_push_to_a_full_disk_fails_and_leaves_nothing(device, userland, tmp_path):
    src = tmp_path / "small.txt"
    src.write_bytes(b"x" * 200_000)
    userland.fs.full = True
    with pytest.raises(adb_exc.PushFailedError, match="No space left on device"):
        device.push(str(src), f"{TMP}/small.txt")
    assert os.listdir(userland.fs.host_path(TMP)) == []


# --- faults ----------------------------------------------------------------------------------

def test_drop_mid_push_is_a_connection_error_and_keeps_the_old_file(server, device, userland,
                                                                     random_file: Path):
    old = userland.fs.host_path(f"{TMP}/big.bin")
    old.write_bytes(b"the previous version")
    server.faults.drop_after_bytes = 8 * MB
    with pytest.raises(ConnectionResetError):  # an RST, like a cable pulled
        device.push(str(random_file), f"{TMP}/big.bin")
    assert _wait_for(lambda: server.connection_count() == 0)
    # the push went to a temporary name, removed when the connection dropped
    assert os.listdir(old.parent) == ["big.bin"]
    assert old.read_bytes() == b"the previous version"


def test_drop_after_seconds(server):
    server.faults.drop_after_s = 0.2
    dev = _device(server)
    assert dev.shell("echo early") == "early\n"
    time.sleep(0.4)
    with pytest.raises(ConnectionResetError):
        dev.shell("echo late", read_timeout_s=2)
    dev.close()


def test_corrupt_checksums_are_caught_by_adb_shell(server, device):
    server.faults.corrupt_checksums = True
    with pytest.raises(adb_exc.InvalidChecksumError):
        device.shell("echo hi")


def test_slow_link_throttles_what_the_device_sends(server, device, userland):
    userland.fs.host_path(f"{TMP}/one.bin").write_bytes(os.urandom(MB))
    server.faults.slow_link_bytes_per_s = 4 * MB
    start = time.perf_counter()
    device.pull(f"{TMP}/one.bin", io.BytesIO())
    assert time.perf_counter() - start >= 0.2


def test_latency_is_added_to_every_message(server, device):
    server.faults.latency_s = 0.03
    start = time.perf_counter()
    device.shell("true")  # OKAY, then CLSE: two sends
    assert time.perf_counter() - start >= 0.06


def test_refused_service_is_closed(server, device):
    server.faults.refuse_services = ("shell",)
    with pytest.raises(adb_exc.TcpTimeoutException):  # adb-shell never notices CLSE(0, h)
        device.shell("echo hi", transport_timeout_s=0.3, read_timeout_s=0.3)
    server.faults.refuse_services = ()
    assert device.shell("echo usable") == "usable\n"


# --- auth ------------------------------------------------------------------------------------

def test_auth_new_key_then_signature(userland, signer):
    with SimAdbServer(userland, auth="verify") as srv:
        first = _device(srv, rsa_keys=[signer], auth_timeout_s=2)
        assert first.shell("echo in") == "in\n"
        assert (srv.stats.keys_accepted, srv.stats.signatures_verified) == (1, 0)
        first.close()
        second = _device(srv, rsa_keys=[signer], auth_timeout_s=2)
        assert second.shell("echo again") == "again\n"
        assert (srv.stats.keys_accepted, srv.stats.signatures_verified) == (1, 1)
        second.close()


def test_auth_with_a_preloaded_key_and_without_keys(userland, signer):
    with SimAdbServer(userland, auth="verify", trusted_keys=[signer.GetPublicKey()],
                      accept_new_keys=False) as srv:
        dev = _device(srv, rsa_keys=[signer], auth_timeout_s=1)
        assert srv.stats.signatures_verified == 1 and srv.stats.keys_accepted == 0
        dev.close()
        with pytest.raises(adb_exc.DeviceAuthError):
            _device(srv)


def test_refused_auth_times_out(userland, signer):
    with SimAdbServer(userland, auth="verify", faults=Faults(refuse_auth=True)) as srv:
        dev = adb_device.AdbDeviceTcp(srv.host, srv.port, default_transport_timeout_s=5)
        start = time.perf_counter()
        with pytest.raises(adb_exc.TcpTimeoutException):
            dev.connect(rsa_keys=[signer], auth_timeout_s=0.3, transport_timeout_s=5)
        assert time.perf_counter() - start < 3
        dev.close()
        assert srv.stats.signatures_rejected == 1 and srv.stats.keys_refused == 1
        assert srv.trusted_keys() == []


# --- the real userland -----------------------------------------------------------------------

def test_real_userland_over_adb(tmp_path):
    """The server over the emulated userland (``devices.sim.start_sim``)."""
    from npubench.devices.sim import start_sim

    phone = start_sim("sm8650")
    try:
        host, port = phone.address
        dev = adb_device.AdbDeviceTcp(host, port, default_transport_timeout_s=5)
        assert dev.connect(transport_timeout_s=5, read_timeout_s=5)
        props = phone.userland.banner_props()
        assert dev.shell("echo hi") == "hi\n"
        assert dev.shell("getprop ro.product.model").strip() == props["ro.product.model"]
        data = os.urandom(MB + 3)
        (tmp_path / "f.bin").write_bytes(data)
        dev.push(str(tmp_path / "f.bin"), f"{TMP}/f.bin", st_mode=0o100644, mtime=1_700_000_000)
        assert dev.stat(f"{TMP}/f.bin") == (0o100644, len(data), 1_700_000_000)
        pulled = io.BytesIO()
        dev.pull(f"{TMP}/f.bin", pulled)
        assert pulled.getvalue() == data
        assert dev.shell(f"cat {TMP}/f.bin", decode=False) == data
        dev.close()
    finally:
        phone.stop()
