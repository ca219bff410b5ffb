"""Renderers, from results built by hand (a Report and a DataFrame; no runner, no warehouse).

Expected values are computed by hand in the comments next to them. The PDF tests share one
printer (one chromium) for the module: starting a browser costs most of a second.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import openpyxl
import pandas as pd
import pypdf
import pytest

from reports import formats
from reports.model import Chart, Column, Report, SortKey, Total
from reports.render import RenderError, render
from reports.render.pdf import Printer, find_chromium
from reports.render.xlsx import money_format
from reports.result import Result, layout

M = formats.MINUS
SNAPSHOT = dt.datetime(2026, 11, 1, 3, 0)


def make_result(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    parameters: Sequence[tuple[str, str]] = (("Period", "2026-10-01..2026-10-31"),),
    currency: str = "USD",
    frame_columns: Sequence[str] | None = None,
    **report: Any,
) -> Result:
    definition = Report(
        id=report.pop("id", "sample"),
        title=report.pop("title", "Receivables by client"),
        category=report.pop("category", "finance"),
        question=report.pop("question", "How much do clients owe us?"),
        parameters=(),
        columns=tuple(columns),
        sql="SELECT 1",
        **report,
    )
    frame = pd.DataFrame(list(rows), columns=list(frame_columns) if frame_columns else None)
    return Result(
        report=definition,
        parameters=tuple(parameters),
        frame=frame,
        columns=tuple(columns),
        currency=currency,
        snapshot_at=SNAPSHOT,
        data_end=dt.date(2026, 10, 31),
        company="Fixture Office Supply",
        query_seconds=0.01,
    )


# -- formats ------------------------------------------------------------------------------------

FORMAT_CASES = [
    (dt.date(2026, 3, 1), "month", None, "2026-03"),
    ("green", "status", None, "✓ on plan"),
    ("red", "status", None, "✗ behind plan"),
    (1234567.891, "number", None, "1,234,567.89"),
    (Decimal("1234.5"), "money", "USD", "$1,234.50"),
    (-12, "money", "USD", f"{M}$12.00"),
    (1234.5, "money", "CHF", "CHF 1,234.50"),
    (5, "money", "eur", "€5.00"),
    (Decimal("-0.001"), "money", "USD", "$0.00"),  # rounds to zero: no minus
    (0.125, "percent", None, "12.5%"),
    (-0.0704, "percent", None, f"{M}7.0%"),
    (1.5, "percent", None, "150.0%"),
    (0.021, "pp", None, "+2.1 pp"),
    (-0.021, "pp", None, f"{M}2.1 pp"),
    (0.0, "pp", None, "0.0 pp"),
    (12345, "count", None, "12,345"),
    (1_000_000_000, "count", None, "1,000,000,000"),  # tables never abbreviate
    (-3, "count", None, f"{M}3"),
    (4.5, "days", None, "4.5 d"),
    (1234, "days", None, "1,234.0 d"),
    (3 * 86400 + 4 * 3600, "duration", None, "3 d 4 h"),
    (3 * 86400 + 4 * 3600 + 29 * 60, "duration", None, "3 d 4 h"),  # 4.48 h rounds to 4
    (86400, "duration", None, "1 d"),
    (2 * 3600 + 5 * 60, "duration", None, "2 h 5 min"),
    (5 * 60 + 30, "duration", None, "5 min 30 s"),
    (45, "duration", None, "45 s"),
    (3599.6, "duration", None, "1 h"),  # 59 min 59.6 s rounds up to the hour
    (-90, "duration", None, f"{M}1 min 30 s"),
    (dt.timedelta(hours=2, minutes=5), "duration", None, "2 h 5 min"),
    (dt.date(2026, 3, 31), "date", None, "2026-03-31"),
    (pd.Timestamp("2026-03-31"), "date", None, "2026-03-31"),
    (dt.datetime(2026, 3, 31, 14, 5, 59), "datetime", None, "2026-03-31 14:05"),
    (dt.datetime(2026, 3, 31, 14, 5, tzinfo=dt.UTC), "datetime", None, "2026-03-31 14:05 UTC"),
    (None, "money", "USD", "—"),
    (float("nan"), "percent", None, "—"),
    (pd.NaT, "date", None, "—"),
    (pd.NA, "count", None, "—"),
    (True, "text", None, "yes"),
    ("abc", "money", "USD", "abc"),  # the wrong kind reads as text, never fails
]


@pytest.mark.parametrize(("value", "fmt", "currency", "expected"), FORMAT_CASES)
def test_format_value(value: Any, fmt: str, currency: str | None, expected: str) -> None:
    assert formats.format_value(value, fmt, currency) == expected


def test_currency_symbols() -> None:
    assert formats.currency_symbol("USD") == "$"
    assert formats.currency_symbol("gbp") == "£"
    assert formats.currency_symbol("XYZ") == "XYZ"
    assert formats.currency_symbol(None) == ""


# -- layout ------------------------------------------------------------------------------------

AGING_COLUMNS = (
    Column("client", "Client"),
    Column("branch", "Branch"),
    Column("outstanding", "Outstanding", "money"),
    Column("overdue_share", "Overdue", "percent"),
    Column("invoices", "Invoices", "count"),
)
AGING_ROWS = [
    # overdue and currency are hidden columns
    {"client": "A", "branch": "denver", "outstanding": Decimal("100.00"),
     "overdue": Decimal("50.00"), "overdue_share": 0.5, "invoices": 2, "currency": "USD"},
    {"client": "B", "branch": "austin", "outstanding": Decimal("300.00"),
     "overdue": Decimal("0.00"), "overdue_share": 0.0, "invoices": 1, "currency": "USD"},
    {"client": "C", "branch": "denver", "outstanding": Decimal("200.00"),
     "overdue": Decimal("150.00"), "overdue_share": 0.75, "invoices": 4, "currency": "USD"},
    {"client": "D", "branch": "austin", "outstanding": None,
     "overdue": None, "overdue_share": None, "invoices": 3, "currency": "USD"},
]  # fmt: skip
AGING_TOTALS = (
    Total("outstanding", "sum"),
    Total("overdue_share", ratio=("overdue", "outstanding")),
    Total("invoices", "sum"),
)


def aging(**report: Any) -> Result:
    report.setdefault("sort", (SortKey("outstanding", True), SortKey("client")))
    report.setdefault("totals", AGING_TOTALS)
    return make_result(AGING_ROWS, AGING_COLUMNS, **report)


def texts(table: Any) -> list[tuple[str, list[str]]]:
    return [(row.kind, [cell.text for cell in row.cells]) for row in table.rows]


def test_layout_groups_subtotals_and_ratio_total() -> None:
    table = layout(aging(group="branch"))
    assert [h.label for h in table.header] == [
        "Client", "Branch", "Outstanding", "Overdue", "Invoices"
    ]  # fmt: skip
    assert texts(table) == [
        # austin first (groups by value); inside it -outstanding with the NULL last
        ("row", ["B", "austin", "$300.00", "0.0%", "1"]),
        ("row", ["D", "austin", "—", "—", "3"]),
        # overdue 0 / outstanding 300 = 0%; invoices 1 + 3
        ("subtotal", ["Total austin", "", "$300.00", "0.0%", "4"]),
        ("row", ["C", "denver", "$200.00", "75.0%", "4"]),
        ("row", ["A", "denver", "$100.00", "50.0%", "2"]),
        # (150 + 50) / (200 + 100) = 66.7%, not the mean of 75% and 50%
        ("subtotal", ["Total denver", "", "$300.00", "66.7%", "6"]),
        # 200 / 600 = 33.3%
        ("total", ["Total", "", "$600.00", "33.3%", "10"]),
    ]
    total = table.total
    assert total is not None
    assert total.cells[2].value == Decimal("600.00")
    assert total.cells[3].value == Decimal("200.00") / Decimal("600.00")
    assert [c.align for c in total.cells] == ["left", "left", "right", "right", "right"]


def test_layout_sort_is_stable_with_nulls_last_either_way() -> None:
    rows = [
        {"k": 2, "name": "first 2"},
        {"k": None, "name": "null 1"},
        {"k": 1, "name": "first 1"},
        {"k": 2, "name": "second 2"},
        {"k": None, "name": "null 2"},
        {"k": 1, "name": "second 1"},
    ]
    columns = (Column("name", "Name"), Column("k", "K", "count"))
    down = layout(make_result(rows, columns, sort=(SortKey("k", True),)))
    assert [r.cells[0].text for r in down.rows] == [
        "first 2", "second 2", "first 1", "second 1", "null 1", "null 2"
    ]  # fmt: skip
    up = layout(make_result(rows, columns, sort=(SortKey("k"),)))
    assert [r.cells[0].text for r in up.rows] == [
        "first 1", "second 1", "first 2", "second 2", "null 1", "null 2"
    ]  # fmt: skip
    unsorted = layout(make_result(rows, columns))  # the query's order stands
    assert [r.cells[0].text for r in unsorted.rows] == [r["name"] for r in rows]


@pytest.mark.parametrize(
    ("how", "expected_value", "expected_text"),
    [
        ("sum", Decimal("600.00"), "$600.00"),  # 100 + 300 + 200, the NULL left out
        ("avg", Decimal("200.00"), "$200.00"),  # 600 / 3
        ("min", Decimal("100.00"), "$100.00"),
        ("max", Decimal("300.00"), "$300.00"),
        ("count", 3, "3"),  # non-missing values, read as a count
    ],
)
def test_layout_total_kinds(how: str, expected_value: Any, expected_text: str) -> None:
    table = layout(aging(totals=(Total("outstanding", how),)))  # type: ignore[arg-type]
    total = table.total
    assert total is not None
    assert total.cells[0].text == "Total"
    assert total.cells[2].value == expected_value
    assert total.cells[2].text == expected_text
    assert total.cells[1].text == "" and total.cells[3].text == ""  # no total asked


def test_layout_money_reads_in_each_rows_currency_and_never_sums_across() -> None:
    rows = [
        {"client": "A", "amount": 10.0, "currency": "EUR"},
        {"client": "B", "amount": 5.5, "currency": "EUR"},
        {"client": "C", "amount": 7.0, "currency": "GBP"},
    ]
    columns = (Column("client", "Client"), Column("amount", "Amount", "money"))
    table = layout(make_result(rows, columns, totals=(Total("amount", "sum"),)))
    assert [r.cells[1].text for r in table.data_rows] == ["€10.00", "€5.50", "£7.00"]
    total = table.total
    assert total is not None and total.cells[1].value is None and total.cells[1].text == "—"
    one = layout(make_result(rows[:2], columns, totals=(Total("amount", "sum"),)))
    assert one.total is not None and one.total.cells[1].text == "€15.50"
    # no currency column: the company's currency
    plain = layout(make_result([{"client": "A", "amount": 3}], columns, currency="JPY"))
    assert plain.rows[0].cells[1].text == "¥3.00"


def test_layout_empty_result_has_no_total_row() -> None:
    result = make_result([], AGING_COLUMNS, totals=AGING_TOTALS, frame_columns=list(AGING_ROWS[0]))
    table = layout(result)
    assert table.empty and table.rows == ()


# -- charts ------------------------------------------------------------------------------------


def test_chart_ranking_is_horizontal_sorted_and_limited() -> None:
    from reports.render.charts import figure

    fig = figure(aging(chart=Chart("bar", "client", ("outstanding",), title="B owes", limit=2)))
    assert fig is not None and len(fig.data) == 1
    bars = fig.data[0]
    # sorted -outstanding: B 300, C 200 (then A 100, D NULL cut by the limit); biggest on top
    assert bars.orientation == "h"
    assert list(bars.y) == ["B", "C"] and list(bars.x) == [300.0, 200.0]
    assert list(bars.customdata) == ["$300.00", "$200.00"]  # hover reads like the table
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.xaxis.title.text == "Outstanding, USD"
    assert fig.layout.xaxis.tickprefix == "$"
    assert fig.layout.title.text == "B owes"


def test_chart_notation_plan_outlined_previous_grey_one_axis() -> None:
    from reports.render.charts import INK, PREVIOUS, figure

    rows = [
        {"month": dt.date(2026, m, 1), "revenue": 10 * m, "plan": 11 * m, "prev_year": 9 * m}
        for m in (3, 1, 2)
    ]
    columns = (
        Column("month", "Month", "date"),
        Column("revenue", "Revenue", "money"),
        Column("plan", "Plan", "money"),
        Column("prev_year", "Previous year", "money"),
    )
    fig = figure(
        make_result(rows, columns, chart=Chart("column", "month", ("revenue", "plan", "prev_year")))
    )
    assert fig is not None
    actual, plan, previous = fig.data
    assert actual.marker.color == INK
    assert plan.marker.color == "white" and plan.marker.line.color == INK
    assert previous.marker.color == PREVIOUS
    # time runs left to right whatever the rows' order
    assert list(actual.x) == [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)]
    assert "yaxis2" not in fig.layout.to_plotly_json()


def test_no_figure_without_a_chart_or_rows() -> None:
    from reports.render.charts import figure

    assert figure(aging()) is None
    empty = make_result(
        [],
        AGING_COLUMNS,
        frame_columns=list(AGING_ROWS[0]),
        chart=Chart("bar", "client", ("outstanding",)),
    )
    assert figure(empty) is None


# -- HTML --------------------------------------------------------------------------------------

HOSTILE = "<script>alert('x')</script>"


def hostile_result() -> Result:
    columns = (Column("client", HOSTILE), Column("amount", "Amount", "money"))
    rows = [{"client": HOSTILE, "amount": 12.5}, {"client": "Bob & Co", "amount": 3.0}]
    return make_result(
        rows,
        columns,
        title=f"Title {HOSTILE}",
        parameters=(("Client", HOSTILE),),
        totals=(Total("amount", "sum"),),
        chart=Chart("bar", "client", ("amount",), title=f"Chart {HOSTILE}"),
    )


def test_html_escapes_every_hostile_value() -> None:
    page = render(hostile_result(), "html").decode("utf-8")
    assert "alert('x')</script>" not in page
    # the heading, the cell, the parameter and the title, each escaped
    assert page.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") >= 4
    # the chart's JSON cannot close its script element
    data = re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', page, re.S)
    assert data is not None and "<" not in data.group(1)
    assert "Chart \\u0026lt;script\\u0026gt;" in data.group(1)  # the title: a text, not a tag
    assert "Bob &amp; Co" in page
    # exactly our own scripts: plotly.js, the figure, the drawing
    assert len(re.findall(r"<script\b", page)) == 3


def test_html_is_standalone_with_local_plotly_and_print_css() -> None:
    page = render(aging(group="branch", orientation="landscape"), "html").decode("utf-8")
    assert "cdn." not in page and 'src="http' not in page
    assert "@page { size: A4 landscape; margin: 15mm 12mm 14mm 12mm; }" in page
    assert "tr { break-inside: avoid;" in page
    assert "display: table-header-group" in page
    assert "tabular-nums" in page
    assert '<tr class="subtotal">' in page and '<tr class="total">' in page
    assert '<td class="right">$600.00</td>' in page
    assert 'title="no value">—</td>' in page  # a missing value says why
    assert "Data as of 2026-11-01 03:00 UTC · data to 2026-10-31 · 4 rows" in page


def test_html_with_a_chart_inlines_the_packaged_plotly() -> None:
    import plotly

    result = aging(chart=Chart("bar", "client", ("outstanding",), title="B owes the most"))
    page = render(result, "html").decode("utf-8")
    assert f"plotly.js v{plotly.__version__.split('.')[0]}" in page or "plotly.js v" in page
    assert len(page) > 3_000_000  # plotly.js itself is inside


def test_html_empty_state_says_what_to_change() -> None:
    result = make_result([], AGING_COLUMNS, totals=AGING_TOTALS, frame_columns=list(AGING_ROWS[0]))
    page = render(result, "html").decode("utf-8")
    assert "No rows for these parameters. Widen the period or choose another branch." in page
    assert "<table" not in page


# -- PDF ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def printer() -> Iterator[Printer]:
    with Printer(timeout=60) as shared:
        yield shared


def pdf_pages(data: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [page.extract_text() or "" for page in reader.pages]


def numbered(n: int, *, long: bool = False, orientation: str = "portrait") -> Result:
    filler = " ".join(["a long note that wraps over several lines of its cell"] * 4)
    rows = [
        {
            "ref": f"R{i:04d}",
            "note": f"R{i:04d}-start {filler} R{i:04d}-end" if long else f"note {i}",
            "amount": 1000 + i,
        }
        for i in range(1, n + 1)
    ]
    columns = (
        Column("ref", "Ref"),
        Column("note", "Note"),
        Column("amount", "Amount", "money"),
    )
    return make_result(
        rows,
        columns,
        title="Numbered rows",
        orientation=orientation,
        totals=(Total("amount", "sum"),),
        parameters=(("Period", "2026-10-01..2026-10-31"), ("Branch", "Denver")),
    )


def test_pdf_holds_title_parameters_total_and_page_numbers(printer: Printer) -> None:
    pages = pdf_pages(printer.pdf(aging(group="branch")))
    text = "\n".join(pages)
    assert "Receivables by client" in pages[0]
    assert "How much do clients owe us?" in pages[0]
    assert "Period: 2026-10-01..2026-10-31" in pages[0]  # the running header
    assert "Data as of 2026-11-01 03:00 UTC" in pages[0]
    assert "$600.00" in pages[-1] and "33.3%" in pages[-1]  # the grand total
    assert "Total denver" in text
    assert f"page 1 of {len(pages)}" in pages[0] and "Fixture Office Supply" in pages[0]


def test_pdf_pages_grow_with_rows_and_the_header_repeats(printer: Printer) -> None:
    few = pdf_pages(printer.pdf(numbered(20)))
    many = pdf_pages(printer.pdf(numbered(400)))
    assert len(few) == 1
    # about 45 one-line rows fit on an A4 portrait page: 400 rows need at least 7 pages
    assert len(many) >= 7
    for i, page in enumerate(many, start=1):
        assert "Ref" in page and "Amount" in page, f"no table header on page {i}"
        assert f"page {i} of {len(many)}" in page
    # 20 rows: 1001 + … + 1020 = 20 * 1010.5 = 20,210; 400 rows: 400 * 1200.5 = 480,200
    assert "$20,210.00" in few[0]
    assert "$480,200.00" in many[-1]


def _split_rows(pages: list[str], n: int) -> list[str]:
    split = []
    for i in range(1, n + 1):
        marker = f"R{i:04d}"
        start = [p for p, text in enumerate(pages) if f"{marker}-start" in text]
        end = [p for p, text in enumerate(pages) if f"{marker}-end" in text]
        assert len(start) == 1 and len(end) == 1, f"{marker}: start {start}, end {end}"
        if start != end:
            split.append(marker)
    return split


def test_pdf_never_splits_a_row(printer: Printer) -> None:
    from reports.render.html import render_html

    result = numbered(60, long=True)
    assert _split_rows(pdf_pages(printer.pdf(result)), 60) == []
    # the check can fail: the same rows laid out as blocks (which break between lines) split
    html = render_html(result, plotly="none")
    html = html.replace(
        "</head>",
        "<style>.report-table tbody, .report-table tr, .report-table td"
        " { display: block; break-inside: auto !important; }</style></head>",
    )
    assert _split_rows(pdf_pages(printer.pdf(result, html=html)), 60) != []


def _images(pdf: bytes) -> int:
    """Raster images on the pages, looking inside form XObjects too."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    found = 0

    def walk(resources: Any, seen: set[int]) -> None:
        nonlocal found
        if not resources or "/XObject" not in resources:
            return
        for ref in resources["/XObject"].values():
            key = id(ref.get_object())
            if key in seen:
                continue
            seen.add(key)
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                found += 1
            elif obj.get("/Subtype") == "/Form":
                walk(obj.get("/Resources"), seen)

    for page in reader.pages:
        walk(page.get("/Resources"), set())
    return found


def test_pdf_chart_is_vector(printer: Printer) -> None:
    from reports.render.html import render_html

    result = aging(
        chart=Chart("bar", "client", ("outstanding",), title="B owes the most"),
        orientation="landscape",
    )
    data = printer.pdf(result)
    assert _images(data) == 0
    first = pdf_pages(data)[0]
    # the chart's title and axis ticks are text in the PDF, not pixels
    assert "B owes the most" in first
    assert "Outstanding, USD" in first
    assert "$300" in first
    # the check can fail: a page with a raster image in it is caught
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
        "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    html = render_html(result, plotly="none").replace(
        "<main", f'<img src="{pixel}" width="40" height="40"><main', 1
    )
    assert _images(printer.pdf(result, html=html)) == 1


def test_pdf_a_page_that_never_gets_ready_times_out_clearly(printer: Printer) -> None:
    result = numbered(3)
    before = printer.timeout
    printer.timeout = 0.5
    try:
        with pytest.raises(RenderError, match=r"report 'sample': drawing the chart took longer"):
            printer.pdf(result, html="<html><body>never ready</body></html>")
    finally:
        printer.timeout = before
    assert len(pdf_pages(printer.pdf(result))) == 1  # the printer still works


def test_pdf_from_several_threads_with_one_printer(printer: Printer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    results = [numbered(5), numbered(6)]
    with ThreadPoolExecutor(2) as pool:
        pdfs = list(pool.map(lambda r: render(r, "pdf", printer), results))
    # 1001 + … + 1005 = 5,015; 1001 + … + 1006 = 6,021: each thread got its own report
    assert "$5,015.00" in pdf_pages(pdfs[0])[0]
    assert "$6,021.00" in pdf_pages(pdfs[1])[0]


def test_missing_chromium_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(RenderError, match=r"install chromium \(make setup does\)"):
        find_chromium()


# -- XLSX --------------------------------------------------------------------------------------


def test_xlsx_cells_are_typed_with_number_formats() -> None:
    columns = (
        *AGING_COLUMNS,
        Column("due_on", "Due", "date"),
        Column("wait", "Wait", "duration"),
    )
    rows = [
        dict(row, due_on=pd.Timestamp(2026, 10, 1 + i), wait=3600 * (i + 1))
        for i, row in enumerate(AGING_ROWS)
    ]
    result = make_result(
        rows,
        columns,
        sort=(SortKey("outstanding", True), SortKey("client")),
        group="branch",
        totals=AGING_TOTALS,
        parameters=(("Period", "2026-10-01..2026-10-31"), ("Branch", "all")),
    )
    book = openpyxl.load_workbook(io.BytesIO(render(result, "xlsx")))
    sheet = book.worksheets[0]
    assert sheet.title == "Receivables by client"
    assert [c.value for c in sheet[1]] == [
        "Client", "Branch", "Outstanding", "Overdue", "Invoices", "Due", "Wait"
    ]  # fmt: skip
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    # header + 4 rows + 2 subtotals; the grand total (row 8) stays out of the filter
    assert sheet.auto_filter.ref == "A1:G7"
    b = sheet[2]  # client B, austin, first row
    assert b[0].value == "B"
    assert b[2].data_type == "n" and b[2].value == 300
    assert b[2].number_format == f'"$"#,##0.00;"{M}$"#,##0.00'
    assert b[3].value == 0.0 and b[3].number_format == f'0.0%;"{M}"0.0%'
    assert isinstance(b[4].value, int) and b[4].value == 1
    assert b[4].number_format == f'#,##0;"{M}"#,##0'
    assert isinstance(b[5].value, dt.datetime) and b[5].value == dt.datetime(2026, 10, 2)
    assert b[5].number_format == "yyyy-mm-dd"
    # 7,200 s is stored as 2/24 of a day, which Excel (and openpyxl) read as a duration
    assert b[6].value == dt.timedelta(hours=2) and b[6].number_format == "[h]:mm:ss"
    assert sheet["C3"].value is None  # D's missing amount is an empty cell, not 0
    subtotal = sheet[4]
    assert subtotal[0].value == "Total austin" and all(c.font.bold for c in subtotal)
    total = sheet[8]
    assert total[0].value == "Total" and total[2].value == 600.0
    assert total[3].value == pytest.approx(200 / 600) and total[4].value == 10
    assert all(c.font.bold for c in total)
    assert sheet.max_row == 8
    assert sheet.column_dimensions["A"].width >= len("Total austin")

    params = book["Parameters"]
    values = {row[0].value: row[1].value for row in params.iter_rows()}
    assert values["Report"] == "Receivables by client"
    assert values["Question"] == "How much do clients owe us?"
    assert values["Period"] == "2026-10-01..2026-10-31" and values["Branch"] == "all"
    assert values["Data as of"] == "2026-11-01 03:00 UTC"
    assert values["Data to"] == dt.datetime(2026, 10, 31)


def test_xlsx_money_format_per_currency() -> None:
    assert money_format("EUR") == f'"€"#,##0.00;"{M}€"#,##0.00'
    assert money_format("CHF") == f'"CHF "#,##0.00;"{M}CHF "#,##0.00'


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_raw_utf8_values_without_totals_and_optional_bom() -> None:
    rows = [dict(AGING_ROWS[0], client="Café Zürich"), *AGING_ROWS[1:]]
    result = make_result(
        rows,
        AGING_COLUMNS,
        sort=(SortKey("client"),),
        group="branch",
        totals=AGING_TOTALS,
    )
    plain = render(result, "csv")
    with_bom = render(result, "csv", bom=True)
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert with_bom == b"\xef\xbb\xbf" + plain
    text = plain.decode("utf-8")
    assert text.endswith("\r\n")
    got = list(csv.reader(io.StringIO(text)))
    assert got == [
        ["Client", "Branch", "Outstanding", "Overdue", "Invoices"],
        ["B", "austin", "300.00", "0", "1"],
        ["D", "austin", "", "", "3"],
        ["C", "denver", "200.00", "0.75", "4"],
        ["Café Zürich", "denver", "100.00", "0.5", "2"],
    ]  # no subtotal or total rows; no separators, symbols or percent signs


def test_csv_dates_are_iso_and_big_numbers_plain() -> None:
    columns = (Column("day", "Day", "date"), Column("n", "N", "count"))
    rows = [{"day": dt.date(2026, 3, 31), "n": 1234567}]
    text = render(make_result(rows, columns), "csv").decode("utf-8")
    assert text == "Day,N\r\n2026-03-31,1234567\r\n"


def test_render_refuses_an_unknown_format() -> None:
    with pytest.raises(RenderError, match="unknown format 'docx'"):
        render(aging(), "docx")


def test_missing_values_never_read_as_nan() -> None:
    result = aging()
    for fmt in ("html", "csv"):
        out = render(result, fmt).decode("utf-8")
        assert not re.search(r"\bnan\b", out, re.IGNORECASE), fmt
    assert not any(
        isinstance(c.value, float) and math.isnan(c.value)
        for row in layout(result).rows
        for c in row.cells
    )


def test_a_unit_column_reads_each_kpi_in_its_own_unit() -> None:
    """Plan and fact of a scorecard: revenue is money, deals a count, a rate a percent."""
    report = Report(
        id="card",
        title="Card",
        category="employees",
        question="What did each KPI give?",
        parameters=(),
        columns=(Column("kpi", "KPI"), Column("fact", "Fact", "unit")),
        sql="SELECT 1",
    )
    frame = pd.DataFrame(
        {
            "kpi": ["revenue", "won_deals", "on_time", "response"],
            "unit": ["money", "count", "percent", "hours"],
            "fact": [233986.96, 28.0, 0.623, 3.25],
            "currency": ["USD"] * 4,
        }
    )
    result = Result(report, (), frame, report.columns, "USD", dt.datetime(2026, 11, 1), None, "", 0)
    cells = [row.cells[1] for row in layout(result).rows]
    assert [c.text for c in cells] == ["$233,986.96", "28", "62.3%", "3.25"]
    assert [c.format for c in cells] == ["money", "count", "percent", "number"]


def test_each_group_total_adds_up_the_groups() -> None:
    """A monthly bonus every KPI row of its month carries: each month's is its maximum, and the
    grand total is the months' sum (100 + 250), not the largest."""
    report = Report(
        id="bonus",
        title="Bonus",
        category="employees",
        question="What bonus follows?",
        parameters=(),
        columns=(Column("month", "Month"), Column("kpi", "KPI"), Column("bonus", "Bonus", "money")),
        sql="SELECT 1",
        group="month",
        totals=(Total("bonus", "max", per_group=True),),
    )
    frame = pd.DataFrame(
        {
            "month": ["2026-01", "2026-01", "2026-02", "2026-02"],
            "kpi": ["revenue", "calls", "revenue", "calls"],
            "bonus": [100.0, 100.0, 250.0, 250.0],
        }
    )
    result = Result(report, (), frame, report.columns, "USD", dt.datetime(2026, 3, 1), None, "", 0)
    rows = layout(result).rows
    assert [(r.kind, r.cells[2].value) for r in rows if r.kind != "row"] == [
        ("subtotal", 100.0),
        ("subtotal", 250.0),
        ("total", 350.0),
    ]
