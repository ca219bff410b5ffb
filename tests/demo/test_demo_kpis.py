"""The demo KPI pack, its scorecards, and the plans set from a small demo's actuals.

The pack is checked as data (keys, types, references, coded values against docs/model.md) and
against a real warehouse: one small demo is generated, run through the pipeline into DuckDB, and
every simple KPI's expression and filters run there. Plans are written from that warehouse and
spot-checked against actuals the test computes with its own SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from ruamel.yaml import YAML
from sqlglot import exp

from etl import pipeline
from kpiboard.config import load_settings
from kpiboard.core_model import CORE_TABLES
from kpiboard.demo import (
    DEMO_KPIS,
    DEMO_SCORECARDS,
    build_sources,
    demo_sources,
    install_demo_kpis,
    install_demo_models,
    install_demo_scorecards,
)
from kpiboard.demo.plans import growth_rate, write_demo_plans
from kpiboard.project import init_project

SEED, SCALE, PLAN_SEED = 4, 0.03, 7
MODEL_DOC = Path(__file__).resolve().parents[2] / "docs" / "model.md"

FILES = {
    "sales",
    "pipeline",
    "clients",
    "activity",
    "service",
    "delivery",
    "stock",
    "receivables",
}
ROLES = {"sales_manager", "service_engineer", "driver", "warehouse_keeper"}
TYPES = {
    "simple",
    "ratio",
    "derived",
    "cumulative",
    "conversion",
    "period_over_period",
    "balance",
    "entities",
}
UNITS = {"money", "count", "percent", "hours", "days"}
AGGS = {"sum", "count", "count_distinct", "avg", "min", "max", "median"}
COMMON = {"id", "label", "description", "unit", "direction", "owner", "type"}
COMMON |= {"thresholds", "missing_plan"}
KEYS_OF_TYPE = {
    "simple": ({"fact", "agg"}, {"expr", "filter", "time"}),
    "ratio": ({"numerator", "denominator"}, set()),
    "derived": ({"expr"}, {"inputs"}),
    "cumulative": ({"kpi"}, {"to_date", "window"}),
    "conversion": ({"base", "conversion", "entity", "window"}, set()),
    "period_over_period": ({"kpi", "compare"}, {"output", "like_for_like"}),
    "balance": ({"fact", "agg"}, {"expr", "filter", "from", "until", "when", "per", "having"}),
    "entities": ({"count", "entity", "events"}, {"gap"}),
}
DEFAULT_TIME = {
    "lead": "created_at",
    "deal": "opened_at",
    "deal_stage": "entered_at",
    "activity": "occurred_at",
    "task": "created_at",
    "invoice": "issued_on",
    "invoice_line": None,  # the invoice's issued_on
    "payment": "paid_on",
    "stock_move": "moved_at",
    "purchase_order": "ordered_on",
    "service_request": "received_at",
    "delivery": "planned_start_at",
}
# dimensions the pack's filters use, as the column of the dimension table they stand for
DIMENSIONS = {
    "client_segment": ("dim_client", "segment", "client_id"),
    "product_kind": ("dim_product", "kind", "product_id"),
}
# facts whose rows take columns of a parent fact: the parent's table and the key to it
PARENTS = {"invoice_line": ("fct_invoice", "invoice_id"), "payment": ("fct_invoice", "invoice_id")}
TABLE_COLUMNS = {t.name: {c.name for c in t.columns} for t in CORE_TABLES}
# columns whose values are the source's own words, not codes: checked against the demo's data
FREE_TEXT = {"reason", "to_stage", "from_stage", "stage", "failure_reason", "lost_reason"}

yaml = YAML(typ="safe")


@cache
def pack() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every KPI of the pack by id, with the file it is in."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted(DEMO_KPIS.glob("*.yaml")):
        for kpi in yaml.load(path.read_text(encoding="utf-8"))["kpis"]:
            assert kpi["id"] not in out, f"{path.name}: duplicate id {kpi['id']}"
            out[kpi["id"]] = (path.stem, kpi)
    return out


def kpis() -> list[dict[str, Any]]:
    return [kpi for _, kpi in pack().values()]


def scorecards() -> dict[str, dict[str, Any]]:
    return {
        path.stem: yaml.load(path.read_text(encoding="utf-8"))
        for path in sorted(DEMO_SCORECARDS.glob("*.yaml"))
    }


def conditions(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


# -- the pack as data -------------------------------------------------------------------------


def test_the_pack_has_its_files_and_at_least_45_kpis_with_unique_ids() -> None:
    assert {p.stem for p in DEMO_KPIS.glob("*.yaml")} == FILES
    assert len(pack()) >= 45
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in pack())


@pytest.mark.parametrize("kpi", kpis(), ids=lambda k: k["id"])
def test_every_kpi_has_the_keys_of_its_type(kpi: dict[str, Any]) -> None:
    required, optional = KEYS_OF_TYPE[kpi["type"]]
    assert {"id", "label", "description", "unit", "direction", "owner", "type"} <= set(kpi)
    assert required <= set(kpi), required - set(kpi)
    assert set(kpi) <= COMMON | required | optional, set(kpi) - COMMON - required - optional
    assert kpi["unit"] in UNITS
    assert kpi["direction"] in ("higher", "lower")
    assert len(kpi["description"]) > 40
    if kpi["type"] == "simple":
        assert kpi["fact"] in DEFAULT_TIME
        assert kpi["agg"] in AGGS
        assert "expr" in kpi or kpi["agg"] == "count"
    if kpi["type"] == "cumulative":
        assert not ("to_date" in kpi and "window" in kpi)
    if kpi["type"] == "balance":
        assert kpi["fact"] in DEFAULT_TIME
        assert "expr" in kpi or kpi["agg"] == "count"
    if kpi["type"] == "entities":
        assert ("gap" in kpi) == (kpi["count"] == "reactivated")


def test_every_type_and_variant_is_used_several_times() -> None:
    types = Counter(k["type"] for k in kpis())
    assert set(types) == TYPES
    assert min(types.values()) >= 3, types
    assert {k["agg"] for k in kpis() if k["type"] == "simple"} == AGGS
    cumulative = [k for k in kpis() if k["type"] == "cumulative"]
    assert sum("to_date" in k for k in cumulative) >= 2
    assert sum("window" in k for k in cumulative) >= 2
    conversions = [k for k in kpis() if k["type"] == "conversion"]
    assert sum(k["base"]["fact"] == k["conversion"]["fact"] for k in conversions) >= 2
    pops = [k for k in kpis() if k["type"] == "period_over_period"]
    assert sum(bool(k.get("like_for_like")) for k in pops) >= 2
    assert {k["compare"] for k in pops} == {"same_period_last_year", "previous_period"}
    assert {k.get("output", "change_pct") for k in pops} == {"change_pct", "change", "previous"}
    derived = [k for k in kpis() if k["type"] == "derived"]
    offsets = [i["offset"] for k in derived for i in k.get("inputs", [])]
    assert any("year" in o for o in offsets) and any("period" in o for o in offsets)


@pytest.mark.parametrize("kpi", kpis(), ids=lambda k: k["id"])
def test_references_name_kpis_of_the_pack(kpi: dict[str, Any]) -> None:
    ids = pack()
    for key in ("numerator", "denominator", "kpi"):
        ref = kpi.get(key)
        if ref is not None:
            assert (ref["kpi"] if isinstance(ref, dict) else ref) in ids
    if kpi["type"] == "cumulative":
        assert ids[kpi["kpi"]][1]["type"] == "simple"
    if kpi["type"] == "derived":
        aliases = {i["as"] for i in kpi.get("inputs", [])}
        assert all(i["kpi"] in ids for i in kpi.get("inputs", []))
        names = {c.name for c in sqlglot.parse_one(kpi["expr"]).find_all(exp.Column)}
        assert names <= set(ids) | aliases, names - set(ids) - aliases


@cache
def documented_codes(table: str, column: str) -> set[str]:
    """The backticked words of a column's description in docs/model.md."""
    section = MODEL_DOC.read_text(encoding="utf-8").split(f"## core.{table}\n", 1)[1]
    row = re.search(rf"^\| `{column}` \|.*$", section, re.MULTILINE)
    assert row is not None, f"{table}.{column} is not in docs/model.md"
    return set(re.findall(r"`'?([^`']+)'?`", row.group(0)))


def comparisons(condition: str) -> Iterator[tuple[str, str, str]]:
    """Each (related table or "", column, string literal) a condition compares with = , <> or
    IN (``invoice.status`` is the column ``status`` of the related table ``invoice``)."""
    tree = sqlglot.parse_one(condition, read="duckdb")
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.In):
        column = node.this
        if not isinstance(column, exp.Column):
            continue
        values = node.expressions if isinstance(node, exp.In) else [node.expression]
        for value in values:
            if isinstance(value, exp.Literal) and value.is_string:
                yield column.table, column.name, value.this


def filters_by_fact() -> list[tuple[str, str, str]]:
    """Every (kpi id, fact, condition) of the pack, extra filters of ratios included."""
    out = []
    for kpi in kpis():
        if kpi["type"] in ("simple", "balance"):
            for key in ("filter", "when"):
                out += [(kpi["id"], kpi["fact"], c) for c in conditions(kpi.get(key))]
        if kpi["type"] == "entities":
            events = kpi["events"] if isinstance(kpi["events"], list) else [kpi["events"]]
            for one in events:
                out += [(kpi["id"], one["fact"], c) for c in conditions(one.get("filter"))]
        for side in ("numerator", "denominator"):
            ref = kpi.get(side)
            if isinstance(ref, dict):
                fact = pack()[ref["kpi"]][1]["fact"]
                out += [(kpi["id"], fact, c) for c in conditions(ref.get("filter"))]
        for side in ("base", "conversion"):
            if side in kpi:
                ref = kpi[side]
                out += [(kpi["id"], ref["fact"], c) for c in conditions(ref.get("filter"))]
    return out


def test_filters_compare_coded_columns_with_documented_codes() -> None:
    checked = 0
    for kpi_id, fact, condition in filters_by_fact():
        for related, column, value in comparisons(condition):
            if column in FREE_TEXT:
                continue  # checked against the data below
            owner = f"fct_{related or fact}"
            if not related and fact in PARENTS and column not in TABLE_COLUMNS[owner]:
                owner = PARENTS[fact][0]  # a column the fact takes from its parent
            table, name = DIMENSIONS.get(column, (owner, column, ""))[:2]
            assert value in documented_codes(table, name), (kpi_id, condition)
            checked += 1
    assert checked > 40


# -- the scorecards ---------------------------------------------------------------------------


def test_a_scorecard_per_role_weighing_kpis_of_the_pack() -> None:
    cards = scorecards()
    assert set(cards) == ROLES
    for role, card in cards.items():
        assert card["role"] == role
        assert {"label", "base_amount", "kpis", "floor", "cap", "gates", "bonus"} <= set(card)
        weighed = [item["kpi"] for item in card["kpis"]]
        assert 3 <= len(weighed) <= 4
        assert set(weighed) <= set(pack()), set(weighed) - set(pack())
        assert all(item["weight"] > 0 for item in card["kpis"])
        assert card["floor"] < 1 < card["cap"]
        assert card["base_amount"] > 0
        main = max(card["kpis"], key=lambda item: item["weight"])["kpi"]
        assert card["gates"] == [{"kpi": main, "min_achievement": 0.8}]


def test_install_copies_the_pack_once(tmp_path: Path) -> None:
    kpis_dir, cards_dir = tmp_path / "kpis", tmp_path / "scorecards"
    assert {p.stem for p in install_demo_kpis(kpis_dir)} == FILES
    assert {p.stem for p in install_demo_scorecards(cards_dir)} == ROLES
    (kpis_dir / "sales.yaml").write_text("kpis: []\n", encoding="utf-8")
    assert install_demo_kpis(kpis_dir) == []
    assert (kpis_dir / "sales.yaml").read_text(encoding="utf-8") == "kpis: []\n"


# -- on a real warehouse ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kpi_demo")
    template = f"sqlite:///{folder}/sources/{{db}}.sqlite"
    build_sources(template, seed=SEED, scale=SCALE, manifest=folder / "dirt_manifest.csv")
    init_project(folder, name="demo", sources=demo_sources())
    install_demo_models(folder / "models")
    result = pipeline.run(load_settings(folder))
    assert result.status == pipeline.SUCCESS, result.errors
    return folder


@pytest.fixture(scope="module")
def con(project: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = load_settings(project).open_warehouse().connect()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def plans(project: Path) -> dict[str, list[dict[str, str]]]:
    written = write_demo_plans(project, seed=PLAN_SEED)
    assert {p.name for p in written} == {f"{r}.csv" for r in ROLES} | {"branches.csv"}
    assert {p.parent for p in written} == {project / "plans"}
    out = {}
    for path in written:
        with path.open(newline="", encoding="utf-8") as fh:
            out[path.stem] = list(csv.DictReader(fh))
    return out


def with_dimensions(sql: str, fact: str, con: duckdb.DuckDBPyConnection) -> str:
    """``sql`` with the dimension names it uses, and the columns it takes from the fact's parent
    (an invoice line's invoice), as subqueries on the fact row ``f``."""
    own = columns(con, f"fct_{fact}")
    parent, key = PARENTS.get(fact, ("", ""))

    def replace(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Column) or node.table:
            return node
        if node.name in DIMENSIONS:
            table, column, dim_key = DIMENSIONS[node.name]
            return sqlglot.parse_one(
                f"(SELECT d.{column} FROM core.{table} AS d WHERE d.{dim_key} = f.{dim_key})"
            )
        if parent and node.name not in own and node.name in columns(con, parent):
            return sqlglot.parse_one(
                f"(SELECT p.{node.name} FROM core.{parent} AS p WHERE p.{key} = f.{key})"
            )
        return node

    return sqlglot.parse_one(sql, read="duckdb").transform(replace).sql("duckdb")


def columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {d[0] for d in con.execute(f"SELECT * FROM core.{table} LIMIT 0").description}


SIMPLE = [k for k in kpis() if k["type"] == "simple"]
STEP = {"money": Decimal(100), "count": Decimal(1), "percent": Decimal("0.01")}


@pytest.mark.parametrize("kpi", SIMPLE, ids=lambda k: k["id"])
def test_simple_kpis_run_on_the_demo_warehouse(
    kpi: dict[str, Any], con: duckdb.DuckDBPyConnection
) -> None:
    where = " AND ".join(f"({c})" for c in conditions(kpi.get("filter"))) or "TRUE"
    time = kpi.get("time") or DEFAULT_TIME[kpi["fact"]] or "NULL"
    measure = kpi.get("expr", "*")
    sql = (
        f"SELECT count(*), count({measure}), min({time}) "
        f"FROM core.fct_{kpi['fact']} AS f WHERE {with_dimensions(where, kpi['fact'], con)}"
    )
    rows, _, first = con.execute(sql).fetchone() or (0, 0, None)
    assert rows >= 0
    if time != "NULL" and first is not None:
        assert isinstance(first, dt.date)  # a date or a timestamp places the rows


def test_free_text_values_in_filters_occur_in_the_demo(con: duckdb.DuckDBPyConnection) -> None:
    for kpi_id, fact, condition in filters_by_fact():
        for related, column, value in comparisons(condition):
            if column in FREE_TEXT:
                sql = f"SELECT count(*) FROM core.fct_{related or fact} WHERE {column} = ?"
                found = con.execute(sql, [value]).fetchone()
                assert found is not None and found[0] > 0, (kpi_id, condition)


def employed_months(con: duckdb.DuckDBPyConnection, role: str) -> set[tuple[str, str]]:
    rows = con.execute(
        """
        SELECT e.employee_id, strftime(m.month, '%Y-%m')
        FROM core.dim_employee AS e,
             (SELECT unnest(generate_series(DATE '2024-11-01', DATE '2026-10-01',
                                            INTERVAL 1 MONTH))::DATE AS month) AS m
        WHERE e.role = ?
          AND coalesce(e.hired_on, m.month) <= last_day(m.month)
          AND coalesce(e.left_on, m.month) >= m.month
        """,
        [role],
    ).fetchall()
    return {(employee, month) for employee, month in rows}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_employee_has_a_plan_for_each_kpi_and_month_on_staff(
    role: str, plans: dict[str, list[dict[str, str]]], con: duckdb.DuckDBPyConnection
) -> None:
    months = employed_months(con, role)
    assert months
    weighed = [item["kpi"] for item in scorecards()[role]["kpis"]]
    expected = {(kpi, employee, month) for kpi in weighed for employee, month in months}
    got = [(r["kpi"], r["employee"], r["period"]) for r in plans[role]]
    assert len(got) == len(set(got))
    assert set(got) == expected
    assert all(r["branch"] == "" for r in plans[role])


def test_plans_are_positive_and_rounded_by_unit(plans: dict[str, list[dict[str, str]]]) -> None:
    for rows in plans.values():
        for row in rows:
            unit = pack()[row["kpi"]][1]["unit"]
            value = Decimal(row["plan"])
            assert value > 0, row
            assert value % STEP.get(unit, Decimal("0.1")) == 0, row
            if unit == "percent":
                assert value <= 1, row


def test_branches_get_monthly_and_quarterly_plans_and_quarters_add_up(
    plans: dict[str, list[dict[str, str]]],
) -> None:
    rows = plans["branches"]
    plan = {(r["kpi"], r["branch"], r["period"]): Decimal(r["plan"]) for r in rows}
    assert {r["branch"] for r in rows} == {"denver", "austin", "portland"}
    assert all(r["employee"] == "" for r in rows)
    quarters = ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    for kpi in ("revenue", "invoice_count", "new_clients", "win_rate", "on_time_delivery_rate"):
        for branch in ("denver", "austin", "portland"):
            assert {p for k, b, p in plan if (k, b) == (kpi, branch) and "Q" in p} == set(quarters)
            assert sum(1 for k, b, p in plan if (k, b) == (kpi, branch) and "Q" not in p) == 24
    for branch in ("denver", "austin", "portland"):
        months = ("2026-04", "2026-05", "2026-06")
        assert plan[("revenue", branch, "2026-Q2")] == sum(
            plan[("revenue", branch, m)] for m in months
        )


def test_an_earlier_plans_file_does_not_get_in_the_way(
    project: Path, plans: dict[str, list[dict[str, str]]]
) -> None:
    stale = project / "plans" / "stale.csv"
    stale.write_text(
        "kpi,period,employee,branch,plan\nno_such_kpi,2026-13,,atlantis,x\n", encoding="utf-8"
    )
    try:
        written = write_demo_plans(project, seed=PLAN_SEED)
    finally:
        stale.unlink()
    for path in written:
        with path.open(newline="", encoding="utf-8") as fh:
            assert list(csv.DictReader(fh)) == plans[path.stem]


# -- spot checks: a plan is an actual times the growth target, the actual from the test's own SQL --

LOCAL = "timezone(b.timezone, {} AT TIME ZONE 'UTC')"
REVENUE = """SELECT sum(net_amount) FROM core.fct_invoice
    WHERE owner_id = $who AND status NOT IN ('draft', 'cancelled')
      AND issued_on >= $start AND issued_on < $end"""
TURNAROUND = f"""SELECT avg(date_diff('minute', received_at, repaired_at) / 60.0)
    FROM core.fct_service_request JOIN core.dim_branch AS b USING (branch_id)
    WHERE engineer_id = $who AND repaired_at IS NOT NULL
      AND {LOCAL.format("repaired_at")} >= $start AND {LOCAL.format("repaired_at")} < $end"""
ON_TIME = f"""SELECT count(*) FILTER (
           WHERE delivered_at <= coalesce(planned_end_at, planned_start_at)
       ) / count(*)
    FROM core.fct_delivery JOIN core.dim_branch AS b USING (branch_id)
    WHERE branch_id = $who AND status = 'delivered'
      AND {LOCAL.format("planned_start_at")} >= $start
      AND {LOCAL.format("planned_start_at")} < $end"""
WIN_RATE = f"""SELECT count(*) FILTER (WHERE status = 'won') / count(*)
    FROM core.fct_deal JOIN core.dim_branch AS b USING (branch_id)
    WHERE branch_id = $who AND status IN ('won', 'lost')
      AND {LOCAL.format("closed_at")} >= $start AND {LOCAL.format("closed_at")} < $end"""
OPEN_PIPELINE = f"""SELECT sum(amount)
    FROM core.fct_deal JOIN core.dim_branch AS b USING (branch_id)
    WHERE branch_id = $who AND $start <= $end
      AND CAST({LOCAL.format("opened_at")} AS DATE) < $end
      AND (closed_at IS NULL OR CAST({LOCAL.format("closed_at")} AS DATE) >= $end)"""
"""The deals open at the end of the day before ``$end``: a balance's value for a period."""
MAY_2025 = (dt.date(2025, 5, 1), dt.date(2025, 6, 1))
FIRST_3 = (dt.date(2024, 11, 1), dt.date(2025, 2, 1))  # the demo's first three months
Q2_2025 = (dt.date(2025, 4, 1), dt.date(2025, 7, 1))
SPOT_CHECKS = {
    # id: (kpi, employee or branch, plan period, [start, end) of the baseline's actual, its SQL)
    "revenue": ("revenue", "employee", "2026-05", MAY_2025, REVENUE),
    "turnaround": ("repair_turnaround_hours", "employee", "2026-05", MAY_2025, TURNAROUND),
    "on_time": ("on_time_delivery_rate", "branch", "2026-05", MAY_2025, ON_TIME),
    # no last year: an average over all the rows of the first three months, a ratio of their sums
    "first_turnaround": ("repair_turnaround_hours", "employee", "2025-05", FIRST_3, TURNAROUND),
    "first_win_rate": ("win_rate", "branch", "2025-05", FIRST_3, WIN_RATE),
    # a quarter of a KPI that does not add up: last year's quarter, the state at its end
    "quarter_open_pipeline": ("open_pipeline_value", "branch", "2026-Q2", Q2_2025, OPEN_PIPELINE),
    "quarter_win_rate": ("win_rate", "branch", "2026-Q2", Q2_2025, WIN_RATE),
}


@pytest.mark.parametrize("case", sorted(SPOT_CHECKS))
def test_a_plan_is_the_baselines_actual_times_the_growth_target(
    case: str, plans: dict[str, list[dict[str, str]]], con: duckdb.DuckDBPyConnection
) -> None:
    kpi, who, period, (start, end), sql = SPOT_CHECKS[case]
    _, definition = pack()[kpi]
    if who == "employee":
        role = next(
            r for r, card in scorecards().items() if any(i["kpi"] == kpi for i in card["kpis"])
        )
        # on staff from the baseline's first day to the end of the plan's month
        candidates = [
            e
            for (e,) in con.execute(
                "SELECT employee_id FROM core.dim_employee WHERE role = ? AND hired_on <= ? "
                "AND (left_on IS NULL OR left_on >= last_day(CAST(? AS DATE))) "
                "ORDER BY employee_id",
                [role, start, f"{period}-01"],
            ).fetchall()
        ]
        rows = plans[role]
    else:
        candidates, rows = ["denver", "austin", "portland"], plans["branches"]
    subject, actual = None, None
    for candidate in candidates:
        params = {"who": candidate, "start": start, "end": end}
        value = (con.execute(sql, params).fetchone() or (None,))[0]
        if value:
            subject, actual = candidate, float(value)
            break
    assert subject is not None and actual is not None, "no subject with the baseline's actual"

    growth = growth_rate(PLAN_SEED, kpi, subject, int(period[:4]))
    assert 0.08 <= growth <= 0.12
    factor = 1 - growth if definition.get("direction") == "lower" else 1 + growth
    step = STEP.get(definition["unit"], Decimal("0.1"))
    expected = (Decimal(repr(actual * factor)) / step).quantize(Decimal(1), ROUND_HALF_UP) * step
    (plan,) = [
        Decimal(r["plan"])
        for r in rows
        if (r["kpi"], r[who], r["period"]) == (kpi, subject, period)
    ]
    assert plan == expected


# -- first events: first-time buyers and reactivated clients against hand-written SQL --------

# each client once however often it was typed in, and its purchases (docs/model.md, "filled by
# kpiboard"): computed here from scratch, not from the columns kpiboard fills
PURCHASES = """
    SELECT coalesce(c.master_client_id, i.client_id) AS client, i.invoice_id, i.issued_on
    FROM core.fct_invoice AS i
    LEFT JOIN core.dim_client AS c ON c.client_id = i.client_id
    WHERE i.kind <> 'credit_note' AND i.status NOT IN ('draft', 'cancelled')
      AND i.client_id IS NOT NULL
"""
FIRST_EVENTS = {
    "first_purchase_clients": f"""
        SELECT date_trunc('month', first_on) AS month, count(*)
        FROM (SELECT client, min(issued_on) AS first_on FROM ({PURCHASES}) GROUP BY client)
        GROUP BY 1
    """,
    "reactivated_clients": f"""
        SELECT date_trunc('month', issued_on) AS month, count(DISTINCT client)
        FROM (
            SELECT client, issued_on,
                   issued_on - lag(issued_on) OVER (
                       PARTITION BY client ORDER BY issued_on, invoice_id) AS gap
            FROM ({PURCHASES})
        )
        WHERE gap >= 180
        GROUP BY 1
    """,
}


@pytest.mark.parametrize("kpi_id", sorted(FIRST_EVENTS))
def test_first_event_kpis_equal_hand_written_sql_every_month(
    kpi_id: str, project: Path, con: duckdb.DuckDBPyConnection
) -> None:
    from kpi_designer.engine import Definitions, Engine
    from kpi_designer.loader import load_kpis

    expected = {
        month.date() if isinstance(month, dt.datetime) else month: int(n)
        for month, n in con.execute(FIRST_EVENTS[kpi_id]).fetchall()
    }
    first, last = con.execute(
        "SELECT min(issued_on), max(issued_on) FROM core.fct_invoice"
    ).fetchone()
    warehouse = load_settings(project).open_warehouse()
    engine = Engine(Definitions(load_kpis(DEMO_KPIS)), warehouse.connect, warehouse.published)
    values = engine.evaluate(kpi_id, start=first.replace(day=1), end=last, grain="month")
    found = {
        (p.date() if isinstance(p, dt.datetime) else p): int(v or 0)
        for p, v in zip(values["period"], values["value"], strict=True)
    }
    assert sum(expected.values()) > 20  # the demo has both kinds of client every year
    assert {m: n for m, n in found.items() if n} == expected
    if kpi_id == "first_purchase_clients":  # every client that ever bought, once
        assert (
            sum(found.values())
            == con.execute(f"SELECT count(DISTINCT client) FROM ({PURCHASES})").fetchone()[0]
        )


ON_TIME = """
kpis:
  - id: shipped_invoices
    label: Invoices shipped
    description: Invoices whose goods left in the period and whose delivery date was promised.
    unit: count
    direction: higher
    owner: delivery
    type: simple
    fact: invoice
    agg: count
    filter: shipped_on IS NOT NULL AND promised_on IS NOT NULL
    time: shipped_on

  - id: on_time_shipping
    label: Shipped on time
    description: Share of the invoices shipped in the period that left by the promised date.
    unit: percent
    direction: higher
    owner: delivery
    type: ratio
    numerator: {kpi: shipped_invoices, filter: "shipped_on <= promised_on"}
    denominator: shipped_invoices
"""


def test_an_on_time_shipping_kpi_reads_the_order_dates(
    project: Path, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from kpi_designer.engine import Definitions, Engine
    from kpi_designer.loader import load_kpis

    (tmp_path / "delivery.yaml").write_text(ON_TIME, encoding="utf-8")
    warehouse = load_settings(project).open_warehouse()
    engine = Engine(Definitions(load_kpis(tmp_path)), warehouse.connect, warehouse.published)
    expected = {
        month: float(share)
        for month, share in con.execute(
            "SELECT CAST(date_trunc('month', shipped_on) AS DATE), "
            "avg(CASE WHEN shipped_on <= promised_on THEN 1.0 ELSE 0.0 END) "
            "FROM core.fct_invoice WHERE shipped_on IS NOT NULL AND promised_on IS NOT NULL "
            "GROUP BY 1"
        ).fetchall()
    }
    assert len(expected) >= 12 and 0 < min(expected.values()) < 1  # late shipments too
    values = engine.evaluate(
        "on_time_shipping", start=min(expected), end=max(expected) + dt.timedelta(days=31)
    )
    found = {
        (p.date() if isinstance(p, dt.datetime) else p): float(v)
        for p, v in zip(values["period"], values["value"], strict=True)
        if v == v and v is not None
    }
    assert found.keys() == expected.keys()
    for month, share in expected.items():
        assert found[month] == pytest.approx(share, abs=1e-9), month


# -- every KPI of the pack has values on the demo ------------------------------------------------


def default_range(engine: Any) -> tuple[dt.date, dt.date]:
    """What `kpiboard kpi eval` evaluates without --from/--to: the twelve months up to the end
    of the published data."""
    end = engine.data_end()
    assert end is not None
    months = end.year * 12 + end.month - 1 - 11
    return dt.date(months // 12, months % 12 + 1, 1), end


@pytest.fixture(scope="module")
def monthly(project: Path) -> dict[str, dict[dt.date, float | None]]:
    """Every KPI of the pack by month over the default range, the company as a whole."""
    from kpi_designer.engine import Definitions, Engine
    from kpi_designer.loader import load_kpis

    warehouse = load_settings(project).open_warehouse()
    engine = Engine(Definitions(load_kpis(DEMO_KPIS)), warehouse.connect, warehouse.published)
    start, end = default_range(engine)
    values = engine.evaluate(list(pack()), start=start, end=end, grain="month")
    out: dict[str, dict[dt.date, float | None]] = {kpi: {} for kpi in pack()}
    for kpi, period, value in zip(values["kpi"], values["period"], values["value"], strict=True):
        month = period.date() if isinstance(period, dt.datetime) else period
        out[kpi][month] = None if value is None or value != value else float(value)
    return out


@pytest.mark.parametrize("kpi_id", sorted(pack()))
def test_every_kpi_of_the_pack_has_values_on_the_demo(
    kpi_id: str, monthly: dict[str, dict[dt.date, float | None]]
) -> None:
    assert any(v is not None for v in monthly[kpi_id].values()), f"{kpi_id} is empty on the demo"


PLAUSIBLE = {"lead_response_hours": (0.1, 48.0), "km_per_delivery": (2.0, 80.0)}


@pytest.mark.parametrize("kpi_id", sorted(PLAUSIBLE))
def test_response_times_and_distances_are_plausible_every_month(
    kpi_id: str, monthly: dict[str, dict[dt.date, float | None]]
) -> None:
    low, high = PLAUSIBLE[kpi_id]
    values = [v for v in monthly[kpi_id].values() if v is not None]
    assert len(values) >= 11  # the latest month's deliveries may be planned, not yet made
    assert all(low <= v <= high for v in values), monthly[kpi_id]


# the first answer to each lead from the activities naming it, not from fct_lead's column;
# leads placed on their branch's local day of arrival, as the KPI places them
RESPONSE_HOURS = f"""
    WITH answers AS (
        SELECT lead_id, min(occurred_at) AS answered_at
        FROM core.fct_activity WHERE lead_id IS NOT NULL GROUP BY lead_id
    )
    SELECT avg(date_diff('minute', l.created_at, a.answered_at) / 60.0), count(*)
    FROM core.fct_lead AS l
    JOIN answers AS a USING (lead_id)
    JOIN core.dim_branch AS b USING (branch_id)
    WHERE {LOCAL.format("l.created_at")} >= $start AND {LOCAL.format("l.created_at")} < $end
"""


def test_lead_response_hours_equal_hand_written_sql_for_a_month(
    con: duckdb.DuckDBPyConnection, monthly: dict[str, dict[dt.date, float | None]]
) -> None:
    month = dt.date(2026, 3, 1)
    row = con.execute(RESPONSE_HOURS, {"start": month, "end": dt.date(2026, 4, 1)}).fetchone()
    assert row is not None
    expected, answered = row
    assert answered >= 10
    assert monthly["lead_response_hours"][month] == pytest.approx(float(expected), abs=1e-9)
