"""A company's own database, from ``kpiboard init --from-url`` to KPIs that match the source.

The database is a small order-processing system (:mod:`tests.orders_db`): dates only, a float
discount per line, no ``updated_at``, one branch on the US west coast. The test walks the path
docs/connecting-a-source.md describes, as a user would, through the command line: init from the
URL, run the pipeline with the scaffolded suites, write the models and KPIs, evaluate — and every
KPI must equal, month by month and to the cent, the hand-written SQL run on the source itself.
"""

from __future__ import annotations

import csv
import io
import tomllib
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpiboard import urls
from tests import orders_db
from tests.conftest import MARIADB, POSTGRES, CliRunner

SERVERS = {"postgres": POSTGRES, "mariadb": MARIADB}

MODELS = {
    "dim_client": """
        -- One row per customer of the order system.
        SELECT
            _source || ':' || customer_id AS client_id,
            _branch AS branch_id,
            company_name AS name,
            'company' AS kind,
            city,
            email,
            _source,
            _loaded_at
        FROM hist_orders.customers
    """,
    "dim_employee": """
        -- One row per employee; everyone in the order system sells.
        SELECT
            _source || ':' || employee_id AS employee_id,
            _branch AS branch_id,
            first_name || ' ' || last_name AS full_name,
            'sales_manager' AS role,
            title AS job_title,
            hire_date AS hired_on,
            true AS is_active,
            _source,
            _loaded_at
        FROM hist_orders.employees
    """,
    "dim_product": """
        -- One row per product; the category's name from categories.
        SELECT
            p._source || ':' || p.product_id AS product_id,
            p._branch AS branch_id,
            p.product_name AS name,
            c.category_name AS category,
            'good' AS kind,
            p.unit_price AS list_price,
            NOT p.discontinued AS is_active,
            p._source,
            p._loaded_at
        FROM hist_orders.products AS p
        LEFT JOIN hist_orders.categories AS c
            ON c._source = p._source AND c.category_id = p.category_id
    """,
    "fct_invoice": """
        -- One row per order. The order system stores local dates: they stay DATEs.
        -- net_amount: the sum of the order's lines, rounded once, to the cent.
        WITH lines AS (
            SELECT _source, order_id,
                   sum(unit_price * quantity * (1 - CAST(discount AS DECIMAL(6,4)))) AS net
            FROM stg_orders.order_details
            GROUP BY ALL
        )
        SELECT
            o._source || ':' || o.order_id AS invoice_id,
            o._branch AS branch_id,
            o.order_date AS issued_on,
            o.order_date AS ordered_on,
            o.required_date AS required_on,
            o.shipped_date AS shipped_on,
            CAST(o.order_id AS VARCHAR) AS invoice_number,
            'invoice' AS kind,
            'issued' AS status,
            o._source || ':' || o.customer_id AS client_id,
            o._source || ':' || o.employee_id AS owner_id,
            round(l.net, 2) AS net_amount,
            round(l.net, 2) AS total_amount,
            o._source,
            o._loaded_at
        FROM stg_orders.orders AS o
        LEFT JOIN lines AS l ON l._source = o._source AND l.order_id = o.order_id
    """,
    "fct_invoice_line": """
        -- One row per order line. The discount is a fraction (0.05 = 5%), a float at the
        -- source: cast to a decimal before it multiplies money.
        SELECT
            _source || ':' || order_id || ':' || product_id AS invoice_line_id,
            _branch AS branch_id,
            _source || ':' || order_id AS invoice_id,
            _source || ':' || product_id AS product_id,
            quantity AS qty,
            unit_price,
            unit_price * quantity * CAST(discount AS DECIMAL(6,4)) AS discount_amount,
            unit_price * quantity * (1 - CAST(discount AS DECIMAL(6,4))) AS line_amount,
            _source,
            _loaded_at
        FROM stg_orders.order_details
    """,
}

KPIS = """
kpis:
  - id: revenue
    label: Revenue
    description: Net amount of the order lines, discounts taken off.
    unit: money
    type: simple
    fact: invoice_line
    agg: sum
    expr: line_amount
  - id: order_count
    label: Orders
    description: Orders placed.
    unit: count
    type: simple
    fact: invoice
    agg: count
  - id: avg_order_value
    label: Average order value
    description: Revenue per order placed.
    unit: money
    type: ratio
    numerator: revenue
    denominator: order_count
  - id: on_time_shipping
    label: Shipped on time
    description: Share of shipped orders shipped by the date the customer required.
    unit: percent
    type: ratio
    numerator: {kpi: order_count, filter: "shipped_on <= required_on"}
    denominator: {kpi: order_count, filter: "shipped_on IS NOT NULL"}
  - id: new_customers
    label: New customers
    description: Customers whose first order falls in the period.
    unit: count
    type: simple
    fact: invoice
    agg: count_distinct
    expr: client_id
    filter: client_invoice_no = 1
  - id: revenue_ytd
    label: Revenue, year to date
    description: Revenue from the start of the year to the end of the period.
    unit: money
    type: cumulative
    kpi: revenue
    to_date: year
"""


@pytest.fixture(params=sorted(SERVERS))
def source_url(request: pytest.FixtureRequest) -> Iterator[sa.URL]:
    url = urls.expand(SERVERS[request.param], f"t{uuid.uuid4().hex[:10]}_orders")
    urls.ensure_database(url)
    try:
        orders_db.create(url)
        yield url
    finally:
        urls.drop_database(url)


def _csv(result: object) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(result.stdout)))  # type: ignore[attr-defined]


def test_own_database_numbers_match_the_source(
    source_url: sa.URL, tmp_path: Path, kpiboard: CliRunner
) -> None:
    project = tmp_path / "acme"
    url = source_url.render_as_string(hide_password=False)
    made = kpiboard(
        tmp_path, "init", "acme", "--from-url", url, "--source", "orders", "--branch", "seattle"
    )
    assert made.returncode == 0, made.stderr
    # the one setting a user must give by hand: the branch's time zone
    config = project / "kpiboard.toml"
    text = config.read_text()
    assert '# timezone = "America/Denver"' in text
    config.write_text(
        text.replace('# timezone = "America/Denver"', 'timezone = "America/Los_Angeles"')
    )
    settings = tomllib.loads(config.read_text())
    assert settings["company"]["branch"] == "seattle"
    assert [s["name"] for s in settings["sources"]] == ["orders"]

    # The scaffolded suites run on the source's clean data and pass.
    first = kpiboard(project, "etl", "run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "validation: 22 expectations on 6 tables, 0 failed" in first.stdout

    for table, sql in MODELS.items():
        (project / "models" / "core" / f"{table}.sql").write_text(sql)
    (project / "kpis" / "orders.yaml").write_text(KPIS)
    built = kpiboard(project, "etl", "run")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "midnight" not in built.stdout + built.stderr

    truth = orders_db.answers(source_url)
    months = sorted(truth["revenue"])
    kpis = list(truth)
    evaluated = kpiboard(
        project, "kpi", "eval", *kpis, "--grain", "month",
        "--from", months[0], "--to", months[-1], "--format", "csv",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    got: dict[str, dict[str, Decimal]] = {k: {} for k in kpis}
    for row in _csv(evaluated):
        got[row["kpi"]][row["period"]] = Decimal(row["value"])
    for kpi in ("revenue", "avg_order_value", "revenue_ytd"):
        assert {m: round(v, 2) for m, v in got[kpi].items()} == {
            m: round(v, 2) for m, v in truth[kpi].items()
        }, kpi
    for kpi in ("order_count", "new_customers"):
        assert got[kpi] == truth[kpi], kpi
    assert got["on_time_shipping"].keys() == truth["on_time_shipping"].keys()
    for month, value in truth["on_time_shipping"].items():
        assert abs(got["on_time_shipping"][month] - value) < Decimal("0.0001"), month
