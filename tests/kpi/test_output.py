"""How ``kpiboard kpi eval`` prints: period labels, values by unit, tables that never split a
number or a period, vertical blocks when a table cannot fit, and ``--wide``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pandas as pd
import pytest

from kpi_designer import model as m
from kpi_designer.plans import parse_period
from kpiboard.kpi_output import (
    format_achievement,
    format_value,
    period_label,
    print_evaluation,
    wide_rows,
)
from kpiboard.output import Format, fit_widths

D = dt.date.fromisoformat

LABELS = [
    ("day", D("2026-03-15"), "2026-03-15"),
    ("week", D("2026-03-09"), "2026-W11"),
    ("week", D("2026-12-28"), "2026-W53"),  # an ISO year with 53 weeks
    ("week", D("2024-12-30"), "2025-W01"),  # the ISO year starts in the calendar year before
    ("week", D("2027-01-04"), "2027-W01"),
    ("month", D("2026-03-01"), "2026-03"),
    ("month", D("1996-07-01"), "1996-07"),
    ("quarter", D("1996-07-01"), "1996-Q3"),
    ("quarter", D("2026-01-01"), "2026-Q1"),
    ("quarter", D("2026-10-01"), "2026-Q4"),
    ("year", D("2026-01-01"), "2026"),
]


@pytest.mark.parametrize(("grain", "start", "label"), LABELS, ids=[c[2] for c in LABELS])
def test_a_period_is_labelled_as_plan_files_write_it(
    grain: str, start: dt.date, label: str
) -> None:
    assert period_label(start, grain) == label
    assert parse_period(label) == (grain, start)  # the plan reader reads it back


VALUES = [
    ("money", 1_130_577.93, "1,130,578"),
    ("money", 10_000.0, "10,000"),
    ("money", 9_999.5, "9,999.50"),
    ("money", 843.5, "843.50"),
    ("money", -12_345.6, "-12,346"),
    ("money", -0.001, "0.00"),
    ("money", 0.0, "0.00"),
    ("percent", 0.46, "46.0%"),
    ("percent", 0.4567, "45.7%"),
    ("percent", 1.25, "125.0%"),
    ("percent", -0.031, "-3.1%"),
    ("count", 1204.0, "1,204"),
    ("count", 12.5, "12.5"),
    ("count", 0.0, "0"),
    ("hours", 3.5, "3.5 h"),
    ("hours", 1234.56, "1,234.6 h"),
    ("days", 12.0, "12.0 d"),
    ("money", None, ""),
    ("percent", float("nan"), ""),
]


@pytest.mark.parametrize(("unit", "value", "shown"), VALUES)
def test_a_value_is_shown_in_its_unit(unit: str, value: float | None, shown: str) -> None:
    assert format_value(value, unit) == shown


@pytest.mark.parametrize(
    ("value", "shown"), [(1.09, "109%"), (0.8733, "87%"), (2.0, "200%"), (None, "")]
)
def test_an_achievement_is_a_whole_percent(value: float | None, shown: str) -> None:
    assert format_achievement(value) == shown


# -- tables ---------------------------------------------------------------------------------


def _kpi(kpi_id: str, unit: m.Unit) -> m.Kpi:
    measure = m.Measure("invoice", "sum", None)
    return m.Simple(
        id=kpi_id,
        label=kpi_id,
        description="",
        unit=unit,
        measure=measure,
        location=m.Location("kpis/x.yaml", 1),
    )


KPIS = {"revenue": _kpi("revenue", "money"), "win_rate": _kpi("win_rate", "percent")}
BRANCHES = ("austin", "denver", "portland")


def _frame(grain: str = "month") -> pd.DataFrame:
    """An evaluation as the engine answers it: revenue (with plans) and win_rate (without)
    by branch over three months, values of the size that wrapped in an 80-column terminal."""
    rows: list[tuple[object, ...]] = []
    for month in (7, 8, 9):
        for n, branch in enumerate(BRANCHES):
            value = 1_025_412.55 + 100_000 * n + month
            plan = 1_000_000.0 + 50_000 * n
            rows.append(("revenue", D(f"2026-{month:02d}-01"), branch, value, plan, value / plan))
            rows.append(
                ("win_rate", D(f"2026-{month:02d}-01"), branch, 0.5543 - n / 100, None, None)
            )
    frame = pd.DataFrame(rows, columns=["kpi", "period", "branch", "value", "plan", "achievement"])
    frame["plan"] = frame["plan"].astype("float64")
    frame["status"] = [None if a != a or a is None else "green" for a in frame["achievement"]]
    return frame


def _printed(width: int, *, wide: bool = False, fmt: Format = Format.table) -> str:
    out = io.StringIO()
    print_evaluation(
        _frame(),
        KPIS,
        ["revenue", "win_rate"],
        grain="month",
        by=["branch"],
        fmt=fmt,
        wide=wide,
        title="revenue, win_rate by month",
        out=out,
        width=width,
    )
    return out.getvalue()


def _cells() -> set[str]:
    """Every number and period the table shows."""
    cells = {"2026-07", "2026-08", "2026-09"}
    for record in _frame().to_dict("records"):
        unit = KPIS[record["kpi"]].unit
        cells |= {format_value(record["value"], unit), format_value(record["plan"], unit)}
        cells.add(format_achievement(record["achievement"]))
    return cells - {""}


def _assert_nothing_split(text: str, width: int) -> None:
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    found = {token for line in lines for token in re.split(r"[\s│┃:]+", line) if token}
    missing = _cells() - found
    assert not missing, f"split or missing: {sorted(missing)}\n{text}"


@pytest.mark.parametrize("width", [80, 100, 72, 60, 40, 30])
@pytest.mark.parametrize("wide", [False, True], ids=["long", "wide"])
def test_no_number_or_period_is_split_at_any_width(width: int, wide: bool) -> None:
    _assert_nothing_split(_printed(width, wide=wide), width)


def test_at_80_columns_the_long_table_fits_with_labels_and_units() -> None:
    text = _printed(80)
    assert "┃ kpi" in text  # a table, not blocks
    assert re.search(
        r"│ revenue\s+│ 2026-07 │ austin\s+│\s+1,025,420 │\s+1,000,000 │\s+103% │", text
    )
    assert re.search(r"│ win_rate\s+│ 2026-07 │ austin\s+│\s+55\.4% │\s+│\s+│", text)
    assert "2026-07-01" not in text


def test_at_40_columns_each_row_is_a_block_of_lines() -> None:
    text = _printed(40)
    blocks = text.split("\n\n")
    assert blocks[0] == "revenue, win_rate by month"
    assert blocks[1].splitlines() == [
        "kpi:         revenue",
        "period:      2026-07",
        "branch:      austin",
        "value:       1,025,420",
        "plan:        1,000,000",
        "achievement: 103%",
        "status:      green",
    ]
    assert len(blocks) == 1 + 18


def test_text_columns_are_cut_before_a_table_goes_vertical() -> None:
    rows = [{"name": "a rather long client name", "value": "1,234,567.00"}]
    kinds = {"value": "number"}
    assert fit_widths(rows, ["name", "value"], kinds, 80) == [25, 12]
    assert fit_widths(rows, ["name", "value"], kinds, 30) == [11, 12]  # 30 - 7 for the edges
    assert fit_widths(rows, ["name", "value"], kinds, 24) is None  # 6 + 12 + 7 > 24


def test_without_plans_the_table_leaves_out_plan_columns_and_csv_keeps_them() -> None:
    frame = _frame()
    frame = frame[frame["kpi"] == "win_rate"]
    out = io.StringIO()
    print_evaluation(
        frame,
        KPIS,
        ["win_rate"],
        grain="month",
        by=["branch"],
        fmt=Format.table,
        out=out,
        width=80,
    )
    assert "plan" not in out.getvalue() and "55.4%" in out.getvalue()
    out = io.StringIO()
    print_evaluation(
        frame, KPIS, ["win_rate"], grain="month", by=["branch"], fmt=Format.csv, out=out
    )
    assert out.getvalue().splitlines()[0] == (
        "kpi,period,period_start,branch,value,plan,achievement,status"
    )


def test_csv_and_json_keep_raw_numbers_and_both_forms_of_the_period() -> None:
    rows = list(csv.DictReader(io.StringIO(_printed(80, fmt=Format.csv))))
    assert rows[0] == {
        "kpi": "revenue",
        "period": "2026-07",
        "period_start": "2026-07-01",
        "branch": "austin",
        "value": "1025419.55",
        "plan": "1000000.0",
        "achievement": "1.0254",
        "status": "green",
    }
    [first, *_] = json.loads(_printed(80, fmt=Format.json))
    assert first["value"] == 1025419.55 and first["period"] == "2026-07"
    win = json.loads(_printed(80, fmt=Format.json))[1]
    assert (win["kpi"], win["value"], win["plan"], win["status"]) == (
        "win_rate",
        0.5543,
        None,
        None,
    )


def test_wide_has_a_column_per_kpi_and_plan_columns_only_where_plans_exist() -> None:
    rows, names = wide_rows(_frame(), "month", ["branch"], ["revenue", "win_rate"])
    assert names == [
        "period",
        "period_start",
        "branch",
        "revenue",
        "revenue_plan",
        "revenue_achievement",
        "revenue_status",
        "win_rate",
    ]
    assert len(rows) == 9  # three months by three branches
    assert rows[1] == {
        "period": "2026-07",
        "period_start": "2026-07-01",
        "branch": "denver",
        "revenue": 1125419.55,
        "revenue_plan": 1050000.0,
        "revenue_achievement": 1.0718,
        "revenue_status": "green",
        "win_rate": 0.5443,
    }


def test_wide_table_puts_a_kpi_over_its_plan_and_formats_each_by_its_unit() -> None:
    text = _printed(100, wide=True)
    header = [line for line in text.splitlines() if line.startswith("┃")]
    assert len(header) == 2  # "revenue" over "plan", "achievement", "status"
    assert re.search(r"revenue\s+┃\s+revenue\s+┃\s+revenue", header[0])
    assert re.search(r"revenue\s+┃\s+plan\s+┃\s+achievement\s+┃\s+status\s+┃\s+win_rate", header[1])
    assert re.search(
        r"│ 2026-07 │ austin\s+│\s+1,025,420 │\s+1,000,000 │\s+103% │ green\s+│\s+55\.4% │", text
    )
