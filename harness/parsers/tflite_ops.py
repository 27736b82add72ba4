"""The op-profiling tables of ``benchmark_model --enable_op_profiling=true``.

Pure. Reads the "Run Order" tables of the regular-run section (not the initialization one, not
"Delegate internal"), whichever way they were printed: tab-separated (the tool's own output),
tabs turned to spaces (pasted copies), or CSV (``--op_profiling_output_mode=csv``); with or
without the old ``[start]`` column. Columns are found from the header, never by position.
"""

from __future__ import annotations

import re

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUM = re.compile(NUM)
_SUBGRAPH = re.compile(r"^(?:Primary graph|Subgraph \(index: (\d{1,18})\)) profile:")
_BUILTIN = re.compile(r"^[A-Z][A-Z0-9_]*$")
_COLUMNS = {"node type": "node_type", "start": "start_ms", "first": "first_ms",
            "avg ms": "avg_ms", "avg_ms": "avg_ms", "%": "percent", "cdf%": "cdf_percent",
            "mem kb": "mem_kb", "times called": "times_called", "name": "name"}


def is_delegated_op(node_type: str, name: str = "") -> bool:
    """DEVICE_TOOLS.md §1.4: builtins are UPPER_SNAKE_CASE; ``TfLite*`` kernels, anything
    naming a delegate, or rows named ``Delegate/...`` are delegated work. Other unknown types
    count as delegated too, except custom CPU ops (``TFLite_*`` such as
    ``TFLite_Detection_PostProcess``, and ``Flex*``)."""
    if node_type.startswith("TfLite") or "delegate" in node_type.lower():
        return True
    if name.startswith("Delegate/"):
        return True
    if _BUILTIN.match(node_type) or node_type.startswith(("TFLite_", "Flex")):
        return False
    return bool(node_type)


def _header(line: str) -> tuple[list[str], str] | None:
    """Column keys and the row mode ("csv" or "table") from a Run Order header line."""
    if "[" in line:
        names = [n.strip().lower() for n in re.findall(r"\[([^\]]+)\]", line)]
        mode = "table"
    elif line.strip().lower().startswith("node type,"):
        names = [n.strip().lower() for n in line.split(",")]
        mode = "csv"
    else:
        return None
    keys = [_COLUMNS.get(n, n.replace(" ", "_")) for n in names]
    if not keys or keys[0] != "node_type" or keys[-1] != "name":
        return None
    return keys, mode


def _tokens(line: str, mode: str) -> list[tuple[str, int, int]]:
    if mode == "csv":
        pattern = r"[^,]+"
    elif "\t" in line:
        pattern = r"[^\t]+"
    else:
        pattern = r"\S+"
    out = []
    for m in re.finditer(pattern, line):
        value = m.group().strip()
        if value:
            start = m.start() + (len(m.group()) - len(m.group().lstrip()))
            out.append((value, start, start + len(value)))
    return out


def _is_number(token: str, percent: bool) -> bool:
    if percent:
        return token.endswith("%") and _NUM.fullmatch(token[:-1]) is not None
    return _NUM.fullmatch(token) is not None


def _row(line: str, keys: list[str], mode: str) -> dict | None:
    """One row: find the run of numeric columns (the ``%`` ones must end in ``%``); what is
    before it is the node type, what is after it the name; both may contain spaces."""
    numeric = keys[1:-1]
    kinds = [k in ("percent", "cdf_percent") for k in numeric]
    tokens = _tokens(line, mode)
    width = len(numeric)
    for i in range(1, len(tokens) - width + 1):
        window = tokens[i:i + width]
        if all(_is_number(tok[0], pct) for tok, pct in zip(window, kinds, strict=True)):
            break
    else:
        return None
    node_type = line[tokens[0][1]:tokens[i - 1][2]]
    rest = tokens[i + width:]
    name = line[rest[0][1]:rest[-1][2]] if rest else ""
    if mode == "csv":
        name = name.replace("\t", ",")  # the tool turns commas inside names into tabs
    values = {key: float(tok[0].rstrip("%")) for key, tok in zip(numeric, window, strict=True)}
    times = values.get("times_called")
    return {"node_type": node_type, "avg_ms": values.get("avg_ms"),
            "percent": values.get("percent"),
            "times_called": int(times) if times is not None and abs(times) < 2**63 else None,
            "name": name,
            "delegated": is_delegated_op(node_type, name)}


def parse_op_profile(lines: list[str]) -> list[dict]:
    """Rows of every Run Order table of the regular runs, each with its ``subgraph`` index."""
    ops: list[dict] = []
    section, subgraph, in_table, header = None, 0, False, None
    for line in lines:
        text = line.strip()
        if "Profiling Info for Benchmark Initialization" in text:
            section, subgraph, in_table = "init", 0, False
        elif "Profiling Info for Regular Benchmark Runs" in text:
            section, subgraph, in_table = "regular", 0, False
        elif text.startswith("Delegate internal:"):
            section, in_table = "delegate", False
        elif m := _SUBGRAPH.match(text):
            subgraph, in_table = int(m.group(1) or 0), False
        elif text.startswith("====="):
            in_table, header = "Run Order" in text and section in (None, "regular"), None
        elif not in_table:
            continue
        elif not text:
            in_table = header is None  # a blank line ends the table
        elif header is None:
            header = _header(line)
            in_table = header is not None
        elif (row := _row(line, *header)) is not None:
            row["subgraph"] = subgraph
            ops.append(row)
    return ops
