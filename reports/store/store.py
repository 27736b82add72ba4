"""The results store: every record of every run, in SQLite or PostgreSQL (SQLAlchemy Core,
one code path). Run folders stay the truth of each run; the store is where runs meet, for
``compare``, ``history`` and ``load_results``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select

from npubench.errors import ResultsError
from npubench.reports.run_view import RunView, comparable_samples, read_run_folder
from npubench.reports.store.rows import record_conditions, record_row, run_conditions, run_row
from npubench.reports.store.schema import records, runs

if TYPE_CHECKING:
    import pandas as pd


def _insert(engine: Engine):
    """The dialect's INSERT (SQLite and PostgreSQL share ``on_conflict_do_*``)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class ResultsStore:
    """A results store opened by ``open_store`` (schema already up to date)."""

    def __init__(self, engine: Engine, where: str):
        self.engine = engine
        self.where = where
        """The store's URL without its password, for messages."""

    def _write(self):
        return self.engine.connect().execution_options(npubench_write=True)

    # -- writing ---------------------------------------------------------------------------
    def add_run(self, info: dict[str, Any]) -> None:
        """Add a run (its run.json), or update it (e.g. ``finished_at`` at the end)."""
        if not info.get("run_id"):
            raise ResultsError("a run's info has no run_id", hint="give run.json's content")
        row = run_row(info)
        insert = _insert(self.engine)
        statement = insert(runs).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["run_id"],
            set_={k: statement.excluded[k] for k in row
                  if k != "run_id" and not (k == "simulated" and row[k] is None)})
        with self._write() as conn, conn.begin():
            conn.execute(statement)

    def finish_run(self, run_id: str, **fields: Any) -> None:
        """Merge ``fields`` (``finished_at``, ``interrupted``, ...) into a stored run's info."""
        with self._write() as conn, conn.begin():
            info = conn.execute(select(runs.c.info).where(runs.c.run_id == run_id)).scalar()
            merged = {**(json.loads(info) if info else {"run_id": run_id}), **fields}
            row = run_row(merged)
            row.pop("simulated")
            if info is None:
                conn.execute(runs.insert().values(**row))
            else:
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(**row))

    def add_record(self, run_id: str, record: dict[str, Any],
                   samples: dict[str, list[float]] | None = None,
                   run_info: dict[str, Any] | None = None) -> bool:
        """Add one record and its comparable samples; False when it was there already
        (same run and job id): adding twice adds nothing."""
        return self.add_records(run_id, [(record, samples)], run_info)[0] == 1

    def add_records(self, run_id: str, items: list[tuple[dict, dict | None]],
                    run_info: dict[str, Any] | None = None) -> tuple[int, int]:
        """Add records in one transaction: ``(added, already_there)``."""
        if not items:
            return 0, 0
        if run_info is None:
            run_info = self._info(run_id) or {}
        rows = [record_row(run_id, record, comparable_samples(samples or {}), run_info)
                for record, samples in items]
        statement = _insert(self.engine)(records).on_conflict_do_nothing(
            index_elements=["run_id", "job_id"]).returning(records.c.id)
        added = 0  # counted from RETURNING: rowcount is not reliable across drivers
        with self._write() as conn, conn.begin():
            for row in rows:
                added += len(conn.execute(statement.values(**row)).all())
            if any(row["simulated"] for row in rows):
                conn.execute(runs.update().where(runs.c.run_id == run_id)
                             .values(simulated=True))
        return added, len(rows) - added

    def ingest(self, run_dir: str | Path) -> tuple[int, int]:
        """Import a run folder: ``(records added, records already there)``. Idempotent."""
        view = read_run_folder(Path(run_dir))
        info = dict(view.info)
        info.setdefault("finished_at", max((str(r.get("started_at") or "")
                                            for r in view.records), default=None))
        self.add_run(info)
        return self.add_records(view.run_id, [(r, view.samples_of(r)) for r in view.records],
                                info)

    # -- reading ---------------------------------------------------------------------------
    def _info(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            info = conn.execute(select(runs.c.info).where(runs.c.run_id == run_id)).scalar()
        return json.loads(info) if info else None

    def runs(self, *, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Run infos (run.json) of the runs with a record matching ``filters``, oldest
        first; ``limit`` keeps the newest N."""
        query = select(runs.c.info).where(*run_conditions(filters)).order_by(
            runs.c.started_at.desc(), runs.c.run_id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            infos = [json.loads(info) for info in conn.execute(query).scalars()]
        return infos[::-1]

    def run_summaries(self, *, limit: int | None = None, **filters: Any) -> list[dict]:
        """``runs`` with, for each run, ``counts`` ({status: n}) and ``devices`` (models)."""
        infos = self.runs(limit=limit, **filters)
        ids = [info["run_id"] for info in infos]
        counts: dict[str, dict[str, int]] = {i: {} for i in ids}
        devices: dict[str, set[str]] = {i: set() for i in ids}
        simulated: dict[str, bool] = {}
        if ids:
            query = select(records.c.run_id, records.c.status, records.c.device_model,
                           records.c.simulated, func.count()).where(
                records.c.run_id.in_(ids)).group_by(
                records.c.run_id, records.c.status, records.c.device_model, records.c.simulated)
            with self.engine.connect() as conn:
                for run_id, status, model, sim, n in conn.execute(query):
                    counts[run_id][status or ""] = counts[run_id].get(status or "", 0) + n
                    if model:
                        devices[run_id].add(model)
                    simulated[run_id] = simulated.get(run_id, False) or bool(sim)
        return [{**info, "counts": counts[info["run_id"]],
                 "devices": sorted(devices[info["run_id"]]),
                 "any_simulated": simulated.get(info["run_id"], False)} for info in infos]

    def resolve_run(self, ref: str) -> str:
        """A run id from ``latest``, ``previous``, an id, or a unique prefix of one."""
        ref = str(ref).strip()
        with self.engine.connect() as conn:
            if ref in ("latest", "previous"):
                ids = conn.execute(select(runs.c.run_id).order_by(
                    runs.c.started_at.desc(), runs.c.run_id.desc()).limit(2)).scalars().all()
                wanted = 0 if ref == "latest" else 1
                if len(ids) <= wanted:
                    raise ResultsError(
                        f"the results store {self.where} holds {len(ids)} run(s): there is no "
                        f"{ref!r} run", hint="run `npubench run` or `npubench ingest RUN_DIR`")
                return ids[wanted]
            exact = conn.execute(select(runs.c.run_id).where(runs.c.run_id == ref)).scalar()
            if exact is not None:
                return exact
            escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            found = conn.execute(select(runs.c.run_id).where(
                runs.c.run_id.like(escaped + "%", escape="\\")).limit(6)).scalars().all()
        if len(found) == 1:
            return found[0]
        if not found:
            raise ResultsError(f"no run {ref!r} in the results store {self.where}",
                               hint="`npubench runs` lists the stored runs")
        raise ResultsError(f"{ref!r} matches several runs: {', '.join(found[:5])}",
                           hint="give more of the run id")

    def run_view(self, run_id: str) -> RunView:
        """One stored run as a ``RunView`` (records in job order, with their samples)."""
        views = self._views([run_id], {})
        if not views:
            raise ResultsError(f"no run {run_id!r} in the results store {self.where}",
                               hint="`npubench runs` lists the stored runs")
        return views[0]

    def run_views(self, **filters: Any) -> list[RunView]:
        """The runs matching ``filters`` (each with only its matching records), oldest
        first."""
        infos = self.runs(**filters)
        return self._views([info["run_id"] for info in infos], filters, infos)

    def _views(self, ids: list[str], filters: dict, infos: list[dict] | None = None
               ) -> list[RunView]:
        if infos is None:
            with self.engine.connect() as conn:
                infos = [json.loads(i) for i in conn.execute(
                    select(runs.c.info).where(runs.c.run_id.in_(ids))).scalars()]
        by_id = {info["run_id"]: RunView(info["run_id"], info, [], {},
                                         source=f"{self.where}#{info['run_id']}")
                 for info in infos}
        if not by_id:
            return []
        for run_id, record, samples in self._record_rows(
                [records.c.run_id.in_(list(by_id))] + record_conditions(
                    {k: v for k, v in filters.items() if k not in ("since", "until")})):
            view = by_id[run_id]
            view.records.append(record)
            if samples:
                view.samples[str(record.get("job_id"))] = samples
        return [by_id[i] for i in ids if i in by_id]

    def _record_rows(self, conditions: list):
        query = select(records.c.run_id, records.c.record, records.c.samples).where(
            *conditions).order_by(records.c.started_at, records.c.run_id, records.c.job_index,
                                  records.c.id)
        with self.engine.connect() as conn:
            for run_id, record, samples in conn.execute(query):
                yield run_id, json.loads(record), json.loads(samples) if samples else {}

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        """The stored records matching ``filters``, oldest first."""
        return [record for _, record, _ in self._record_rows(record_conditions(filters))]

    def records_frame(self, **filters: Any) -> pd.DataFrame:
        """``npubench.reports.frame.records_frame`` of the matching records, plus ``cell``
        (the CellKey as text); ``run_id`` and ``started_at`` are the record's."""
        from npubench.reports.cell_key import cell_key
        from npubench.reports.frame import records_frame

        found = self.records(**filters)
        frame = records_frame(found)
        frame["cell"] = [cell_key(r).as_text() for r in found]
        return frame

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
