"""Word expansion for the simulated phone's shell: parameters, ``$(...)``, ``$((...))``,
field splitting and globbing over the device file system (a mixin of ``interp.Shell``)."""

from __future__ import annotations

import ast
import fnmatch
import math
import operator
import posixpath
import re

from npubench.devices.sim import shell as syntax
from npubench.devices.sim.cmdio import IO, Sink, Source
from npubench.devices.sim.lexer import read_expansion
from npubench.devices.sim.shell import ShellSyntaxError


class Expander:
    """Needs ``vars``, ``params``, ``arg0``, ``status``, ``pid``, ``last_bg``, ``cwd``,
    ``userland``, ``io`` and ``subshell()`` from the shell it is mixed into."""

    def expand_words(self, words: list[syntax.Word]) -> list[str]:
        out: list[str] = []
        for word in words:
            out.extend(self._expand(word, split=True))
        return out

    def expand_word(self, word: syntax.Word, split: bool = False) -> str:
        return " ".join(self._expand(word, split=split))

    def _expand(self, word: syntax.Word, split: bool) -> list[str]:
        fields: list[list[tuple[str, bool]]] = [[]]
        started = [False]  # whether the current field exists even if empty ("" or "$x")
        for kind, text, quoted in word.parts:
            if kind == "lit":
                fields[-1].append((text, quoted))
                started[-1] = started[-1] or quoted or bool(text)
                continue
            if kind == "var" and text == "@" and quoted:
                for n, param in enumerate(self.params):
                    if n:
                        fields.append([])
                        started.append(True)
                    fields[-1].append((param, True))
                    started[-1] = True
                continue
            value = self._value(kind, text)
            if quoted or not split:
                fields[-1].append((value, True))
                started[-1] = True
                continue
            pieces = value.split()
            if value[:1].isspace() and (fields[-1] or started[-1]):
                fields.append([])
                started.append(False)
            for n, piece in enumerate(pieces):
                if n:
                    fields.append([])
                    started.append(False)
                fields[-1].append((piece, False))
                started[-1] = True
            if value[-1:].isspace() and pieces:
                fields.append([])
                started.append(False)
        result: list[str] = []
        for runs, real in zip(fields, started, strict=True):
            if not real and not runs:
                continue
            text = "".join(t for t, _ in runs)
            if split and any(not q and any(c in t for c in "*?[") for t, q in runs):
                pattern = "".join(t if not q else _glob_escape(t) for t, q in runs)
                matches = self.glob(pattern)
                if matches:
                    result.extend(matches)
                    continue
            if real or text:
                result.append(text)
        return result

    def _value(self, kind: str, text: str) -> str:
        if kind == "cmd":
            sub_out = Sink()
            sub = self.subshell(IO(Source(), sub_out, self.io.err))
            self.status = sub.run(text)
            return sub_out.data.decode(errors="replace").rstrip("\n")
        if kind == "arith":
            return str(self._arith(text))
        m = _PARAM.fullmatch(text)
        if m is None:
            raise ShellSyntaxError(f"${{{text}}}: bad substitution")
        length, name, op, arg = m.group(1), m.group(2), m.group(3) or m.group(5), (
            m.group(4) if m.group(3) else m.group(6)) or ""
        value = self._param(name)
        if length:
            return str(len(value or ""))
        if op in (":-", ":=", "-", "="):
            if (not value) if op.startswith(":") else value is None:
                value = self.expand_text(arg)
                if op.endswith("="):
                    self.vars[name] = value
        elif op in (":+", "+"):
            value = self.expand_text(arg) if (value if op == ":+" else value is not None) else ""
        elif op:
            value = _trim(value or "", op, self.expand_text(arg))
        return value or ""

    def expand_text(self, text: str) -> str:
        """``$...`` and backquote expansions inside arbitrary text (no splitting, no globbing)."""
        out, i = [], 0
        while i < len(text):
            if text[i] in "$`":
                (kind, body, _), end = read_expansion(text, i, True)
                out.append(body if kind == "lit" else self._value(kind, body))
                i = end
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _param(self, name: str) -> str | None:
        specials = {"?": str(self.status), "$": str(self.pid), "#": str(len(self.params)),
                    "!": str(self.last_bg) if self.last_bg else "", "0": self.arg0, "-": "hB",
                    "@": " ".join(self.params), "*": " ".join(self.params)}
        if name in specials:
            return specials[name]
        if name.isdigit():
            n = int(name)
            return self.params[n - 1] if 0 < n <= len(self.params) else None
        return self.vars.get(name)

    def _arith(self, expr: str) -> int:
        try:
            text = self.expand_text(expr)
            text = syntax.NAME.sub(lambda m: str(int(self.vars.get(m.group(0)) or 0)), text)
            text = text.replace("&&", " and ").replace("||", " or ").strip()
            return _eval_arith(ast.parse(text or "0", mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError) as exc:
            raise ShellSyntaxError(f"{expr}: bad arithmetic: {exc}") from None

    def glob(self, pattern: str) -> list[str]:
        """Paths matching a glob pattern, sorted; relative patterns stay relative."""
        fs = self.userland.fs
        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        found = ["/" if absolute else ""]
        for part in parts:
            nxt = []
            for base in found:
                if not any(c in part for c in "*?["):
                    nxt.append(posixpath.join(base, fnmatch_unescape(part)) if base else
                               fnmatch_unescape(part))
                    continue
                names = fs.listdir(fs.normalize(base or ".", self.cwd)) or []
                for name in names:
                    if fnmatch.fnmatchcase(name, part) and (part.startswith(".")
                                                            or not name.startswith(".")):
                        nxt.append(posixpath.join(base, name) if base else name)
            found = nxt
        return sorted(p for p in found if fs.stat(fs.normalize(p, self.cwd)) is not None)


_PARAM = re.compile(r"(#?)([A-Za-z_][A-Za-z0-9_]*|[0-9?$#@*!-])(?:(:?[-=+?])(.*)|(%%?|##?)(.*))?",
                    re.DOTALL)


def _trim(value: str, op: str, pattern: str) -> str:
    """``${x%pat}`` ``${x%%pat}`` ``${x#pat}`` ``${x##pat}``."""
    cuts = range(len(value) + 1)
    if op.startswith("#"):
        for n in (reversed(cuts) if op == "##" else cuts):
            if fnmatch.fnmatchcase(value[:n], pattern):
                return value[n:]
    else:
        for n in (cuts if op == "%%" else reversed(cuts)):
            if fnmatch.fnmatchcase(value[n:], pattern):
                return value[:n]
    return value


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def fnmatch_unescape(text: str) -> str:
    for c in "*?[":
        text = text.replace(f"[{c}]", c)
    return text


_ARITH_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Mod: lambda a, b: int(math.fmod(a, b)),
              ast.Div: lambda a, b: int(a / b), ast.FloorDiv: lambda a, b: int(a / b),
              ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
              ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne,
              ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.LShift: operator.lshift,
              ast.RShift: operator.rshift}


def _eval_arith(node) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        value = _eval_arith(node.operand)
        return -value if isinstance(node.op, ast.USub) else (
            int(not value) if isinstance(node.op, ast.Not) else value)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH_OPS:
        return int(_ARITH_OPS[type(node.op)](_eval_arith(node.left), _eval_arith(node.right)))
    if isinstance(node, ast.BoolOp):
        values = [_eval_arith(v) for v in node.values]
        return int(all(values) if isinstance(node.op, ast.And) else any(values))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _ARITH_OPS:
        return int(_ARITH_OPS[type(node.ops[0])](_eval_arith(node.left),
                                                 _eval_arith(node.comparators[0])))
    raise ValueError("unsupported expression")
