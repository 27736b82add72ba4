"""``npubench farm ACTION``: ``check`` validates a farm file and shows what it holds; ``run``
(the night's controller), ``worker`` (a phone host), ``status`` and ``report``. Imports
nothing heavy at import time."""

from __future__ import annotations

import dataclasses
import json
import sys
from argparse import Namespace

from npubench.errors import EXIT_OK, EXIT_USAGE, ConfigError


def cmd_farm(args: Namespace) -> int:
    action = {"check": _check, "run": _run, "worker": _worker, "status": _status,
              "report": _report}.get(args.farm_command)
    if action is None:  # argparse lets only the actions it knows through
        raise ConfigError(f"npubench farm {args.farm_command} is not built yet")
    return action(args)


def _check(args: Namespace) -> int:
    from npubench.harness.farm.config import load_farm

    try:
        farm = load_farm(args.farm_file)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(line, file=sys.stderr)
        count = len(exc.message.splitlines())
        print(f"npubench farm check: {args.farm_file} is not valid "
              f"({count} problem{'s' * (count != 1)})", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(farm_as_json(farm), indent=1, ensure_ascii=False))
    else:
        print("\n".join(describe(farm)))
    return EXIT_OK


def _run(args: Namespace) -> int:
    from npubench.harness.farm.config import parse_duration
    from npubench.harness.farm.controller import Controller, FarmRunRequest

    request = FarmRunRequest(
        args.farm_file, scheduler=args.scheduler, store=args.store,
        deadline_s=parse_duration(args.deadline) if args.deadline else None,
        resume=args.resume, out=args.out, previous=args.previous, report=not args.no_report,
        argv=sys.argv)
    result = Controller(request, say=lambda text: print(text, flush=True)).run()
    return result.exit_code


def _worker(args: Namespace) -> int:
    from npubench.harness.farm.worker_command import cmd_worker

    return cmd_worker(args)


def _status(args: Namespace) -> int:
    from npubench.harness.farm.status import show_status

    return show_status(args.scheduler, as_json=args.json)


def _report(args: Namespace) -> int:
    from pathlib import Path

    from npubench.reports.farm import write_farm_report

    for kind, path in write_farm_report(Path(args.run_dir), args.previous, args.store).items():
        print(f"{kind}: {path}")
    return EXIT_OK


def farm_as_json(farm) -> dict:
    """The farm with its phones expanded into slots, as plain data."""
    data = dataclasses.asdict(farm)
    data["slots"] = [dataclasses.asdict(slot) for slot in farm.slots()]
    data["classes"] = farm.classes()
    return data


def describe(farm) -> list[str]:
    """What ``farm check`` prints: phones (expanded), their classes and limits, the plan."""
    slots = farm.slots()
    out = [f"{farm.source}: valid: {len(slots)} phone{'s' * (len(slots) != 1)} in "
           f"{len(farm.classes())} class{'es' * (len(farm.classes()) != 1)}, "
           f"{len(farm.nightly)} nightly entr{'ies' if len(farm.nightly) != 1 else 'y'}",
           "", "phones:"]
    width = max(len(_shown(s.name)) for s in slots)
    for slot in slots:
        labels = ", ".join(f"{_shown(k)}={_shown(v)}" for k, v in slot.labels.items()
                           if k != "class")
        timing = f"  timing {slot.timing}" if slot.simulated else ""
        out.append(f"  {_shown(slot.name):<{width}}  class {_shown(slot.phone_class)}{timing}"
                   + (f"  labels {labels}" if labels else ""))
    out += ["", "classes:"]
    for name in farm.classes():
        members = [_shown(s.name) for s in farm.slots_of_class(name)]
        out.append(f"  {_shown(name)}: {len(members)} phone{'s' * (len(members) != 1)} "
                   f"({', '.join(members)})")
    out += ["", f"limits (every phone): {_limits(farm.limits)}"]
    for phone in farm.phones:
        if phone.own_limits:
            own = ", ".join(f"{k}={v:g}" for k, v in phone.own_limits.items())
            out.append(f"  {_shown(phone.device)} (line {phone.line}): {own}")
    deadline = _duration(farm.deadline_s) if farm.deadline_s else "none"
    out += ["", f"nightly (deadline {deadline}, {farm.retries} infrastructure "
            f"retr{'ies' if farm.retries != 1 else 'y'} per job):"]
    for entry in farm.nightly:
        backends = ", ".join(map(_shown, entry.backends)) or "the suite's"
        workloads = ", ".join(map(_shown, entry.workloads)) or "the suite's"
        out.append(f"  suite {_shown(entry.suite)}: backends {backends}; workloads "
                   f"{workloads}; classes {', '.join(map(_shown, entry.classes))}")
    if not farm.nightly:
        out.append("  nothing (no nightly entries)")
    out += ["", f"store: {_shown(farm.store) if farm.store else 'npubench default'}"]
    return out


def _limits(limits) -> str:
    return (f"battery {limits.battery_min_percent:g}-{limits.battery_max_percent:g} %, "
            f"at most {limits.max_temperature_c:g} °C before a job (cooldown up to "
            f"{limits.cooldown_timeout_s:g} s), at least {limits.min_free_mb} MB free")


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def _shown(text: str) -> str:
    """Text from the file as the terminal should show it: control characters escaped."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
