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
