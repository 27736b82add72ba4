"""The night per phone: events.jsonl -> one lane per phone with a bar per job attempt,
cooldown waits, health failures, retries, quarantine (from the event on, with its reason)
and the deadline; then ``layout`` turns it into pixel positions for the page's SVG.

Pure: events (dicts with a float ``ts``) in, plain data out. Events of a kind not listed in
``KNOWN_EVENTS`` are ignored, so a newer controller's events never break an older report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

KNOWN_EVENTS = ("night_start", "phone_ready", "phone_failed", "job_start", "cooldown",
                "health_failed", "quarantine", "job_end", "retry", "worker_lost",
                "deadline_skip", "phone_restored", "phone_released", "night_end",
                "interrupted", "resumed")
MARKERS = {"health_failed": "health check failed", "retry": "retry",
           "worker_lost": "worker lost", "phone_failed": "phone failed",
           "phone_ready": "phone ready"}
"""Events drawn as a marker on their phone's lane, and how a tooltip names them."""
UNFINISHED = "unfinished"


@dataclass
class Bar:
    start: float
    end: float
    job: str
    attempt: Any
    status: str
    worker: str | None = None
    reason: str = ""
    """What job_end said (a failure's message, a health check's reason)."""


@dataclass
class Lane:
    phone: str
    phone_class: str = ""
    bars: list[Bar] = field(default_factory=list)
    cooldowns: list[tuple[float, float, float]] = field(default_factory=list)
    """(start, end, waited_s): the wait ends at the cooldown event, which reports it."""
    markers: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, event, text)."""
    quarantines: list[tuple[float, float | None, str]] = field(default_factory=list)
    """(from, until or None for the rest of the night, reason)."""

    @property
    def quarantined_at_end(self) -> bool:
        return bool(self.quarantines) and self.quarantines[-1][1] is None


@dataclass
class Timeline:
    start: float
    end: float
    lanes: list[Lane]
    deadline: float | None = None
    """When the deadline fell (night start + deadline_s, else the first deadline skip)."""
    deadline_skips: list[tuple[float, str]] = field(default_factory=list)
    night_marks: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, event, text) that concern the whole night: interrupted, resumed, a lost worker
    that names no phone."""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def build_timeline(events: list[dict[str, Any]], phones: list[dict[str, Any]] | None = None,
                   *, deadline_s: float | None = None, started: float | None = None,
                   finished: float | None = None) -> Timeline | None:
    """The night's lanes; None when there is no time to draw (no events and no start)."""
    lanes: dict[str, Lane] = {}
    for phone in phones or []:
        if isinstance(phone, dict) and phone.get("name"):
            lanes[str(phone["name"])] = Lane(str(phone["name"]), _text(phone.get("class")))

    def lane(name: Any) -> Lane | None:
        if not name:
            return None
        return lanes.setdefault(str(name), Lane(str(name)))

    events = [e for e in events if e.get("event") in KNOWN_EVENTS]
    times = [e["ts"] for e in events]
    night_start = next((e["ts"] for e in events if e["event"] == "night_start"), None)
    night_end = next((e["ts"] for e in reversed(events) if e["event"] == "night_end"), None)
    start = night_start if night_start is not None else min([*times, *(
        [started] if started is not None else [])], default=None)
    if start is None:
        return None
    end = night_end if night_end is not None else max(
        [*times, *([finished] if finished is not None else []), start])
    timeline = Timeline(start, end, [])
    open_bars: dict[tuple[str, str, str], Bar] = {}
    last_phone: dict[str, str] = {}
    for event in events:
        kind, ts = event["event"], event["ts"]
        phone, job = event.get("phone"), _text(event.get("job"))
        reason = _text(event.get("reason"))
        if kind == "job_start" and lane(phone):
            bar = Bar(ts, ts, job, event.get("attempt"), UNFINISHED, event.get("worker"))
            open_bars[(str(phone), job, _text(event.get("attempt")))] = bar
            lanes[str(phone)].bars.append(bar)
            last_phone[job] = str(phone)
        elif kind == "job_end" and lane(phone):
            bar = open_bars.pop((str(phone), job, _text(event.get("attempt"))), None)
            if bar is None:  # its start was not recorded: a sliver at the end
                bar = Bar(ts, ts, job, event.get("attempt"), UNFINISHED, event.get("worker"))
                lanes[str(phone)].bars.append(bar)
            bar.end, bar.status = ts, _text(event.get("status")) or "ended"
            bar.reason = reason
        elif kind == "cooldown" and lane(phone):
            waited = event.get("waited_s")
            waited = float(waited) if isinstance(waited, (int, float)) else 0.0
            lanes[str(phone)].cooldowns.append((max(start, ts - waited), ts, waited))
        elif kind == "quarantine" and lane(phone):
            lanes[str(phone)].quarantines.append((ts, None, reason))
        elif kind == "phone_released" and lane(phone):  # a new night gave it another chance
            quarantines = lanes[str(phone)].quarantines
            if quarantines and quarantines[-1][1] is None:
                quarantines[-1] = (quarantines[-1][0], ts, quarantines[-1][2])
        elif kind in MARKERS:
            target = lane(phone) or (lane(last_phone.get(job)) if job else None)
            text = " · ".join(filter(None, [MARKERS[kind], job,
                                            f"attempt {event['attempt']}"
                                            if event.get("attempt") is not None else "",
                                            reason, _text(event.get("worker"))]))
            if target is not None:
                target.markers.append((ts, kind, text))
            elif kind == "worker_lost":
                timeline.night_marks.append((ts, kind, text))
        elif kind == "deadline_skip":
            timeline.deadline_skips.append((ts, job))
        elif kind in ("interrupted", "resumed"):
            timeline.night_marks.append((ts, kind, " · ".join(filter(None, [kind, reason]))))
    for bar in open_bars.values():
        bar.end = end
    if deadline_s and night_start is not None:
        timeline.deadline = night_start + float(deadline_s)
    elif timeline.deadline_skips:
        timeline.deadline = timeline.deadline_skips[0][0]
    if timeline.deadline is not None and timeline.deadline <= end + 0.05 * (end - start):
        timeline.end = max(end, timeline.deadline)
    timeline.lanes = list(lanes.values())
    return timeline


# -- layout --------------------------------------------------------------------------------

LABEL_W = 230
LANE_H = 28
AXIS_H = 26
NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)


def clock(ts: float, seconds: bool = False) -> str:
    """A unix time as UTC ``HH:MM`` (``HH:MM:SS`` with ``seconds``)."""
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%H:%M:%S" if seconds else "%H:%M")


def duration(seconds: float) -> str:
    """``75`` -> ``1m 15s``; ``3725`` -> ``1h 2m``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def ticks(start: float, end: float, max_ticks: int = 10) -> list[float]:
    """Round clock times between ``start`` and ``end``, at most ``max_ticks`` of them."""
    span = max(end - start, 1e-9)
    step = next((s for s in NICE_STEPS_S if span / s <= max_ticks), NICE_STEPS_S[-1])
    first = -(-start // step) * step
    out, t = [], first
    while t <= end + 1e-9:
        out.append(float(t))
        t += step
    return out


def layout(timeline: Timeline, width: int = 1300) -> dict[str, Any]:
    """Pixel positions for the SVG: lanes with their bars, cooldowns, markers and
    quarantines, the time axis and the deadline. Every text is plain (the template escapes
    it)."""
    plot_w = width - LABEL_W - 16
    span = max(timeline.end - timeline.start, 1e-9)

    def x(ts: float) -> float:
        return round(LABEL_W + (min(max(ts, timeline.start), timeline.end) - timeline.start)
                     / span * plot_w, 1)

    step_small = (timeline.end - timeline.start) < 600
    lanes = []
    for i, lane in enumerate(timeline.lanes):
        y = AXIS_H + i * LANE_H
        quarantine = [{"x": x(a), "w": max(x(b if b is not None else timeline.end) - x(a), 1),
                       "reason": reason, "until": b,
                       "title": f"{lane.phone} quarantined at {clock(a, True)}"
                                + (f" until {clock(b, True)}" if b is not None else "")
                                + (f": {reason}" if reason else "")}
                      for a, b, reason in lane.quarantines]
        bars = [{"x": x(b.start), "w": max(x(b.end) - x(b.start), 2.0), "status": b.status,
                 "title": " · ".join(filter(None, [
                     b.job, f"attempt {b.attempt}" if b.attempt is not None else "",
                     b.status, f"{clock(b.start, True)}–{clock(b.end, True)} UTC "
                     f"({duration(b.end - b.start)})", _text(b.worker), b.reason]))}
                for b in lane.bars]
        cooldowns = [{"x": x(a), "w": max(x(b) - x(a), 1.0),
                      "title": f"cooldown: waited {duration(w)} before a job "
                               f"(until {clock(b, True)} UTC)"}
                     for a, b, w in lane.cooldowns]
        markers = [{"x": x(ts), "event": kind, "title": f"{clock(ts, True)} UTC · {text}"}
                   for ts, kind, text in lane.markers]
        lanes.append({"phone": lane.phone, "class": lane.phone_class, "y": y,
                      "mid": y + LANE_H / 2, "bars": bars, "cooldowns": cooldowns,
                      "markers": markers, "quarantines": quarantine,
                      "quarantined": lane.quarantined_at_end})
    height = AXIS_H + len(lanes) * LANE_H + AXIS_H + 14  # room for the deadline's label
    tick_list = [{"x": x(t), "label": clock(t, step_small)}
                 for t in ticks(timeline.start, timeline.end)]
    deadline = None
    if timeline.deadline is not None and timeline.deadline <= timeline.end:
        skipped = [job for _, job in timeline.deadline_skips]
        deadline = {"x": x(timeline.deadline),
                    "title": f"deadline {clock(timeline.deadline, True)} UTC"
                             + (f": {len(skipped)} job{'s' * (len(skipped) != 1)} skipped "
                                f"({', '.join(skipped)})" if skipped else "")}
    marks = [{"x": x(ts), "event": kind, "title": f"{clock(ts, True)} UTC · {text}"}
             for ts, kind, text in timeline.night_marks]
    return {"width": width, "height": height, "label_w": LABEL_W, "lane_h": LANE_H,
            "axis_h": AXIS_H, "plot_right": LABEL_W + plot_w, "lanes": lanes,
            "ticks": tick_list, "deadline": deadline, "marks": marks,
            "bottom": AXIS_H + len(lanes) * LANE_H,
            "start": clock(timeline.start, True), "end": clock(timeline.end, True),
            "span": duration(timeline.end - timeline.start)}


def quarantines(timeline: Timeline | None) -> list[dict[str, Any]]:
    """Every quarantine of the night: phone, from, until (None: still at the end), reason."""
    if timeline is None:
        return []
    return [{"phone": lane.phone, "class": lane.phone_class, "from": a, "until": b,
             "reason": reason}
            for lane in timeline.lanes for a, b, reason in lane.quarantines]
