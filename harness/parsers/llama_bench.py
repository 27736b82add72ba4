"""Parse the output of llama.cpp's ``llama-bench`` in any of its text formats.

Pure: text in, plain dict out, never raises on odd text. The format is detected: a JSON array
(``-o json``), JSON lines (``-o jsonl``), CSV (``-o csv``) or the Markdown table (``-o md``, the
default). Fields are read by name, never by position (DEVICE_TOOLS.md §3.2), with one exception:
a Markdown table pasted without its header row is read by llama-bench's default columns where
its rows have exactly those (``default_columns``). Log lines mixed in from stderr are skipped.
"""

from __future__ import annotations

import csv
import json
import re

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TS = re.compile(rf"({NUM})\s*(?:±|\+/-|\+-|Â±)\s*({NUM})")
_SIZE = re.compile(rf"({NUM})\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)\b")
_PARAMS = re.compile(rf"({NUM})\s*([KMBT])?\b")
_TEST = re.compile(r"^(?:pp(\d{1,18}))?\+?(?:tg(\d{1,18}))?(?:\s*@\s*d(\d{1,18}))?$")
_BUILD = re.compile(r"^build:\s*(\w+)(?:\s*\((\d+)\))?")
_SEPARATOR = re.compile(r"^:?-+:?$")
_SIZE_CELL = re.compile(rf"^{NUM}\s*(?:B|KiB|MiB|GiB|TiB)$")
_PARAMS_CELL = re.compile(rf"^{NUM}\s*[KMBT]?$")
_TS_CELL = re.compile(rf"^{NUM}(?:\s*(?:±|\+/-|\+-|Â±)\s*{NUM})?$")
_ERROR = re.compile(r"(?i)^(?:\w+: )?error\b|failed to (?:load|create|initiali[sz]e)")
_SIZE_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
               "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_PARAM_UNITS = {None: 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
# Old builds had one boolean per backend instead of "backends".
_OLD_BACKEND_FLAGS = ("cuda", "vulkan", "kompute", "metal", "sycl", "opencl", "gpu_blas", "blas")
KEYS = ("test", "n_prompt", "n_gen", "n_depth", "tokens_per_s", "tokens_per_s_std", "backend",
        "devices", "model_size_bytes", "model_params", "samples_ns", "samples_ts", "n_threads",
        "n_gpu_layers", "model_type", "build_commit", "build_number")
"""``backend`` is the build's list of ggml backends (``backends``: every one it was built with,
not only the one in use); ``devices`` the devices the test ran on (``-dev``), see
``devices_in_use``."""


def _int(value) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") and value is not True else None
    except (TypeError, ValueError, OverflowError):
        return None


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _text(value) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _samples(value, kind) -> list | None:
    if isinstance(value, str):
        value = [v for v in re.split(r"[;,\s]+", value.strip("[] ")) if v]
    if not isinstance(value, list):
        return None
    out = [kind(v) for v in value]
    return out if all(v is not None for v in out) else None


def format_test_name(n_prompt: int | None, n_gen: int | None,
                     n_depth: int | None = None) -> str | None:
    """The Markdown name of a test: ``pp512``, ``tg128``, ``pp512+tg128``, ``pp512 @ d512``."""
    parts = [f"pp{n_prompt}" if n_prompt else "", f"tg{n_gen}" if n_gen else ""]
    name = "+".join(p for p in parts if p)
    if not name:
        return None
    return f"{name} @ d{n_depth}" if n_depth else name


def _from_record(rec: dict) -> dict:
    """One JSON/JSONL object or CSV row, by field name."""
    n_prompt, n_gen, n_depth = _int(rec.get("n_prompt")), _int(rec.get("n_gen")), \
        _int(rec.get("n_depth"))
    backend = rec.get("backends")
    if backend is None:
        flags = [f.upper() for f in _OLD_BACKEND_FLAGS if str(rec.get(f)).lower() in ("true", "1")]
        backend = ",".join(flags) or None
    return {"test": format_test_name(n_prompt, n_gen, n_depth), "n_prompt": n_prompt,
            "n_gen": n_gen, "n_depth": n_depth, "tokens_per_s": _float(rec.get("avg_ts")),
            "tokens_per_s_std": _float(rec.get("stddev_ts")), "backend": backend,
            "devices": _text(rec.get("devices")),
            "model_size_bytes": _int(rec.get("model_size")),
            "model_params": _int(rec.get("model_n_params")),
            "samples_ns": _samples(rec.get("samples_ns"), _int),
            "samples_ts": _samples(rec.get("samples_ts"), _float),
            "n_threads": _int(rec.get("n_threads")), "n_gpu_layers": _int(rec.get("n_gpu_layers")),
            "model_type": rec.get("model_type"), "build_commit": rec.get("build_commit"),
            "build_number": _int(rec.get("build_number"))}


def _is_result(obj) -> bool:
    return isinstance(obj, dict) and ("avg_ts" in obj or "avg_ns" in obj)


def _json_array(text: str) -> list[dict] | None:
    decoder = json.JSONDecoder()
    for m in re.finditer(r"(?m)^\s*\[", text):
        try:
            value, _ = decoder.raw_decode(text, m.start() + len(m.group()) - 1)
        except ValueError:
            continue
        if isinstance(value, list) and value and all(_is_result(v) for v in value):
            return value
    return None


def _json_lines(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        if line.lstrip().startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if _is_result(value):
                out.append(value)
    return out


def _csv(lines: list[str]) -> list[dict]:
    for i, line in enumerate(lines):
        if "," not in line or "avg_ts" not in line:
            continue
        header = [h.strip() for h in next(csv.reader([line]))]
        if "avg_ts" not in header:
            continue
        rows = []
        for values in csv.reader(lines[i + 1:]):
            if len(values) != len(header):
                break
            rows.append(dict(zip(header, values, strict=True)))
        return rows
    return []


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _markdown(lines: list[str]) -> tuple[list[dict], list[str] | None]:
    """The Markdown table's tests, and the columns assumed when its header row is missing
    (``default_columns``; None when the table had its header)."""
    header, assumed, tests, build = None, None, [], (None, None)
    for line in lines:
        if m := _BUILD.match(line.strip()):
            build = (m.group(1), _int(m.group(2)))
        if not line.strip().startswith("|"):
            continue
        cells = _cells(line)
        if header is None:
            if "t/s" in cells and "test" in cells:
                header = cells
                continue
            if all(_SEPARATOR.match(c) for c in cells):
                continue
            header = assumed = default_columns(cells)
            if header is None:
                continue
        if all(_SEPARATOR.match(c) for c in cells) or len(cells) != len(header):
            continue
        tests.append(_from_row(dict(zip(header, cells, strict=True))))
    for test in tests:
        test["build_commit"], test["build_number"] = build
    return tests, assumed


def default_columns(cells: list[str]) -> list[str] | None:
    """The columns of a header-less Markdown row, where its column count is that of
    llama-bench's default set and its cells read as such; None otherwise.

    ``markdown_printer::print_header`` (llama-bench.cpp) always prints model, size, params and
    backend first and test, t/s last; between them, with every other parameter at its default,
    ``ngl`` alone for a GPU-like build, or ``threads`` alone where the build's backend names
    CPU, BLAS or ZenDNN. Any other column count has columns no row can name, so it is not read.
    """
    if len(cells) != 7:
        return None
    model, size, params, backend, _, test, ts = cells
    test = re.sub(r"\b(pp|tg)\s+(\d+)", r"\1\2", test)
    if not (model and backend and _SIZE_CELL.match(size) and _PARAMS_CELL.match(params)
            and test and _TEST.match(test) and _TS_CELL.match(ts)):
        return None
    on_cpu = any(word in backend for word in ("CPU", "BLAS", "ZenDNN"))
    return ["model", "size", "params", "backend", "threads" if on_cpu else "ngl", "test", "t/s"]


def _from_row(row: dict) -> dict:
    """One Markdown row; sizes, parameter counts and ``avg ± std`` are parsed."""
    name = re.sub(r"\b(pp|tg)\s+(\d+)", r"\1\2", row.get("test", "")).strip()
    m = _TEST.match(name)
    n_prompt = n_gen = n_depth = None
    if m and name:
        n_prompt, n_gen = int(m.group(1) or 0), int(m.group(2) or 0)
        n_depth = int(m.group(3) or 0)
    ts = _TS.search(row.get("t/s", ""))
    mean = _float(ts.group(1)) if ts else _float(row.get("t/s", "").split(" ")[0])
    size = _SIZE.search(row.get("size", ""))
    params = _PARAMS.search(row.get("params", ""))
    out = dict.fromkeys(KEYS)
    out.update(test=name or None, n_prompt=n_prompt, n_gen=n_gen, n_depth=n_depth,
               tokens_per_s=mean, tokens_per_s_std=_float(ts.group(2)) if ts else None,
               backend=row.get("backend") or None, model_type=row.get("model") or None,
               devices=row.get("dev") or row.get("devices") or None,
               model_size_bytes=_int(float(size.group(1)) * _SIZE_UNITS[size.group(2)] + 0.5)
               if size else None,
               model_params=_int(float(params.group(1)) * _PARAM_UNITS[params.group(2)] + 0.5)
               if params else None,
               n_threads=_int(row.get("threads")),
               n_gpu_layers=_int(row.get("ngl", row.get("n_gpu_layers"))))
    return out


def devices_in_use(test: dict) -> tuple[list[str] | None, str]:
    """The ggml devices a test offloaded its layers to, and which field said so.

    llama-bench's ``devices`` field is its ``-dev`` list as resolved (``devices_to_string`` in
    llama-bench.cpp): device names joined by ``/`` (``HTP0``, ``GPUOpenCL``), ``none`` for no
    device (all on the CPU), ``auto`` when llama.cpp chose by itself; a device it does not find
    is an error, so a named one is the one in use. With ``n_gpu_layers`` 0 nothing is
    offloaded. ``(["HTP0"], "devices")``, ``([], "devices")`` for the CPU only, or ``(None,
    "backends")`` when the field is missing (older builds, a Markdown table without ``dev``)
    or ``auto``: then only the build's ``backends`` list is left to go by."""
    value = test.get("devices")
    if not value or value == "auto":
        return None, "backends"
    if value == "none" or test.get("n_gpu_layers") == 0:
        return [], "devices"
    return [d.strip() for d in value.split("/") if d.strip()], "devices"


def parse_llama_bench(text: str) -> dict:
    """``{"format", "tests", "failed"[, "error"][, "columns_assumed"]}``; ``{}`` when nothing
    is recognised. ``columns_assumed``: a Markdown table pasted without its header row, read
    with llama-bench's default columns (``default_columns``).

    ``failed`` is true when an error line was printed and no result came out."""
    text = text or ""
    lines = text.splitlines()
    out: dict = {}
    records = _json_array(text)
    fmt = "json"
    if records is None:
        records, fmt = _json_lines(lines), "jsonl"
    if not records:
        records, fmt = _csv(lines), "csv"
    if records:
        out = {"format": fmt, "tests": [_from_record(r) for r in records]}
    else:
        tests, assumed = _markdown(lines)
        if tests:
            out = {"format": "md", "tests": tests}
            if assumed:
                out["columns_assumed"] = assumed
    error = next((line.strip() for line in lines if _ERROR.search(line.strip())), None)
    if error:
        out["error"] = error
    if out:
        out["failed"] = error is not None and not out.get("tests")
    return out
