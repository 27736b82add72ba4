"""``npubench farm worker FARM_YAML --scheduler ADDR``: one Dask worker per phone host.

It opens the phones of the farm file that are attached here (``--host-label NAME``: those
labelled ``host: NAME``; without it, every phone of the file), and joins the scheduler with one
Dask resource per phone class whose amount is the number of usable phones of that class, and
one thread per phone. It tears its phones down itself — charging back on, files removed — when
a night ends, when no job of a night came for ``--idle-restore``, and when it stops: SIGTERM,
Ctrl-C, or its scheduler gone."""

from __future__ import annotations

import asyncio
import signal
import sys
from argparse import Namespace

from npubench.errors import EXIT_INFRA, EXIT_OK, ConfigError
from npubench.harness.farm.pool import class_resource


def select_slots(farm, host_label: str | None):
    slots = farm.slots()
    if host_label is None:
        return slots
    mine = [s for s in slots if s.labels.get("host") == host_label]
    if not mine:
        hosts = sorted({s.labels["host"] for s in slots if "host" in s.labels})
        raise ConfigError(f"{farm.source}: no phone has labels {{host: {host_label}}}",
                          hint=f"hosts in the file: {', '.join(hosts) or 'none'}; label the "
                          "phones attached to this host with it")
    return mine


def cmd_worker(args: Namespace) -> int:
    from npubench.harness.farm import pool as pool_module
    from npubench.harness.farm.config import load_farm, parse_duration

    farm = load_farm(args.farm_file)
    slots = select_slots(farm, args.host_label)
    idle_s = parse_duration(args.idle_restore) if args.idle_restore else 600
    name = args.name or f"npubench-{args.host_label or _hostname()}"
    events: list[dict] = []  # before the worker is connected: sent once it is
    holder: dict = {}

    def emit(message: dict) -> None:
        worker = holder.get("worker")
        if worker is None or worker.status.name not in ("running", "paused"):
            events.append(message)
        else:
            worker.log_event(pool_module.EVENT_TOPIC, message)

    pool = pool_module.PhonePool(slots, name=name, emit=emit)
    pool_module.CURRENT = pool
    print(f"npubench farm worker {name}: opening {len(slots)} phone"
          f"{'s' * (len(slots) != 1)}", file=sys.stderr, flush=True)
    try:
        pool.open_all()
        usable = sum(p.usable for p in pool.phones)
        if not usable:
            print(f"npubench farm worker {name}: no phone could be opened; joining the "
                  "scheduler anyway so that `npubench farm status` shows why",
                  file=sys.stderr, flush=True)
        code = asyncio.run(_serve(args.scheduler, pool, holder, events, idle_s))
    except KeyboardInterrupt:
        code = EXIT_OK
    finally:
        pool.close()  # (each phone's night closed says so on stderr)
        pool_module.CURRENT = None
    return code


async def _serve(scheduler: str, pool, holder: dict, pending: list, idle_s: float) -> int:
    """One Dask worker per phone class, all in this process and sharing the pool: a worker
    runs its class's waiting tasks in priority order and holds back every one of them while
    the first cannot get a phone, so classes in one worker would wait for each other."""
    from distributed import Worker

    from npubench.harness.farm.pool import EVENT_TOPIC

    host = _listen_host(scheduler)
    resources = pool.resources()
    classes = list(dict.fromkeys(p.slot.phone_class for p in pool.phones))
    workers = {}
    for phone_class in classes:
        key = class_resource(phone_class)
        phones = sum(p.slot.phone_class == phone_class for p in pool.phones)
        workers[key] = Worker(
            scheduler, nthreads=phones, resources={key: resources.get(key, 0)},
            name=pool.name if len(classes) == 1 else f"{pool.name}/{phone_class}",
            death_timeout=60, host=host, dashboard_address=f"{host or ''}:0")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # (not loop.add_signal_handler: its wakeup may not reach a loop that Dask runs, and
        # the stop would wait for the loop's next timeout)
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        await asyncio.gather(*workers.values())
    except Exception as exc:
        print(f"npubench farm worker {pool.name}: cannot join the scheduler at {scheduler}: "
              f"{exc}", file=sys.stderr, flush=True)
        return EXIT_INFRA
    first = next(iter(workers.values()))
    holder["worker"] = first
    for message in pending:
        first.log_event(EVENT_TOPIC, message)
    pending.clear()

    def capacity(now: dict) -> None:  # from a job's thread: hop onto the loop
        for key, worker in workers.items():
            loop.call_soon_threadsafe(lambda w=worker, k=key: asyncio.ensure_future(
                w.set_resources(**{k: now.get(k, 0)})))

    pool.on_capacity = capacity
    print(f"npubench farm worker {pool.name}: joined {scheduler} as "
          f"{', '.join(w.address for w in workers.values())} with {resources}",
          file=sys.stderr, flush=True)
    finished = [asyncio.ensure_future(w.finished()) for w in workers.values()]
    stopping = asyncio.ensure_future(stop.wait())
    while not stopping.done() and not any(f.done() for f in finished):
        await asyncio.wait({*finished, stopping}, timeout=min(30.0, idle_s),
                           return_when=asyncio.FIRST_COMPLETED)
        await loop.run_in_executor(None, pool.restore_idle, idle_s)
    if stopping.done():
        print(f"npubench farm worker {pool.name}: stopping (signal); restoring the phones",
              file=sys.stderr, flush=True)
    else:
        print(f"npubench farm worker {pool.name}: the scheduler is gone; restoring the "
              "phones", file=sys.stderr, flush=True)
    # jobs in flight see their phone closed under them (cmd_worker's ``finally``): the
    # controller retries them elsewhere
    await asyncio.gather(*(w.close(timeout=30, executor_wait=False) for w in workers.values()
                           if w.status.name not in ("closed", "closing")),
                         return_exceptions=True)
    return EXIT_OK


def _listen_host(scheduler: str) -> str | None:
    """A worker for a scheduler on loopback listens on loopback only."""
    return "127.0.0.1" if "127.0.0.1" in scheduler or "localhost" in scheduler else None


def _hostname() -> str:
    import socket

    return socket.gethostname()
