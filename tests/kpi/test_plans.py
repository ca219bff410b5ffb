"""Plans, scorecards and the cache, through ``Engine.evaluate`` and ``Engine.scorecard`` on the
fixture company's DuckDB file; every expected number is worked out by hand below.

The plans are ``conftest.PLAN_FILES``: per sales manager and month (revenue, won deals, credit
notes), per branch (denver's revenue by month of Q1, austin's for all of Q2, denver's win rate
for December 2024 and February 2025). The facts behind the values, 2025 (revenue by invoice
date, cancelled invoices left out; won deals by closing day):

- Dana: revenue Jan 1200, Feb -200 + 100 = -100, Mar 1500 + 300 = 1800; won deals Jan 1 (d1),
  Feb 1 (d6), Mar 1 (d2); credit notes Feb 200.
- Eli (leaves on Feb 14): revenue Jan 300, Feb 700; won deals Feb 1 (d5).
- Gus: revenue Jan 2400 + 600 = 3000, Feb none, Mar -100 (a credit note); won deals Jan 1
  (austin d2), Feb 1 (austin d3); credit notes Mar 100.
- Ivy (hired on Mar 1): revenue Mar 350; won deals Mar 1 (austin d5).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from kpi_designer.compiler import Query, Workspace, plan
from kpi_designer.engine import WORK_CATALOG, Definitions, Engine, _cost, _Lru
from kpiboard import sandbox

from .conftest import make_engine

D = dt.date.fromisoformat
DANA, ELI, GUS, IVY = "crm_denver:1", "crm_denver:2", "crm_austin:1", "crm_austin:3"
JAN, FEB, MAR = D("2025-01-01"), D("2025-02-01"), D("2025-03-01")
APR, MAY, JUN = D("2025-04-01"), D("2025-05-01"), D("2025-06-01")
Q1, Q2 = JAN, APR
NO = None
"""No plan, achievement or status."""


def rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """The frame's ``columns`` as tuples, NaN as ``None``."""
    out = []
    for row in frame[list(columns)].itertuples(index=False):
        out.append(tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row))
    return out


def assert_rows(got: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    """Equal row by row and cell by cell; numbers to 1e-9."""
    assert len(got) == len(expected), f"\n got: {got}\nwant: {expected}"
    for row, want in zip(got, expected, strict=True):
        assert len(row) == len(want)
        for cell, wanted in zip(row, want, strict=True):
            if isinstance(wanted, float) and cell is not None and not isinstance(cell, str):
                assert math.isclose(cell, wanted, rel_tol=1e-9, abs_tol=1e-9), f"{row} != {want}"
            else:
                assert cell == wanted, f"{row} != {want}"


PLAN_COLUMNS = ("period", "value", "plan", "achievement", "status")

# -- plans -----------------------------------------------------------------------------------------


def test_higher_is_better_achievement_is_value_over_plan(plan_engine: Engine) -> None:
    frame = plan_engine.evaluate("revenue", start=JAN, end=D("2025-03-31"), by=["employee"])
    assert_rows(
        rows(frame, ("period", "employee", *PLAN_COLUMNS[1:])),
        [
            (JAN, GUS, 3000.0, 2500.0, 3000 / 2500, "green"),
            (JAN, DANA, 1200.0, 1000.0, 1200 / 1000, "green"),
            (JAN, ELI, 300.0, 500.0, 300 / 500, "red"),
            # Gus has no invoice in February: a planned slice without rows is worth 0
            (FEB, GUS, 0.0, 2500.0, 0 / 2500, "red"),
            (FEB, DANA, -100.0, 1000.0, -100 / 1000, "red"),
            (FEB, ELI, 700.0, 500.0, 700 / 500, "green"),
            # Gus has no plan for March: no achievement, no status
            (MAR, GUS, -100.0, NO, NO, NO),
            (MAR, IVY, 350.0, 350.0, 350 / 350, "green"),
            # 1800 / 2000 = 0.9: amber starts at 0.9, green at 1.0
            (MAR, DANA, 1800.0, 2000.0, 1800 / 2000, "amber"),
        ],
    )


def test_lower_is_better_achievement_rewards_less(plan_engine: Engine) -> None:
    """``credit_notes`` is lower-is-better: achievement = 1 + (plan - value) / plan."""
    frame = plan_engine.evaluate("credit_notes", start=JAN, end=D("2025-03-31"), by=["employee"])
    assert_rows(
        rows(frame, ("period", "employee", *PLAN_COLUMNS[1:])),
        [
            (JAN, DANA, 0.0, 100.0, 1 + (100 - 0) / 100, "green"),
            (FEB, DANA, 200.0, 100.0, 1 + (100 - 200) / 100, "red"),
            (MAR, GUS, 100.0, 100.0, 1 + (100 - 100) / 100, "green"),
            (MAR, DANA, 0.0, 100.0, 1 + (100 - 0) / 100, "green"),
        ],
    )


def test_monthly_plans_add_up_to_a_quarter(plan_engine: Engine) -> None:
    frame = plan_engine.evaluate(
        "revenue", start=JAN, end=D("2025-06-30"), grain="quarter", by=["branch"]
    )
    assert_rows(
        rows(frame, ("period", "branch", *PLAN_COLUMNS[1:])),
        [
            # austin: Jan 3000, Mar 350 - 100; its only plan is Q2's
            (Q1, "austin", 3000.0 + 350 - 100, NO, NO, NO),
            # denver: 1200 + 300, -200 + 700 + 100, 1500 + 300; months planned 1000 + 1000 + 1500
            (Q1, "denver", 3900.0, 3500.0, 3900 / 3500, "green"),
            (Q2, "austin", 1800.0 + 900 + 1000, 9100.0, 3700 / 9100, "red"),
            # denver's May: 1100 for Acme School and 250 for its duplicate record
            (Q2, "denver", 800.0 + 1100 + 250 + 450, NO, NO, NO),
        ],
    )


def test_a_quarterly_plan_is_split_over_months_by_days(plan_engine: Engine) -> None:
    """austin's Q2 plan of 9100 over 91 days: April 30 days, May 31, June 30."""
    frame = plan_engine.evaluate("revenue", start=APR, end=D("2025-06-30"), by=["branch"])
    assert_rows(
        rows(frame, ("period", "branch", *PLAN_COLUMNS[1:])),
        [
            (APR, "austin", 1800.0, 9100 * 30 / 91, 1800 / 3000, "red"),
            (APR, "denver", 800.0, NO, NO, NO),
            (MAY, "austin", 900.0, 9100 * 31 / 91, 900 / 3100, "red"),
            (MAY, "denver", 1100.0 + 250, NO, NO, NO),
            (JUN, "austin", 1000.0, 9100 * 30 / 91, 1000 / 3000, "red"),
            (JUN, "denver", 450.0, NO, NO, NO),
        ],
    )


def test_a_period_the_range_cuts_short_gets_its_share_of_the_plan(plan_engine: Engine) -> None:
    frame = plan_engine.evaluate("revenue", start=JAN, end=D("2025-03-15"), by=["branch"])
    denver = frame[frame["branch"] == "denver"]
    assert_rows(
        rows(denver, PLAN_COLUMNS),
        [
            (JAN, 1500.0, 1000.0, 1500 / 1000, "green"),
            (FEB, 600.0, 1000.0, 600 / 1000, "red"),
            # March 1–15: the invoice of the 10th (1500), not that of the 28th; plan 15/31 of 1500
            (MAR, 1500.0, 1500 * 15 / 31, 1500 / (1500 * 15 / 31), "green"),
        ],
    )
    # a split plan cut short: May 1–15 is 15/31 of May's 3100; austin's invoice of May 19 is out
    frame = plan_engine.evaluate("revenue", start=APR, end=D("2025-05-15"), by=["branch"])
    austin = frame[frame["branch"] == "austin"]
    assert_rows(
        rows(austin, PLAN_COLUMNS),
        [(APR, 1800.0, 3000.0, 1800 / 3000, "red"), (MAY, 0.0, 3100 * 15 / 31, 0.0, "red")],
    )


def test_the_plan_for_the_same_days_does_not_depend_on_the_grain(plan_engine: Engine) -> None:
    """An additive KPI's plan for January 1 – March 15 is the same asked by month or by quarter."""
    end = D("2025-03-15")
    months = plan_engine.evaluate("revenue", start=JAN, end=end, by=["branch"])
    quarter = plan_engine.evaluate("revenue", start=JAN, end=end, grain="quarter", by=["branch"])
    by_month = months[months["branch"] == "denver"]["plan"].sum()
    assert by_month == pytest.approx(1000 + 1000 + 1500 * 15 / 31)
    assert quarter[quarter["branch"] == "denver"]["plan"].item() == pytest.approx(by_month)


def test_carry_forward_fills_months_without_a_plan(plan_engine: Engine) -> None:
    """``win_rate`` (a ratio, not additive) carries its latest plan forward, also from before
    the range; denver opened no deal in March, so March has a plan and no value."""
    frame = plan_engine.evaluate("win_rate", start=JAN, end=D("2025-03-31"), by=["branch"])
    denver = frame[frame["branch"] == "denver"]
    assert_rows(
        rows(denver, PLAN_COLUMNS),
        [
            # d1, d2, d5 and d6 opened in January, all won; December 2024's plan carried
            (JAN, 4 / 4, 0.5, 1.0 / 0.5, "green"),
            # d3 lost, d4 still open: 0 of 1 closed
            (FEB, 0 / 1, 0.8, 0.0, "red"),
            (MAR, NO, 0.8, NO, NO),
        ],
    )
    # austin has no win-rate plan; its February (a deal opened, none closed) has neither a
    # numerator nor a denominator row, so no row at all
    austin = frame[frame["branch"] == "austin"]
    assert_rows(
        rows(austin, PLAN_COLUMNS),
        [(JAN, 1.0, NO, NO, NO), (MAR, 1.0, NO, NO, NO)],
    )
    # a plan of a non-additive KPI applies at its own grain only
    quarter = plan_engine.evaluate(
        "win_rate", start=JAN, end=D("2025-03-31"), grain="quarter", by=["branch"]
    )
    assert quarter["plan"].isna().all()


# -- the scorecard ---------------------------------------------------------------------------------
# sales_manager: revenue weight 3, won_deals 2, credit_notes 1 (lower is better); each
# achievement clamped to [floor 0.5, cap 1.5], no plan counting as the floor;
# score = (3 × revenue + 2 × won deals + 1 × credit notes) / 6;
# a revenue achievement below 0.8 (or no revenue plan) sets the bonus to 0; bonus = 1000 × score.

GATE = "revenue below 80% of plan"


def test_scorecard_per_employee_and_month(plan_engine: Engine) -> None:
    card = plan_engine.scorecard("sales_manager", start=JAN, end=D("2025-03-31"))
    assert_rows(
        rows(card.summary, ("period", "employee", "score", "gate", "bonus")),
        [
            # Gus, January: revenue 3000 / 2500 = 1.2; won deals 1 / 2 = 0.5; credit notes:
            # no plan → 0.5. (3 × 1.2 + 2 × 0.5 + 0.5) / 6 = 5.1 / 6 = 0.85
            (JAN, GUS, 5.1 / 6, NO, 1000 * 5.1 / 6),
            # Dana, January: revenue 1200 / 1000 = 1.2; won 1 / 1 = 1.0; credit notes 0 against
            # 100 → 1 + (100 - 0) / 100 = 2.0, capped to 1.5. (3.6 + 2.0 + 1.5) / 6 = 7.1 / 6
            (JAN, DANA, 7.1 / 6, NO, 1000 * 7.1 / 6),
            # Eli, January: revenue 300 / 500 = 0.6; won deals: no plan → 0.5; credit notes:
            # no plan → 0.5. (1.8 + 1.0 + 0.5) / 6 = 3.3 / 6; the gate fails (0.6 < 0.8)
            (JAN, ELI, 3.3 / 6, GATE, 0.0),
            # Gus, February: revenue 0 / 2500 = 0 → floor 0.5; won 1 / 1 = 1.0; credit notes:
            # no plan → 0.5. (1.5 + 2.0 + 0.5) / 6 = 4 / 6; the gate fails (0 < 0.8)
            (FEB, GUS, 4 / 6, GATE, 0.0),
            # Dana, February: revenue -100 / 1000 = -0.1 → floor 0.5; won 1 / 1 = 1.0; credit
            # notes 200 against 100 → 1 + (100 - 200) / 100 = 0 → 0.5. (1.5 + 2.0 + 0.5) / 6
            # = 4 / 6; the gate fails (-0.1 < 0.8)
            (FEB, DANA, 4 / 6, GATE, 0.0),
            # Eli, February (he leaves on the 14th, the month counts): revenue 700 / 500 = 1.4;
            # won 1 / 1 = 1.0; credit notes: no plan → 0.5. (4.2 + 2.0 + 0.5) / 6 = 6.7 / 6
            (FEB, ELI, 6.7 / 6, NO, 1000 * 6.7 / 6),
            # Gus, March: revenue -100 without a plan → 0.5; won deals: no plan → 0.5; credit
            # notes 100 against 100 → 1.0. (1.5 + 1.0 + 1.0) / 6 = 3.5 / 6; no revenue plan
            # fails the gate
            (MAR, GUS, 3.5 / 6, GATE, 0.0),
            # Ivy, March (hired on the 1st): revenue 350 / 350 = 1.0; won 1 / 0.5 = 2.0 → cap
            # 1.5; credit notes: no plan → 0.5. (3.0 + 3.0 + 0.5) / 6 = 6.5 / 6
            (MAR, IVY, 6.5 / 6, NO, 1000 * 6.5 / 6),
            # Dana, March: revenue 1800 / 2000 = 0.9; won 1 / 1 = 1.0; credit notes 0 against
            # 100 → 2.0 → 1.5. (2.7 + 2.0 + 1.5) / 6 = 6.2 / 6
            (MAR, DANA, 6.2 / 6, NO, 1000 * 6.2 / 6),
        ],
    )
    # only the months each held the job: Eli left in February, Ivy came in March
    months = card.summary.groupby("employee")["period"].apply(set).to_dict()
    assert months == {DANA: {JAN, FEB, MAR}, ELI: {JAN, FEB}, GUS: {JAN, FEB, MAR}, IVY: {MAR}}


def test_scorecard_parts_say_why(plan_engine: Engine) -> None:
    """Ivy's March: each KPI's value, plan, achievement, what counted and its contribution."""
    card = plan_engine.scorecard("sales_manager", start=MAR, end=D("2025-03-31"))
    ivy = card.parts[card.parts["employee"] == IVY]
    assert_rows(
        rows(ivy, ("kpi", "value", "plan", "achievement", "counted", "contribution")),
        [
            # no plan: achievement none, counted as the floor 0.5, weight 1 of 6
            ("credit_notes", 0.0, NO, NO, 0.5, 0.5 * 1 / 6),
            ("revenue", 350.0, 350.0, 1.0, 1.0, 1.0 * 3 / 6),
            # 1 of 0.5 is 2.0, capped at 1.5
            ("won_deals", 1.0, 0.5, 2.0, 1.5, 1.5 * 2 / 6),
        ],
    )


def test_scorecard_scope_limits_the_employees(plan_engine: Engine) -> None:
    card = plan_engine.scorecard(
        "sales_manager", start=JAN, end=D("2025-03-31"), scope={"branch": ["austin"]}
    )
    assert sorted(set(card.summary["employee"])) == [GUS, IVY]
    ivy = card.summary[card.summary["employee"] == IVY]
    assert ivy["score"].tolist() == pytest.approx([6.5 / 6])


# -- the cache -------------------------------------------------------------------------------------


def test_a_second_identical_evaluate_reads_the_cache(
    counted_engine: Callable[[list[int]], Engine],
) -> None:
    opened: list[int] = []
    engine = counted_engine(opened)

    def ask(kpis: list[str]) -> pd.DataFrame:
        return engine.evaluate(
            kpis, start=JAN, end=D("2025-06-30"), by=["branch"], filters=["region = 'west'"]
        )

    first = ask(["revenue", "win_rate"])
    reads = len(opened)
    assert reads > 0
    again = ask(["revenue", "win_rate"])
    assert len(opened) == reads, "the cached result should not read the warehouse"
    pd.testing.assert_frame_equal(first, again)
    # another question reads it again; then it too is cached
    ask(["revenue", "avg_check"])
    assert len(opened) > reads
    reads = len(opened)
    ask(["revenue", "avg_check"])
    assert len(opened) == reads


def test_the_cache_drops_the_least_recently_asked_first_once_full(
    definitions: Definitions, warehouse: Path
) -> None:
    """The cache is bounded by rows, not entries (one answer of all KPIs by employee is
    137,170 rows on the scale-10 demo): with room for one frame, the newest answer is kept and
    every older one is read again."""
    opened: list[int] = []
    engine = make_engine(definitions, warehouse, opened, cache_rows=1)

    def ask(kpis: list[str]) -> pd.DataFrame:
        return engine.evaluate(kpis, start=JAN, end=D("2025-06-30"), by=["branch"])

    first = ask(["revenue", "win_rate"])
    reads = len(opened)
    pd.testing.assert_frame_equal(ask(["revenue", "win_rate"]), first)
    assert len(opened) == reads  # the newest answer is kept, however large
    ask(["avg_check"])
    reads = len(opened)
    pd.testing.assert_frame_equal(ask(["revenue", "win_rate"]), first)
    assert len(opened) > reads  # pushed out by the answer after it


def test_a_cache_of_frames_keeps_the_most_recently_used_within_its_rows() -> None:
    def rows(n: int) -> pd.DataFrame:
        return pd.DataFrame({"value": range(n)})

    cache = _Lru(5)
    cache.put("a", rows(3))
    cache.put("b", rows(2))
    assert cache.get("a") is not None  # now the most recent
    cache.put("c", rows(1))  # 6 rows: the least recent goes
    assert cache.get("b") is None and len(cache) == 2 and cache.rows == 4
    cache.put("c", rows(2))  # asked again: replaced, counted once
    assert cache.rows == 5 and len(cache) == 2
    cache.put("d", rows(10))  # the newest stays, alone
    assert len(cache) == 1 and cache.get("d") is not None and cache.rows == 10
    for i in range(10):  # empty answers count as a row each
        cache.put(i, rows(0))
    assert len(cache) == 5 and cache.rows == 5


def test_the_engine_opens_each_snapshot_once_in_the_sandbox(
    definitions: Definitions, warehouse: Path
) -> None:
    """Work on one snapshot shares one connection (a cursor each); a new snapshot opens a
    new one. Each cursor is sandboxed as its connection is: UTC, no files, locked."""
    opened: list[str] = []
    published = ["first"]

    def connect() -> duckdb.DuckDBPyConnection:
        opened.append(published[0])
        return sandbox.open_snapshot(warehouse)

    engine = Engine(Definitions(definitions.kpis), connect, lambda: published[0])
    ask = {"start": JAN, "end": D("2025-03-31")}
    engine.evaluate("revenue", **ask)
    engine.evaluate("invoice_count", **ask)
    assert opened == ["first"]
    published[0] = "second"
    engine.evaluate("revenue", **ask)
    assert opened == ["first", "second"]
    with engine._reading("second") as con:
        settings = (
            "SELECT current_setting('TimeZone'), current_setting('enable_progress_bar'),"
            " current_setting('enable_external_access'), current_setting('lock_configuration')"
        )
        assert con.execute(settings).fetchone() == ("UTC", False, False, True)


def test_the_engine_refuses_a_connection_outside_the_sandbox(
    definitions: Definitions, warehouse: Path, tmp_path: Path
) -> None:
    """KPI SQL is written by people: an engine handed a plain connection is a bug, said before
    any statement runs. (A copy of the file: DuckDB refuses a second configuration for the
    file the other engines of the session have open.)"""
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(warehouse, copy)
    engine = Engine(
        Definitions(definitions.kpis),
        lambda: duckdb.connect(str(copy), read_only=True),
        lambda: "plain",
    )
    with pytest.raises(RuntimeError, match="not a sandboxed connection"):
        engine.evaluate("revenue", start=JAN, end=D("2025-03-31"))


def test_threads_evaluating_at_once_get_what_each_gets_alone(
    definitions: Definitions, warehouse: Path
) -> None:
    """A dashboard's callbacks ask one engine from several threads: each takes its own cursor
    of the one connection, with its own rollups, and gets the values it gets alone."""
    questions = [
        (["revenue", "revenue_ytd", "revenue_growth_yoy"], ["branch"]),
        (["calls_per_active_day", "call_count", "revenue_per_call"], ["employee"]),
        (["clients_ytd", "revenue_running", "win_rate"], []),
        (["revenue", "revenue_ytd", "revenue_growth_yoy"], ["employee"]),
    ] * 2
    span = {"start": JAN, "end": D("2025-06-30")}

    def ask(engine: Engine, kpis: list[str], by: list[str]) -> pd.DataFrame:
        return engine.evaluate(kpis, by=by, **span)

    alone = [ask(make_engine(Definitions(definitions.kpis), warehouse), *q) for q in questions]
    shared = make_engine(Definitions(definitions.kpis), warehouse)
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda q: ask(shared, *q), questions))
    for got, expected in zip(together, alone, strict=True):
        pd.testing.assert_frame_equal(got, expected)


def test_an_evaluation_runs_its_statements_at_once_and_drops_its_tables(
    definitions: Definitions, warehouse: Path
) -> None:
    """The statements of one evaluation that do not wait for each other run on several
    threads, each on its own cursor, and give the values of one statement after the other.
    The tables made for the evaluation are gone when it returns."""
    kpis = Definitions(definitions.kpis)
    ask = {"start": JAN, "end": D("2025-06-30"), "by": ["branch"]}
    threads: list[int] = []
    parallel = make_engine(kpis, warehouse, threads, workers=4)
    ids = [k for k in parallel.kpis if "branch" in parallel.dimensions(k)]
    got = parallel.evaluate(ids, **ask)
    assert len(set(threads)) > 1
    threads.clear()
    serial = make_engine(kpis, warehouse, threads, workers=1)
    expected = serial.evaluate(ids, **ask)
    assert set(threads) == {threading.get_ident()}
    assert len(got) > 100
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    assert _workspaces(parallel) == []


def _workspaces(engine: Engine) -> list[str]:
    """The schemas of evaluations left in the engine's database of shared tables."""
    with engine._reading(engine._snapshot()) as con:
        rows = con.execute(
            "SELECT schema_name FROM duckdb_schemas()"
            " WHERE database_name = ? AND schema_name LIKE 'evaluation_%'",
            [WORK_CATALOG],
        ).fetchall()
    return [row[0] for row in rows]


def test_statements_that_read_more_rows_start_first(
    definitions: Definitions, warehouse: Path
) -> None:
    """Of statements that may run at once, the one reading the most rows starts first, so that
    the last to finish is a short one; results still come back in the order asked."""
    engine = make_engine(Definitions(definitions.kpis), warehouse, workers=2)
    started: list[int] = []

    def job(i: int) -> Callable[[], int]:
        def run() -> int:
            started.append(i)
            time.sleep(0.05)  # both workers stay busy until the cheap job's turn
            return i * 10

        return run

    assert engine._settle([job(0), job(1), job(2)], [1, 500, 30]) == [0, 10, 20]
    assert sorted(started[:2]) == [1, 2] and started[2] == 0


def test_a_statement_costs_the_rows_of_the_tables_it_reads(
    definitions: Definitions, warehouse: Path
) -> None:
    engine = make_engine(Definitions(definitions.kpis), warehouse)
    query = Query(JAN, D("2025-06-30"), by=("branch",))
    rows = engine._opened("fixture").rows
    invoices, deals = rows[("core", "fct_invoice")], rows[("core", "fct_deal")]
    assert invoices > 0 and deals > 0
    workspace = Workspace("work", "evaluation_1")
    planned = plan(["revenue", "revenue_ytd", "win_rate"], query, engine.kpis, workspace=workspace)
    units = zip(planned.units, planned.statements, strict=True)
    costs = {tuple(unit): _cost(statement, rows) for unit, statement in units}
    # the rollup reads the invoices (a DATE: no local days); a statement reading it, nothing
    [rollup] = planned.rollups
    assert _cost(rollup.create(), rows) == invoices
    assert costs[("revenue",)] == 0
    assert costs[("win_rate",)] >= deals


def test_an_evaluation_reads_one_snapshot_while_a_newer_one_is_published(
    definitions: Definitions, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish in the middle of an evaluation (a dashboard asking while the pipeline runs):
    the evaluation's remaining statements still read the connection it started on, where its
    tables are; they do not open the older snapshot again."""
    opened: list[str] = []
    published = ["first"]

    def connect() -> duckdb.DuckDBPyConnection:
        opened.append(published[0])
        return sandbox.open_snapshot(warehouse)

    engine = Engine(Definitions(definitions.kpis), connect, lambda: published[0], workers=1)
    ids = ["revenue", "revenue_ytd", "revenue_growth_yoy", "call_count"]
    ask = {"start": JAN, "end": D("2025-06-30"), "by": ["branch"]}
    expected = make_engine(Definitions(definitions.kpis), warehouse).evaluate(ids, **ask)
    run_unit = Engine._run_unit

    def publish_meanwhile(self: Engine, *args: Any) -> dict[str, pd.DataFrame]:
        if published == ["first"]:  # the first statement: a publish, and a question on it
            published[0] = "second"
            self.evaluate("win_rate", **ask)
        return run_unit(self, *args)

    monkeypatch.setattr(Engine, "_run_unit", publish_meanwhile)
    got = engine.evaluate(ids, **ask)
    assert opened == ["first", "second"]
    pd.testing.assert_frame_equal(got, expected)


# -- plans under a scope ---------------------------------------------------------------------------


def test_a_scope_shows_only_its_own_plans(plan_engine: Engine) -> None:
    """Denver's branch head: no row of Austin's plan by branch, Denver's plan as the company's
    view, and no employee of Austin with a plan."""
    scope = {"branch": ["denver"]}
    by_branch = plan_engine.evaluate(
        "revenue", start=JAN, end=D("2025-06-30"), by=["branch"], scope=scope
    )
    assert set(by_branch["branch"]) == {"denver"}  # Austin's Q2 plan of 9,100 is not a row
    whole = plan_engine.evaluate("revenue", start=JAN, end=D("2025-03-31"), scope=scope)
    # the company-wide view under Denver's scope is Denver's: its plans 1000, 1000, 1500
    assert whole["plan"].tolist() == [1000.0, 1000.0, 1500.0]
    unscoped = plan_engine.evaluate("revenue", start=JAN, end=D("2025-03-31"))
    assert unscoped["plan"].isna().all()  # the fixture has no company-wide plan
    people = plan_engine.evaluate(
        "revenue", start=JAN, end=D("2025-03-31"), by=["employee"], scope=scope
    )
    assert set(people["employee"]) <= {DANA, ELI}
    assert set(people.dropna(subset=["plan"])["employee"]) == {DANA, ELI}


def test_several_branches_add_their_plans_only_when_each_has_one(plan_engine: Engine) -> None:
    both = plan_engine.evaluate(
        "revenue",
        start=JAN,
        end=D("2025-06-30"),
        grain="quarter",
        scope={"branch": ["denver", "austin"]},
    )
    # Q1: Denver 3,500 but Austin none → no plan (a partial sum would mislead); Q2: Austin
    # 9,100 but Denver none → none either
    assert both["plan"].isna().all()


def test_a_range_that_is_one_period_keeps_the_scope_of_its_plans(plan_engine: Engine) -> None:
    """A dashboard asks for "this month" or "this quarter" as one range: the plan is the same
    as asking at that grain, Denver's own under Denver's scope (the range's plan once ignored
    the scope and so found none)."""
    scope = {"branch": ["denver"]}
    month = plan_engine.evaluate("revenue", start=JAN, end=D("2025-01-31"), scope=scope)
    ranged = plan_engine.evaluate(
        "revenue", start=JAN, end=D("2025-01-31"), grain="range", scope=scope
    )
    assert month["plan"].tolist() == [1000.0]
    assert ranged["plan"].tolist() == [1000.0]
    assert ranged["value"].tolist() == month["value"].tolist()
    quarter = plan_engine.evaluate(
        "revenue", start=JAN, end=D("2025-03-31"), grain="range", scope=scope
    )
    assert quarter["plan"].tolist() == [3500.0]  # 1000 + 1000 + 1500
