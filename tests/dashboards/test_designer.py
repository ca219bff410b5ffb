"""The KPI designer: drafts checked as the command line checks them, the form and the YAML
saying the same, saves that are atomic and refuse what they must; and in a real browser, a KPI
made in the form that ``kpiboard kpi check`` accepts, and a broken one that is not saved."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kpi_designer import drafts
from kpi_designer.loader import load_kpis
from kpi_designer.plans import load_plans
from tests.dashboards.conftest import errors_of, settle

if TYPE_CHECKING:
    from playwright.sync_api import Page

GOOD = """kpis:
  - id: big_revenue
    label: Big revenue
    description: Revenue of invoices over 1000.
    unit: money
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
    filter: net_amount > 1000
"""


@pytest.fixture
def project(dash_project: Path, tmp_path: Path) -> Path:
    """The KPI, plan and scorecard files of the test project, in a folder of this test's."""
    for name in ("kpis", "plans", "scorecards"):
        shutil.copytree(dash_project / name, tmp_path / name)
    return tmp_path


def check(project: Path, text: str, name: str = "big_revenue.yaml", **kw: object) -> list:
    return drafts.validate_draft(
        text,
        name,
        project / "kpis",
        plans_folder=project / "plans",
        scorecards_folder=project / "scorecards",
        **kw,  # type: ignore[arg-type]
    )


def line_of(text: str, needle: str) -> int:
    return next(n for n, x in enumerate(text.splitlines(), start=1) if needle in x)


BROKEN = [
    ("expr: net_amount", "expr: sum(net_amount +)", "expr", "expr is not valid SQL"),
    ("fact: invoice", "fact: invoce", "fact", "did you mean 'invoice'?"),
    ("agg: sum", "agg: total", "agg", "'total'"),
    ("filter: net_amount > 1000", "filter: amout > 1000", "filter", "'amout'"),
    ("expr: net_amount", "exp: net_amount", "exp:", "unknown key 'exp'"),
    ("id: big_revenue", "id: revenue", None, "id is already used at kpis/big_revenue.yaml:2"),
    ("expr: net_amount", "expr: 'net_amount", "expr", "invalid YAML"),
]


@pytest.mark.parametrize(("old", "new", "at", "message"), BROKEN, ids=[b[1] for b in BROKEN])
def test_a_broken_draft_gets_its_located_message(
    project: Path, old: str, new: str, at: str | None, message: str
) -> None:
    assert check(project, GOOD) == []
    text = GOOD.replace(old, new)
    found = check(project, text)
    assert found, text
    first = next((p for p in found if message in p.message), None)
    assert first is not None, found
    if at is not None:
        assert first.path == "kpis/big_revenue.yaml"
        assert first.line == line_of(text, at)
    else:  # the id used twice: named where the second definition is, the draft's named
        assert first.path == "kpis/sales.yaml"


def test_a_ratio_draft_resolves_the_projects_kpis(project: Path) -> None:
    text = drafts.form_to_yaml(
        {
            "id": "revenue_per_invoice",
            "label": "Revenue per invoice",
            "description": "Revenue over invoices.",
            "unit": "money",
            "type": "ratio",
            "numerator": "revenue",
            "denominator": "invoice_count",
        }
    )
    assert check(project, text, "revenue_per_invoice.yaml") == []
    broken = text.replace("numerator: revenue", "numerator: revenu")
    (found,) = check(project, broken, "revenue_per_invoice.yaml")
    assert found.line == 2
    assert "unknown KPI 'revenu' — did you mean 'revenue'?" in found.message


def test_form_and_yaml_say_the_same(project: Path) -> None:
    fields = drafts.yaml_to_form(GOOD)
    assert fields is not None
    assert fields["filter"] == "net_amount > 1000" and fields["editable"]
    assert drafts.form_to_yaml(fields) == GOOD
    assert drafts.yaml_to_form(drafts.form_to_yaml(fields)) == fields
    # a form change touches only its key: comments and keys the form does not know stay
    text = GOOD.replace("    agg: sum\n", "    agg: sum  # the amounts\n    time: due_on\n")
    changed = drafts.form_to_yaml({**fields, "label": "Large revenue"}, text)
    assert changed == text.replace("label: Big revenue", "label: Large revenue")
    # two conditions are a list; a ratio has no fact; green and amber are thresholds
    ratio = drafts.form_to_yaml(
        {
            **fields,
            "type": "ratio",
            "numerator": "revenue",
            "denominator": "invoice_count",
            "numerator_filter": "branch = 'denver'",
            "green": 1.05,
        },
        changed,
    )
    assert "fact:" not in ratio and "time:" not in ratio
    assert "numerator: {kpi: revenue, filter: branch = 'denver'}" in ratio
    assert "thresholds: {green: 1.05}" in ratio
    back = drafts.yaml_to_form(ratio)
    assert back is not None and back["numerator_filter"] == "branch = 'denver'"
    assert back["green"] == 1.05
    # other types are edited in the YAML view
    other = drafts.yaml_to_form(GOOD.replace("type: simple", "type: cumulative"))
    assert other is not None and not other["editable"]
    assert drafts.yaml_to_form("kpis: [") is None


def test_save_writes_a_new_file_the_loader_reads(project: Path) -> None:
    folder = project / "kpis"
    path = drafts.save_kpi(folder, "big_revenue.yaml", GOOD, None)
    assert path == folder / "big_revenue.yaml"
    assert path.read_text() == GOOD
    assert "big_revenue" in load_kpis(folder)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left
    with pytest.raises(drafts.DraftError, match="already exists"):
        drafts.save_kpi(folder, "big_revenue.yaml", GOOD, None)


def test_save_refuses_a_file_changed_since_it_was_opened(project: Path) -> None:
    folder = project / "kpis"
    opened = drafts.open_kpi(folder, "avg_check")
    assert opened is not None and opened.replacing == "avg_check"
    text = opened.text.replace("label: Average check", "label: Mean check")
    before = (folder / opened.file_name).read_text()
    (folder / opened.file_name).write_text(before + "\n# edited by hand\n")
    with pytest.raises(drafts.DraftError, match="changed since it was opened"):
        drafts.save_kpi(folder, opened.file_name, text, opened.fingerprint, replacing="avg_check")
    assert (folder / opened.file_name).read_text() == before + "\n# edited by hand\n"


def test_save_replaces_just_the_kpis_block(project: Path) -> None:
    folder = project / "kpis"
    before = (folder / "sales.yaml").read_text()
    opened = drafts.open_kpi(folder, "avg_check")
    assert opened is not None
    text = opened.text.replace("label: Average check", "label: Mean check")
    drafts.save_kpi(folder, opened.file_name, text, opened.fingerprint, replacing="avg_check")
    after = (folder / "sales.yaml").read_text()
    assert after == before.replace("label: Average check", "label: Mean check")
    assert load_kpis(folder)["avg_check"].label == "Mean check"


@pytest.mark.parametrize("name", ["../evil.yaml", "sub/x.yaml", "..yaml", "x.txt", ".hidden.yaml"])
def test_save_refuses_names_that_are_not_plain_yaml_files(project: Path, name: str) -> None:
    with pytest.raises(drafts.DraftError):
        drafts.save_kpi(project / "kpis", name, GOOD, None)
    assert not (project / "evil.yaml").exists()
    assert check(project, GOOD, name)  # and the check says so


def test_save_refuses_a_draft_with_problems_and_writes_nothing(project: Path) -> None:
    folder = project / "kpis"
    bad = GOOD.replace("expr: net_amount", "expr: sum(net_amount +)")
    with pytest.raises(drafts.DraftError) as raised:
        drafts.save_kpi(folder, "big_revenue.yaml", bad, None)
    assert raised.value.problems[0].line == line_of(bad, "expr")
    assert not (folder / "big_revenue.yaml").exists()


def test_an_interrupted_save_leaves_the_old_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project / "kpis"
    path = drafts.save_kpi(folder, "big_revenue.yaml", GOOD, None)

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        drafts.save_kpi(
            folder,
            "big_revenue.yaml",
            GOOD.replace("Big revenue", "Huge revenue"),
            drafts.file_fingerprint(path),
        )
    assert path.read_text() == GOOD
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_plan_save_refuses_a_bad_value_at_its_line_and_writes_a_good_one(project: Path) -> None:
    folder = project / "plans"
    kpis = load_kpis(project / "kpis")
    name = sorted(p.name for p in folder.glob("*.csv"))[0]
    rows, print_ = drafts.read_plan(folder, name)
    before = (folder / name).read_text()
    bad = [list(r) for r in rows]
    column = bad[0].index("plan")
    bad[3][column] = "lots"
    with pytest.raises(drafts.DraftError) as raised:
        drafts.save_plan(folder, name, bad, print_, kpis)
    (found,) = raised.value.problems
    assert (found.path, found.line) == (f"plans/{name}", 4)
    assert "plan 'lots' is not a number" in found.message
    assert (folder / name).read_text() == before
    good = [list(r) for r in rows]
    good[3][column] = "12345"
    drafts.save_plan(folder, name, good, print_, kpis)
    plans = load_plans(folder, kpis)
    assert any(p.value == 12345 and p.location.line == 4 for p in plans)
    with pytest.raises(drafts.DraftError, match="changed since it was opened"):
        drafts.save_plan(folder, name, good, print_, kpis)


# -- in the browser ---------------------------------------------------------------------------

COLD = 90_000
"""The first page of a server just started reads every definition and report once."""


def _open(page: Page, served: str) -> None:
    page.goto(served + "designer")
    page.wait_for_function(
        "() => (document.querySelector('#designer-yaml-text') || {}).value?.includes('new_kpi')",
        timeout=COLD,
    )
    page.wait_for_selector(".designer-ok", timeout=COLD)
    settle(page)


def test_a_kpi_made_in_the_form_is_saved_listed_and_checked(
    served: str, page: Page, dash_project: Path
) -> None:
    path = dash_project / "kpis" / "designer_big_sales.yaml"
    try:
        _open(page, served)
        page.fill("#designer-f-id", "designer_big_sales")
        page.fill("#designer-f-label", "Big sales")
        page.press("#designer-f-label", "Tab")
        page.wait_for_function(
            "() => ['id: designer_big_sales', 'label: Big sales'].every("
            "t => document.querySelector('#designer-yaml-text').value.includes(t))"
        )
        assert drafts.yaml_to_form(page.input_value("#designer-yaml-text"))["fact"] == "invoice"
        page.wait_for_selector("#designer-save:not([disabled])")
        page.wait_for_selector(".designer-ok")
        settle(page)
        page.click("#designer-save")
        page.wait_for_selector("text=Saved to kpis/designer_big_sales.yaml")
        assert path.is_file()
        assert "id: designer_big_sales" in path.read_text()
        page.fill("#designer-search", "designer_big")
        page.wait_for_selector('#designer-list .ag-row[row-id="designer_big_sales"]')
        row = page.locator('#designer-list .ag-center-cols-container [row-id="designer_big_sales"]')
        assert "Big sales" in row.inner_text() and "OK" in row.inner_text()
        result = subprocess.run(
            [sys.executable, "-m", "kpiboard", "kpi", "check", "-p", str(dash_project)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert errors_of(page) == []
    finally:
        path.unlink(missing_ok=True)


def test_an_invalid_expression_shows_its_located_message_and_saves_nothing(
    served: str, page: Page, dash_project: Path
) -> None:
    _open(page, served)
    text = GOOD.replace("big_revenue", "designer_broken").replace(
        "expr: net_amount", "expr: sum(net_amount +)"
    )
    page.fill("#designer-yaml-text", text)
    page.wait_for_selector(".designer-bad-box")
    shown = page.locator("#designer-problems").inner_text()
    assert f"kpis/designer_broken.yaml:{line_of(text, 'expr')}:" in shown
    assert "expr is not valid SQL" in shown
    assert page.locator("#designer-save").is_disabled()
    page.locator("#designer-save").click(force=True)
    settle(page)
    assert not (dash_project / "kpis" / "designer_broken.yaml").exists()
    assert errors_of(page) == []
