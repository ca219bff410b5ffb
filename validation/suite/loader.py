"""Suite files (YAML) → :class:`~validation.suite.model.Suite`, with every problem located.

The loader reads YAML as a tree of nodes (ruamel.yaml's composer), not as plain dicts, so that
every key and value keeps its line; a problem is reported as
``suites/raw/crm/clients.yaml:14: expectation 3: unknown kind 'regx' — did you mean 'regex'?``.
All problems of all files are collected before one :class:`SuiteError` is raised: unknown or
missing keys, wrong types, bad severities, patterns that do not compile, SQL that does not parse,
two suites for one table, names used twice, a ``hold`` or ``part_of`` that cannot work.

What needs the warehouse (does the column exist?) is checked later, by
:func:`validation.suite.rules.check_columns`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import duckdb
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kpiboard.yamlnodes import NodeReader, did_you_mean
from kpiboard.yamlnodes import kind_of_node as _kind_of_node
from kpiboard.yamlnodes import line as _line
from validation.suite.errors import SuiteError, SuiteProblem
from validation.suite.model import (
    DEFAULT_HOLD,
    DEFAULT_SEVERITY,
    HOLDS,
    KINDS,
    OWN_TABLE,
    RAW_SCOPE,
    REFERENCE,
    SEVERITIES,
    Bound,
    Expectation,
    Hold,
    Location,
    PartOf,
    RowFilter,
    Severity,
    Suite,
    Value,
    layer_of,
)

SUITE_SUFFIXES = (".yaml", ".yml")

SUITE_KEYS = ("table", "key", "description", "part_of", "expectations")
PART_OF_KEYS = ("table", "key")
COMMON_KEYS = ("severity", "hold", "description", "name")
ROW_KINDS = ("rows_match_source", "fresh")
"""Kinds about a whole table, not its rows: nothing of theirs can be held in quarantine."""
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "not_null": ("where",),
    "unique": ("where",),
    "regex": ("pattern", "where"),
    "between": ("min", "max", "where"),
    "in_set": ("values", "where"),
    "exists_in": ("ref", "where"),
    "rows_match_source": (),
    "fresh": ("max_age", "where"),
    "sql": ("query", "withhold"),
}
"""The keys each kind takes besides its own and :data:`COMMON_KEYS`."""
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "regex": ("pattern",),
    "in_set": ("values",),
    "exists_in": ("ref",),
    "fresh": ("max_age",),
    "sql": ("query",),
}
OPTION_KEYS = frozenset(COMMON_KEYS) | {k for keys in KIND_KEYS.values() for k in keys}

TABLE_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")
NAME = re.compile(r"[a-z][a-z0-9_]*")
AGE = re.compile(r"\s*(\d+)\s*(minute|hour|day|week)s?\s*", re.IGNORECASE)
# regex syntax Python accepts but DuckDB's RE2 does not: look-around and back-references
NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]")
WAREHOUSE_PREFIXES = ("raw_", "stg_")


def load_suites(folder: Path) -> list[Suite]:
    """Every suite file (``*.yaml``, ``*.yml``) under ``folder``, sorted by path.

    Files are shown in messages relative to ``folder``'s parent (``suites/raw/crm/clients.yaml``).
    Raises one :class:`SuiteError` listing every problem of every file.
    """
    if not folder.is_dir():
        raise SuiteError([SuiteProblem(str(folder), None, "no such suites folder")])
    suites: list[Suite] = []
    problems: list[SuiteProblem] = []
    paths = sorted(p for p in folder.rglob("*") if p.suffix in SUITE_SUFFIXES and p.is_file())
    for path in paths:
        relative = path.relative_to(folder)
        shown = _shown(path, folder)
        text = _read(path, shown, problems)
        if text is None:
            continue
        suite, found = parse_suite(text, shown)
        problems.extend(found)
        if suite is None:
            continue
        problems.extend(_folder_problems(suite, relative))
        suites.append(suite)
    problems.extend(_duplicate_tables(suites))
    problems.extend(_document_problems(suites))
    if problems:
        raise SuiteError(problems)
    return suites


def load_suite_file(path: Path, shown: str | None = None) -> Suite:
    """One suite file; ``shown`` is how messages name it (default: the path as given)."""
    label = shown if shown is not None else path.as_posix()
    problems: list[SuiteProblem] = []
    text = _read(path, label, problems)
    if text is None:
        raise SuiteError(problems)
    suite, found = parse_suite(text, label)
    if suite is None:
        raise SuiteError(found)
    return suite


def parse_suite(text: str, shown: str) -> tuple[Suite | None, list[SuiteProblem]]:
    """The suite written in ``text`` (a file shown as ``shown``) and every problem found in it,
    in line order; the suite is ``None`` if there is any problem."""
    reader = _Reader(shown)
    suite = reader.suite(text)
    problems = sorted(reader.problems, key=lambda p: p.line or 0)
    return (suite if not problems else None), problems


def _read(path: Path, shown: str, problems: list[SuiteProblem]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(SuiteProblem(shown, None, f"not UTF-8 text: {exc.reason}"))
    except OSError as exc:
        problems.append(SuiteProblem(shown, None, f"cannot read: {exc.strerror or exc}"))
    return None


def _shown(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder.parent).as_posix()
    except ValueError:
        return path.as_posix()


def _folder_problems(suite: Suite, relative: Path) -> list[SuiteProblem]:
    """A file under ``raw/`` must be about a raw table, one under ``core/`` about a core table."""
    top = relative.parts[0] if len(relative.parts) > 1 else None
    if top not in ("raw", "core") or top == suite.layer:
        return []
    return [
        SuiteProblem(
            suite.location.path,
            suite.location.line,
            f"table {suite.table} is a {suite.layer} table but the file is under {top}/",
        )
    ]


def _duplicate_tables(suites: Sequence[Suite]) -> list[SuiteProblem]:
    first: dict[str, Suite] = {}
    problems: list[SuiteProblem] = []
    for suite in suites:
        earlier = first.setdefault(suite.table.lower(), suite)
        if earlier is not suite:
            problems.append(
                SuiteProblem(
                    suite.location.path,
                    suite.location.line,
                    f"table {suite.table} already has a suite: {earlier.location}; "
                    "keep one file per table",
                )
            )
    return problems


def _document_problems(suites: Sequence[Suite]) -> list[SuiteProblem]:
    """A ``part_of`` names a document table that has a suite (its key names the documents), is
    not itself a part of another document, and gives one column per column of that key."""
    by_table = {suite.table.lower(): suite for suite in suites}
    problems: list[SuiteProblem] = []
    for suite in suites:
        part_of = suite.part_of
        if part_of is None:
            continue
        where = part_of.location
        document = by_table.get(part_of.table.lower())
        if document is None:
            tables = [s.table for s in suites if s.layer == "raw"]
            problems.append(
                SuiteProblem(
                    where.path,
                    where.line,
                    f"part_of: no suite for {part_of.table}, so nothing names its documents"
                    + did_you_mean(part_of.table, tables),
                )
            )
            continue
        if document.part_of is not None:
            problems.append(
                SuiteProblem(
                    where.path,
                    where.line,
                    f"part_of: {part_of.table} is itself part of {document.part_of.table}; "
                    f"name the whole document: part_of: {{table: {document.part_of.table}, …}}",
                )
            )
        elif document.key is None:
            problems.append(
                SuiteProblem(
                    where.path,
                    where.line,
                    f"part_of: the suite of {part_of.table} ({document.location}) has no key:, "
                    "so the columns naming its documents are unknown; give it one",
                )
            )
        elif len(document.key) != len(part_of.key):
            problems.append(
                SuiteProblem(
                    where.path,
                    where.line,
                    f"part_of: key has {len(part_of.key)} column(s) but the key of "
                    f"{part_of.table} has {len(document.key)} ({', '.join(document.key)})",
                )
            )
    return problems


@dataclass
class _Item:
    """One expectation mapping being read: its keys, their nodes and lines."""

    number: int
    node: MappingNode
    keys: dict[str, tuple[Node, Node]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"expectation {self.number}: "


class _Reader(NodeReader):
    """Reads one file's node tree into a :class:`Suite`, recording problems as it goes."""

    def __init__(self, shown: str) -> None:
        super().__init__(shown)
        self.misspelled: set[str] = set()  # required keys an unknown key was taken for

    # -- the document -----------------------------------------------------------------------

    def suite(self, text: str) -> Suite | None:
        root = self.compose(text)
        if root is None:
            if not self.problems:
                self.problem(1, "empty file: a suite needs table: and expectations:")
            return None
        if not isinstance(root, MappingNode):
            self.problem(
                _line(root),
                f"a suite is a mapping (table:, expectations: …), not {_kind_of_node(root)}",
            )
            return None
        keys = self.mapping(root, None)
        for key, (key_node, _) in keys.items():
            if key not in SUITE_KEYS:
                hint = did_you_mean(key, SUITE_KEYS)
                self.problem(_line(key_node), f"unknown key {key!r}{hint}")
                self.misspelled.update(k for k in SUITE_KEYS if hint.endswith(f"{k!r}?"))
        table = self.table(keys, root)
        row_key = self.key(keys)
        description = self.optional_string(keys, "description", None)
        part_of = self.part_of(keys, table)
        expectations = self.expectations(keys, root, table)
        if table is None or expectations is None or part_of is False:
            return None
        return Suite(
            table=table,
            key=row_key,
            expectations=tuple(expectations),
            location=Location(self.shown, _line(keys["table"][0])),
            description=description,
            key_location=Location(self.shown, _line(keys["key"][0])) if "key" in keys else None,
            part_of=part_of if isinstance(part_of, PartOf) else None,
        )

    # -- the suite's own keys ---------------------------------------------------------------

    def table(self, keys: dict[str, tuple[Node, Node]], root: MappingNode) -> str | None:
        if "table" not in keys:
            if "table" not in self.misspelled:
                self.problem(_line(root), "missing key 'table' (e.g. table: crm.clients)")
            return None
        node = keys["table"][1]
        table = self.string(node, "table", None)
        if table is None:
            return None
        return self.table_reference(table, node, "table", None)

    def table_reference(self, ref: str, node: Node, what: str, item: _Item | None) -> str | None:
        """``<source or group>.<table>`` or ``core.<table>``; warehouse schemas are refused."""
        if not TABLE_REF.fullmatch(ref):
            self.problem(
                _line(node),
                f"{what} {ref!r} must be <source or group>.<table> (crm.clients) "
                "or core.<table> (core.dim_client)",
                item,
            )
            return None
        schema, name = ref.split(".", 1)
        for prefix in WAREHOUSE_PREFIXES:
            if schema.startswith(prefix):
                plain = f"{schema.removeprefix(prefix)}.{name}"
                self.problem(
                    _line(node),
                    f"{what} {ref!r} names a warehouse schema; write {plain!r}: suites name "
                    "sources and groups, the engine picks the relation",
                    item,
                )
                return None
        return ref

    def part_of(self, keys: dict[str, tuple[Node, Node]], table: str | None) -> PartOf | bool:
        """The suite's ``part_of`` (``False`` after a problem, ``True`` when there is none)."""
        if "part_of" not in keys:
            return True
        key_node, node = keys["part_of"]
        example = "(part_of: {table: crm.invoices, key: invoice_id})"
        if not isinstance(node, MappingNode):
            self.problem(
                _line(node), f"part_of must be a mapping {example}, not {_kind_of_node(node)}"
            )
            return False
        found = self.mapping(node, None)
        ok = True
        for key, (unknown_node, _) in found.items():
            if key not in PART_OF_KEYS:
                hint = did_you_mean(key, PART_OF_KEYS) or f" (it takes {', '.join(PART_OF_KEYS)})"
                self.problem(_line(unknown_node), f"part_of: unknown key {key!r}{hint}")
                ok = False
        for key in PART_OF_KEYS:
            if key not in found:
                self.problem(_line(key_node), f"part_of needs {key}: {example}")
                ok = False
        if not ok:
            return False
        table_node = found["table"][1]
        document = self.string(table_node, "part_of table", None)
        if document is not None:
            document = self.table_reference(document, table_node, "part_of table", None)
        columns = self.columns(found["key"][1], "part_of key", None)
        if document is None or columns is None or table is None:
            return False
        if layer_of(table) != "raw":
            self.problem(
                _line(key_node),
                "part_of is for raw suites: quarantine holds documents before the transform",
            )
            return False
        if document.split(".")[0] != table.split(".")[0] or layer_of(document) != "raw":
            self.problem(
                _line(table_node),
                f"part_of table {document} must belong to the same source or group as {table} "
                f"({table.split('.')[0]}.<table>): a part names its document within its source",
            )
            return False
        if document == table:
            self.problem(_line(table_node), "part_of names the suite's own table")
            return False
        return PartOf(document, columns, Location(self.shown, _line(key_node)))

    def key(self, keys: dict[str, tuple[Node, Node]]) -> tuple[str, ...] | None:
        if "key" not in keys:
            return None
        return self.columns(keys["key"][1], "key", None)

    def columns(self, node: Node, what: str, item: _Item | None) -> tuple[str, ...] | None:
        """One column (a string) or several (a list of strings), no repeats."""
        if isinstance(node, SequenceNode):
            names: list[str] = []
            for child in node.value:
                name = self.string(child, f"each column of {what}", item)
                if name is None:
                    return None
                if name in names:
                    self.problem(_line(child), f"{what} names column {name!r} twice", item)
                    return None
                names.append(name)
            if not names:
                self.problem(_line(node), f"{what} is an empty list", item)
                return None
            return tuple(names)
        name = self.string(node, what, item)
        return None if name is None else (name,)

    def expectations(
        self, keys: dict[str, tuple[Node, Node]], root: MappingNode, table: str | None
    ) -> list[Expectation] | None:
        if "expectations" not in keys:
            if "expectations" not in self.misspelled:
                self.problem(_line(root), "missing key 'expectations' (a list)")
            return None
        key_node, node = keys["expectations"]
        if not isinstance(node, SequenceNode):
            self.problem(_line(node), f"expectations must be a list, not {_kind_of_node(node)}")
            return None
        if not node.value:
            self.problem(_line(key_node), "expectations is empty: a suite checks something")
            return None
        out: list[Expectation] = []
        names: dict[str, Expectation] = {}
        for number, child in enumerate(node.value, start=1):
            if not isinstance(child, MappingNode):
                self.problem(
                    _line(child),
                    f"expectation {number}: must be a mapping (- not_null: name), "
                    f"not {_kind_of_node(child)}",
                )
                continue
            item = _Item(number, child)
            item.keys = self.mapping(child, item)
            expectation = self.expectation(item, table or "?.?")
            if expectation is None:
                continue
            earlier = names.setdefault(expectation.name, expectation)
            if earlier is not expectation:
                self.problem(
                    expectation.location.line,
                    f"name {expectation.name!r} is already used by expectation {earlier.number} "
                    f"(line {earlier.location.line}); give one of them another name:",
                    item,
                )
                continue
            out.append(expectation)
        return out

    # -- one expectation --------------------------------------------------------------------

    def expectation(self, item: _Item, table: str) -> Expectation | None:
        kinds = [k for k in item.keys if k in KINDS]
        if not kinds:
            unknown = [k for k in item.keys if k not in OPTION_KEYS]
            if unknown:
                word = unknown[0]
                self.problem(
                    _line(item.keys[word][0]),
                    f"unknown kind {word!r}"
                    + (did_you_mean(word, list(KINDS)) or f" (kinds: {', '.join(KINDS)})"),
                    item,
                )
            else:
                self.problem(
                    _line(item.node),
                    f"no kind: an expectation starts with one of {', '.join(KINDS)}",
                    item,
                )
            return None
        if len(kinds) > 1:
            lines = " and ".join(f"{k!r} (line {_line(item.keys[k][0])})" for k in kinds)
            self.problem(
                _line(item.keys[kinds[1]][0]),
                f"two kinds in one expectation, {lines}; make them two list items",
                item,
            )
            return None
        kind = kinds[0]
        allowed = (kind, *COMMON_KEYS, *KIND_KEYS[kind])
        ok = True
        taken_for: set[str] = set()  # keys an unknown key looks like a misspelling of
        for key, (key_node, _) in item.keys.items():
            if key not in allowed:
                options = [k for k in allowed if k != kind]
                close = did_you_mean(key, options)
                taken_for.update(k for k in options if close.endswith(f"{k!r}?"))
                hint = close or f" ({kind} takes {', '.join(options)})"
                self.problem(_line(key_node), f"unknown key {key!r} for {kind}{hint}", item)
                ok = False
        for key in REQUIRED_KEYS.get(kind, ()):
            if key not in item.keys and key not in taken_for:
                self.problem(_line(item.keys[kind][0]), f"{kind} needs {key}:", item)
                ok = False
        severity = self.severity(item)
        hold = self.hold(item, kind, table, severity)
        description = self.optional_string(item.keys, "description", item)
        where = self.where(item)
        build = getattr(self, f"_{kind}")
        fields = build(item, table)
        if not ok or fields is None or severity is None or where is None or hold is None:
            return None
        if "withhold" in item.keys and hold != "value":
            self.problem(
                _line(item.keys["withhold"][0]),
                "withhold: names the columns a hold: value withholds; add hold: value",
                item,
            )
            return None
        if "description" in item.keys and description is None:
            return None
        base: dict[str, Any] = {
            "table": table,
            "severity": severity,
            "hold": hold,
            "description": description,
            "location": Location(self.shown, _line(item.keys[kind][0])),
            "number": item.number,
        }
        if "where" in KIND_KEYS[kind]:
            base["where"] = where
        name = self.name(item, fields.pop("default_name"))
        if name is None:
            return None
        return cast(Expectation, KINDS[kind](**base, name=name, **fields))

    def name(self, item: _Item, default: str) -> str | None:
        if "name" not in item.keys:
            return default
        node = item.keys["name"][1]
        name = self.string(node, "name", item)
        if name is None:
            return None
        if not NAME.fullmatch(name):
            self.problem(_line(node), f"name {name!r} must be snake_case (a-z, 0-9, _)", item)
            return None
        return name

    def severity(self, item: _Item) -> Severity | None:
        if "severity" not in item.keys:
            return DEFAULT_SEVERITY
        node = item.keys["severity"][1]
        value = self.scalar(node)
        if isinstance(value, str) and value in SEVERITIES:
            return cast(Severity, value)
        shown = repr(value) if isinstance(value, str) else _kind_of_node(node)
        hint = did_you_mean(value, SEVERITIES) if isinstance(value, str) else ""
        self.problem(
            _line(node),
            f"severity must be error (stops publishing) or warn (quarantines the failing rows), "
            f"not {shown}{hint}",
            item,
        )
        return None

    def hold(self, item: _Item, kind: str, table: str, severity: Severity | None) -> Hold | None:
        """``row`` (default) or ``value``; a value hold needs rows to let through with their
        offending values withheld: a ``warn`` expectation of a raw suite about rows."""
        if "hold" not in item.keys:
            return DEFAULT_HOLD
        node = item.keys["hold"][1]
        value = self.scalar(node)
        if not (isinstance(value, str) and value in HOLDS):
            shown = repr(value) if isinstance(value, str) else _kind_of_node(node)
            hint = did_you_mean(value, HOLDS) if isinstance(value, str) else ""
            self.problem(
                _line(node),
                "hold must be row (the failing rows are left out of core) or value (they go on "
                f"with the offending values withheld), not {shown}{hint}",
                item,
            )
            return None
        hold = cast(Hold, value)
        if hold == DEFAULT_HOLD:
            return hold
        why = None
        if kind in ROW_KINDS:
            why = f"{kind} checks the whole table, not rows"
        elif layer_of(table) != "raw":
            why = "core suites quarantine nothing"
        elif severity == "error":
            why = "an error expectation quarantines nothing: it stops the run"
        if why is not None:
            self.problem(_line(node), f"hold: value cannot apply here: {why}", item)
            return None
        return hold

    def where(self, item: _Item) -> tuple[RowFilter, ...] | None:
        if "where" not in item.keys:
            return ()
        node = item.keys["where"][1]
        if not isinstance(node, MappingNode) or not node.value:
            self.problem(
                _line(node),
                "where must be a mapping of column to value or list of values "
                "(where: {move_type: [RCPT, SHIP]})",
                item,
            )
            return None
        filters: list[RowFilter] = []
        for column, (_, value_node) in self.mapping(node, item).items():
            values = self.values(value_node, f"where {column}", item, allow_null=True)
            if values is None:
                return None
            filters.append(RowFilter(column, values))
        return tuple(filters)

    def values(
        self, node: Node, what: str, item: _Item, *, allow_null: bool = False
    ) -> tuple[Any, ...] | None:
        """One literal or a non-empty list of literals (no mappings, no nested lists)."""
        nodes = list(node.value) if isinstance(node, SequenceNode) else [node]
        if not nodes:
            self.problem(_line(node), f"{what} is an empty list", item)
            return None
        out: list[Value | None] = []
        for child in nodes:
            if not isinstance(child, ScalarNode):
                self.problem(
                    _line(child), f"{what}: values must be plain, not {_kind_of_node(child)}", item
                )
                return None
            value = self.scalar(child)
            if value is None and not (allow_null and len(nodes) == 1):
                self.problem(_line(child), f"{what}: null cannot be one of the values", item)
                return None
            out.append(cast(Value | None, value))
        return tuple(out)

    def column(self, item: _Item, kind: str) -> str | None:
        node = item.keys[kind][1]
        if isinstance(node, SequenceNode):
            self.problem(
                _line(node), f"{kind} takes one column; write one {kind} item per column", item
            )
            return None
        return self.string(node, kind, item)

    # -- the kinds: each returns the kind's own fields and its default name -----------------

    def _not_null(self, item: _Item, table: str) -> dict[str, Any] | None:
        column = self.column(item, "not_null")
        return None if column is None else {"column": column, "default_name": f"not_null_{column}"}

    def _unique(self, item: _Item, table: str) -> dict[str, Any] | None:
        columns = self.columns(item.keys["unique"][1], "unique", item)
        if columns is None:
            return None
        scope = RAW_SCOPE if layer_of(table) == "raw" else ()
        return {
            "unique_columns": columns,
            "scope": scope,
            "default_name": "unique_" + "_".join(columns),
        }

    def _regex(self, item: _Item, table: str) -> dict[str, Any] | None:
        column = self.column(item, "regex")
        if "pattern" not in item.keys or column is None:
            return None
        node = item.keys["pattern"][1]
        pattern = self.string(node, "pattern", item)
        if pattern is None:
            return None
        try:
            re.compile(pattern)
        except re.error as exc:
            self.problem(_line(node), f"pattern does not compile: {exc}", item)
            return None
        if NOT_RE2.search(pattern):
            self.problem(
                _line(node),
                "pattern uses look-around or a back-reference, which DuckDB's regular "
                "expressions (RE2) do not support",
                item,
            )
            return None
        return {"column": column, "pattern": pattern, "default_name": f"regex_{column}"}

    def _between(self, item: _Item, table: str) -> dict[str, Any] | None:
        column = self.column(item, "between")
        if "min" not in item.keys and "max" not in item.keys:
            self.problem(_line(item.keys["between"][0]), "between needs min:, max: or both", item)
            return None
        bounds: dict[str, Bound | None] = {"min": None, "max": None}
        for key in bounds:
            if key in item.keys:
                node = item.keys[key][1]
                bound = self.bound(node, key, item)
                if bound is None:
                    return None
                bounds[key] = bound
        low, high = bounds["min"], bounds["max"]
        if low is not None and high is not None:
            if _family(low) != _family(high):
                self.problem(
                    _line(item.keys["max"][1]),
                    f"min is {_family(low)} but max is {_family(high)}",
                    item,
                )
                return None
            if low > high:  # type: ignore[operator]  # same family, so comparable
                self.problem(_line(item.keys["max"][1]), f"max {high} is below min {low}", item)
                return None
        if column is None:
            return None
        return {
            "column": column,
            "min_value": low,
            "max_value": high,
            "default_name": f"between_{column}",
        }

    def bound(self, node: Node, key: str, item: _Item) -> Bound | None:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(node, ScalarNode):
            value = None
        elif isinstance(value, str):
            value = _iso(value)
        if isinstance(value, int | float | dt.date):
            return value
        self.problem(
            _line(node),
            f"{key} must be a number, a date (2026-10-31) or a timestamp "
            f"(2026-10-31 23:59:59), not {_kind_of_node(node)}",
            item,
        )
        return None

    def _in_set(self, item: _Item, table: str) -> dict[str, Any] | None:
        column = self.column(item, "in_set")
        if "values" not in item.keys or column is None:
            return None
        node = item.keys["values"][1]
        if not isinstance(node, SequenceNode):
            self.problem(
                _line(node), f"values must be a list ([A, B]), not {_kind_of_node(node)}", item
            )
            return None
        values = self.values(node, "values", item)
        if values is None:
            return None
        return {"column": column, "values": values, "default_name": f"in_set_{column}"}

    def _exists_in(self, item: _Item, table: str) -> dict[str, Any] | None:
        column = self.column(item, "exists_in")
        if "ref" not in item.keys or column is None:
            return None
        node = item.keys["ref"][1]
        ref = self.string(node, "ref", item)
        if ref is None:
            return None
        parts = ref.rsplit(".", 1)
        if len(parts) != 2 or not TABLE_REF.fullmatch(parts[0]) or not parts[1]:
            self.problem(
                _line(node),
                f"ref {ref!r} must be <table>.<column>, e.g. crm.deals.id or core.dim_client."
                "client_id",
                item,
            )
            return None
        ref_table = self.table_reference(parts[0], node, "ref table", item)
        if ref_table is None:
            return None
        same_raw = layer_of(table) == "raw" and ref_table.split(".")[0] == table.split(".")[0]
        return {
            "column": column,
            "ref_table": ref_table,
            "ref_column": parts[1],
            "scope": RAW_SCOPE if same_raw else (),
            "default_name": f"exists_in_{column}",
        }

    def _rows_match_source(self, item: _Item, table: str) -> dict[str, Any] | None:
        node = item.keys["rows_match_source"][1]
        value = self.scalar(node)
        if layer_of(table) == "raw":
            if value is True:
                return {"source": table, "default_name": "rows_match_source"}
            self.problem(
                _line(node),
                "on a raw table write rows_match_source: true (the count is the source's own)",
                item,
            )
            return None
        if isinstance(value, str):
            ref = self.table_reference(value, node, "rows_match_source", item)
            if ref is None:
                return None
            if layer_of(ref) == "core":
                self.problem(
                    _line(node),
                    f"rows_match_source on a core table names the raw table it is built from "
                    f"(e.g. crm.clients), not {ref}",
                    item,
                )
                return None
            return {"source": ref, "default_name": "rows_match_source"}
        self.problem(
            _line(node),
            "on a core table rows_match_source names the raw table it is built from "
            f"(rows_match_source: crm.clients), not {_kind_of_node(node)}",
            item,
        )
        return None

    def _fresh(self, item: _Item, table: str) -> dict[str, Any] | None:
        column = self.column(item, "fresh")
        if "max_age" not in item.keys or column is None:
            return None
        node = item.keys["max_age"][1]
        value = self.scalar(node)
        found = AGE.fullmatch(value) if isinstance(value, str) else None
        if found is None or int(found.group(1)) == 0:
            self.problem(
                _line(node),
                "max_age must be a positive count of minutes, hours, days or weeks "
                "(max_age: 3 days)",
                item,
            )
            return None
        unit = found.group(2).lower() + "s"
        age = dt.timedelta(**{unit: int(found.group(1))})
        return {"column": column, "max_age": age, "default_name": f"fresh_{column}"}

    def _sql(self, item: _Item, table: str) -> dict[str, Any] | None:
        name_node = item.keys["sql"][1]
        name = self.string(name_node, "sql", item)
        if name is not None and not NAME.fullmatch(name):
            self.problem(
                _line(name_node),
                f"sql names its rule: {name!r} must be snake_case (sql: percent_as_amount)",
                item,
            )
            name = None
        if "query" not in item.keys:
            return None
        node = item.keys["query"][1]
        # not stripped: the query's lines must stay the file's lines
        query = self.string(node, "query", item, strip=False)
        if query is None or name is None:
            return None
        if not self.query_ok(query, node, item):
            return None
        fields: dict[str, Any] = {"query": query, "default_name": name}
        if "withhold" in item.keys:
            withhold = self.columns(item.keys["withhold"][1], "withhold", item)
            if withhold is None:
                return None
            fields["withhold"] = withhold
        return fields

    def query_ok(self, query: str, node: Node, item: _Item) -> bool:
        """References are well formed, the query reads ``{table}`` and is one SELECT."""
        first = _first_content_line(node)
        ok = True
        placeholders: dict[str, str] = {}
        for index, match in enumerate(REFERENCE.finditer(query)):
            ref = match.group(1)
            line = first + query.count("\n", 0, match.start())
            if ref != OWN_TABLE and "." not in ref:
                self.problem(
                    line,
                    f"unknown reference {{{ref}}}: write {{table}} for this suite's table or "
                    "{<source or group>.<table>} for another",
                    item,
                )
                ok = False
            elif ref != OWN_TABLE and self.table_reference(ref, node, "reference", item) is None:
                ok = False
            # a placeholder of the same length keeps the columns of DuckDB's messages right
            placeholders.setdefault(ref, f"__r{index}".ljust(len(match.group(0)), "_"))
        if OWN_TABLE not in placeholders:
            self.problem(
                first,
                "the query never reads {table}, so the rows it returns cannot be this table's "
                "failing rows",
                item,
            )
            ok = False
        plain = REFERENCE.sub(lambda m: placeholders[m.group(1)], query)
        problem = _sql_problem(plain)
        if problem is not None:
            line, message = problem
            self.problem(first + line - 1, message, item)
            ok = False
        return ok


def _first_content_line(node: Node) -> int:
    """The line of a scalar's first character: a block scalar (``|``) starts on the next line."""
    style = getattr(node, "style", None)
    return _line(node) + (1 if style in ("|", ">") else 0)


def _sql_problem(sql: str) -> tuple[int, str] | None:
    """``(line within sql, message)`` unless ``sql`` is one SELECT that DuckDB's parser accepts
    (parsed only: tables and columns are checked once the warehouse is known)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        text = str(exc)
        found = re.search(r"^LINE (\d+):", text, flags=re.MULTILINE)
        reason = text.splitlines()[0].removeprefix("Parser Error: ")
        return (int(found.group(1)) if found else 1), f"query: {reason}"
    if len(statements) != 1:
        return 1, f"query must be one SELECT, found {len(statements)} statements"
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = str(kind).rsplit(".", 1)[-1]
        return 1, f"query must be a SELECT (its rows are the failing rows), not {name}"
    return None


def _iso(text: str) -> dt.date | None:
    try:
        stamp = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if len(text.strip()) == 10:
        return stamp.date()
    return stamp


def _family(value: Bound) -> str:
    if isinstance(value, dt.datetime):
        return "a timestamp"
    if isinstance(value, dt.date):
        return "a date"
    return "a number"
