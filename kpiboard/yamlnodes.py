"""Reading YAML that people write, so that every problem can say where it is.

Definition files (expectation suites, KPIs, scorecards) are read as a tree of nodes (ruamel.yaml's
composer), not as plain dicts: every key and value keeps its line. A loader subclasses
:class:`NodeReader`, walks the tree, records :class:`~kpiboard.errors.Problem` values as it goes
(``kpis/sales.yaml:14: kpi 'avg_check': unknown key 'nmerator' — did you mean 'numerator'?``) and
raises them together at the end, so that a user fixes them all in one pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Protocol, cast

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kpiboard.errors import Problem

NOT_SCALAR = object()
"""What :meth:`NodeReader.scalar` returns for a list or a mapping."""

Keys = dict[str, tuple[Node, Node]]
"""A mapping's keys, each with its key node and value node."""


class Item(Protocol):
    """The part of a file a problem is about (an expectation, a KPI); its ``label`` prefixes the
    message: ``expectation 3: ``, ``kpi 'avg_check': ``."""

    @property
    def label(self) -> str: ...


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """`` — did you mean 'x'?`` for the option closest to ``word``, or nothing."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if not close and len(word) >= 3:  # an abbreviation: 'min' for 'min_achievement'
        close = [option for option in options if option.startswith(word)][:1]
    return f" — did you mean {close[0]!r}?" if close else ""


def line(node: Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def kind_of_node(node: Node) -> str:
    """How a node reads to a person: ``a list``, ``a string`` …"""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = str(node.tag).rsplit(":", 1)[-1]
    return {
        "str": "a string",
        "int": "a number",
        "float": "a number",
        "bool": "true/false",
        "null": "nothing (null)",
        "timestamp": "a date",
    }.get(tag, f"a {tag} value")


def syntax_problem(text: str, exc: MarkedYAMLError) -> tuple[int | None, int | None, str]:
    """The line, column and plain words of a YAML syntax error, pointing where the mistake
    most likely is: the tab, the quote or bracket that is never closed, the line whose indent
    does not fit, rather than where the parser gave up (often many lines later)."""
    problem, context = str(exc.problem or ""), str(exc.context or "")
    line_at, column = _place(exc.problem_mark or exc.context_mark)
    opened_line, opened_column = _place(exc.context_mark) if exc.context_mark else (line_at, column)
    if "'\\t'" in problem or "\t" in problem:
        return line_at, column, "invalid YAML: a tab; YAML indents with spaces only"
    if "quoted scalar" in context:
        return opened_line, opened_column, "invalid YAML: this quoted string is never closed"
    for kind, opening, closing in (("flow sequence", "[", "]"), ("flow mapping", "{", "}")):
        if kind in context:
            return (
                opened_line,
                opened_column,
                f"invalid YAML: the {opening!r} here is not closed by {closing!r} "
                f"(or lacks a comma) before line {line_at}",
            )
    if "<stream end>" in problem or "end of stream" in problem:
        return (
            line_at,
            column,
            "invalid YAML: the file ends in the middle of a value (a '[' or '{' never closed?)",
        )
    if "simple key" in context and "':'" in problem:
        return opened_line, opened_column, "invalid YAML: a key without ':' (write key: value)"
    if "expected <block end>" in problem and line_at is not None:
        quote = _open_quote(text, (opened_line or 1) - 1, line_at - 1)
        if quote is not None:
            return (
                *quote,
                f"invalid YAML: this quoted string is not closed on its line, so it runs on "
                f"to line {line_at}",
            )
        return (
            line_at,
            column,
            "invalid YAML: this line does not line up with the lines above (the keys of one "
            "mapping, and the items of one list, start in the same column)",
        )
    detail = f" ({context} from line {opened_line})" if context and opened_line else ""
    return line_at, column, f"invalid YAML: {problem or 'cannot parse'}{detail}"


def _place(mark: object) -> tuple[int | None, int | None]:
    """A parser mark's 1-based line and column."""
    if mark is None:
        return None, None
    return int(mark.line) + 1, int(mark.column) + 1  # type: ignore[attr-defined]


def _open_quote(text: str, first: int, last: int) -> tuple[int, int] | None:
    """The 1-based line and column of the first value quote left open on its own line
    (``unit: "count``) among lines ``first`` to ``last`` (0-based, ``last`` excluded)."""
    lines = text.splitlines()
    for number in range(max(first, 0), min(last, len(lines))):
        body = lines[number]
        if body.lstrip().startswith("#"):
            continue
        for quote in ('"', "'"):
            start = body.find(": " + quote)
            if start >= 0 and body.count(quote) % 2 == 1:
                return number + 1, start + 3
    return None


class NodeReader:
    """Reads one file's node tree, recording located problems in ``problems``."""

    explain_syntax = False
    """Whether a syntax error is reported as :func:`syntax_problem` words it (the line and
    column to look at, in plain words) rather than as the parser's own message and line."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.problems: list[Problem] = []
        self._yaml = YAML(typ="safe", pure=True)

    def problem(self, at: int | None, message: str, item: Item | None = None) -> None:
        prefix = item.label if item is not None else ""
        self.problems.append(Problem(self.shown, at, prefix + message))

    def compose(self, text: str) -> Node | None:
        """The document's root node; ``None`` (with a problem recorded) if it is not YAML.
        An empty document is ``None`` with no problem: the caller says what it should hold."""
        try:
            return cast(Node | None, self._yaml.compose(text))
        except MarkedYAMLError as exc:
            if self.explain_syntax:
                at, column, message = syntax_problem(text, exc)
                self.problems.append(Problem(self.shown, at, message, column))
                return None
            mark = exc.problem_mark or exc.context_mark
            at = int(mark.line) + 1 if mark is not None else None
            self.problem(at, f"invalid YAML: {exc.problem or exc.context or 'cannot parse'}")
        except YAMLError as exc:
            self.problem(None, f"invalid YAML: {str(exc).splitlines()[0]}")
        return None

    def mapping(self, node: MappingNode, item: Item | None) -> Keys:
        """The mapping's keys with their key and value nodes; duplicate or odd keys reported."""
        out: Keys = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or not isinstance(key_node.value, str):
                self.problem(line(key_node), "a key must be a plain word", item)
                continue
            key = str(key_node.value)
            if key in out:
                first = line(out[key][0])
                self.problem(
                    line(key_node), f"key {key!r} appears twice (first on line {first})", item
                )
                continue
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: Node) -> object:
        """A scalar node's value (string, int, float, bool, None, date or datetime);
        :data:`NOT_SCALAR` for a list or mapping."""
        if not isinstance(node, ScalarNode):
            return NOT_SCALAR
        try:
            return cast(object, self._yaml.constructor.construct_object(node, deep=True))
        except YAMLError:
            return str(node.value)

    def string(self, node: Node, what: str, item: Item | None, *, strip: bool = True) -> str | None:
        """A non-empty string (stripped, unless ``strip`` is false), or a problem saying what
        was expected instead."""
        value = self.scalar(node)
        if isinstance(value, str) and value.strip():
            return value.strip() if strip else value
        if isinstance(value, str):
            self.problem(line(node), f"{what} is empty", item)
        else:
            self.problem(line(node), f"{what} must be a string, not {kind_of_node(node)}", item)
        return None

    def number(self, node: Node, what: str, item: Item | None) -> float | None:
        """A number (not true/false), or a problem saying what was written instead."""
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(line(node), f"{what} must be a number, not {kind_of_node(node)}", item)
            return None
        return float(value)

    def optional_string(self, keys: Keys, key: str, item: Item | None) -> str | None:
        if key not in keys:
            return None
        return self.string(keys[key][1], key, item)
