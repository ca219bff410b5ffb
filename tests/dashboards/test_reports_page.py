"""The Reports page: the catalog searched and browsed, a report's parameters as the right
controls, its preview, and its downloads as ``kpiboard report run`` renders them."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

import pytest

from tests.dashboards.conftest import errors_of, settle

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from dashboards.data import Data
    from tests.dashboards.conftest import ClientAs


@pytest.fixture
def runner(in_app: Data) -> Any:
    from reports.runner import Runner

    return Runner.from_settings(in_app.settings)


def test_search_matches_title_question_and_id_within_a_category(in_app: Data) -> None:
    from dashboards.pages.reports import matching

    reports = list(in_app.runner().catalog.reports.values())
    assert [r.id for r in matching(reports, "quarantine_by_table", None)] == ["quarantine_by_table"]
    found = matching(reports, "QUARANTINE", "data_quality")
    assert {"quarantine_by_table", "quarantined_rows"} <= {r.id for r in found}
    assert all(r.category == "data_quality" for r in found)
    assert matching(reports, "quarantine", "sales") == []
    assert len(matching(reports, "", "all")) == len(reports)


def _controls(in_app: Data, report_id: str, search: str = "") -> dict[str, Any]:
    """Each parameter's control (the component whose id names it) of the report's form."""
    from dashboards.app import filters_of
    from dashboards.pages.reports import control

    report = in_app.runner().catalog.get(report_id)
    f = filters_of(search)
    return {p.name: control(p, in_app, f, report) for p in report.parameters}


def test_each_parameter_type_gets_its_control(in_app: Data) -> None:
    import dash_bootstrap_components as dbc
    from dash import dcc

    from dashboards.pages.reports import PERIOD, RANGE

    sales = _controls(in_app, "sales_by_product", "?period=last_month&branch=denver")
    period = sales["period"].children
    assert isinstance(period[0], dcc.Dropdown) and period[0].id["type"] == PERIOD
    assert period[0].value == "last_month"  # the page's period is the default
    assert period[1].children.id["type"] == RANGE and period[1].hidden
    category = sales["category"]
    assert isinstance(category, dcc.Dropdown)
    assert [o["value"] for o in category.options] == [
        k for k, _ in in_app.runner().members("category")
    ]
    top = sales["top"]
    assert isinstance(top, dbc.Input) and top.type == "number"
    assert (top.min, top.max, top.value) == (1, 1000, 50)
    branch = sales["branch"]
    assert [o["value"] for o in branch.options] == ["denver"]  # within the filters' scope

    ranged = _controls(in_app, "sales_by_product", "?period=2026-01-01..2026-03-31")
    box = ranged["period"].children[1]
    assert ranged["period"].children[0].value == "custom" and not box.hidden
    assert (box.children.start_date, box.children.end_date) == ("2026-01-01", "2026-03-31")

    held = _controls(in_app, "quarantined_rows")
    assert isinstance(held["include_documents"], dbc.Checkbox)
    assert held["include_documents"].value is False
    choice = _controls(in_app, "quarantine_by_table")["hold"]
    assert [o["value"] for o in choice.options] == ["all", "row", "value"]
    assert choice.value == "all"


def test_a_date_parameter_defaults_to_the_data_end(in_app: Data) -> None:
    from dash import dcc

    report = next(
        r
        for r in in_app.runner().catalog.reports.values()
        if any(p.type == "date" and p.default == "data_end" for p in r.parameters)
    )
    name = next(p.name for p in report.parameters if p.type == "date")
    picker = _controls(in_app, report.id)[name]
    assert isinstance(picker, dcc.DatePickerSingle)
    last = in_app.last_day()
    assert last is not None and picker.date == last.isoformat()


def test_the_form_values_are_what_the_runner_takes() -> None:
    from dashboards.pages.reports import CUSTOM, DATE, PARAM, PERIOD, RANGE, given_values

    given = given_values(
        [
            ({"type": PARAM, "name": "top"}, 20.0),
            ({"type": PARAM, "name": "flag"}, False),
            ({"type": PARAM, "name": "branch"}, None),
        ],
        [({"type": PERIOD, "name": "period"}, CUSTOM), ({"type": PERIOD, "name": "p2"}, "ytd")],
        [({"type": RANGE, "name": "period"}, "2026-01-01", "2026-02-28T00:00:00")],
        [({"type": DATE, "name": "as_of"}, "2026-03-31")],
    )
    assert given == {
        "top": "20",
        "flag": "false",
        "period": "2026-01-01..2026-02-28",
        "p2": "ytd",
        "as_of": "2026-03-31",
    }


def test_a_refused_parameter_is_one_line_in_the_preview(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages.reports import preview

    result, error = preview(
        in_app, "sales_by_product", {"period": "1;DROP TABLE x"}, filters_of("")
    )
    assert result is None
    assert error.children.startswith("parameter 'period':")
    assert "\n" not in error.children and "Traceback" not in error.children


def test_the_preview_is_the_runners_result(in_app: Data, runner: Any) -> None:
    from dashboards.app import filters_of
    from dashboards.pages.reports import preview

    parts, error = preview(
        in_app, "sales_by_product", {"period": "last_month"}, filters_of("?branch=denver")
    )
    assert error is None
    expected = runner.run(
        "sales_by_product", {"period": "last_month"}, scope={"branch": ["denver"]}
    )
    grid = parts[-1].children.children
    assert [r["revenue"] for r in grid.rowData] == pytest.approx(
        [float(v) for v in expected.frame["revenue"]]
    )


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


def test_the_csv_download_is_the_runners_rows(client_as: ClientAs, runner: Any) -> None:
    from reports.render.csv import render_csv

    answer = client_as().get(
        "/download/report/sales_by_product.csv?period=last_month&top=10&branch=denver"
        "&compare=last_year"
    )
    assert answer.status_code == 200, answer.data
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="sales_by_product_last_month.csv"'
    )
    expected = runner.run(
        "sales_by_product", {"period": "last_month", "top": "10"}, scope={"branch": ["denver"]}
    )
    rows = _rows(answer.data)
    assert rows == _rows(render_csv(expected))
    assert len(rows) - 1 == len(expected.frame) > 0
    everyone = _rows(
        client_as().get("/download/report/sales_by_product.csv?period=last_month&top=10").data
    )
    assert everyone != rows  # the branch is the scope


def test_a_company_report_downloads_without_the_scope(client_as: ClientAs, runner: Any) -> None:
    from reports.render.csv import render_csv

    answer = client_as().get("/download/report/validation_runs.csv?branch=denver")
    assert answer.status_code == 200, answer.data
    assert _rows(answer.data) == _rows(render_csv(runner.run("validation_runs")))


@pytest.mark.parametrize(
    ("path", "status", "said"),
    [
        ("sales_by_product.csv?period=1;DROP TABLE x", 400, b"parameter 'period'"),
        ("sales_by_product.pdf?top=-5", 400, b"below the minimum"),
        ("sales_by_product.csv?bogus=1", 400, b"has no parameter 'bogus'"),
        ("sales_by_product.csv?period=" + "9" * 500, 400, b"at most 200"),
        ("no_such_report.csv", 404, b"no report 'no_such_report'"),
        ("sales_by_product.exe", 404, b"ask for"),
    ],
)
def test_a_bad_download_is_refused_in_one_line(
    client_as: ClientAs, path: str, status: int, said: bytes
) -> None:
    answer = client_as().get("/download/report/" + path)
    assert answer.status_code == status
    assert said in answer.data
    assert answer.data.count(b"\n") == 1 and b"Traceback" not in answer.data


def test_xlsx_and_html_download_as_the_cli_renders_them(client_as: ClientAs) -> None:
    client = client_as()
    xlsx = client.get("/download/report/sales_by_product.xlsx?period=2026-Q3")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert 'filename="sales_by_product_2026-Q3.xlsx"' in xlsx.headers["Content-Disposition"]
    html = client.get("/download/report/sales_by_product.html?period=2026-01-01..2026-03-31")
    assert html.status_code == 200 and b"Sales by product" in html.data
    assert "sales_by_product_2026-01-01_to_2026-03-31.html" in html.headers["Content-Disposition"]


def test_a_report_runs_and_downloads_as_a_pdf_with_its_title(served: str, page: Page) -> None:
    import pypdf

    page.goto(served + "reports?branch=denver&period=last_month&report=sales_by_product")
    page.wait_for_selector("#reports-title")
    settle(page)
    assert page.locator("#reports-title").inner_text() == "Sales by product"
    page.click("#reports-run")
    page.wait_for_selector("#reports-table .ag-row")
    assert "Scope: branch denver" in page.locator("#reports-shown").inner_text()
    href = page.locator("#reports-download-pdf").get_attribute("href") or ""
    assert "period=last_month" in href and "branch=denver" in href
    with page.expect_download(timeout=90_000) as waiting:
        page.click("#reports-download-pdf")
    download = waiting.value
    assert download.suggested_filename == "sales_by_product_last_month.pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(download.path()).pages)
    assert "Sales by product" in text
    assert errors_of(page) == []


def test_search_as_you_type_keeps_the_filters(served: str, page: Page) -> None:
    page.goto(served + "reports?branch=denver")
    page.wait_for_selector("#reports-list .reports-item")
    settle(page)
    page.fill("#reports-search", "quarantine")
    page.wait_for_function(
        "() => document.querySelectorAll('#reports-list .reports-item').length < 5"
    )
    page.click("#reports-list .reports-item >> nth=0")
    page.wait_for_selector("#reports-title")
    settle(page)
    assert "branch=denver" in page.url and "report=" in page.url
    assert "company-wide" in page.locator("#reports-head").inner_text()
    assert errors_of(page) == []
