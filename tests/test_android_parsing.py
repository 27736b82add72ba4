"""Pure parts of the Android device layer: getprop, batched reads, meminfo, the SoC
catalogue and device specs."""

import pytest

from npubench.devices.android import parse_batch, parse_getprop, parse_meminfo_total, q
from npubench.devices.registry import parse_host_port
from npubench.devices.soc import catalogue, lookup
from npubench.errors import ConfigError


def test_parse_getprop_keeps_odd_values():
    raw = (b"[ro.product.model]: [SM-S928B]\n"
           b"[ro.build.fingerprint]: [samsung/e3qxxx/e3q:14/UP1A.231005.007/"
           b"S928BXXU1AXB1:user/release-keys]\n"
           b"[weird]: [a]: [b]\n"
           b"[empty]: []\n"
           b"garbage line\n")
    props = parse_getprop(raw)
    assert props["ro.product.model"] == "SM-S928B"
    assert props["ro.build.fingerprint"].endswith("release-keys")
    assert props["weird"] == "a]: [b"
    assert props["empty"] == ""
    assert len(props) == 4


def test_parse_batch_splits_files_and_marks_missing_ones():
    m = b"__M__"
    raw = (m + b"B\nline1\nline2" + b"\n" + m + b"E0\n"
           + m + b"B\n" + b"\n" + m + b"E1\n"
           + m + b"B\n12345\n" + b"\n" + m + b"E0\n")
    assert parse_batch(raw, m, 3) == [b"line1\nline2", None, b"12345\n"]
    assert parse_batch(b"", m, 2) == [None, None]


def test_meminfo_total():
    assert parse_meminfo_total(b"MemTotal:       11732012 kB\nMemFree: 1 kB\n") == 11732012 * 1024
    assert parse_meminfo_total(b"nothing") is None


def test_quoting_makes_one_word_of_anything():
    assert q("a b;rm -rf x'.tflite") == "'a b;rm -rf x'\"'\"'.tflite'"
    assert q("/data/local/tmp/plain") == "/data/local/tmp/plain"


@pytest.mark.parametrize("props, part, name", [
    ({"ro.soc.model": "SM8650"}, "SM8650", "Snapdragon 8 Gen 3"),
    ({"ro.board.platform": "pineapple"}, "SM8650", "Snapdragon 8 Gen 3"),
    ({"ro.soc.model": "SM8750"}, "SM8750", "Snapdragon 8 Elite"),
    ({"ro.board.platform": "taro"}, "SM8450", "Snapdragon 8 Gen 1"),
    ({"ro.soc.model": "MT6989"}, "MT6989", "Dimensity 9300"),
    ({"ro.hardware": "mt6991"}, "MT6991", "Dimensity 9400"),
    ({"ro.board.platform": "zuma"}, "ZUMA", "Tensor G3"),
    ({"ro.soc.model": "s5e9945"}, "S5E9945", "Exynos 2400"),
])
def test_soc_lookup(props, part, name):
    entry = lookup(props)
    assert (entry.part, entry.name) == (part, name)
    assert entry.npu and entry.npu_backend in entry.backends


def test_soc_catalogue_covers_the_required_parts():
    parts = {e.part for e in catalogue()}
    assert {"SM8450", "SM8550", "SM8650", "SM8750", "MT6983", "MT6985", "MT6989", "MT6991",
            "GS101", "GS201", "ZUMA", "ZUMAPRO", "S5E9925", "S5E9945"} <= parts
    assert any(p.startswith("SM7") for p in parts)
    assert lookup({"ro.soc.model": "unknown9000"}) is None


def test_host_port():
    assert parse_host_port("192.168.1.20:5555") == ("192.168.1.20", 5555)
    assert parse_host_port("[::1]:6000") == ("::1", 6000)
    for bad in ("nohost", "host:", "host:99999", ":5555"):
        with pytest.raises(ConfigError):
            parse_host_port(bad)
