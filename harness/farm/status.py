"""``npubench farm status``: the farm as its scheduler sees it now — each worker, its phones,
their health (strikes, quarantine and why), what each runs, and the Dask dashboard."""

from __future__ import annotations

import json
import sys

from npubench.errors import EXIT_INFRA, EXIT_OK


def gather(client) -> dict:
    from npubench.harness.farm.task import pool_state

    workers = client.run(pool_state)
    info = client.scheduler_info(n_workers=-1)
    from npubench.harness.farm.cluster import has_dashboard

    dashboard = client.dashboard_link if has_dashboard(client) else None
    by_name: dict[str, dict] = {}  # a farm worker serves each class from its own Dask worker
    for address, state in sorted(workers.items()):
        resources = (info["workers"].get(address) or {}).get("resources") or {}
        entry = by_name.setdefault(state.get("worker") or address,
                                   {**state, "address": address, "addresses": [],
                                    "resources": {}})
        entry["addresses"].append(address)
        entry["resources"].update(resources)
    out = list(by_name.values())
    return {"scheduler": client.scheduler.address, "dashboard": dashboard, "workers": out}


def render(status: dict) -> list[str]:
    lines = [f"scheduler {status['scheduler']}",
             f"dashboard {status['dashboard'] or 'none (install bokeh on the scheduler host)'}"]
    if not status["workers"]:
        lines.append("no worker: start `npubench farm worker FARM_YAML --scheduler "
                     f"{status['scheduler']}` on each phone host")
    for worker in status["workers"]:
        name = worker.get("worker") or "(not an npubench farm worker)"
        lines.append(f"\nworker {name} at {', '.join(worker['addresses'])} on "
                     f"{worker.get('host') or '?'}"
                     + (f", nights open: {', '.join(worker['nights'])}" if worker.get("nights")
                        else ""))
        for phone in worker.get("phones") or []:
            if phone.get("quarantined"):
                state = f"QUARANTINED: {phone['quarantined']}"
            elif phone.get("busy_with"):
                state = f"running {phone['busy_with']}"
            else:
                state = "idle"
            strikes = (f" ({len(phone['strikes'])} health failure"
                       f"{'s' * (len(phone['strikes']) != 1)})" if phone.get("strikes")
                       and not phone.get("quarantined") else "")
            lines.append(f"  {phone['name']:<24} class {phone['class']:<12} {state}{strikes}")
    return lines


def show_status(scheduler: str, as_json: bool = False) -> int:
    from distributed import Client

    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        print(f"npubench farm status: no scheduler at {scheduler}: {exc}", file=sys.stderr)
        return EXIT_INFRA
    try:
        status = gather(client)
    finally:
        client.close()
    print(json.dumps(status, indent=1) if as_json else "\n".join(render(status)))
    return EXIT_OK
