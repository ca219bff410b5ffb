"""Report definition files → :class:`~reports.model.Report`, every problem located.

The built-in catalog (``reports/catalog/<category>/<id>.yaml``, shipped with kpiboard) and a
project's own ``reports/`` folder are read by the same code: the catalog is nothing but report
files. Every problem of every file is collected and raised together
(:class:`~reports.errors.DefinitionProblems`), each as ``file:line: report 'id': what — did you
mean …?``, so that an author fixes them all in one pass.

What is checked here needs no warehouse: the keys and their types, parameter types and
defaults, that every parameter is used by the query and every placeholder declared, and that
the columns the definition names (shown, sorted, grouped, totalled, charted) are columns the
SQL selects when its outer ``SELECT`` names them. :mod:`reports.check` adds what needs the
published warehouse (the query runs; its columns are the ones declared).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import sqlglot
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from sqlglot import exp
from sqlglot.errors import SqlglotError

from kpiboard.errors import Problem
from kpiboard.yamlnodes import NOT_SCALAR, Keys, NodeReader, did_you_mean, kind_of_node, line
from reports import model as m
from reports.errors import DefinitionProblems, UnknownReport
from reports.params import ENTITY_LOOKUPS

CATALOG = Path(__file__).parent / "catalog"
"""The built-in reports, loaded exactly like a project's own ``reports/`` folder."""
PROJECT_FOLDER = "reports"
SUFFIXES = (".yaml", ".yml")
ID = re.compile(r"^[a-z][a-z0-9_]*$")
LABEL_PARAMETER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
"""``{group_by}`` in a column's label: replaced by that parameter's value when it runs."""

REPORT_KEYS = (
    "id",
    "title",
    "category",
    "question",
    "orientation",
    "scope",
    "parameters",
    "sql",
    "kpis",
    "scorecard",
    "columns",
    "sort",
    "group",
    "totals",
    "chart",
    "signatures",
)
PARAMETER_KEYS = ("type", "label", "default", "required", "values", "min", "max")
COLUMN_KEYS = ("name", "label", "format")
CHART_KEYS = ("type", "x", "y", "color", "title", "limit")
KPI_KEYS = ("ids", "period", "grain", "by")
SCORECARD_KEYS = ("role", "period", "employee")
GRAINS = ("day", "week", "month", "quarter", "year", "range")

KPI_COLUMNS = (
    "period",
    "kpi",
    "kpi_label",
    "unit",
    "value",
    "plan",
    "achievement",
    "status",
)
"""The columns a ``kpis:`` report's frame has, besides one per ``by`` dimension."""
SCORECARD_COLUMNS = (
    "employee",
    "employee_name",
    "period",
    "kpi",
    "kpi_label",
    "unit",
    "weight",
    "plan",
    "fact",
    "achievement",
    "contribution",
    "score",
    "bonus",
    "currency",
)
"""The columns a ``scorecard:`` report's frame has."""


@dataclass(frozen=True)
class Catalog:
    """Every report, by id, in category order then id."""

    reports: dict[str, m.Report]

    def get(self, report_id: str) -> m.Report:
        """The report ``report_id``, or :class:`UnknownReport` with the nearest ids."""
        try:
            return self.reports[report_id]
        except KeyError:
            hint = did_you_mean(report_id, list(self.reports))
            raise UnknownReport(
                f"no report {report_id!r}{hint} (`kpiboard report list` lists them)"
            ) from None

    def in_category(self, category: str | None) -> list[m.Report]:
        return [r for r in self.reports.values() if category is None or r.category == category]


def catalog_folders(project_dir: Path | None) -> list[tuple[Path, str]]:
    """The folders reports are read from, each with the prefix its files are shown with: the
    built-in catalog, then the project's ``reports/`` when it has one."""
    folders = [(CATALOG, "reports/catalog")]
    if project_dir is not None and (project_dir / PROJECT_FOLDER).is_dir():
        folders.append((project_dir / PROJECT_FOLDER, PROJECT_FOLDER))
    return folders


def load_catalog(project_dir: Path | None = None) -> Catalog:
    """Every report of the built-in catalog and of the project's ``reports/`` folder; raises
    :class:`DefinitionProblems` with every problem of every file."""
    reports, problems = read_catalog(project_dir)
    if problems:
        raise DefinitionProblems(problems)
    return reports


def load_report(report_id: str, project_dir: Path | None = None) -> m.Report:
    """One report by its id, read from its own file (an id is its file's name), without
    reading the whole catalog; :class:`UnknownReport` with the nearest ids when there is none,
    :class:`DefinitionProblems` when its file has problems."""
    if ID.match(report_id):
        for folder, prefix in catalog_folders(project_dir):
            for suffix in SUFFIXES:
                for path in sorted(folder.rglob(f"{report_id}{suffix}")):
                    shown = f"{prefix}/{path.relative_to(folder).as_posix()}"
                    report, problems = read_report(path, shown)
                    if problems:
                        raise DefinitionProblems(problems)
                    assert report is not None
                    return report
    ids = sorted(
        p.stem
        for folder, _ in catalog_folders(project_dir)
        for p in folder.rglob("*")
        if p.suffix in SUFFIXES
    )
    raise UnknownReport(
        f"no report {report_id[:60]!r}{did_you_mean(report_id, ids)} "
        "(`kpiboard report list` lists them)"
    )


def read_catalog(project_dir: Path | None = None) -> tuple[Catalog, list[Problem]]:
    """The reports that load, with the problems of those that do not, without raising."""
    found: list[m.Report] = []
    problems: list[Problem] = []
    for folder, prefix in catalog_folders(project_dir):
        for path in sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
            if any(part.startswith(".") for part in path.relative_to(folder).parts):
                continue
            shown = f"{prefix}/{path.relative_to(folder).as_posix()}"
            report, more = read_report(path, shown)
            problems += more
            if report is not None:
                found.append(report)
    by_id: dict[str, m.Report] = {}
    for report in found:
        if report.id in by_id:
            first = by_id[report.id]
            problems.append(
                Problem(
                    str(report.path),
                    report.line,
                    f"report {report.id!r} is defined twice (first in {first.path})",
                )
            )
            continue
        by_id[report.id] = report
    order = {c: i for i, c in enumerate(m.CATEGORIES)}
    ordered = sorted(by_id.values(), key=lambda r: (order.get(r.category, 99), r.id))
    return Catalog({r.id: r for r in ordered}), problems


def read_report(path: Path, shown: str) -> tuple[m.Report | None, list[Problem]]:
    """One file's report (``None`` when it has problems) and its problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(shown, None, f"cannot read: {exc}")]
    reader = _Reader(shown, path.stem)
    report = reader.document(text)
    return (report if not reader.problems else None), reader.problems


@dataclass(frozen=True)
class _Label:
    label: str


class _Reader(NodeReader):
    explain_syntax = True

    def __init__(self, shown: str, stem: str) -> None:
        super().__init__(shown)
        self.stem = stem
        self.item = _Label(f"report {stem!r}: ")

    # -- the document --------------------------------------------------------------------------

    def document(self, text: str) -> m.Report | None:
        root = self.compose(text)
        if root is None:
            if not self.problems:
                self.problem(1, "empty file: a report is a mapping (docs/reports.md)")
            return None
        if not isinstance(root, MappingNode):
            self.problem(line(root), f"a report is a mapping, not {kind_of_node(root)}")
            return None
        keys = self.mapping(root, self.item)
        self.unknown_keys(keys, REPORT_KEYS, "")
        report_id = self._id(keys, line(root))
        if report_id is not None:
            self.item = _Label(f"report {report_id!r}: ")
        title = self.required_string(keys, "title", line(root))
        category = self.required_string(keys, "category", line(root))
        if category is not None and category not in m.CATEGORIES:
            self.problem(
                line(keys["category"][1]),
                f"unknown category {category!r}{did_you_mean(category, m.CATEGORIES)}"
                f" (categories: {', '.join(m.CATEGORIES)})",
                self.item,
            )
        question = self.required_string(keys, "question", line(root))
        if question is not None and not question.endswith("?"):
            self.problem(
                line(keys["question"][1]),
                "the question must be a question (end with '?')",
                self.item,
            )
        orientation = self.choice(keys, "orientation", ("portrait", "landscape"), "portrait")
        scope = self.choice(keys, "scope", ("branch", "company"), "branch")
        parameters = self.parameters(keys)
        sql, sql_line, kpis, scorecard = self.query(keys, line(root))
        columns = self.columns(keys, line(root))
        sort = self.sort(keys)
        group = self.optional_string(keys, "group", self.item)
        totals = self.totals(keys)
        chart = self.chart(keys)
        signatures = self.names(keys["signatures"][1], "signatures") if "signatures" in keys else ()
        if self.problems or report_id is None or title is None or category is None:
            return None
        report = m.Report(
            id=report_id,
            title=title,
            category=category,
            question=question or "",
            parameters=parameters,
            columns=columns,
            sql=sql,
            kpis=kpis,
            scorecard=scorecard,
            sort=sort,
            group=group,
            totals=totals,
            chart=chart,
            orientation=cast(m.Orientation, orientation),
            signatures=signatures,
            scope=cast(m.Scope, scope),
            path=Path(self.shown),
            line=line(root),
            sql_line=sql_line,
        )
        self.cross_check(report, keys)
        return report

    def _id(self, keys: Keys, at: int) -> str | None:
        report_id = self.required_string(keys, "id", at)
        if report_id is None:
            return None
        where = line(keys["id"][1])
        if not ID.match(report_id):
            self.problem(where, f"id {report_id!r} must be snake_case (a-z, 0-9, _)", self.item)
            return None
        if report_id != self.stem:
            self.problem(
                where,
                f"id {report_id!r} must be the file's name ({self.stem}.yaml): "
                "ids appear unchanged in file names, URLs and messages",
                self.item,
            )
            return None
        return report_id

    # -- helpers -------------------------------------------------------------------------------

    def unknown_keys(self, keys: Keys, allowed: Sequence[str], what: str) -> None:
        for key, (key_node, _) in keys.items():
            if key not in allowed:
                self.problem(
                    line(key_node),
                    f"unknown key {key!r}{what}{did_you_mean(key, allowed)}",
                    self.item,
                )

    def required_string(self, keys: Keys, key: str, at: int) -> str | None:
        if key not in keys:
            self.problem(at, f"missing {key!r}", self.item)
            return None
        return self.string(keys[key][1], key, self.item)

    def choice(self, keys: Keys, key: str, allowed: Sequence[str], default: str) -> str:
        if key not in keys:
            return default
        value = self.string(keys[key][1], key, self.item)
        if value is not None and value not in allowed:
            self.problem(
                line(keys[key][1]),
                f"{key} must be one of {', '.join(allowed)}, not {value!r}"
                f"{did_you_mean(value, allowed)}",
                self.item,
            )
        return value if value is not None and value in allowed else default

    def names(self, node: Node, what: str) -> tuple[str, ...]:
        """A list of names, or one name written alone."""
        if isinstance(node, ScalarNode):
            one = self.string(node, what, self.item)
            return (one,) if one else ()
        if not isinstance(node, SequenceNode):
            self.problem(line(node), f"{what} must be a list of names", self.item)
            return ()
        out = []
        for child in node.value:
            name = self.string(child, what, self.item)
            if name is not None:
                out.append(name)
        return tuple(out)

    def sub_mapping(self, node: Node, what: str) -> Keys | None:
        if not isinstance(node, MappingNode):
            self.problem(
                line(node), f"{what} must be a mapping, not {kind_of_node(node)}", self.item
            )
            return None
        return self.mapping(node, self.item)

    # -- parameters ----------------------------------------------------------------------------

    def parameters(self, keys: Keys) -> tuple[m.Parameter, ...]:
        if "parameters" not in keys:
            return ()
        node = keys["parameters"][1]
        if isinstance(node, ScalarNode) and node.value in ("", "null", "~"):
            return ()
        found = self.sub_mapping(node, "parameters")
        if found is None:
            return ()
        out = []
        for name, (key_node, value_node) in found.items():
            parameter = self.parameter(name, key_node, value_node)
            if parameter is not None:
                out.append(parameter)
        return tuple(out)

    def parameter(self, name: str, key_node: Node, node: Node) -> m.Parameter | None:
        at = line(key_node)
        what = f"parameter {name!r}"
        if not ID.match(name):
            self.problem(at, f"{what}: a parameter's name must be snake_case", self.item)
            return None
        if name in ("scope", "branch_scope") or name.startswith("scope_"):
            self.problem(at, f"{what}: names starting with 'scope' are the runner's", self.item)
            return None
        spec = self.sub_mapping(node, what)
        if spec is None:
            return None
        self.unknown_keys(spec, PARAMETER_KEYS, f" of {what}")
        if "type" not in spec:
            self.problem(
                at, f"{what}: missing 'type' (one of {', '.join(m.PARAMETER_TYPES)})", self.item
            )
            return None
        kind = self.string(spec["type"][1], f"{what}'s type", self.item)
        if kind is None:
            return None
        if kind not in m.PARAMETER_TYPES:
            self.problem(
                line(spec["type"][1]),
                f"{what}: unknown type {kind!r}{did_you_mean(kind, m.PARAMETER_TYPES)}"
                f" (types: {', '.join(m.PARAMETER_TYPES)})",
                self.item,
            )
            return None
        label = self.optional_string(spec, "label", self.item) or name.replace("_", " ").title()
        values: tuple[str, ...] = ()
        if "values" in spec:
            values = self.names(spec["values"][1], f"{what}'s values")
        if kind == "choice" and not values:
            self.problem(at, f"{what}: a choice needs its 'values'", self.item)
        elif values and kind != "choice":
            self.problem(line(spec["values"][0]), f"{what}: only a choice has 'values'", self.item)
        bounds: dict[str, int | None] = {"min": None, "max": None}
        for key in bounds:
            if key in spec:
                number = self.number(spec[key][1], f"{what}'s {key}", self.item)
                if kind != "integer":
                    self.problem(
                        line(spec[key][0]), f"{what}: only an integer has {key!r}", self.item
                    )
                elif number is not None:
                    bounds[key] = int(number)
        required = False
        if "required" in spec:
            flag = self.scalar(spec["required"][1])
            if not isinstance(flag, bool):
                self.problem(
                    line(spec["required"][1]), f"{what}: required is true or false", self.item
                )
            else:
                required = flag
        default: str | int | bool | None = None
        if "default" in spec:
            raw = self.scalar(spec["default"][1])
            if raw is NOT_SCALAR:
                self.problem(line(spec["default"][1]), f"{what}: a default is one value", self.item)
            elif raw is not None:
                default = raw if isinstance(raw, bool | int) else str(raw)
        parameter = m.Parameter(
            name=name,
            type=cast(m.ParameterType, kind),
            label=label,
            default=default,
            required=required,
            values=values,
            minimum=bounds["min"],
            maximum=bounds["max"],
            where=m.Where(Path(self.shown), at),
        )
        if default is not None:
            from reports.params import default_problem

            problem = default_problem(parameter)
            if problem is not None:
                self.problem(line(spec["default"][1]), f"{what}: default {problem}", self.item)
        return parameter

    # -- the query -----------------------------------------------------------------------------

    def query(
        self, keys: Keys, at: int
    ) -> tuple[str | None, int, m.KpiQuery | None, m.ScorecardQuery | None]:
        given = [k for k in ("sql", "kpis", "scorecard") if k in keys]
        if len(given) != 1:
            self.problem(
                at,
                "a report has exactly one query: 'sql', 'kpis' or 'scorecard'"
                + (f" (found {', '.join(given)})" if given else ""),
                self.item,
            )
            return None, at, None, None
        [kind] = given
        node = keys[kind][1]
        if kind == "sql":
            sql = self.string(node, "sql", self.item, strip=False)
            # a block scalar (`sql: |`) starts on the line after its key
            first = line(node) + (1 if getattr(node, "style", None) in ("|", ">") else 0)
            return sql, first, None, None
        spec = self.sub_mapping(node, kind)
        if spec is None:
            return None, at, None, None
        where = m.Where(Path(self.shown), line(node))
        if kind == "kpis":
            self.unknown_keys(spec, KPI_KEYS, " of kpis")
            ids = self.names(spec["ids"][1], "kpis' ids") if "ids" in spec else ()
            if not ids:
                self.problem(line(node), "kpis: 'ids' lists the KPIs", self.item)
            period = self.optional_string(spec, "period", self.item)
            if period is None:
                self.problem(line(node), "kpis: 'period' names a period parameter", self.item)
            grain = self.optional_string(spec, "grain", self.item) or "month"
            by = self.names(spec["by"][1], "kpis' by") if "by" in spec else ()
            return None, at, m.KpiQuery(ids, period or "", grain, by, where), None
        self.unknown_keys(spec, SCORECARD_KEYS, " of scorecard")
        role = self.optional_string(spec, "role", self.item)
        period = self.optional_string(spec, "period", self.item)
        if role is None or period is None:
            self.problem(line(node), "scorecard: 'role' and 'period' are required", self.item)
        employee = self.optional_string(spec, "employee", self.item)
        return None, at, None, m.ScorecardQuery(role or "", period or "", employee, where)

    # -- how the result reads ------------------------------------------------------------------

    def columns(self, keys: Keys, at: int) -> tuple[m.Column, ...]:
        if "columns" not in keys:
            self.problem(at, "missing 'columns' (the columns shown, in order)", self.item)
            return ()
        node = keys["columns"][1]
        if not isinstance(node, SequenceNode) or not node.value:
            self.problem(line(node), "columns must be a list of {name, label, format}", self.item)
            return ()
        out = []
        seen: set[str] = set()
        for child in node.value:
            spec = self.sub_mapping(child, "a column")
            if spec is None:
                continue
            self.unknown_keys(spec, COLUMN_KEYS, " of a column")
            name = self.optional_string(spec, "name", self.item)
            if name is None:
                self.problem(line(child), "a column needs its 'name'", self.item)
                continue
            if name in seen:
                self.problem(line(child), f"column {name!r} is listed twice", self.item)
                continue
            seen.add(name)
            label = self.optional_string(spec, "label", self.item) or name.replace("_", " ")
            fmt = self.optional_string(spec, "format", self.item) or "text"
            if fmt not in m.FORMATS:
                self.problem(
                    line(spec["format"][1]),
                    f"column {name!r}: unknown format {fmt!r}{did_you_mean(fmt, m.FORMATS)}"
                    f" (formats: {', '.join(m.FORMATS)})",
                    self.item,
                )
                fmt = "text"
            out.append(
                m.Column(name, label, cast(m.Format, fmt), m.Where(Path(self.shown), line(child)))
            )
        return tuple(out)

    def sort(self, keys: Keys) -> tuple[m.SortKey, ...]:
        if "sort" not in keys:
            return ()
        return tuple(
            m.SortKey(name.removeprefix("-"), name.startswith("-"))
            for name in self.names(keys["sort"][1], "sort")
        )

    def totals(self, keys: Keys) -> tuple[m.Total, ...]:
        if "totals" not in keys:
            return ()
        node = keys["totals"][1]
        where = m.Where(Path(self.shown), line(node))
        if isinstance(node, SequenceNode | ScalarNode):  # a list of columns: each summed
            return tuple(m.Total(name, "sum", where=where) for name in self.names(node, "totals"))
        spec = self.sub_mapping(node, "totals")
        out = []
        for name, (key_node, value_node) in (spec or {}).items():
            at = m.Where(Path(self.shown), line(key_node))
            if isinstance(value_node, MappingNode) and any(
                isinstance(k, ScalarNode) and k.value == "each_group" for k, _ in value_node.value
            ):
                each = self.mapping(value_node, self.item)
                how = self.string(each["each_group"][1], f"total of {name!r}", self.item)
                if set(each) != {"each_group"} or how not in m.TOTALS:
                    self.problem(
                        line(value_node),
                        f"total of {name!r}: write {{each_group: sum|avg|min|max|count}}",
                        self.item,
                    )
                    continue
                out.append(m.Total(name, cast(m.TotalHow, how), per_group=True, where=at))
                continue
            if isinstance(value_node, MappingNode):
                ratio = self.mapping(value_node, self.item)
                parts = self.names(ratio["ratio"][1], "ratio") if "ratio" in ratio else ()
                if len(parts) != 2 or set(ratio) != {"ratio"}:
                    self.problem(
                        line(value_node),
                        f"total of {name!r}: a ratio is {{ratio: [numerator, denominator]}}",
                        self.item,
                    )
                    continue
                out.append(m.Total(name, ratio=(parts[0], parts[1]), where=at))
                continue
            how = self.string(value_node, f"total of {name!r}", self.item)
            if how is None:
                continue
            if how not in m.TOTALS:
                self.problem(
                    line(value_node),
                    f"total of {name!r}: unknown {how!r}{did_you_mean(how, m.TOTALS)}"
                    f" (sum, avg, min, max, count or {{ratio: [a, b]}})",
                    self.item,
                )
                continue
            out.append(m.Total(name, cast(m.TotalHow, how), where=at))
        return tuple(out)

    def chart(self, keys: Keys) -> m.Chart | None:
        if "chart" not in keys:
            return None
        node = keys["chart"][1]
        spec = self.sub_mapping(node, "chart")
        if spec is None:
            return None
        self.unknown_keys(spec, CHART_KEYS, " of the chart")
        kind = self.optional_string(spec, "type", self.item)
        x = self.optional_string(spec, "x", self.item)
        y = self.names(spec["y"][1], "chart's y") if "y" in spec else ()
        if kind is None or x is None or not y:
            self.problem(line(node), "a chart needs its 'type', 'x' and 'y'", self.item)
            return None
        if kind not in m.CHART_TYPES:
            self.problem(
                line(spec["type"][1]),
                f"unknown chart type {kind!r}{did_you_mean(kind, m.CHART_TYPES)}"
                f" (types: {', '.join(m.CHART_TYPES)})",
                self.item,
            )
            return None
        limit = None
        if "limit" in spec:
            number = self.number(spec["limit"][1], "chart's limit", self.item)
            limit = int(number) if number is not None and number >= 1 else None
            if limit is None and number is not None:
                self.problem(line(spec["limit"][1]), "chart's limit is at least 1", self.item)
        return m.Chart(
            type=cast(m.ChartType, kind),
            x=x,
            y=y,
            color=self.optional_string(spec, "color", self.item),
            title=self.optional_string(spec, "title", self.item) or "",
            limit=limit,
            where=m.Where(Path(self.shown), line(node)),
        )

    # -- across the definition -----------------------------------------------------------------

    def cross_check(self, report: m.Report, keys: Keys) -> None:
        """Parameters used and declared, columns named that the query has."""
        declared = {p.name: p for p in report.parameters}
        if report.sql is not None:
            try:
                tree = sqlglot.parse_one(report.sql, read="duckdb")
            except SqlglotError as exc:
                # DuckDB's own parser decides at run time; sqlglot failing is located for the
                # author all the same
                self.problem(
                    report.sql_line,
                    f"the SQL does not parse: {str(exc).splitlines()[0]}",
                    self.item,
                )
                return
            self.sql_parameters(report, placeholders(report.sql, tree))
            selected = output_columns(tree)
        elif report.kpis is not None:
            self.kpi_parameters(report, report.kpis, declared)
            named = [f"{d}_name" for d in report.kpis.by if d in ENTITY_LOOKUPS]
            selected = [*report.kpis.by, *named, *KPI_COLUMNS, "currency"]
        else:
            assert report.scorecard is not None
            self.scorecard_parameters(report, report.scorecard, declared)
            selected = list(SCORECARD_COLUMNS)
        for column in report.columns:
            for name in LABEL_PARAMETER.findall(column.label):
                if name not in declared:
                    self.problem(
                        column.where.line if column.where else report.line,
                        f"column {column.name!r}: label names {{{name}}}, which is not a "
                        f"parameter{did_you_mean(name, list(declared))}",
                        self.item,
                    )
        if selected is not None:
            self.named_columns(report, selected, keys)
        elif report.sort or report.group or report.totals or report.chart:
            pass  # SELECT *: the warehouse check (reports.check) knows the columns

    def sql_parameters(self, report: m.Report, used: dict[str, int]) -> None:
        bound = {name: p for p in report.parameters for name in p.placeholders()}
        for name, at in used.items():
            if name not in bound:
                self.problem(
                    report.sql_line + at - 1,
                    f"${name} is not a declared parameter{did_you_mean(name, list(bound))}",
                    self.item,
                )
        for parameter in report.parameters:
            if not any(name in used for name in parameter.placeholders()):
                shown = " or ".join(f"${n}" for n in parameter.placeholders())
                self.problem(
                    parameter.where.line if parameter.where else report.line,
                    f"parameter {parameter.name!r} is not used by the SQL (no {shown})",
                    self.item,
                )

    def kpi_parameters(
        self, report: m.Report, query: m.KpiQuery, declared: dict[str, m.Parameter]
    ) -> None:
        at = query.where.line if query.where else report.line
        used = {query.period}
        period = declared.get(query.period)
        if period is None or period.type != "period":
            self.problem(at, f"kpis: period {query.period!r} is not a period parameter", self.item)
        grain = declared.get(query.grain)
        if grain is not None:
            used.add(grain.name)
            bad = [v for v in grain.values if v not in GRAINS]
            if grain.type != "choice" or bad:
                self.problem(
                    at,
                    f"kpis: grain parameter {grain.name!r} must be a choice of {', '.join(GRAINS)}",
                    self.item,
                )
        elif query.grain not in GRAINS:
            self.problem(
                at,
                f"kpis: grain {query.grain!r} is neither a grain "
                f"({', '.join(GRAINS)}) nor a parameter",
                self.item,
            )
        # entity parameters filter the KPIs by their dimension (branch=denver)
        for parameter in report.parameters:
            if parameter.type in m.ENTITY_TYPES or parameter.type == "category":
                used.add(parameter.name)
        self._unused(report, used)

    def scorecard_parameters(
        self, report: m.Report, query: m.ScorecardQuery, declared: dict[str, m.Parameter]
    ) -> None:
        at = query.where.line if query.where else report.line
        used = {query.period}
        if declared.get(query.period) is None or declared[query.period].type != "period":
            self.problem(
                at, f"scorecard: period {query.period!r} is not a period parameter", self.item
            )
        if query.role in declared:
            used.add(query.role)
            if declared[query.role].type not in ("role", "choice"):
                self.problem(at, f"scorecard: {query.role!r} must be a role parameter", self.item)
        if query.employee is not None:
            used.add(query.employee)
            if declared.get(query.employee) is None or declared[query.employee].type != "employee":
                self.problem(
                    at,
                    f"scorecard: employee {query.employee!r} is not an employee parameter",
                    self.item,
                )
        for parameter in report.parameters:
            if parameter.type == "branch":
                used.add(parameter.name)
        self._unused(report, used)

    def _unused(self, report: m.Report, used: set[str]) -> None:
        for parameter in report.parameters:
            if parameter.name not in used:
                self.problem(
                    parameter.where.line if parameter.where else report.line,
                    f"parameter {parameter.name!r} is not used by the query",
                    self.item,
                )

    def named_columns(self, report: m.Report, selected: Sequence[str], keys: Keys) -> None:
        """Every column the definition names must be one the query returns."""
        named = columns_named(
            report,
            sort_line=line(keys["sort"][1]) if "sort" in keys else None,
            group_line=line(keys["group"][1]) if "group" in keys else None,
        )
        for name, at, what in named:
            if name not in selected:
                self.problem(
                    at or report.line,
                    f"{what}: unknown column {name!r}{did_you_mean(name, list(selected))}"
                    f" (the query returns {', '.join(selected)})",
                    self.item,
                )


def columns_named(
    report: m.Report, *, sort_line: int | None = None, group_line: int | None = None
) -> list[tuple[str, int, str]]:
    """Every column ``report`` names — shown, sorted, grouped, totalled (ratios' parts too),
    charted — with the line naming it (``report.line`` where unknown) and what names it. The
    loader checks them against the SQL's outer ``SELECT``, ``report check`` against what the
    query returned."""

    def at(where: m.Where | None) -> int:
        return where.line if where else report.line

    named = [(column.name, at(column.where), "column") for column in report.columns]
    named += [(key.column, sort_line or report.line, "sort") for key in report.sort]
    if report.group is not None:
        named.append((report.group, group_line or report.line, "group"))
    for total in report.totals:
        named.append((total.column, at(total.where), "total"))
        named += [(part, at(total.where), "ratio") for part in total.ratio or ()]
    if report.chart is not None:
        chart = report.chart
        named += [(n, at(chart.where), "chart") for n in (chart.x, *chart.y, chart.color) if n]
    return named


def placeholders(sql: str, tree: exp.Expr | None = None) -> dict[str, int]:
    """Each ``$name`` the SQL binds, with the line (of the SQL) it is first on. Read from
    sqlglot's tree (``tree``, when already parsed), so that a ``'$5'`` inside a string is not
    one."""
    out: dict[str, int] = {}
    parsed = [tree] if tree is not None else sqlglot.parse(sql, read="duckdb")
    for one in parsed:
        if one is None:
            continue
        for node in one.find_all(exp.Placeholder, exp.Parameter):
            name = node.name
            if name and name not in out:
                out[name] = _line_of(sql, f"${name}")
    return out


def output_columns(tree: exp.Expr) -> list[str] | None:
    """The names of the columns a query's outer ``SELECT`` returns, when it names them all
    (no ``*``); ``None`` otherwise."""
    if not isinstance(tree, exp.Query):
        return None
    selects = tree.selects
    if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in selects):
        return None
    names = list(tree.named_selects)
    return names if len(names) == len(selects) and all(names) else None


def _line_of(sql: str, text: str) -> int:
    found = re.search(re.escape(text) + r"(?![A-Za-z0-9_])", sql)
    return sql.count("\n", 0, found.start()) + 1 if found else 1


def report_ids(reports: Iterable[m.Report]) -> list[str]:
    return [r.id for r in reports]
