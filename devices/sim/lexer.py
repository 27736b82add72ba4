"""The tokenizer of the simulated phone's shell (grammar and vocabulary: ``shell.py``):
words with their quoting kept as parts, operators, and redirections."""

from __future__ import annotations

import re
from dataclasses import dataclass


class ShellSyntaxError(Exception):
    """A command line mksh would refuse; the message is mksh's (without the ``sh:`` prefix)."""


@dataclass
class Word:
    parts: list[tuple[str, str, bool]]  # (lit|var|cmd|arith, text, quoted)

    def literal(self) -> str | None:
        """The text of a word made of one unquoted literal (reserved words, names), or None."""
        if len(self.parts) == 1 and self.parts[0][0] == "lit" and not self.parts[0][2]:
            return self.parts[0][1]
        return None


OPERATORS = ("&&", "||", ";;", ">>", "<<", ">&", "<&", ">|", ";", "&", "|", "(", ")", "<", ">",
             "\n")
META = set(" \t\n;&|()<>")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
SPECIAL_PARAMS = set("?$#@*!-0123456789")


def tokenize(src: str) -> list[tuple[str, object]]:
    """("word", Word) | ("op", text) | ("redir", (fd, op)) tokens."""
    tokens: list[tuple[str, object]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t":
            i += 1
        elif src.startswith("\\\n", i):
            i += 2
        elif c == "#":
            while i < n and src[i] != "\n":
                i += 1
        elif (m := re.match(r"(\d*)(>>|>&|<&|>\||<<|>|<)", src[i:])) and (m.group(1) or c in "<>"):
            op = m.group(2)
            if op == "<<":
                raise ShellSyntaxError("here documents are not supported")
            fd = int(m.group(1)) if m.group(1) else (0 if op[0] == "<" else 1)
            tokens.append(("redir", (fd, ">" if op == ">|" else op)))
            i += m.end()
        elif op := next((o for o in OPERATORS if src.startswith(o, i)), None):
            if op == ";;":
                raise ShellSyntaxError("';;' unexpected")
            tokens.append(("op", op))
            i += len(op)
        else:
            word, i = _read_word(src, i)
            tokens.append(("word", word))
    return tokens


def _read_word(src: str, i: int) -> tuple[Word, int]:
    parts: list[tuple[str, str, bool]] = []

    def lit(text: str, quoted: bool) -> None:
        if parts and parts[-1][0] == "lit" and parts[-1][2] == quoted:
            parts[-1] = ("lit", parts[-1][1] + text, quoted)
        else:
            parts.append(("lit", text, quoted))

    n = len(src)
    while i < n and src[i] not in META:
        c = src[i]
        if c == "'":
            end = src.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("no closing quote")
            lit(src[i + 1:end], True)
            i = end + 1
        elif c == '"':
            i += 1
            opened = i
            while True:
                if i >= n:
                    raise ShellSyntaxError("no closing quote")
                c = src[i]
                if c == '"':
                    if i == opened:
                        lit("", True)  # "" is an (empty) word of its own
                    i += 1
                    break
                if c == "\\" and i + 1 < n and src[i + 1] in '$`"\\\n':
                    if src[i + 1] != "\n":
                        lit(src[i + 1], True)
                    i += 2
                elif c in "$`":
                    part, i = read_expansion(src, i, True)
                    if part[0] == "lit":
                        lit(part[1], True)
                    else:
                        parts.append(part)
                else:
                    lit(c, True)
                    i += 1
        elif c == "\\":
            if i + 1 < n and src[i + 1] != "\n":
                lit(src[i + 1], True)
            i += 2
        elif c in "$`":
            part, i = read_expansion(src, i, False)
            if part[0] == "lit":
                lit(part[1], False)
            else:
                parts.append(part)
        else:
            lit(c, False)
            i += 1
    return Word(parts), i


def read_expansion(src: str, i: int, quoted: bool) -> tuple[tuple[str, str, bool], int]:
    """``$name ${...} $(...) $((...)) `...```: one part, and the index after it."""
    if src[i] == "`":
        end = i + 1
        while end < len(src) and src[end] != "`":
            end += 2 if src[end] == "\\" else 1
        if end >= len(src):
            raise ShellSyntaxError("no closing quote")
        return ("cmd", src[i + 1:end].replace("\\`", "`"), quoted), end + 1
    nxt = src[i + 1] if i + 1 < len(src) else ""
    if src.startswith("$((", i):
        end = _matching(src, i + 3)
        if not src.startswith("))", end):
            raise ShellSyntaxError("missing ))")
        return ("arith", src[i + 3:end], quoted), end + 2
    if nxt == "(":
        end = _matching(src, i + 2)
        return ("cmd", src[i + 2:end], quoted), end + 1
    if nxt == "{":
        end = src.find("}", i + 2)
        if end < 0:
            raise ShellSyntaxError("missing }")
        return ("var", src[i + 2:end], quoted), end + 1
    if m := NAME.match(src, i + 1):
        return ("var", m.group(0), quoted), m.end()
    if nxt and nxt in SPECIAL_PARAMS:
        return ("var", nxt, quoted), i + 2
    return ("lit", "$", quoted), i + 1


def _matching(src: str, i: int) -> int:
    """Index of the ``)`` closing the ``(`` just before ``i`` (quotes and nesting aware)."""
    depth = 1
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            i = src.find("'", i + 1)
            if i < 0:
                break
        elif c == '"':
            i += 1
            while i < len(src) and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellSyntaxError("missing )")


