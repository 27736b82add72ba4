"""Reading a YAML file as a node tree, so that every value keeps the line it was written on.

``yaml.safe_load`` forgets where a value came from and silently keeps the last of two equal
keys; ``yaml.compose`` keeps both and each node's ``start_mark``. The helpers here read typed
values from nodes and collect every problem (line, message) so that a file's mistakes are
reported together, each as ``FILE:LINE: what is wrong; what to write instead``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from npubench.errors import ConfigError

_STR, _INT, _FLOAT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}"
                                    for t in ("str", "int", "float", "bool", "null"))
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def line_of(node: Node) -> int:
    """The 1-based line a node starts on."""
    return node.start_mark.line + 1


class Problems:
    """Every mistake found in one file, each with its line."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[tuple[int, str]] = []

    def add(self, where: Node | int, message: str) -> None:
        self.items.append((where if isinstance(where, int) else line_of(where), message))

    def error(self) -> ConfigError:
        lines = [f"{self.source}:{line}: {msg}" for line, msg in sorted(self.items,
                                                                          key=lambda i: i[0])]
        return ConfigError("\n".join(dict.fromkeys(lines)))

    def raise_if_any(self) -> None:
        if self.items:
            raise self.error()


def compose(text: str, source: str) -> Node | None:
    """The node tree of ``text`` (None for an empty document); a syntax error is a ConfigError
    naming PyYAML's line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(filter(None, [exc.context, exc.problem]))
        raise ConfigError(f"{source}:{line}: not valid YAML: {what} (check the indentation, "
                          "colons and quotes on this line or the one above)") from None
    except yaml.YAMLError as exc:  # e.g. more than one document
        raise ConfigError(f"{source}:1: not valid YAML: {exc}") from None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def mapping(node: Node, problems: Problems, what: str, keys: Iterable[str]) -> dict[str, Node]:
    """The values of a mapping node by key; reports a node that is not a mapping, keys that
    are not text, unknown keys (with a "did you mean") and keys written twice."""
    keys = list(keys)
    if not isinstance(node, MappingNode):
        if not (isinstance(node, ScalarNode) and node.tag == _NULL):
            problems.add(node, f"{what} must be a mapping of {', '.join(keys)}")
        return {}
    out: dict[str, Node] = {}
    seen: dict[str, int] = {}
    for key_node, value in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.tag not in (_STR, _INT, _BOOL):
            problems.add(key_node, f"{what}: a key must be a plain word")
            continue
        key = key_node.value
        if key in seen:
            problems.add(key_node, f"{what}: key {key!r} is written twice (first on line "
                         f"{seen[key]}); keep one")
            continue
        seen[key] = line_of(key_node)
        if key not in keys:
            problems.add(key_node, f"{what}: unknown key {key!r}; {did_you_mean(key, keys)}"
                         f"valid keys: {', '.join(keys)}")
            continue
        out[key] = value
    return out


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def text(node: Node, problems: Problems, what: str, example: str) -> str | None:
    """A scalar written as text (numbers are kept as written, e.g. a serial); None when it is
    missing, a list, a mapping or a boolean."""
    if isinstance(node, ScalarNode) and node.tag in (_STR, _INT, _FLOAT) and node.value != "":
        return node.value
    quote = (f" (quote it: \"{node.value}\")" if isinstance(node, ScalarNode)
             and node.tag in (_BOOL, _NULL) and node.value else "")
    problems.add(node, f"{what} must be text{quote}, e.g. {example}")
    return None


def integer(node: Node, problems: Problems, what: str, minimum: int) -> int | None:
    if isinstance(node, ScalarNode) and node.tag == _INT:
        value = SafeConstructor().construct_object(node)
        if value >= minimum:
            return value
    problems.add(node, f"{what} must be a whole number of at least {minimum}, not "
                 f"{_shown(node)}")
    return None


def number(node: Node, problems: Problems, what: str, low: float, high: float | None,
           unit: str) -> float | None:
    if isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT):
        value = float(SafeConstructor().construct_object(node))
        if value >= low and (high is None or value <= high):
            return value
    span = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
    problems.add(node, f"{what} must be a number {span} ({unit}), not {_shown(node)}")
    return None


def text_list(node: Node, problems: Problems, what: str, example: str) -> list[str] | None:
    """A list of texts; one text alone is taken as a list of one."""
    if isinstance(node, ScalarNode) and not is_null(node):
        one = text(node, problems, what, example)
        return None if one is None else [one]
    if not isinstance(node, SequenceNode) or not node.value:
        problems.add(node, f"{what} must be a non-empty list, e.g. [{example}]")
        return None
    items = [text(item, problems, f"each item of {what}", example) for item in node.value]
    return None if None in items else items


def duration_s(value: str) -> int:
    """Seconds in a duration written as ``6h``, ``90m``, ``45s`` or ``1h30m`` (ValueError when
    it is none of those or zero)."""
    match = _DURATION.fullmatch(value.strip())
    if not value.strip() or not match:
        raise ValueError(f"{value!r} is not a duration")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"duration {value!r} is zero")
    return total


def _shown(node: Node) -> str:
    if isinstance(node, ScalarNode):
        return repr(node.value) if node.tag != _NULL else "nothing"
    return "a list" if isinstance(node, SequenceNode) else "a mapping"
