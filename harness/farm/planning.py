"""The night's plan: which jobs each class of phone runs. A class's entries are expanded on one
of its own phones (``task.plan_class``: ``npu`` and ``all`` mean what that phone has, and a
backend it cannot run becomes a skipped job with the reason), so the plan is what the phones can
do, not a guess. A class with no usable phone is planned from the suites as written; its jobs
then fail with ``no_phone``. Jobs are keyed ``WORKLOAD@BACKEND@CLASS``, once each."""

from __future__ import annotations

from npubench.harness.farm.night import FarmJob, job_key

PLAN_TIMEOUT_S = 600


def plan_night(farm, cluster, run_id: str) -> tuple[list[FarmJob], dict[str, dict]]:
    """(jobs, {class: the DeviceInfo of the phone that planned it})."""
    from npubench.harness.farm.pool import class_resource
    from npubench.harness.farm.task import plan_class

    capacity = cluster.class_capacity()
    futures, unplanned = {}, []
    for phone_class in farm.classes():
        entries = [_entry(e) for e in farm.nightly if phone_class in e.classes]
        if not entries:
            continue
        if not capacity.get(phone_class):
            unplanned.append((phone_class, entries))
            continue
        futures[phone_class] = (entries, cluster.client.submit(
            plan_class, phone_class, entries, resources={class_resource(phone_class): 1},
            pure=False, key=f"npubench-plan-{run_id}-{phone_class}"))
    jobs: list[FarmJob] = []
    devices: dict[str, dict] = {}
    seen: set[str] = set()

    def add(phone_class, suite, workload, backend, skip_reason=None) -> None:
        key = job_key(workload, backend, phone_class)
        if key not in seen:
            seen.add(key)
            jobs.append(FarmJob(len(jobs), key, phone_class, suite, workload, backend,
                                skip_reason))

    for phone_class, (entries, future) in futures.items():
        try:
            planned = future.result(timeout=PLAN_TIMEOUT_S)
        except Exception as exc:  # the phone failed while planning: its class is not planned
            planned = {"error": f"{type(exc).__name__}: {exc}"}
        if "error" in planned:
            unplanned.append((phone_class, entries))
            continue
        devices[phone_class] = planned["device"]
        for item in planned["jobs"]:
            add(phone_class, item["suite"], item["workload"], item["backend"],
                item["skip_reason"])
    for phone_class, entries in unplanned:
        for suite, workload, backend in as_written(entries):
            add(phone_class, suite, workload, backend)
    return jobs, devices


def _entry(entry) -> dict:
    return {"suite": entry.suite, "workloads": list(entry.workloads),
            "backends": list(entry.backends)}


def as_written(entries: list[dict]) -> list[tuple[str, str, str]]:
    """(suite, workload, backend) of entries that no phone could expand."""
    from npubench.harness.suites import load_suite

    out = []
    for entry in entries:
        suite = load_suite(entry["suite"])
        for workload in entry["workloads"] or suite.job_names():
            for backend in entry["backends"] or suite.backends:
                out.append((entry["suite"], workload, backend))
    return out
