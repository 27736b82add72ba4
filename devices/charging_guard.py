"""Charging is restored even when npubench cannot do it itself.

While charging is suspended (``dumpsys battery suspend_input``) two things on the phone say so:

- a **marker file**, ``WORK_DIR/charging-suspended``, naming the run, host and process that
  suspended it. Whoever restores charging first *claims* it (an atomic ``mv``) and runs
  ``dumpsys battery reset``; whoever finds it gone knows that charging was restored already.
  A later npubench connection that finds a marker left behind (``restore_stale``: a run, ``clean``)
  restores charging.
- a **guardian**: a shell on the phone whose stdin is an ADB stream that npubench keeps open
  (``trap '' HUP; read``). When that stream closes for any reason (npubench restored charging
  and closed it, the process driving the phone was killed, even by SIGKILL, which runs no
  ``finally``; the cable was pulled), adbd hangs the shell up: it ignores SIGHUP, its ``read``
  sees end of input, and it claims the marker and restores charging: the phone restores it
  itself. Real adbd sends SIGHUP and closes the stream's pipes (shell protocol) or its PTY
  (``shell:`` without protocol) — both end the ``read``.
"""

from __future__ import annotations

import os
import socket
import time

from npubench.devices.android import WORK_DIR, q

MARKER = f"{WORK_DIR}/charging-suspended"
RESTORED = "@@npubench-restored"
ARMED = "@@npubench-guard"


def claim_and_reset(claimer: str, report: bool = True) -> str:
    """One shell line: claim the marker and, if this claimer got it, restore charging; with
    ``report``, print ``RESTORED`` and the marker's content when it did, then the battery
    status. (The guardian reports nothing: its stream is gone when it runs.)"""
    taken = q(f"{MARKER}.{claimer}")
    said = f"; echo {RESTORED}; cat {taken}" if report else ""
    line = (f"mv {q(MARKER)} {taken} 2>/dev/null && {{ dumpsys battery reset >/dev/null 2>&1"
            f"{said}; }}; rm -f {taken}")
    if report:
        line += "; echo; cat /sys/class/power_supply/battery/status 2>/dev/null; true"
    return line


def guardian_command() -> str:
    """The guardian's command line (see the module's docstring)."""
    return f"trap '' HUP; echo {ARMED} $$; read -r _; " + claim_and_reset("guard", report=False)


def marker_text(run_id: str | None) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return f"run={run_id or '-'} host={socket.gethostname()} pid={os.getpid()} at={stamp}"


def parse_claim(text: str) -> tuple[bool, str | None, str | None]:
    """(restored by this claim, the marker's content, the battery status after) from the
    output of ``claim_and_reset``."""
    restored, _, rest = text.partition(RESTORED)
    if not _:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return False, None, lines[-1] if lines else None
    lines = [line.strip() for line in rest.splitlines()]
    marker = next((line for line in lines if line), None)
    status = next((line for line in reversed(lines) if line), None)
    return True, marker, status if status != marker else None


class ChargingGuard:
    """The marker and the guardian of one suspension of charging (``arm`` before
    ``suspend_input``, ``restore`` at the end, ``disarm`` when the suspension was refused)."""

    def __init__(self, device, run_id: str | None = None):
        self.device, self.run_id = device, run_id
        self.held = None  # the guardian's stream (transport.HeldShell), when one could be held
        self.guardian_reason: str | None = None  # why there is no guardian

    @property
    def alive(self) -> bool:
        """The guardian still holds its stream (False: the connection it ran on went away, so
        the phone has restored charging by itself)."""
        return self.held is not None and self.held.alive

    def arm(self) -> None:
        """Write the marker, then start the guardian (the marker alone where the transport
        cannot hold a stream). Raises when the marker cannot be written."""
        self.device.run(f"mkdir -p {q(WORK_DIR)} && echo {q(marker_text(self.run_id))} > "
                        f"{q(MARKER)}", timeout_s=10)
        hold = getattr(self.device.transport, "hold_shell", None)
        if hold is None:
            self.guardian_reason = "the transport cannot hold a stream open"
            return
        try:
            self.device._ensure_connected()
            self.held = hold(guardian_command(), 10.0)
            if ARMED.encode() not in self.held.first:
                self.guardian_reason = f"the guardian did not start: {self.held.first[:120]!r}"
                self.held.close()
                self.held = None
        except Exception as exc:  # the marker still stands for a later connection
            self.held = None
            self.guardian_reason = f"the guardian did not start: {exc}"

    def disarm(self) -> None:
        """Charging was not suspended after all: remove the marker, let the guardian go."""
        try:
            self.device.run(f"rm -f {q(MARKER)}", check=False, timeout_s=10)
        finally:
            self.release()

    def restore(self, timeout_s: float = 10.0) -> dict:
        """Claim the marker and restore charging; {"by", "status"}: ``by`` is "npubench" when
        this call restored it, "the phone" when the guardian (or another connection) had."""
        out = self.device.run(claim_and_reset("host"), check=False, timeout_s=timeout_s).text
        self.release()
        restored, _marker, status = parse_claim(out)
        by = "npubench (dumpsys battery reset)" if restored else (
            "the phone: its guardian ran dumpsys battery reset when npubench's connection "
            "to it closed")
        return {"by": by, "battery_status": status}

    def release(self) -> None:
        if self.held is not None:
            self.held.close()
            self.held = None


def restore_stale(device) -> dict | None:
    """Restore charging that an earlier npubench left suspended (its marker is still on the
    phone: the process was killed before it could restore it, and no guardian ran); None when
    there was nothing to restore. Never raises."""
    try:
        out = device.run(claim_and_reset("stale"), check=False, timeout_s=10).text
    except Exception:
        return None
    restored, marker, status = parse_claim(out)
    if not restored:
        return None
    return {"restored": True, "left_by": marker, "battery_status": status}
