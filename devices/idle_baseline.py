"""When a phone's idle power must be measured again. Pure: the baseline and the phone's state
now in, a decision with its reason out.

Energy per inference subtracts the idle power (DESIGN.md), so the baseline must be the idle
power of the phone *as it is when the job runs*. Measuring it takes settle + idle seconds of a
phone doing nothing, so a session measures it once and reuses it while nothing it depends on
has moved. What idle power depends on, and the rule for each:

- **What feeds the phone.** The baseline is only valid under the same suspension of charging
  (``charging_epoch``): if charging came back (the phone restored it when the link dropped)
  and was suspended again, the gauge's readings start over -> measure again.
- **Temperature.** The SoC's leakage grows with its temperature (by some per cent per °C),
  and the cooldown gate lets jobs start anywhere under its threshold. Leakage is a part of a
  phone's idle draw at the battery (display, memory, radios and the PMIC are the rest), so the
  hottest CPU/SoC zone must be within ``max_temp_delta_c`` (5 °C) of its value during the
  baseline: a few per cent of the idle power at most, which is itself a fraction of what a job
  draws. A tighter band re-measures after almost every job (a job heats the CPU zones by
  several °C, the gate lets them start up to its threshold), a wider one lets a cold-phone
  baseline stand for a warm phone.
- **State of charge.** The cell's voltage falls along the discharge curve, and the gauge's
  behaviour with it (AOSP: "start from the same battery charge"): at most
  ``max_level_drop_percent`` (3 points) of battery level since the baseline.
- **Age.** What the OS does in the background (sync, radio, scheduled jobs) drifts over minutes
  and none of the above sees it: a baseline older than ``max_age_s`` (5 minutes, about the
  length of a run of a small suite on one phone) is measured again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaselineRule:
    max_age_s: float = 300.0
    max_temp_delta_c: float = 5.0
    max_level_drop_percent: float = 3.0

    def as_dict(self) -> dict:
        return {"max_age_s": self.max_age_s, "max_temp_delta_c": self.max_temp_delta_c,
                "max_level_drop_percent": self.max_level_drop_percent}


@dataclass(frozen=True)
class PhoneState:
    """What the rule compares; ``uptime_s`` is the phone's clock (the sampler's)."""

    uptime_s: float | None
    hottest_c: float | None
    level_percent: float | None
    charging_epoch: int


@dataclass(frozen=True)
class Baseline:
    """One measured idle baseline."""

    window_s: tuple[float, float]  # device uptime
    idle_mw: float
    state: PhoneState  # the phone when it was taken
    taken_at: str | None = None  # wall clock (ISO 8601), for people
    job: str | None = None  # the job it was measured for

    def describe(self, now: PhoneState, reused: bool, reason: str) -> dict:
        """The record's ``idle_baseline`` block for a job that uses this baseline."""
        t0, t1 = self.window_s
        age = None if now.uptime_s is None else round(now.uptime_s - t1, 1)
        return {"applied": True, "reused": reused, "reason": reason,
                "window": [t0, t1], "idle_s": round(t1 - t0, 3), "idle_mw": round(self.idle_mw, 1),
                "taken_at": self.taken_at, "age_s": age, "measured_for": self.job,
                "hottest_c_then": self.state.hottest_c, "hottest_c_now": now.hottest_c,
                "level_percent_then": self.state.level_percent}


def decide(baseline: Baseline | None, now: PhoneState,
           rule: BaselineRule = BaselineRule()) -> tuple[bool, str]:
    """(reuse ``baseline``?, why). Measure again when any condition of the module's rule
    fails, or when something it needs is unknown."""
    if baseline is None:
        return False, "the first baseline of this session"
    then = baseline.state
    if now.charging_epoch != then.charging_epoch:
        return False, ("charging was suspended again since the baseline (it had been restored, "
                       "e.g. when the link to the phone dropped)")
    if now.uptime_s is None:
        return False, "the phone's clock is unreadable: the baseline's age is unknown"
    age = now.uptime_s - baseline.window_s[1]
    if age < 0:
        return False, "the phone's clock went back (a reboot?) since the baseline"
    if age > rule.max_age_s:
        return False, f"the baseline is {age:.0f} s old (more than {rule.max_age_s:.0f} s)"
    if now.hottest_c is None or then.hottest_c is None:
        return False, "the temperature now or at the baseline is unknown"
    moved = now.hottest_c - then.hottest_c
    if abs(moved) > rule.max_temp_delta_c:
        return False, (f"the hottest zone moved {moved:+.1f} °C since the baseline "
                       f"({then.hottest_c:.1f} -> {now.hottest_c:.1f} °C; limit "
                       f"±{rule.max_temp_delta_c:g} °C)")
    if now.level_percent is not None and then.level_percent is not None:
        drop = then.level_percent - now.level_percent
        if drop > rule.max_level_drop_percent:
            return False, (f"the battery level fell {drop:g} points since the baseline "
                           f"(limit {rule.max_level_drop_percent:g})")
    return True, (f"unchanged since the baseline: {age:.0f} s old, hottest zone "
                  f"{moved:+.1f} °C, same charging suspension")
