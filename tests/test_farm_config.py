"""farm.yaml (issue 12, point 1): the issue's example reads into the right dataclasses, every
mistake names its line and says what to write, and ``npubench farm check`` exits 0 or 1."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from npubench.errors import ConfigError
from npubench.harness.cli import main
from npubench.harness.farm.config import (
    FarmConfig,
    Limits,
    NightlyEntry,
    PhoneEntry,
    load_farm,
    parse_duration,
    parse_farm,
)

ISSUE_EXAMPLE = """\
phones:
  - device: sim:sm8650          # or SERIAL, or tcp:HOST:PORT
    count: 2                    # sim phones only: start this many
    timing: modeled             # sim phones only: see point 7
    labels: {class: sd8gen3}
  - device: tcp:192.168.1.20:5555
    labels: {class: sd8gen3}
limits: {battery_min_percent: 30, max_temperature_c: 40, min_free_mb: 2048}
nightly:
  - suite: quick                # a built-in suite name or a path
    backends: [npu, tflite:gpu]
    classes: [sd8gen3]
deadline: 6h
"""
HOSTILE = ["<img src=x onerror=alert(1)>", "a b;rm -rf x'"]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_farm(textwrap.dedent(text), "farm.yaml")
    return caught.value.message.splitlines()


def test_the_issue_example_reads_into_the_dataclasses():
    farm = parse_farm(ISSUE_EXAMPLE, "farm.yaml")
    limits = Limits(battery_min_percent=30, max_temperature_c=40, min_free_mb=2048)
    assert farm == FarmConfig(
        source="farm.yaml",
        phones=(PhoneEntry("sim:sm8650", {"class": "sd8gen3"}, limits, {}, 2, "modeled", 2),
                PhoneEntry("tcp:192.168.1.20:5555", {"class": "sd8gen3"}, limits, {}, 1,
                           "measured", 6)),
        limits=limits,
        nightly=(NightlyEntry("quick", ("sd8gen3",), ("npu", "tflite:gpu"), (), 10),),
        deadline_s=6 * 3600, retries=2, store=None)
    assert limits.battery_max_percent == 100 and limits.cooldown_timeout_s == 300
    assert farm.classes() == ["sd8gen3"]


def test_count_expands_into_named_slots_with_their_labels_and_limits():
    farm = parse_farm(textwrap.dedent("""\
        phones:
          - device: sim:sm8650
            count: 3
            timing: modeled
            labels: {class: sd8gen3, owner: lab-2}
            limits: {max_temperature_c: 45}
          - device: sim:mt6989?slowdown=*=1.1
          - device: R58M12ABCDE
            labels: {class: s24}
          - device: 192.168.1.7:5555
        limits: {min_free_mb: 512}
        """))
    slots = farm.slots()
    assert [s.name for s in slots] == [
        "sim:sm8650#1", "sim:sm8650#2", "sim:sm8650#3", "sim:mt6989?slowdown=*=1.1#1",
        "usb:R58M12ABCDE", "tcp:192.168.1.7:5555"]
    assert len({s.name for s in slots}) == len(slots)
    assert [s.phone_class for s in slots] == ["sd8gen3"] * 3 + [
        "sim:mt6989?slowdown=*=1.1", "s24", "tcp:192.168.1.7:5555"]
    assert slots[0].labels == {"class": "sd8gen3", "owner": "lab-2"}
    assert slots[0].limits == Limits(max_temperature_c=45, min_free_mb=512)
    assert slots[4].limits == Limits(min_free_mb=512)
    assert [s.simulated for s in slots] == [True] * 4 + [False] * 2
    assert slots[0].open_spec == "sim:sm8650?timing=modeled"
    assert slots[3].open_spec == "sim:mt6989?slowdown=*=1.1"  # measured: as written
    assert [s.name for s in farm.slots_of_class("sd8gen3")] == [
        "sim:sm8650#1", "sim:sm8650#2", "sim:sm8650#3"]
    assert farm.classes() == ["sd8gen3", "sim:mt6989?slowdown=*=1.1", "s24",
                              "tcp:192.168.1.7:5555"]


def test_nightly_defaults_to_every_class_and_the_suites_backends():
    farm = parse_farm("phones: [{device: sim:sm8650, labels: {class: a}},\n"
                      "         {device: sim:mt6989, labels: {class: b}}]\n"
                      "nightly: [{suite: quick}]\n")
    (entry,) = farm.nightly
    assert entry.classes == ("a", "b") and entry.backends == () and entry.workloads == ()
    assert farm.deadline_s is None and farm.retries == 2 and farm.store is None


def test_suite_and_store_paths_are_relative_to_the_farm_file(tmp_path):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "mine.yaml").write_text("workloads: [mobilenet_v2_synth]\n")
    (tmp_path / "farm.yaml").write_text(
        "phones: [{device: sim:sm8650}]\nnightly: [{suite: suites/mine.yaml, "
        "workloads: [okay_nabu]}]\nstore: results.db\nretries: 0\n")
    farm = load_farm(tmp_path / "farm.yaml")
    assert farm.nightly[0].suite == str(tmp_path / "suites" / "mine.yaml")
    assert farm.nightly[0].workloads == ("okay_nabu",)
    assert farm.store == str(tmp_path / "results.db") and farm.retries == 0
    url = parse_farm("phones: [{device: sim:sm8650}]\nstore: postgresql://db/farm\n").store
    assert url == "postgresql://db/farm"


@pytest.mark.parametrize("text, line, words", [
    ("phones:\n  - device: sim:sm8650\n    colour: red\n", 3,
     ["unknown key 'colour'", "valid keys: device"]),
    ("phones:\n  - device: sim:sm8650\n    lables: {class: a}\n", 3,
     ["unknown key 'lables'", "did you mean 'labels'"]),
    ("phones:\n  - device: R58M12\n    count: 2\n", 3, ["count is for sim: phones only"]),
    ("phones:\n  - device: tcp:10.0.0.1:5555\n\n    timing: modeled\n", 4,
     ["timing is for sim: phones only"]),
    ("phones:\n  - device: sim:sm8650\n    count: 0\n", 3, ["count", "at least 1", "'0'"]),
    ("phones:\n  - device: sim:sm8650\n    count: two\n", 3, ["count", "whole number"]),
    ("phones:\n  - device: sim:sm8650\n    timing: modelled\n", 3,
     ["unknown timing 'modelled'", "did you mean 'modeled'"]),
    ("phones:\n- device: tcp:192.168.1.20\n", 2, ["is not HOST:PORT"]),
    ("phones:\n- device: sim:sm9999\n", 2, ["unknown simulated phone profile 'sm9999'",
                                           "sm8650"]),
    ("phones:\n- device: R58M 12\n", 2, ["'R58M 12' is not a device", "tcp:HOST:PORT"]),
    ("phones:\n- device: host\n", 2, ["host is this machine, not a phone"]),
    ("phones:\n- labels: {class: a}\n", 2, ["has no device", "device: SERIAL"]),
    ("phones: []\n", 1, ["phones must be a non-empty list"]),
    ("limits: {min_free_mb: 10}\n", 1, ["the farm has no phones"]),
    ("phones:\n- device: sim:sm8650\ndeadline: 6 hours\n", 3,
     ["'6 hours' is not a duration", "1h30m"]),
    ("phones:\n- device: sim:sm8650\ndeadline: 1:30\n", 3, ["'1:30' is not a duration"]),
    ("phones:\n- device: sim:sm8650\nnightly:\n- suite: quick\n  classes: [sd8gen2]\n", 5,
     ["no phone has class 'sd8gen2'", "the farm's classes: sim:sm8650"]),
    ("phones:\n- device: sim:sm8650\nnightly:\n- suite: quik\n", 4,
     ["'quik' is neither a built-in suite nor a file", "did you mean 'quick'"]),
    ("phones:\n- device: sim:sm8650\nnightly:\n- suite: quick\n  backends: [tflite:gpuu]\n",
     5, ["unknown backend 'tflite:gpuu'", "did you mean 'tflite:gpu'"]),
    ("phones:\n- device: sim:sm8650\nnightly:\n- backends: [npu]\n", 4, ["has no suite"]),
    ("phones:\n- device: sim:sm8650\n- device: sim:sm8650\n", 3,
     ["sim:sm8650 is listed twice (first on line 2)", "raise its count"]),
    ("phones:\n- device: R58M12\n- device: usb:R58M12\n", 3,
     ["usb:R58M12 is listed twice (first on line 2)"]),
    ("phones:\n- device: sim:sm8650\nretries: 1\nretries: 3\n", 4,
     ["key 'retries' is written twice (first on line 3)"]),
    ("phones:\n- device: sim:sm8650\nretries: -1\n", 3, ["retries", "at least 0"]),
    ("phones:\n- device: sim:sm8650\nlimits:\n  battery_min_percent: 130\n", 4,
     ["battery_min_percent", "from 0 to 100"]),
    ("phones:\n- device: sim:sm8650\nlimits:\n  max_temp_c: 40\n", 4,
     ["unknown key 'max_temp_c'", "did you mean 'max_temperature_c'"]),
    ("phones:\n- device: sim:sm8650\n  limits: {battery_min_percent: 80,\n"
     "    battery_max_percent: 50}\n", 3, ["battery_min_percent (80) is above "
                                           "battery_max_percent (50)"]),
    ("phones:\n- device: sim:sm8650\n  labels: {class: [a, b]}\n", 3,
     ["labels.class must be text"]),
    ("phones:\n- device: sim:sm8650\n  labels: {class: yes}\n", 3,
     ["labels.class must be text (quote it: \"yes\")"]),
    ("phones:\n- device: sim:sm8650\n  labels: [class, a]\n", 3,
     ["labels must be a mapping"]),
    ("phones:\n- device: sim:sm8650\ndedline: 6h\n", 3,
     ["unknown key 'dedline'", "did you mean 'deadline'"]),
    ("phones:\n  - device: sim:sm8650\n    labels: {class: a\n", 4, ["not valid YAML"]),
    ("phones:\n  - device: sim:sm8650\n   count: 2\n", 3, ["not valid YAML"]),
    ("", 1, ["the file is empty"]),
    ("- phones\n", 1, ["the farm file must be a mapping"]),
])
def test_each_mistake_names_its_line_and_what_to_write(text, line, words):
    found = problems(text)
    assert any(p.startswith(f"farm.yaml:{line}: ") and all(w in p for w in words)
               for p in found), found


def test_all_the_mistakes_of_a_file_come_together_in_line_order():
    found = problems("""\
        phones:
          - device: sim:sm8651
            count: 0
          - device: tcp:nowhere
        deadline: soon
        """)
    assert [p.split(":")[1] for p in found] == ["2", "3", "4", "5"]
    assert "did you mean 'sm8650'" in found[0]


def test_a_phone_with_a_bad_device_still_gives_its_class_to_the_nightly_check():
    found = problems("phones:\n- device: sim:sm8651\n  labels: {class: a}\n"
                     "nightly: [{suite: quick, classes: [a]}]\n")
    assert len(found) == 1 and found[0].startswith("farm.yaml:2: ")


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "farm.yaml"
    path.write_bytes(b"phones:\n  - device: sim:sm8650\n    labels: {owner: caf\xe9}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: not UTF-8 text .*save the file as"):
        load_farm(path)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="no such farm file"):
        load_farm(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, seconds", [
    ("6h", 21600), ("90m", 5400), ("45s", 45), ("1h30m", 5400), ("1h0m5s", 3605),
    (" 2h ", 7200)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "6", "0h", "1.5h", "30m1h", "6 h", "-1h", "6hours"])
def test_bad_durations_are_config_errors(text):
    with pytest.raises(ConfigError, match="6h, 90m"):
        parse_duration(text)


def test_hostile_strings_in_labels_are_kept_as_data(tmp_path, capsys):
    path = tmp_path / "farm.yaml"
    path.write_text("phones:\n- device: sim:sm8650\n  labels:\n"
                    f"    class: {json.dumps(HOSTILE[0])}\n    owner: {json.dumps(HOSTILE[1])}\n"
                    "    ctl: \"a\\x1b[2Jb\"\n"
                    f"nightly: [{{suite: quick, classes: [{json.dumps(HOSTILE[0])}]}}]\n")
    farm = load_farm(path)
    assert farm.slots()[0].labels == {"class": HOSTILE[0], "owner": HOSTILE[1],
                                      "ctl": "a\x1b[2Jb"}
    assert farm.nightly[0].classes == (HOSTILE[0],)
    assert main(["farm", "check", "--json", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["slots"][0]["labels"]["owner"] == HOSTILE[1]
    assert main(["farm", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert HOSTILE[0] in out and HOSTILE[1] in out
    assert "\x1b" not in out and "a\\x1b[2Jb" in out  # no terminal control reaches the screen


def test_farm_check_prints_phones_classes_limits_and_plan(tmp_path, capsys):
    path = tmp_path / "farm.yaml"
    path.write_text(ISSUE_EXAMPLE)
    assert main(["farm", "check", str(path)]) == 0
    out = capsys.readouterr().out
    for words in ("3 phones in 1 class", "sim:sm8650#1", "sim:sm8650#2",
                  "tcp:192.168.1.20:5555", "timing modeled", "battery 30-100 %",
                  "at least 2048 MB free", "deadline 6h", "2 infrastructure retries",
                  "suite quick: backends npu, tflite:gpu", "classes sd8gen3"):
        assert words in out, words


def npubench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "npubench", *args], capture_output=True,
                          text=True, timeout=120)


def test_farm_check_exit_codes_from_the_command_line(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(ISSUE_EXAMPLE)
    bad.write_text(ISSUE_EXAMPLE.replace("count: 2", "count: -2").replace("6h", "6 hours"))
    result = npubench("farm", "check", str(good))
    assert result.returncode == 0, result.stderr
    assert "valid: 3 phones" in result.stdout
    result = npubench("farm", "check", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines()[:2] == [
        f"{bad}:3: phones[1].count must be a whole number of at least 1, not '-2'",
        f"{bad}:13: deadline: '6 hours' is not a duration; write hours, minutes and seconds "
        "such as 6h, 90m, 45s or 1h30m"]
    assert "is not valid (2 problems)" in result.stderr
    assert npubench("farm").returncode == 1  # no action: a usage error
    assert npubench("farm", "check", str(tmp_path / "missing.yaml")).returncode == 1


def test_the_readme_documents_every_key_and_its_example_is_valid():
    from pathlib import Path

    from npubench.harness.farm.config import LIMIT_RANGES, PHONE_KEYS, TOP_KEYS
    from npubench.harness.farm.nightly import NIGHTLY_KEYS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Device farm (farm.yaml)", 1)[1].split("\n## ", 1)[0]
    keys = [*TOP_KEYS, *(f"phones[].{k}" for k in PHONE_KEYS),
            *(f"limits.{k}" for k in LIMIT_RANGES), *(f"nightly[].{k}" for k in NIGHTLY_KEYS)]
    for key in keys:
        assert f"| `{key}` |" in section, key
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert parse_farm(example).slots()[0].name == "sim:sm8650#1"
