"""devices/sim shell: quoting, lists, redirections, pipes, loops, kill, and the toybox/mksh
messages and exit codes the harness will see from a simulated phone."""

import hashlib
import os
import re
import time

import pytest

from npubench.devices.sim.process import EXIT, STDOUT
from npubench.devices.sim.userland import Userland

SH = "/system/bin/sh"
TMP = "/data/local/tmp"
WORK = f"{TMP}/work"  # an empty folder: the phone has its tools in TMP


@pytest.fixture
def phone():
    userland = Userland("sm8650")
    assert userland.run(f"mkdir {WORK}")[2] == 0
    yield userland
    userland.close()


def sh(phone, command, **kwargs):
    out, err, code = phone.run(command, **kwargs)
    return out.decode(), err.decode(), code


def test_quoting_and_escaping(phone):
    out, err, code = sh(phone, "X='v  w'; echo 'a  b' \"c  $X\" d\\ e \"q\\\"q\" '$X' \\$X")
    assert (out, err, code) == ('a  b c  v  w d e q"q $X $X\n', "", 0)
    assert sh(phone, 'X="1 2"; for a in $X; do echo "[$a]"; done; echo "$X"')[0] == \
        "[1]\n[2]\n1 2\n"
    assert sh(phone, "echo ''; echo \"\" | wc -c")[0] == "\n1\n"


def test_a_nasty_file_name_is_one_name(phone):
    nasty = "a b;rm -rf x'.tflite"
    quoted = "'a b;rm -rf x'\"'\"'.tflite'"
    assert sh(phone, f"cd {WORK} && touch {quoted} keep x && ls") == (
        f"{nasty}\nkeep\nx\n", "", 0)
    assert sh(phone, f"cd {WORK} && rm {quoted} && ls") == ("keep\nx\n", "", 0)


def test_lists_and_exit_codes(phone):
    assert sh(phone, "false; echo $?; true; echo $?") == ("1\n0\n", "", 0)
    assert sh(phone, "false && echo no || echo yes; true || echo no; true && echo and") == (
        "yes\nand\n", "", 0)
    assert sh(phone, "true; false")[2] == 1
    assert sh(phone, "exit 3; echo not reached") == ("", "", 3)
    assert sh(phone, "! false; echo $?")[0] == "0\n"
    assert sh(phone, "false || echo $?; (exit 4) && echo no || echo $?; x=$(exit 3); echo $?") \
        == ("1\n4\n3\n", "", 0)
    out, _, _ = sh(phone, "echo $$; echo $$")
    assert out.split("\n")[0] == out.split("\n")[1] and out.split("\n")[0].isdigit()


def test_unknown_command_is_127_with_the_mksh_message(phone):
    assert sh(phone, "frobnicate --now") == (
        "", f"{SH}: frobnicate: inaccessible or not found\n", 127)
    assert sh(phone, "frobnicate; echo $?") == (
        "127\n", f"{SH}: frobnicate: inaccessible or not found\n", 0)


def test_cat_of_several_files_with_one_missing(phone):
    out, err, code = sh(phone, "cat /proc/version /nope /sys/class/power_supply/battery/type")
    assert out.startswith("Linux version 6.1.") and out.endswith("Battery\n")
    assert (err, code) == ("cat: /nope: No such file or directory\n", 1)
    # one stream keeps the order: the error comes between the two files
    merged = sh(phone, "cat /sys/class/power_supply/battery/type /nope "
                       "/sys/class/power_supply/usb/type 2>&1")
    assert merged == ("Battery\ncat: /nope: No such file or directory\nUSB\n", "", 1)


def test_redirections(phone):
    assert sh(phone, f"cd {TMP}; echo a > f; echo b >> f; cat f; cat < f | wc -l") == (
        "a\nb\n2\n", "", 0)
    assert sh(phone, "cat /nope 2>/dev/null; echo $?") == ("1\n", "", 0)
    assert sh(phone, "cat /nope 2>&1") == ("cat: /nope: No such file or directory\n", "", 1)
    assert sh(phone, "echo to-err >&2") == ("", "to-err\n", 0)
    # order matters: 2>&1 before > sends stderr to the old stdout
    assert sh(phone, f"cat /nope 2>&1 > {TMP}/g; cat {TMP}/g | wc -c") == (
        "cat: /nope: No such file or directory\n0\n", "", 0)
    assert sh(phone, f"(echo o; echo e >&2) > {TMP}/both 2>&1; cat {TMP}/both") == (
        "o\ne\n", "", 0)
    assert sh(phone, "cat < /nope") == ("", f"{SH}: can't open /nope: No such file or "
                                            "directory\n", 1)


def test_pipes(phone):
    assert sh(phone, "getprop | grep ro.soc.model") == ("[ro.soc.model]: [SM8650]\n", "", 0)
    assert sh(phone, "cat /proc/cpuinfo | grep -c processor") == ("8\n", "", 0)
    assert sh(phone, "echo hi | wc -c; printf 'b\\na\\n' | sort | head -n 1") == (
        "3\na\n", "", 0)
    assert sh(phone, "echo x | grep -q y")[2] == 1


def test_control_flow_substitution_and_arithmetic(phone):
    assert sh(phone, "i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo $i; done")[0] == "1\n2\n3\n"
    assert sh(phone, "for f in $(seq 2 3); do echo n$f; done")[0] == "n2\nn3\n"
    assert sh(phone, "if [ -d /proc ]; then echo d; else echo f; fi; if false; then :; "
                     "elif test -e /proc/uptime; then echo e; fi")[0] == "d\ne\n"
    assert sh(phone, 'm=$(getprop ro.product.model); echo "${m%-*} ${#m} ${NOPE:-dflt}"')[0] \
        == "SM 8 dflt\n"
    assert sh(phone, "echo $((3 * (4 + 1))) $((7 / 2)) $((-7 % 3))")[0] == "15 3 -1\n"
    assert sh(phone, "cd /sys/class; pwd; cd /nope")[:2] == (
        "/sys/class\n", f"{SH}: cd: /nope: No such file or directory\n")
    assert sh(phone, "A=1 sh -c 'echo $A $0 $1' zero one; export B=2; env | grep ^B=")[0] == \
        "1 zero one\nB=2\n"


def test_syntax_errors_are_reported_like_mksh(phone):
    assert sh(phone, "echo 'open") == ("", f"{SH}: syntax error: no closing quote\n", 1)
    assert sh(phone, "done") == ("", f"{SH}: syntax error: 'done' unexpected\n", 1)


def test_a_sampler_loop_runs_until_killed(phone):
    proc = phone.start("while true; do cat /sys/class/power_supply/battery/current_now; "
                       "sleep 0.05; done")
    lines = b""
    deadline = time.monotonic() + 5
    while lines.count(b"\n") < 3 and time.monotonic() < deadline:
        event = proc.next_event(0.5)
        if event and event[0] == STDOUT:
            lines += event[1]
    assert re.fullmatch(rb"(-?\d+\n){3,}", lines)
    proc.kill()
    event = proc.next_event(1)
    while event is not None and event[0] != EXIT:
        event = proc.next_event(1)
    assert event == (EXIT, 137)


def test_hang_up_kills_a_command_line_unless_it_ignores_sighup(phone):
    """adbd sends SIGHUP and closes stdin when the host's stream goes away."""
    plain = phone.start(f"read -r x; echo after > {TMP}/plain")
    guarded = phone.start(f"trap '' HUP; read -r x; echo \"read $?\" > {TMP}/guarded")
    time.sleep(0.1)
    for proc in (plain, guarded):
        proc.hangup()
    for proc in (plain, guarded):
        event = proc.next_event(5)
        while event is not None and event[0] != EXIT:
            event = proc.next_event(5)
    assert plain.exit_code == 137 and guarded.exit_code == 0
    assert sh(phone, f"cat {TMP}/guarded; ls {TMP}/plain 2>&1")[0] == (
        f"read 1\nls: {TMP}/plain: No such file or directory\n")
    assert sh(phone, "trap '' HUP PIPE; trap -p; trap -") == ("trap -- '' HUP\n"
                                                          "trap -- '' PIPE\n", "", 0)
    assert sh(phone, "trap 'echo x' HUP")[2] == 1


def test_timeout_sleep_and_background_jobs(phone):
    start = time.monotonic()
    assert sh(phone, "timeout 0.2 sleep 5; echo $?") == ("124\n", "", 0)
    assert time.monotonic() - start < 2
    out, err, code = sh(phone, f"(while true; do echo tick; sleep 0.02; done) > {TMP}/log "
                               f"2>&1 & echo $! > {TMP}/pid; echo started")
    assert (out, code) == ("started\n", 0)
    assert sh(phone, f"sleep 0.15; kill $(cat {TMP}/pid); echo $?")[0] == "0\n"
    count = int(sh(phone, f"sleep 0.1; wc -l < {TMP}/log")[0])
    assert count >= 2
    assert int(sh(phone, f"sleep 0.1; wc -l < {TMP}/log")[0]) == count  # stopped
    assert sh(phone, "sleep 0.05 & echo first; wait; echo second")[0] == "first\nsecond\n"


def test_getprop_formats(phone):
    out, err, code = sh(phone, "getprop")
    lines = out.splitlines()
    assert all(re.fullmatch(r"\[[\w.]+\]: \[.*\]", line) for line in lines)
    keys = [line[1:line.index("]")] for line in lines]
    assert keys == sorted(keys) and "ro.serialno" in keys
    assert "[ro.product.model]: [SM-S928B]" in lines
    assert sh(phone, "getprop ro.product.model; getprop no.such.prop; getprop no.such x") == (
        "SM-S928B\n\nx\n", "", 0)
    assert sh(phone, "setprop ro.product.model X; getprop ro.product.model") == (
        "SM-S928B\n", "Failed to set property 'ro.product.model' to 'X'.\n"
        "See dmesg for error reason.\n", 0)
    assert sh(phone, "setprop debug.npubench 1 && getprop debug.npubench")[0] == "1\n"


def test_df_shows_data_in_toybox_format(phone):
    out, err, code = sh(phone, f"df -k {TMP}")
    header, row = out.splitlines()
    assert header == "Filesystem       1K-blocks     Used Available Use% Mounted on"
    fields = row.split()
    assert fields[0] == "/dev/block/dm-52" and fields[5] == "/data" and code == 0
    size, used, avail = map(int, fields[1:4])
    assert size == phone.profile.data_total_bytes // 1024
    assert avail == phone.fs.free_bytes() // 1024 and used == size - avail
    assert fields[4] == f"{-(-used * 100 // size)}%"
    assert sh(phone, "df -k /nope") == ("", "df: '/nope': No such file or directory\n", 1)


def test_sha256sum_matches_hashlib_and_counts_as_load(phone):
    blob = os.urandom(3 << 20) + b"npubench"
    with phone.fs.open_write(f"{TMP}/model.tflite") as fh:
        fh.write(blob)
    before = phone.physics.busy_s()
    out, err, code = sh(phone, f"cd {TMP} && sha256sum model.tflite && md5sum model.tflite")
    assert out == (f"{hashlib.sha256(blob).hexdigest()}  model.tflite\n"
                   f"{hashlib.md5(blob).hexdigest()}  model.tflite\n")
    assert phone.physics.busy_s()[7] > before[7]  # the prime core did the work
    assert sh(phone, "sha256sum /nope") == ("", "sha256sum: /nope: No such file or directory\n",
                                            1)


def test_writes_outside_data_local_tmp_fail(phone):
    assert sh(phone, "echo x > /system/x") == (
        "", f"{SH}: can't create /system/x: Read-only file system\n", 1)
    assert sh(phone, "mkdir /vendor/x; touch /proc/x; rm /proc/uptime") == (
        "", "mkdir: '/vendor/x': Read-only file system\ntouch: '/proc/x': Read-only file "
            "system\nrm: /proc/uptime: Read-only file system\n", 1)
    assert sh(phone, f"echo ok > {TMP}/../x") == (
        "", f"{SH}: can't create {TMP}/../x: Read-only file system\n", 1)


def test_a_full_disk_fails_writes(phone):
    phone.fs.full = True
    assert sh(phone, f"echo x > {TMP}/f") == (
        "", f"{SH}: can't create {TMP}/f: No space left on device\n", 1)
    assert sh(phone, f"cp /proc/version {TMP}/v; mkdir {TMP}/d") == (
        "", "cp: '/proc/version': No space left on device\n"
            f"mkdir: '{TMP}/d': No space left on device\n", 1)
    assert sh(phone, "df -k /data")[0].splitlines()[1].split()[3] == "0"


def test_files_commands(phone):
    assert sh(phone, f"cd {WORK}; mkdir -p a/b; mkdir a; echo hi > a/b/f; ls a/b; "
                     "stat -c '%s %a %n %F' a/b/f a a/b; rm a; rm -r a; ls") == (
        "f\n3 666 a/b/f regular file\n4096 777 a directory\n4096 777 a/b directory\n",
        "mkdir: 'a': File exists\nrm: a: Is a directory\n", 0)
    out = sh(phone, f"cd {WORK}; echo 12345 > f; cp f g; mv g h; chmod 755 h; ls -l")[0]
    assert re.fullmatch(r"total 8\n-rw-rw-rw- 1 shell shell 6 \d{4}-\d\d-\d\d \d\d:\d\d f\n"
                        r"-rwxr-xr-x 1 shell shell 6 \d{4}-\d\d-\d\d \d\d:\d\d h\n", out)
    assert sh(phone, f"cd {WORK}; cat h; head -c 3 h; tail -n 1 h; rm f h; ls; ls -a") == (
        "12345\n123" "12345\n" "" ".\n..\n", "", 0)


def test_executables_on_the_device(phone):
    script = "#!/system/bin/sh\necho script $1\nexit 4\n"
    with phone.fs.open_write(f"{TMP}/run.sh", 0o755) as fh:
        fh.write(script.encode())
    with phone.fs.open_write(f"{TMP}/tool", 0o644) as fh:
        fh.write(b"\x7fELF\x02")
    assert sh(phone, f"{TMP}/run.sh arg; echo $?") == ("script arg\n4\n", "", 0)
    assert sh(phone, f"cd {TMP} && ./tool") == (
        "", f"{SH}: ./tool: can't execute: Permission denied\n", 126)
    assert sh(phone, f"cd {TMP} && chmod +x tool && ./tool") == (
        "", f"{SH}: ./tool: not executable: 64-bit ELF file\n", 126)
    phone.register_tool("tool", lambda inv: inv.out(f"emulated {' '.join(inv.args)}\n") or 7)
    assert sh(phone, f"cd {TMP} && ./tool -x 1") == ("emulated -x 1\n", "", 7)
    assert sh(phone, "/system/bin/getprop ro.hardware")[0] == "qcom\n"
