"""The whole catalog: every report described, every report run on the demo with its defaults,
and again under a one-branch scope, whose answer equals the same report's branch slice."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kpiboard.config import load_settings
from reports import model as m
from reports.docs import catalog_table, rewrite
from reports.errors import ScopeError
from reports.loader import load_catalog, read_catalog
from reports.runner import Runner

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog()
REPORTS = list(CATALOG.reports)

MINIMUM = 110
EMPTY_ON_DEMO: dict[str, str] = {
    "service_repeat_repairs": "the demo has no unit brought in for repair twice",
    "service_backlog": "the small demo has no repair open at its last day",
    "service_overdue_requests": "the small demo has no repair open at its last day",
    "unanswered_leads": "the small demo answered every lead by its last day",
    "negative_stock": "the small demo's stock never goes below zero",
}
"""Reports allowed no rows with their defaults on the small test demo, and why."""


@pytest.fixture(scope="module")
def demo(small_demo: Path) -> Path:
    """The small demo every test process builds once (tests/conftest.py)."""
    return small_demo


@pytest.fixture(scope="module")
def runner(demo: Path) -> Runner:
    return Runner.from_settings(load_settings(demo), CATALOG)


# -- the definitions -------------------------------------------------------------------------------


def test_the_catalog_loads_without_a_problem() -> None:
    catalog, problems = read_catalog()
    assert [str(p) for p in problems] == []
    assert len(catalog.reports) >= MINIMUM


def test_every_category_has_its_reports() -> None:
    per = Counter(r.category for r in CATALOG.reports.values())
    assert set(per) == set(m.CATEGORIES)
    assert min(per.values()) >= 6, per


def test_every_report_is_described() -> None:
    for report in CATALOG.reports.values():
        assert report.title.strip() and report.title[0].isupper(), report.id
        assert report.question.endswith("?") and len(report.question) > 20, report.id
        assert str(report.path) == f"reports/catalog/{report.category}/{report.id}.yaml"
        assert report.columns, report.id


def test_reports_are_distinct() -> None:
    titles = Counter(r.title.lower() for r in CATALOG.reports.values())
    assert [t for t, n in titles.items() if n > 1] == []
    queries = Counter(
        re.sub(r"\s+", " ", r.sql).strip().lower()
        for r in CATALOG.reports.values()
        if r.sql is not None
    )
    assert [q[:80] for q, n in queries.items() if n > 1] == []


def test_every_branch_report_can_be_sliced_by_branch() -> None:
    """A report over core data has a branch parameter, so a reader narrows it as a scope
    would; company-wide reports (the data's quality) have none."""
    for report in CATALOG.reports.values():
        kinds = [p.type for p in report.parameters]
        if report.scope == "company":
            assert "branch" not in kinds, report.id
        else:
            assert kinds.count("branch") == 1, report.id


def test_the_docs_list_the_catalog() -> None:
    page = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    assert rewrite(page, CATALOG) == page, "run: python -m reports.docs docs/reports.md"
    assert catalog_table(CATALOG).count("\n| `") == len(CATALOG.reports)


def test_the_project_folder_is_read_like_the_catalog(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "reports").mkdir(parents=True)
    first = CATALOG.reports[REPORTS[0]]
    text = (ROOT / first.path).read_text(encoding="utf-8")
    mine = text.replace(f"id: {first.id}", "id: my_copy", 1)
    (project / "reports" / "my_copy.yaml").write_text(mine, encoding="utf-8")
    catalog, problems = read_catalog(project)
    assert problems == []
    assert catalog.get("my_copy").path == Path("reports/my_copy.yaml")
    assert len(catalog.reports) == len(CATALOG.reports) + 1


# -- every report on the demo ----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value


def _rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    rows = [tuple(_plain(v) for v in row) for row in frame.itertuples(index=False)]
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


@pytest.mark.parametrize("report_id", REPORTS)
def test_every_report_runs_with_its_defaults(runner: Runner, report_id: str) -> None:
    report = CATALOG.get(report_id)
    if any(p.required for p in report.parameters):
        given = {p.name: _a_value(runner, p) for p in report.parameters if p.required}
    else:
        given = {}
    result = runner.run(report_id, given)
    declared = [c.name for c in report.columns]
    assert [c for c in declared if c not in result.frame.columns] == []
    if report_id not in EMPTY_ON_DEMO:
        assert len(result.frame) >= 1, f"{report_id}: no rows with its defaults on the demo"


@pytest.mark.parametrize("report_id", REPORTS)
def test_a_branch_scope_equals_the_branch_slice(runner: Runner, report_id: str) -> None:
    report = CATALOG.get(report_id)
    given = {p.name: _a_value(runner, p) for p in report.parameters if p.required}
    scope = {"branch": ["denver"]}
    if report.scope == "company":
        with pytest.raises(ScopeError, match="company-wide"):
            runner.run(report_id, given, scope=scope)
        return
    branch = next(p.name for p in report.parameters if p.type == "branch")
    scoped = runner.run(report_id, given, scope=scope).frame
    sliced = runner.run(report_id, {**given, branch: "denver"}).frame
    for column in ("branch", "branch_id"):
        if column in scoped.columns:
            assert set(scoped[column].dropna()) <= {"denver", "Denver"}, report_id
    assert list(scoped.columns) == list(sliced.columns)
    assert _rows(scoped) == _rows(sliced), report_id


def _a_value(runner: Runner, parameter: m.Parameter) -> str:
    """A value for a required parameter: the demo's first sales manager of Denver."""
    if parameter.type == "employee":
        with runner._cursor(runner._published()) as con:
            row = con.execute(
                "SELECT employee_id FROM core.dim_employee WHERE branch_id = 'denver' "
                "AND role = 'sales_manager' ORDER BY employee_id LIMIT 1"
            ).fetchone()
        assert row is not None
        return str(row[0])
    raise AssertionError(f"no value for a required {parameter.type} parameter")
