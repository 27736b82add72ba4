"""The results store on SQLite and on the real PostgreSQL (same test bodies): ingest,
idempotence, filters, run references, hostile names, migrations, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_helpers import HOSTILE, host_run, phone_run, postgres_schema

import npubench
from npubench.errors import ResultsError
from npubench.harness.cli import main
from npubench.reports.run_view import read_run_folder
from npubench.reports.store import open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path):
    """The same test on a SQLite file and on the real PostgreSQL (its own schema)."""
    if request.param == "sqlite":
        yield str(tmp_path / "store" / "results.sqlite")
    else:
        with postgres_schema() as url:
            yield url


T1, T2, T3 = ("2026-11-20T08:00:00.000+00:00", "2026-11-21T08:00:00.000+00:00",
              "2026-11-22T08:00:00.000+00:00")


def test_ingest_twice_adds_nothing_and_reads_back_the_same_run(store_target, tmp_path):
    run_dir = host_run(tmp_path / "a", "run-a", T1)
    folder = read_run_folder(run_dir)
    with open_store(store_target) as store:
        assert store.ingest(run_dir) == (4, 0)
        assert store.ingest(run_dir) == (0, 4)
        assert [info["run_id"] for info in store.runs()] == ["run-a"]
        view = store.run_view("run-a")
    assert view.records == folder.records
    assert view.samples == folder.samples and len(view.samples) == 2
    assert view.info["finished_at"] == folder.info["finished_at"]
    with open_store(store_target) as store:  # another process's view: still 4 rows
        assert len(store.records()) == 4


def test_filters_of_the_store_and_of_run_folders_agree(store_target, tmp_path):
    dirs = [host_run(tmp_path / "a", "run-a", T1), phone_run(tmp_path / "b", "run-b", T2),
            host_run(tmp_path / "c", "run-c", T3, workload="squeezenet", seed=5)]
    with open_store(store_target) as store:
        for run_dir in dirs:
            store.ingest(run_dir)
    cases = [
        ({}, 10),
        ({"status": "ok"}, 6),
        ({"device_model": "SM-S928B"}, 2),
        ({"soc": "SM8650", "workload": "mobilenet_v2"}, 1),
        ({"workload": ["mobilenet_v2", "squeezenet"], "status": "failed"}, 2),
        ({"backend": "tflite:xnnpack"}, 2),  # any options
        ({"backend": "tflite:xnnpack?threads=2"}, 2),
        ({"backend": "tflite:xnnpack?threads=4"}, 0),
        ({"run_id": "run-b"}, 2),
        ({"simulated": True}, 2),
        ({"simulated": False, "status": "skipped"}, 2),
        ({"since": "2026-11-21"}, 6),
        ({"since": "2026-11-21", "until": "2026-11-22T08:00:00Z"}, 2),
    ]
    for filters, expected in cases:
        from_store = npubench.load_results(store=store_target, **filters)
        from_dirs = npubench.load_results(*dirs, **filters)
        assert len(from_store) == expected, filters
        assert sorted(from_store["job_id"] + from_store["run_id"]) == sorted(
            from_dirs["job_id"] + from_dirs["run_id"]), filters
    frame = npubench.load_results(store=store_target, run_id="run-b")
    assert set(frame.columns) >= {"run_id", "started_at", "cell", "median_ms", "backend"}
    assert "mobilenet_v2 · tflite:qnn-htp · SM-S928B (SM8650)" in set(frame["cell"])
    assert frame.set_index("backend").loc["tflite:qnn-htp", "median_ms"] == pytest.approx(1.9)
    with open_store(store_target) as store:
        assert [i["run_id"] for i in store.runs(device_model="SM-S928B")] == ["run-b"]
        assert [i["run_id"] for i in store.runs(since=T2)] == ["run-b", "run-c"]
        # the same moment in another zone, without milliseconds: still the same moment
        assert [i["run_id"] for i in store.runs(since="2026-11-21T09:00:00+01:00")] == [
            "run-b", "run-c"]
        assert [v.run_id for v in store.run_views(workload="squeezenet")] == ["run-c"]
        assert [len(v.records) for v in store.run_views(status="ok")] == [2, 2, 2]


def test_unknown_filter_and_bad_date_are_clear_errors(store_target):
    with pytest.raises(npubench.ConfigError, match="unknown filter.*device_name"):
        npubench.load_results(store=store_target, device_name="x")
    with pytest.raises(npubench.ConfigError, match="since='yesterday' is not a date"):
        npubench.load_results(store=store_target, since="yesterday")


def test_run_references(store_target, tmp_path):
    with open_store(store_target) as store:
        with pytest.raises(ResultsError, match="no 'latest' run"):
            store.resolve_run("latest")
        store.ingest(host_run(tmp_path / "a", "20261120-080000-aaaa", T1))
        store.ingest(host_run(tmp_path / "c", "20261122-080000-cccc", T3))
        store.ingest(phone_run(tmp_path / "b", "20261121-080000-bbbb", T2))
        assert store.resolve_run("latest") == "20261122-080000-cccc"
        assert store.resolve_run("previous") == "20261121-080000-bbbb"
        assert store.resolve_run("20261120") == "20261120-080000-aaaa"
        assert store.resolve_run("20261121-080000-bbbb") == "20261121-080000-bbbb"
        with pytest.raises(ResultsError, match="matches several runs"):
            store.resolve_run("2026112")
        with pytest.raises(ResultsError, match="no run '2026_1'"):
            store.resolve_run("2026_1")  # '_' is not a LIKE wildcard here
        assert [i["run_id"] for i in store.runs(limit=2)] == [
            "20261121-080000-bbbb", "20261122-080000-cccc"]


def test_hostile_names_survive_the_round_trip(store_target, tmp_path):
    from report_fixtures import ok_record, write_run
    from store_helpers import with_ids

    name, spec_text = HOSTILE
    record, samples = ok_record(name, f"tflite:{spec_text}", 5.0, job_id=f"{name}@{spec_text}")
    record["device"]["model"] = spec_text
    run_id = "run " + HOSTILE[1]
    run_dir = write_run(tmp_path / "h", with_ids(run_id, T1, [(record, samples)]),
                        run_id=run_id, started_at=T1)
    with open_store(store_target) as store:
        assert store.ingest(run_dir) == (1, 0)
        assert store.resolve_run("run a b;rm") == run_id
        view = store.run_view(run_id)
        frame = store.records_frame(workload=name, device_model=spec_text)
    assert view.records[0]["workload"]["name"] == name
    assert view.records[0]["backend"]["spec"] == f"tflite:{spec_text}"
    assert list(frame["workload"]) == [name] and list(frame["run_id"]) == [run_id]


def test_a_store_at_the_first_revision_is_upgraded(store_target, tmp_path):
    """A store left at migration 0001 (no environment, no backend_base) holding a record of
    results schema version 1 opens at head, with the new columns filled in."""
    from sqlalchemy import text

    from npubench.reports.store.engine import make_engine
    from npubench.reports.store.migrate import current_revision, ensure_schema
    from npubench.reports.store.url import store_url

    run_dir = host_run(tmp_path / "a", "run-a", T1)
    record = read_run_folder(run_dir).records[0]
    assert record["schema_version"] == 1
    engine = make_engine(store_url(store_target))
    ensure_schema(engine, "test", target="0001")
    with engine.connect().execution_options(npubench_write=True) as conn, conn.begin():
        assert current_revision(conn) == "0001"
        conn.execute(text("INSERT INTO runs (run_id, started_at, info) VALUES "
                          "('run-a', :t, :info)"), {"t": T1, "info": json.dumps(
                              {"run_id": "run-a", "started_at": T1,
                               "versions": {"onnxruntime": "1.23.2"}})})
        conn.execute(text("INSERT INTO records (run_id, job_id, started_at, status, cell_id, "
                          "workload, backend, simulated, record) VALUES ('run-a', :job, :t, "
                          "'ok', '{}', 'mobilenet_v2', :backend, false, :record)"),
                     {"job": record["job_id"], "t": T1, "backend": record["backend"]["spec"],
                      "record": json.dumps(record)})
    engine.dispose()
    with open_store(store_target) as store:
        with store.engine.connect() as conn:
            assert current_revision(conn) == "0002"
            env = conn.execute(text("SELECT environment FROM records")).scalar()
        assert json.loads(env)["library.onnxruntime"] == "1.23.2"
        assert len(store.records_frame(backend="tflite:xnnpack")) == 1
        assert store.ingest(run_dir) == (3, 1)  # the old row counts as already there


def test_a_store_from_a_newer_npubench_is_refused(store_target):
    from sqlalchemy import text

    with open_store(store_target) as store:
        with store.engine.connect() as conn, conn.begin():
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(ResultsError, match="revision '0099', written by a newer npubench"):
        open_store(store_target)


def test_head_revision_constant_is_alembics_head():
    from alembic.script import ScriptDirectory

    from npubench.reports.store.migrate import alembic_config
    from npubench.reports.store.schema import HEAD_REVISION

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD_REVISION]


def test_store_locations(tmp_path, monkeypatch):
    from npubench.reports.store import default_store_path, store_url

    monkeypatch.delenv("NPUBENCH_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_store_path() == tmp_path / "data" / "npubench" / "results.sqlite"
    assert store_url(None) == f"sqlite:///{tmp_path}/data/npubench/results.sqlite"
    monkeypatch.setenv("NPUBENCH_STORE", "postgresql://u@h:5432/db")
    assert store_url(None) == "postgresql+psycopg://u@h:5432/db"
    assert store_url(tmp_path / "x.db") == f"sqlite:///{tmp_path}/x.db"


def test_cli_ingest_reports_each_folder_and_goes_on_after_a_bad_one(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite")
    good = host_run(tmp_path / "good", "run-good", T1)
    cut = phone_run(tmp_path / "cut", "run-cut", T2)
    with open(cut / "results.jsonl", "a") as fh:
        fh.write('{"schema_version": 1, "run_id": "run-cut", "job_')  # a crash mid-line
    newer = host_run(tmp_path / "newer", "run-newer", T3)
    lines = (newer / "results.jsonl").read_text().splitlines()
    (newer / "results.jsonl").write_text("\n".join(
        [lines[0].replace('"schema_version": 1', '"schema_version": 7')] + lines[1:]) + "\n")
    (tmp_path / "empty").mkdir()
    code = main(["ingest", str(good), str(tmp_path / "empty"), str(cut), str(newer),
                 str(tmp_path / "missing"), "--store", store])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{good}: 4 records added, 0 already there" in out
    assert f"{cut}: 2 records added, 0 already there" in out and "cut short" in out
    assert f"{tmp_path / 'empty'}: no results at" in err
    assert "schema version 7 is newer than this npubench" in err
    assert f"{tmp_path / 'missing'}: {tmp_path / 'missing'} is not a folder" in err
    assert "Traceback" not in err
    assert main(["ingest", str(good), "--store", store]) == 0
    assert "0 records added, 4 already there" in capsys.readouterr().out
    assert main(["runs", "--store", store, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["ok"], r["failed"], r["skipped"], r["simulated"]) for r in rows] == [
        ("run-good", 2, 1, 1, False), ("run-cut", 2, 0, 0, True)]
    assert main(["runs", "--store", store]) == 0
    assert "run-cut" in capsys.readouterr().out


def test_cli_runs_escapes_hostile_names(tmp_path, capsys):
    """rich markup in a name is printed as text, not interpreted."""
    store = str(tmp_path / "s.sqlite")
    run_dir = phone_run(tmp_path / "p", "[bold]run[/bold]", T1)
    assert main(["ingest", str(run_dir), "--store", store]) == 0
    capsys.readouterr()
    assert main(["runs", "--store", store]) == 0
    assert "[bold]run[/bold]" in capsys.readouterr().out


def test_an_unreachable_store_is_a_clear_error(capsys):
    code = main(["runs", "--store", "postgresql://postgres@127.0.0.1:1/test"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot open the results store postgresql+psycopg://postgres@127.0.0.1:1/test" in err
    assert "Traceback" not in err


def test_load_results_from_run_folders_still_works(tmp_path):
    a = host_run(tmp_path / "a", "run-a", T1)
    frame = npubench.load_results(a, status="ok")
    assert list(frame["status"]) == ["ok", "ok"]
    assert len(npubench.load_results(Path(a))) == 4


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path, capsys):
    garbage = tmp_path / "notes.sqlite"
    garbage.write_text("not a database\n")
    assert main(["runs", "--store", str(garbage)]) == 1
    err = capsys.readouterr().err
    assert f"cannot open the results store sqlite:///{garbage}: file is not a database" in err
    assert main(["ingest", str(tmp_path), "--store", str(tmp_path)]) == 1  # a folder
    err = capsys.readouterr().err
    assert f"cannot open the results store sqlite:///{tmp_path}: unable to open" in err
    assert "Traceback" not in err
