"""KPI files (YAML) → :mod:`kpi_designer.model` values, with every problem located.

``load_kpis(folder)`` reads every ``*.yaml``/``*.yml`` file under ``folder``; each holds a list
under ``kpis:``. Problems are collected across all files, then raised as one
:class:`~kpi_designer.errors.DefinitionError`, one ``file:line: kpi 'id': what`` line each:

- in one KPI: unknown or missing keys, wrong types, an unknown type, unit, fact, aggregation or
  column (with a did-you-mean), SQL that does not parse, a dimension its fact does not reach;
- across KPIs: ids used twice, references to KPIs that do not exist, cycles, inputs of the wrong
  type (a cumulative KPI needs a simple one), units that cannot be added or compared.

A problem is reported where it is, once: a KPI that uses a KPI with a problem of its own (or
one defined in a file that is not valid YAML) is left out without a message of its own, and the
first problem of what it uses names it (``… (also leaves out avg_check, which uses it)``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlglot
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from sqlglot import exp
from sqlglot.errors import ParseError

from kpi_designer import model as m
from kpi_designer.errors import DefinitionError
from kpi_designer.semantic import (
    COLUMNS,
    DIMENSIONS,
    ENTITIES,
    FACTS,
    ORDERED,
    Fact,
    entity_of,
    referring,
    relations,
)
from kpiboard.errors import Problem
from kpiboard.yamlnodes import Keys, NodeReader, did_you_mean, kind_of_node, line

SUFFIXES = (".yaml", ".yml")
ID = re.compile(r"[a-z][a-z0-9_]*")
ID_LINE = re.compile(r"""^[ -]*id:\s*["']?([a-z][a-z0-9_]*)["']?\s*(?:#.*)?$""", re.MULTILINE)
"""An ``id:`` line, to know which KPIs a file that is not valid YAML defines."""
DIALECT = "duckdb"
"""The SQL dialect ``expr`` and ``filter`` are written in."""

COMMON_KEYS = (
    "id",
    "label",
    "description",
    "unit",
    "direction",
    "owner",
    "type",
    "thresholds",
    "missing_plan",
)
REQUIRED_COMMON = ("id", "label", "description", "unit", "type")
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "simple": ("fact", "agg", "expr", "filter", "time"),
    "ratio": ("numerator", "denominator"),
    "derived": ("expr", "inputs"),
    "cumulative": ("kpi", "to_date", "window"),
    "conversion": ("base", "conversion", "entity", "window"),
    "period_over_period": ("kpi", "compare", "output", "like_for_like"),
    "balance": ("fact", "agg", "expr", "filter", "from", "until", "when", "per", "having"),
    "entities": ("count", "entity", "events", "gap"),
}
TYPE_REQUIRED: dict[str, tuple[str, ...]] = {
    "simple": ("fact", "agg"),
    "ratio": ("numerator", "denominator"),
    "derived": ("expr",),
    "cumulative": ("kpi",),
    "conversion": ("base", "conversion", "entity", "window"),
    "period_over_period": ("kpi", "compare"),
    "balance": ("fact", "agg"),
    "entities": ("count", "entity", "events"),
}
TIME_TYPES = ("DATE", "TIMESTAMP")


FilteredKpi = TypeVar("FilteredKpi", bound=m.Simple | m.Balance)
"""A KPI type whose measure an input's ``filter`` adds to."""


class NotAnExpression(ValueError):
    """SQL text that is not one expression; the message says why, to follow ``<what> ``."""


def parse_expression(text: str) -> exp.Expr:
    """An analyst's SQL expression (``net_amount * 0.9``, ``status <> 'cancelled'``), parsed
    as DuckDB SQL: never a query, so no definition or request reads a table of its choosing."""
    try:
        tree = sqlglot.parse_one(text, read=DIALECT)
    except ParseError as exc:
        reason = exc.errors[0]["description"] if exc.errors else str(exc)
        raise NotAnExpression(f"is not valid SQL: {reason}") from None
    if tree.find(exp.Select, exp.Subquery) is not None or not isinstance(tree, exp.Condition):
        raise NotAnExpression("must be an expression, not a query")
    return tree


@dataclass(frozen=True)
class KpiFiles:
    """What the KPI files hold: the KPIs without problems, every problem (sorted by file and
    line), and each KPI left out with the problem that explains why: its own first problem, or
    for a KPI left out only because it uses a broken one, that one's problem."""

    kpis: dict[str, m.Kpi]
    problems: list[Problem]
    left_out: dict[str, Problem]


def load_kpis(folder: Path) -> dict[str, m.Kpi]:
    """Every KPI defined under ``folder``, by id; raises one :class:`DefinitionError` with every
    problem of every file. Files are named relative to ``folder``'s parent (``kpis/sales.yaml``).
    """
    files = read_kpis(folder)
    if files.problems:
        raise DefinitionError(files.problems)
    return files.kpis


def read_kpis(folder: Path, drafts: Mapping[str, str] | None = None) -> KpiFiles:
    """Every KPI file under ``folder``, read as :func:`load_kpis` does but without raising for
    problems: the good KPIs with the problems beside them, so that one broken definition does
    not stop the others being used (``kpiboard kpi eval``). A folder that does not exist is
    still a :class:`DefinitionError`.

    ``drafts`` (a file's path under ``folder``, ``sales.yaml`` → its text) are read in place of
    those files, or as files of their own where none is: the designer checks a KPI being edited
    with the project's others exactly as the command line will once it is saved."""
    if not folder.is_dir():
        raise DefinitionError(
            [
                Problem(
                    str(folder),
                    None,
                    "no such KPI folder: KPIs are YAML files there (docs/kpis.md)",
                )
            ]
        )
    problems: list[Problem] = []
    kpis: list[m.Kpi] = []
    broken: dict[str, Problem] = {}
    given = {folder / name: text for name, text in (drafts or {}).items()}
    paths = {p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file()}
    for path in sorted(paths | set(given)):
        shown = _shown(path, folder)
        try:
            text = given[path] if path in given else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(shown, None, f"cannot read: {exc}"))
            continue
        reader = _Reader(shown)
        kpis += reader.document(text)
        problems += reader.problems
        for kpi_id, problem in reader.broken.items():
            broken.setdefault(kpi_id, problem)
    by_id, cross, bad = _check_kpis(kpis, broken)
    problems += cross
    renamed = _naming_follow_ons(problems, kpis, broken)
    new = {id(old): now for old, now in zip(problems, renamed, strict=True)}
    left_out = {k: new.get(id(p), p) for k, p in {**broken, **bad}.items()}
    for kpi in kpis:  # left out for using a broken KPI: that one's problem explains it
        if kpi.id not in by_id and kpi.id not in left_out:
            cause = _first_broken_input(kpi.id, kpis, left_out)
            if cause is not None:
                left_out[kpi.id] = cause
    return KpiFiles(by_id, sorted(renamed, key=lambda p: (p.path or "", p.line or 0)), left_out)


def _first_broken_input(
    kpi_id: str, kpis: Sequence[m.Kpi], left_out: Mapping[str, Problem]
) -> Problem | None:
    """The problem of the first broken KPI ``kpi_id`` uses, directly or through others."""
    uses = {kpi.id: kpi.inputs() for kpi in kpis}
    seen: set[str] = set()
    queue = list(uses.get(kpi_id, ()))
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name in left_out:
            return left_out[name]
        queue += uses.get(name, ())
    return None


def _naming_follow_ons(
    problems: list[Problem], kpis: Sequence[m.Kpi], broken: Mapping[str, Problem]
) -> list[Problem]:
    """``problems`` with each KPI that is left out only because it uses a broken one named
    on the first problem of what it uses, rather than reported as a problem of its own."""
    uses = {kpi.id: kpi.inputs() for kpi in kpis}
    left_out: dict[int, list[str]] = {}  # id(the problem) → the KPIs it leaves out
    for kpi in kpis:
        if kpi.id in broken:
            continue
        seen: set[str] = set()
        stack = list(uses[kpi.id])
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in broken:
                named = left_out.setdefault(id(broken[name]), [])
                if kpi.id not in named:
                    named.append(kpi.id)
            stack += uses.get(name, ())
    out = []
    for problem in problems:
        ids = left_out.get(id(problem))
        if ids and problem.message.startswith("invalid YAML"):
            which = "which uses one" if len(ids) == 1 else "which use them"
            note = f"its KPIs are not loaded, nor {', '.join(ids)}, {which}"
            problem = replace(problem, message=f"{problem.message} ({note})")
        elif ids:
            which = "which uses it" if len(ids) == 1 else "which use it"
            note = f"also leaves out {', '.join(ids)}, {which}"
            problem = replace(problem, message=f"{problem.message} ({note})")
        out.append(problem)
    return out


def parse_kpis(text: str, shown: str) -> tuple[list[m.Kpi], list[Problem]]:
    """The KPIs one file defines (those without problems) and the problems found in it."""
    reader = _Reader(shown)
    kpis = reader.document(text)
    return kpis, sorted(reader.problems, key=lambda p: p.line or 0)


def _shown(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder.parent).as_posix()
    except ValueError:
        return path.as_posix()


@dataclass
class _Item:
    """One KPI mapping being read."""

    number: int
    node: MappingNode
    keys: Keys = field(default_factory=dict)
    id: str | None = None

    @property
    def label(self) -> str:
        return f"kpi {self.id!r}: " if self.id else f"kpi {self.number}: "


class _Reader(NodeReader):
    explain_syntax = True

    def __init__(self, shown: str) -> None:
        super().__init__(shown)
        self.broken: dict[str, Problem] = {}
        """The KPIs this file defines that have problems, each with its first problem."""

    def document(self, text: str) -> list[m.Kpi]:
        root = self.compose(text)
        if root is None and self.problems:  # not YAML: every KPI it defines is broken
            for match in ID_LINE.finditer(text):
                self.broken.setdefault(match.group(1), self.problems[0])
            return []
        if root is None:
            if not self.problems:
                self.problem(1, "empty file: a KPI file holds a list under kpis:")
            return []
        if not isinstance(root, MappingNode):
            self.problem(line(root), f"a KPI file is a mapping (kpis: …), not {kind_of_node(root)}")
            return []
        keys = self.mapping(root, None)
        for key, (key_node, _) in keys.items():
            if key != "kpis":
                self.problem(line(key_node), f"unknown key {key!r}{did_you_mean(key, ['kpis'])}")
        if "kpis" not in keys:
            if not self.problems:
                self.problem(line(root), "missing key 'kpis' (a list of KPIs)")
            return []
        node = keys["kpis"][1]
        if not isinstance(node, SequenceNode):
            self.problem(line(node), f"kpis must be a list, not {kind_of_node(node)}")
            return []
        out = []
        for number, child in enumerate(node.value, start=1):
            if not isinstance(child, MappingNode):
                self.problem(
                    line(child),
                    f"kpi {number}: must be a mapping (- id: …), not {kind_of_node(child)}",
                )
                continue
            kpi = self.kpi(_Item(number, child))
            if kpi is not None:
                out.append(kpi)
        return out

    # -- one KPI ----------------------------------------------------------------------------

    def kpi(self, item: _Item) -> m.Kpi | None:
        item.keys = self.mapping(item.node, item)
        before = len(self.problems)
        if "id" in item.keys:
            node = item.keys["id"][1]
            kpi_id = self.string(node, "id", item)
            if kpi_id is not None and not ID.fullmatch(kpi_id):
                self.problem(line(node), f"id {kpi_id!r} must be lower_snake_case", item)
            elif kpi_id is not None:
                item.id = kpi_id
        kind = self.choice(item, "type", tuple(m.KPI_TYPES), None)
        allowed = (*COMMON_KEYS, *TYPE_KEYS.get(kind or "", ()))
        for key, (key_node, _) in item.keys.items():
            if key not in allowed:
                options = (
                    allowed if kind else (*COMMON_KEYS, *{k for v in TYPE_KEYS.values() for k in v})
                )
                hint = did_you_mean(key, options) or (
                    f" ({kind} takes {', '.join(TYPE_KEYS[kind])})" if kind else ""
                )
                self.problem(line(key_node), f"unknown key {key!r}{hint}", item)
        for key in (*REQUIRED_COMMON, *TYPE_REQUIRED.get(kind or "", ())):
            if key not in item.keys:
                article = "an" if (kind or "x")[0] in "aeiou" else "a"
                what = (
                    f"{article} {kind} KPI needs"
                    if key in TYPE_REQUIRED.get(kind or "", ())
                    else "needs"
                )
                self.problem(line(item.node), f"{what} {key}:", item)
        common: dict[str, Any] = {
            "id": item.id,
            "label": self.optional_string(item.keys, "label", item),
            "description": self.optional_string(item.keys, "description", item),
            "unit": self.choice(item, "unit", m.UNITS, None),
            "direction": self.choice(item, "direction", ("higher", "lower"), "higher"),
            "owner": self.optional_string(item.keys, "owner", item),
            "thresholds": self.thresholds(item),
            "missing_plan": self.choice(item, "missing_plan", ("none", "carry_forward"), "none"),
            "location": m.Location(self.shown, line(item.node)),
        }
        # a type's reader looks its required keys up: without one there is nothing to read
        complete = all(key in item.keys for key in TYPE_REQUIRED.get(kind or "", ()))
        fields = getattr(self, f"_{kind}")(item) if kind and complete else None
        if fields is None or len(self.problems) > before:
            if item.id is not None and len(self.problems) > before:
                self.broken.setdefault(item.id, self.problems[before])
            return None
        return m.KPI_TYPES[cast(str, kind)](**common, **fields)

    def choice(
        self, item: _Item, key: str, options: Sequence[str], default: str | None
    ) -> str | None:
        if key not in item.keys:
            return default
        node = item.keys[key][1]
        value = self.scalar(node)
        if isinstance(value, str) and value in options:
            return value
        shown = repr(value) if isinstance(value, str) else kind_of_node(node)
        hint = did_you_mean(value, options) if isinstance(value, str) else ""
        self.problem(line(node), f"{key} {shown} is not one of {', '.join(options)}{hint}", item)
        return None

    def positive(self, node: Node, what: str, item: _Item) -> float | None:
        value = self.number(node, what, item)
        if value is not None and value <= 0:
            self.problem(line(node), f"{what} must be above 0, not {value:g}", item)
            return None
        return value

    def thresholds(self, item: _Item) -> m.Thresholds:
        if "thresholds" not in item.keys:
            return m.Thresholds()
        node = item.keys["thresholds"][1]
        if not isinstance(node, MappingNode):
            self.problem(
                line(node),
                f"thresholds must be a mapping (green: 1.0, amber: 0.9), not {kind_of_node(node)}",
                item,
            )
            return m.Thresholds()
        keys = self.mapping(node, item)
        values: dict[str, float] = {}
        for key, (key_node, value_node) in keys.items():
            if key not in ("green", "amber"):
                hint = did_you_mean(key, ["green", "amber"]) or " (thresholds take green, amber)"
                self.problem(line(key_node), f"unknown key {key!r}{hint}", item)
                continue
            value = self.positive(value_node, f"thresholds {key}", item)
            if value is not None:
                values[key] = value
        thresholds = m.Thresholds(**values)
        if thresholds.amber > thresholds.green:
            self.problem(
                line(node),
                f"thresholds: amber ({thresholds.amber}) is above green ({thresholds.green})",
                item,
            )
        return thresholds

    def span(self, item: _Item, key: str, units: Sequence[str]) -> m.Span | None:
        if key not in item.keys:
            return None
        return self.span_node(item.keys[key][1], key, item, units)

    def span_node(self, node: Node, what: str, item: _Item, units: Sequence[str]) -> m.Span | None:
        value = self.scalar(node)
        match = m.Span.PATTERN.fullmatch(value) if isinstance(value, str) else None
        unit = f"{match.group(2).lower()}s" if match else None
        if match is None or unit not in units or int(match.group(1)) < 1:
            examples = " or ".join(f"'3 {u}'" for u in units)
            self.problem(
                line(node),
                f"{what} must be a length like {examples}, not {value!r}"
                if isinstance(value, str)
                else f"{what} must be a length like {examples}, not {kind_of_node(node)}",
                item,
            )
            return None
        return m.Span(int(match.group(1)), cast(Any, unit))

    # -- SQL expressions --------------------------------------------------------------------

    def expression(self, node: Node, what: str, item: _Item | None) -> exp.Expr | None:
        """The SQL expression written in ``node`` (see :func:`parse_expression`)."""
        text = self.string(node, what, item)
        if text is None:
            return None
        try:
            return parse_expression(text)
        except NotAnExpression as exc:
            self.problem(line(node), f"{what} {exc}", item)
            return None

    def sql(
        self,
        node: Node,
        what: str,
        item: _Item,
        names: Mapping[str, str],
        *,
        noun: str,
        fact: Fact,
    ) -> exp.Expr | None:
        """``node``'s SQL expression, parsed; every column it names must be in ``names``
        (name → what it is, for messages), or a column of a table related to ``fact``
        (``invoice.due_on``, :func:`related_problem`)."""
        owner = f" of fact {fact.name}"
        tree = self.expression(node, what, item)
        if tree is None:
            return None
        ok = True
        for column in tree.find_all(exp.Column):
            if column.table:
                problem = related_problem(fact, column)
                if problem is not None:
                    self.problem(line(node), f"{what}: {problem}", item)
                    ok = False
            elif column.name not in names:
                hint = did_you_mean(column.name, list(names))
                self.problem(
                    line(node), f"{what}: unknown {noun} {column.name!r}{owner}{hint}", item
                )
                ok = False
        return tree if ok else None

    def filters(
        self,
        node: Node,
        item: _Item,
        fact: Fact,
        what: str = "filter",
        more: Mapping[str, str] | None = None,
    ) -> tuple[exp.Expr, ...] | None:
        """One condition or a list of them, over the fact's columns and its dimensions (and
        the ``more`` names: a balance's ``as_of``)."""
        names = {c: "column" for c in fact.columns()} | {
            d: "dimension" for d in fact.dimensions() if d not in fact.columns()
        }
        names |= dict(more or {})
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        out = []
        for child in nodes:
            tree = self.sql(
                child,
                what,
                item,
                names,
                noun="column or dimension",
                fact=fact,
            )
            if tree is None:
                return None
            out.append(tree)
        return tuple(out)

    def fact(self, node: Node, item: _Item) -> Fact | None:
        name = self.string(node, "fact", item)
        if name is None:
            return None
        if name.startswith("fct_") and name[4:] in FACTS:
            self.problem(
                line(node),
                f"fact {name!r}: write {name[4:]!r} (facts are named without fct_)",
                item,
            )
            return None
        if name not in FACTS:
            hint = did_you_mean(name, list(FACTS)) or f" (facts: {', '.join(FACTS)})"
            self.problem(line(node), f"unknown fact {name!r}{hint}", item)
            return None
        return FACTS[name]

    def time(self, node: Node, item: _Item, fact: Fact, what: str = "time") -> str | None:
        """A date or timestamp column of ``fact``, written under the key ``what``."""
        name = self.string(node, what, item)
        if name is None:
            return None
        times = [c for c, t in fact.columns().items() if t in TIME_TYPES]
        if name not in times:
            hint = did_you_mean(name, times) or f" (its dates: {', '.join(times)})"
            self.problem(
                line(node),
                f"{what} {name!r} is not a date or timestamp column of fact {fact.name}{hint}",
                item,
            )
            return None
        return name

    # -- the types --------------------------------------------------------------------------

    def _simple(self, item: _Item) -> dict[str, Any] | None:
        measure = self.measure(item, "time")
        return None if measure is None else {"measure": measure}

    def measure(self, item: _Item, time_key: str) -> m.Measure | None:
        """The ``fact``, ``agg``, ``expr`` and ``filter`` of a simple KPI or a balance, with
        its time column under ``time_key`` (a balance's ``from``)."""
        fact = self.fact(item.keys["fact"][1], item) if "fact" in item.keys else None
        agg = self.choice(item, "agg", m.AGGREGATIONS, None)
        if fact is None or agg is None:
            return None
        expr = None
        if "expr" in item.keys:
            columns = {c: "column" for c in fact.columns()}
            expr = self.sql(
                item.keys["expr"][1],
                "expr",
                item,
                columns,
                noun="column",
                fact=fact,
            )
            if expr is None:
                return None
        elif agg != "count":
            self.problem(line(item.keys["agg"][0]), f"agg {agg} needs expr: (what to {agg})", item)
            return None
        filters = self.filters(item.keys["filter"][1], item, fact) if "filter" in item.keys else ()
        time = None
        if time_key in item.keys:
            time = self.time(item.keys[time_key][1], item, fact, time_key)
            if time is None:
                return None
        if filters is None:
            return None
        return m.Measure(fact.name, agg, expr, filters, time)

    def uses_as_of(self, item: _Item) -> bool:
        """Whether a balance's ``expr`` or ``filter`` names ``as_of``, which only ``when``
        may (reported: it is the period's last day, known where the periods are), or its
        ``expr``, ``filter`` or ``when`` names ``value``, which only ``having`` may (each
        ``per`` combination's balance, known once the rows are aggregated)."""
        reserved = (
            (m.AS_OF, ("expr", "filter"), "the period's last day", "when"),
            (m.VALUE, ("expr", "filter", "when"), "the balance of each per combination", "having"),
        )
        for name, keys, meaning, where in reserved:
            for key in keys:
                if key not in item.keys:
                    continue
                node = item.keys[key][1]
                for child in node.value if isinstance(node, SequenceNode) else [node]:
                    value = self.scalar(child)
                    try:
                        tree = parse_expression(value) if isinstance(value, str) else None
                    except NotAnExpression:
                        continue  # reported where it is read
                    if tree is not None and any(
                        c.name == name and not c.table for c in tree.find_all(exp.Column)
                    ):
                        self.problem(
                            line(child),
                            f"{key}: {name} ({meaning}) may only be used in {where}:",
                            item,
                        )
                        return True
        return False

    def input(self, node: Node, what: str, item: _Item) -> m.Input | None:
        """``revenue`` or ``{kpi: revenue, filter: …, as: …, offset: …}``; a filter is checked
        against the input's fact later, when every KPI is known."""
        if not isinstance(node, MappingNode):
            kpi = self.string(node, what, item)
            return None if kpi is None else m.Input(kpi, kpi)
        keys = self.mapping(node, item)
        for key, (key_node, _) in keys.items():
            if key not in ("kpi", "filter", "as", "offset"):
                hint = did_you_mean(key, ["kpi", "filter", "as", "offset"]) or (
                    " (an input takes kpi, filter, as, offset)"
                )
                self.problem(line(key_node), f"{what}: unknown key {key!r}{hint}", item)
                return None
        if "kpi" not in keys:
            self.problem(line(node), f"{what} needs kpi:", item)
            return None
        kpi = self.string(keys["kpi"][1], f"{what} kpi", item)
        alias = self.string(keys["as"][1], f"{what} as", item) if "as" in keys else kpi
        offset = (
            self.span_node(keys["offset"][1], f"{what} offset", item, ("periods", "years"))
            if "offset" in keys
            else None
        )
        filters: tuple[exp.Expr, ...] = ()
        if "filter" in keys:
            parsed = self.unchecked_filters(keys["filter"][1], f"{what} filter", item)
            if parsed is None:
                return None
            filters = parsed
        if kpi is None or alias is None or ("offset" in keys and offset is None):
            return None
        return m.Input(kpi, alias, filters, offset)

    def unchecked_filters(self, node: Node, what: str, item: _Item) -> tuple[exp.Expr, ...] | None:
        """Filters whose columns are checked once the input KPI's fact is known."""
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        out = []
        for child in nodes:
            tree = self.expression(child, what, item)
            if tree is None:
                return None
            out.append(tree)
        return tuple(out)

    def _ratio(self, item: _Item) -> dict[str, Any] | None:
        numerator = self.input(item.keys["numerator"][1], "numerator", item)
        denominator = self.input(item.keys["denominator"][1], "denominator", item)
        if numerator is None or denominator is None:
            return None
        return {"numerator": numerator, "denominator": denominator}

    def _derived(self, item: _Item) -> dict[str, Any] | None:
        listed: list[m.Input] = []
        if "inputs" in item.keys:
            node = item.keys["inputs"][1]
            if not isinstance(node, SequenceNode):
                self.problem(line(node), f"inputs must be a list, not {kind_of_node(node)}", item)
                return None
            for number, child in enumerate(node.value, start=1):
                one = self.input(child, f"input {number}", item)
                if one is None:
                    return None
                listed.append(one)
        text_node = item.keys["expr"][1]
        tree = self.expression(text_node, "expr", item)
        if tree is None:
            return None
        aliases = {i.alias: i for i in listed}
        named = list(listed)
        for column in tree.find_all(exp.Column):
            if column.name not in aliases:
                aliases[column.name] = m.Input(column.name, column.name)
                named.append(aliases[column.name])
        unused = [
            i.alias for i in listed if not any(c.name == i.alias for c in tree.find_all(exp.Column))
        ]
        if unused:
            self.problem(
                line(text_node), f"input {unused[0]!r} is listed but expr does not use it", item
            )
            return None
        return {"expr": tree, "named": tuple(named)}

    def _cumulative(self, item: _Item) -> dict[str, Any] | None:
        kpi = self.string(item.keys["kpi"][1], "kpi", item)
        to_date = self.choice(item, "to_date", m.TO_DATE, None)
        window = self.span(item, "window", ("days", "weeks", "months"))
        if "to_date" in item.keys and "window" in item.keys:
            self.problem(line(item.keys["window"][0]), "give to_date or window, not both", item)
            return None
        if (
            kpi is None
            or ("to_date" in item.keys and to_date is None)
            or ("window" in item.keys and window is None)
        ):
            return None
        return {"kpi": kpi, "to_date": to_date, "window": window}

    def events(self, node: Node, what: str, item: _Item) -> m.Events | None:
        if not isinstance(node, MappingNode):
            self.problem(
                line(node),
                f"{what} must be a mapping ({{fact: lead}}), not {kind_of_node(node)}",
                item,
            )
            return None
        keys = self.mapping(node, item)
        for key, (key_node, _) in keys.items():
            if key not in ("fact", "filter", "time"):
                hint = (
                    did_you_mean(key, ["fact", "filter", "time"]) or " (takes fact, filter, time)"
                )
                self.problem(line(key_node), f"{what}: unknown key {key!r}{hint}", item)
                return None
        if "fact" not in keys:
            self.problem(line(node), f"{what} needs fact:", item)
            return None
        fact = self.fact(keys["fact"][1], item)
        if fact is None:
            return None
        filters = (
            self.filters(keys["filter"][1], item, fact, f"{what} filter")
            if "filter" in keys
            else ()
        )
        time = self.time(keys["time"][1], item, fact) if "time" in keys else None
        if filters is None or ("time" in keys and time is None):
            return None
        return m.Events(fact.name, filters, time)

    def _conversion(self, item: _Item) -> dict[str, Any] | None:
        base = self.events(item.keys["base"][1], "base", item)
        conversion = self.events(item.keys["conversion"][1], "conversion", item)
        entity_node = item.keys["entity"][1]
        entity = self.string(entity_node, "entity", item)
        window = self.span(item, "window", ("days", "weeks", "months"))
        if base is None or conversion is None or entity is None or window is None:
            return None
        for side, events in (("base", base), ("conversion", conversion)):
            reached = FACTS[events.fact].reaches()
            if entity not in reached:
                hint = did_you_mean(entity, list(reached)) or f" (it reaches {', '.join(reached)})"
                self.problem(
                    line(entity_node),
                    f"entity {entity!r}: the {side} fact {events.fact} does not reach it{hint}",
                    item,
                )
                return None
        return {"base": base, "conversion": conversion, "entity": entity, "window": window}

    def _balance(self, item: _Item) -> dict[str, Any] | None:
        measure = None if self.uses_as_of(item) else self.measure(item, "from")
        if measure is None:
            return None
        fact = FACTS[measure.fact]
        until = None
        if "until" in item.keys:
            node = item.keys["until"][1]
            until = self.time(node, item, fact, "until")
            if until is None:
                return None
            if until == (measure.time or fact.time):
                self.problem(
                    line(node),
                    f"until {until!r} is the same column as from (the fact's time column by "
                    "default): a row would stop counting on the day it starts",
                    item,
                )
                return None
        when: tuple[exp.Expr, ...] = ()
        if "when" in item.keys:
            more = {m.AS_OF: "the period's last day"}
            parsed = self.filters(item.keys["when"][1], item, fact, "when", more)
            if parsed is None:
                return None
            when = parsed
        per: tuple[str, ...] = ()
        if "per" in item.keys:
            found = self.per(item.keys["per"][1], item, fact)
            if found is None:
                return None
            per = found
        having = None
        if "having" in item.keys:
            node = item.keys["having"][1]
            if not per:
                self.problem(
                    line(node),
                    "having needs per: (the dimensions whose combinations' balances it tests)",
                    item,
                )
                return None
            having = self.having(node, item, fact, per)
            if having is None:
                return None
        return {"measure": measure, "until": until, "when": when, "per": per, "having": having}

    def per(self, node: Node, item: _Item, fact: Fact) -> tuple[str, ...] | None:
        """A balance's ``per``: one or a list of dimensions the fact reaches, or entities (an
        invoice: the fact's own rows, or those a payment refers to)."""
        known = per_names(fact)
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        if not nodes:
            self.problem(line(node), "per is an empty list: name a dimension or more", item)
            return None
        names: list[str] = []
        for child in nodes:
            name = self.string(child, "per", item)
            if name is None:
                return None
            if name not in known:
                reach = f"fact {fact.name} reaches {', '.join(known)}"
                if name in DIMENSIONS or name in ENTITIES:
                    message = f"per: fact {fact.name} does not reach {name!r} ({reach})"
                else:
                    hint = did_you_mean(name, known) or f" ({reach})"
                    message = f"per: unknown dimension {name!r}{hint}"
                self.problem(line(child), message, item)
                return None
            if name in names:
                self.problem(line(child), f"per: {name!r} is named twice", item)
                return None
            names.append(name)
        return tuple(names)

    def having(self, node: Node, item: _Item, fact: Fact, per: Sequence[str]) -> exp.Expr | None:
        """A balance's ``having``: a condition over ``value`` (each combination's balance),
        the ``per`` names, the dimensions of the ``per`` entities' tables and their columns
        (``product.min_stock_qty``): what one combination determines."""
        tree = self.expression(node, "having", item)
        if tree is None:
            return None
        entities = [name for name in per if name in ENTITIES]
        names = [m.VALUE, *per, *having_dimensions(fact, per)]
        for column in tree.find_all(exp.Column):
            written = column.sql(DIALECT)
            problem = None
            if column.args.get("db") is not None or column.args.get("catalog") is not None:
                problem = f"{written}: name a column of a per entity's table as <entity>.<column>"
            elif column.table and column.table not in entities:
                problem = (
                    f"{written}: {column.table} is not in per: {', '.join(per)} (having names "
                    "columns of the per entities' tables, which one combination determines)"
                )
            elif column.table:
                target = ENTITIES[column.table]
                columns = [c for c in COLUMNS[target.table] if not c.startswith("_")]
                if column.name not in columns:
                    hint = did_you_mean(column.name, columns)
                    problem = (
                        f"unknown column {column.name!r} of {column.table} ({target.table}) "
                        f"in {written}{hint}"
                    )
            elif column.name not in names:
                hint = did_you_mean(column.name, names)
                of = "".join(f", {entity}.<column>" for entity in entities)
                problem = (
                    f"unknown name {column.name!r}{hint} (having names value, the balance of "
                    f"each combination, the dimensions {', '.join(names[1:])}{of})"
                )
            if problem is not None:
                self.problem(line(node), f"having: {problem}", item)
                return None
        return tree

    def _entities(self, item: _Item) -> dict[str, Any] | None:
        count = self.choice(item, "count", m.ENTITY_COUNTS, None)
        events = self.events_list(item.keys["events"][1], item)
        entity = self.entity(item.keys["entity"][1], item)
        gap = self.span(item, "gap", ("days", "weeks", "months"))
        if count is not None and count != "reactivated" and "gap" in item.keys:
            self.problem(
                line(item.keys["gap"][0]),
                f"gap is for count: reactivated only (this KPI counts {count} entities)",
                item,
            )
            return None
        if count == "reactivated" and "gap" not in item.keys:
            self.problem(
                line(item.keys["count"][1]),
                "count: reactivated needs gap: how long without an event makes the next one a "
                "reactivation (like '180 days')",
                item,
            )
            return None
        if count is None or events is None or entity is None or ("gap" in item.keys and not gap):
            return None
        for events_ in events:
            reached = FACTS[events_.fact].dimensions()
            for name, at in entity.items():
                if name not in reached:
                    self.problem(
                        at,
                        f"entity {name!r}: the events fact {events_.fact} does not reach it "
                        f"(it reaches {', '.join(reached)})",
                        item,
                    )
                    return None
        return {"count": count, "entity": tuple(entity), "events": events, "gap": gap}

    def events_list(self, node: Node, item: _Item) -> tuple[m.Events, ...] | None:
        """``events:``: one ``{fact, filter, time}`` mapping, or a list of them."""
        if isinstance(node, MappingNode):
            one = self.events(node, "events", item)
            return None if one is None else (one,)
        if not isinstance(node, SequenceNode):
            self.problem(
                line(node),
                "events must be a mapping ({fact: invoice}) or a list of them, "
                f"not {kind_of_node(node)}",
                item,
            )
            return None
        if not node.value:
            self.problem(line(node), "events is an empty list: name at least one fact", item)
            return None
        out = []
        for number, child in enumerate(node.value, start=1):
            one = self.events(child, f"events {number}", item)
            if one is None:
                return None
            out.append(one)
        return tuple(out)

    def entity(self, node: Node, item: _Item) -> dict[str, int] | None:
        """``entity:``: a dimension, or a list of them (the entity is their combination); each
        with the line it is written on."""
        if isinstance(node, MappingNode):
            self.problem(
                line(node), "entity must be a dimension or a list of them, not a mapping", item
            )
            return None
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        if not nodes:
            self.problem(line(node), "entity is an empty list: name at least one dimension", item)
            return None
        out: dict[str, int] = {}
        for child in nodes:
            name = self.string(child, "entity", item)
            if name is None:
                return None
            if name not in DIMENSIONS:
                hint = did_you_mean(name, list(DIMENSIONS)) or (
                    f" (dimensions: {', '.join(DIMENSIONS)})"
                )
                self.problem(line(child), f"entity {name!r} is not a dimension{hint}", item)
                return None
            if name in out:
                self.problem(line(child), f"entity names {name!r} twice", item)
                return None
            out[name] = line(child)
        return out

    def _period_over_period(self, item: _Item) -> dict[str, Any] | None:
        kpi = self.string(item.keys["kpi"][1], "kpi", item)
        compare = self.choice(item, "compare", ("previous_period", "same_period_last_year"), None)
        output = self.choice(item, "output", ("change_pct", "change", "previous"), "change_pct")
        like = False
        if "like_for_like" in item.keys:
            node = item.keys["like_for_like"][1]
            value = self.scalar(node)
            if not isinstance(value, bool):
                self.problem(
                    line(node),
                    f"like_for_like must be true or false, not {kind_of_node(node)}",
                    item,
                )
                return None
            like = value
        if kpi is None or compare is None or output is None:
            return None
        return {"kpi": kpi, "compare": compare, "output": output, "like_for_like": like}


def per_names(fact: Fact) -> list[str]:
    """What a balance on ``fact`` may count ``per``: the dimensions it reaches, the entities it
    refers to, and its own entity (an invoice of the invoices)."""
    names = [*fact.dimensions(), *fact.reaches()]
    own = entity_of(fact)
    return list(dict.fromkeys([*names, *([own] if own else [])]))


def having_dimensions(fact: Fact, per: Sequence[str]) -> list[str]:
    """The dimensions ``having`` may name besides the ``per`` names: those of the ``per``
    entities' tables (``product_category`` when per ``product``), which one combination
    determines; not one the fact has a column of its own for (a lead's ``channel``)."""
    columns = fact.columns()
    return [
        name
        for name, d in DIMENSIONS.items()
        if name not in per and d.entity in per and not (d.own is not None and d.own in columns)
    ]


# ---------------------------------------------------------------------------------------------
# Rules across KPIs


def facts_of(kpi: m.Kpi, kpis: Mapping[str, m.Kpi]) -> set[str]:
    """The facts a KPI's value is computed from (through its inputs)."""
    if isinstance(kpi, m.Simple | m.Balance):
        return {kpi.measure.fact}
    if isinstance(kpi, m.Conversion):
        return {kpi.base.fact}
    if isinstance(kpi, m.Entities):
        return {e.fact for e in kpi.events}
    out: set[str] = set()
    for name in kpi.inputs():
        if name in kpis and name != kpi.id:
            out |= facts_of(kpis[name], kpis)
    return out


def reachable(kpi: m.Kpi, kpis: Mapping[str, m.Kpi]) -> set[str]:
    """The dimensions every fact of the KPI reaches: what it can be sliced and filtered by."""
    facts = facts_of(kpi, kpis)
    if not facts:
        return set()
    sets = [set(FACTS[f].dimensions()) for f in facts]
    return set.intersection(*sets)


def check_kpis(
    kpis: Sequence[m.Kpi], broken: Mapping[str, object] | None = None
) -> tuple[dict[str, m.Kpi], list[Problem]]:
    """The KPIs by id and the problems between them; a KPI with a problem is left out.
    ``broken`` are KPIs defined with problems of their own (already reported): a KPI that uses
    one, directly or through others, is left out without a problem of its own."""
    by_id, problems, _ = _check_kpis(kpis, broken)
    return by_id, problems


def _check_kpis(
    kpis: Sequence[m.Kpi], broken: Mapping[str, object] | None = None
) -> tuple[dict[str, m.Kpi], list[Problem], dict[str, Problem]]:
    """:func:`check_kpis`, and each KPI left out for a problem of its own here, with it."""
    problems: list[Problem] = []
    by_id: dict[str, m.Kpi] = {}
    own: dict[str, Problem] = {}
    for kpi in kpis:
        earlier = by_id.setdefault(kpi.id, kpi)
        if earlier is not kpi:
            problems.append(_problem(kpi, f"id is already used at {earlier.location}"))
            own.setdefault(kpi.id, problems[-1])
    # an id defined twice is left out, and what uses it: which of the two is meant is not known
    bad = _using(by_id, {*(broken or ()), *own}) | set(own)
    known = [*by_id, *(broken or ())]  # what a misspelt name may have meant
    for kpi in by_id.values():
        if kpi.id in bad:
            continue
        # one message per unknown name, though a ratio may name it twice
        for message in dict.fromkeys(_references(kpi, by_id, known)):
            problems.append(_problem(kpi, message))
            own.setdefault(kpi.id, problems[-1])
            bad.add(kpi.id)
    for cycle in _cycles(by_id):
        first = by_id[cycle[0]]
        problems.append(_problem(first, "depends on itself: " + " → ".join([*cycle, cycle[0]])))
        for kpi_id in cycle:
            own.setdefault(kpi_id, problems[-1])
        bad.update(cycle)
    for kpi in by_id.values():
        if kpi.id in bad:
            continue
        for message in _typed(kpi, by_id):
            problems.append(_problem(kpi, message))
            own.setdefault(kpi.id, problems[-1])
            bad.add(kpi.id)
    return {k: v for k, v in by_id.items() if k not in bad}, problems, own


def _using(kpis: Mapping[str, m.Kpi], broken: set[str]) -> set[str]:
    """The KPIs that use a ``broken`` one, directly or through others."""
    out: set[str] = set()
    grew = True
    while grew:
        grew = False
        for kpi in kpis.values():
            if kpi.id not in out and any(n in broken or n in out for n in kpi.inputs()):
                out.add(kpi.id)
                grew = True
    return out


def _problem(kpi: m.Kpi, message: str) -> Problem:
    return Problem(kpi.location.path, kpi.location.line, f"kpi {kpi.id!r}: {message}")


def _references(kpi: m.Kpi, kpis: Mapping[str, m.Kpi], known: Sequence[str]) -> list[str]:
    out = []
    for name in kpi.inputs():
        if name not in kpis:
            hint = did_you_mean(name, known)
            out.append(f"unknown KPI {name!r}{hint}")
    return out


def _cycles(kpis: Mapping[str, m.Kpi]) -> list[list[str]]:
    """Each cycle of the input graph once, as the path that closes it."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    found: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for child in kpis[name].inputs():
            if child not in kpis:
                continue
            if state.get(child) == 1:
                found.append(path[path.index(child) :] if child in path else [child])
            elif child not in state:
                visit(child, [*path, child])
        state[name] = 2

    for name in kpis:
        if name not in state:
            visit(name, [name])
    return found


def _typed(kpi: m.Kpi, kpis: Mapping[str, m.Kpi]) -> list[str]:
    """Inputs of the right type, filters that fit their input's fact, units that agree."""
    out: list[str] = []
    if isinstance(kpi, m.Ratio):
        for side in (kpi.numerator, kpi.denominator):
            out += _input_filters(side, kpis)
    if isinstance(kpi, m.Derived):
        for one in kpi.named:
            out += _input_filters(one, kpis)
        out += _derived_units(kpi, kpis)
    if isinstance(kpi, m.Cumulative):
        source = kpis[kpi.kpi]
        if not isinstance(source, m.Simple):
            out.append(f"a cumulative KPI adds up a simple KPI; {kpi.kpi!r} is {source.TYPE}")
        elif source.unit != kpi.unit:
            out.append(f"unit {kpi.unit} differs from {kpi.kpi!r}'s {source.unit}")
    if isinstance(kpi, m.Conversion) and kpi.unit != "percent":
        out.append(f"a conversion KPI is a share: its unit is percent, not {kpi.unit}")
    if isinstance(kpi, m.Entities) and kpi.unit != "count":
        out.append(f"an entities KPI counts entities: its unit is count, not {kpi.unit}")
    if isinstance(kpi, m.PeriodOverPeriod):
        source = kpis[kpi.kpi]
        wanted = "percent" if kpi.output == "change_pct" else source.unit
        if kpi.unit != wanted:
            out.append(
                f"output {kpi.output} of {kpi.kpi!r} ({source.unit}) is in {wanted}, not {kpi.unit}"
            )
    return out


def _input_filters(one: m.Input, kpis: Mapping[str, m.Kpi]) -> list[str]:
    if not one.filters:
        return []
    source = kpis[one.kpi]
    if not isinstance(source, m.Simple | m.Balance):
        return [
            f"a filter on input {one.kpi!r} needs a simple KPI or a balance; it is {source.TYPE}"
        ]
    fact = FACTS[source.measure.fact]
    names = set(fact.columns()) | set(fact.dimensions())
    out = []
    for tree in one.filters:
        for column in tree.find_all(exp.Column):
            if column.table:
                problem = related_problem(fact, column)
                if problem is not None:
                    out.append(f"filter on {one.kpi!r}: {problem}")
            elif column.name not in names:
                hint = did_you_mean(column.name, sorted(names))
                out.append(
                    f"filter on {one.kpi!r}: unknown column or dimension "
                    f"{column.name!r} of fact {fact.name}{hint}"
                )
    return out


def related_problem(fact: Fact, column: exp.Column) -> str | None:
    """What is wrong with ``column``, a name written with a table (``invoice.due_on``), in an
    expression on ``fact``; ``None`` when it names a column of a table related to the fact
    (:func:`kpi_designer.semantic.relations`)."""
    written = column.sql(DIALECT)
    if column.args.get("db") is not None or column.args.get("catalog") is not None:
        return f"{written}: name a related table's column as <table>.<column>"
    table, name = column.table, column.name
    related = relations(fact)
    if table not in related:
        ordered = ORDERED.fullmatch(table)
        if ordered is not None and ordered.group(2) in FACTS:
            others = referring(fact)
            which = (
                f"{ordered.group(1)}_ takes one that does: {', '.join(others)}"
                if others
                else f"no fact refers to {fact.name}"
            )
            return (
                f"{written}: fact {ordered.group(2)} does not refer to fact {fact.name} ({which})"
            )
        hint = did_you_mean(table, list(related))
        if not hint and name in fact.columns():
            return f"write {name!r} without a table name ({written})"
        reach = ", ".join(fact.reaches())
        others = referring(fact)
        firsts = f"; first_ and last_ rows of {', '.join(others)}" if others else ""
        return (
            f"unknown table {table!r} in {written}{hint} (fact {fact.name} reaches {reach}{firsts})"
        )
    relation = related[table]
    columns = relation.columns()
    if name not in columns:
        hint = did_you_mean(name, list(columns))
        return f"unknown column {name!r} of {table} ({relation.table}) in {written}{hint}"
    return None


def _derived_units(kpi: m.Derived, kpis: Mapping[str, m.Kpi]) -> list[str]:
    """``a + b`` and ``a - b`` of two KPIs need one unit: money minus a count means nothing."""
    unit = {i.alias: kpis[i.kpi].unit for i in kpi.named}
    out = []
    for node in kpi.expr.find_all(exp.Add, exp.Sub):
        left, right = node.left, node.right
        if isinstance(left, exp.Column) and isinstance(right, exp.Column):
            a, b = unit.get(left.name), unit.get(right.name)
            if a and b and a != b:
                sign = "+" if isinstance(node, exp.Add) else "-"
                out.append(f"{left.name} {sign} {right.name} mixes units {a} and {b}")
    return out


def narrowed(kpi: m.Kpi, extra: Sequence[exp.Expr]) -> m.Kpi:
    """``kpi`` as a ratio's or derived KPI's input with the filters ``extra``: a simple KPI or
    a balance with them on its measure (:func:`with_filters`; the only inputs that take a
    filter, :func:`_input_filters`), any other KPI as it is."""
    if extra and isinstance(kpi, m.Simple | m.Balance):
        return with_filters(kpi, extra)
    return kpi


def with_filters(kpi: FilteredKpi, extra: Sequence[exp.Expr]) -> FilteredKpi:
    """The simple KPI or balance with more filters on its measure (a ratio's or derived KPI's
    input)."""
    measure = replace(kpi.measure, filters=(*kpi.measure.filters, *extra))
    return replace(kpi, measure=measure)
