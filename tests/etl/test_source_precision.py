"""Money and floats keep the source's value: a 4-byte float is read as the decimal it was
written as, and line money keeps its digits until a total is taken, on PostgreSQL and MariaDB
sources the test creates."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl import pipeline
from kpiboard import urls
from kpiboard.config import load_settings


def _execute(url: str, *statements: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(urls.parse_url(url))
    rows: list[tuple[object, ...]] = []
    with engine.begin() as db:
        for statement in statements:
            result = db.execute(sa.text(statement))
            if result.returns_rows:
                rows = [tuple(r) for r in result]
    engine.dispose()
    return rows


def _project(folder: Path, url: str, models: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kpiboard.toml").write_text(
        textwrap.dedent(
            f"""
            [[sources]]
            name = "erp"
            url = "{url}"
            branch = "la"
            """
        ),
        encoding="utf-8",
    )
    for name, sql in (models or {}).items():
        path = folder / "models" / "core" / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(sql).strip() + "\n", encoding="utf-8")
    return folder


def _published(project: Path, sql: str) -> list[tuple[object, ...]]:
    con = load_settings(project).open_warehouse().connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


FLOAT_TABLES = {
    "postgres": "CREATE TABLE readings (id integer PRIMARY KEY, r real, f4 float4, "
    "d double precision)",
    "mariadb": "CREATE TABLE readings (id integer PRIMARY KEY, r float, f4 float(20), d double)",
}


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_a_4_byte_float_is_read_as_the_decimal_written(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    template: str = request.getfixturevalue(f"{engine}_template")
    url = template.replace("{db}", "stock")
    urls.ensure_database(urls.parse_url(url))
    _execute(
        url,
        FLOAT_TABLES[engine],
        "INSERT INTO readings VALUES (1, 0.15, 0.1, 0.15), (2, 1.1, 16777216, 0.1), "
        "(3, -2.5e-7, 123.456, 1e300), (4, NULL, NULL, NULL)",
    )
    project = _project(tmp_path / "p", url)
    assert pipeline.run(load_settings(project)).status == pipeline.SUCCESS
    found = _published(
        project,
        "SELECT id, r, f4, d, typeof(r), typeof(d), _invalid FROM raw_erp.readings ORDER BY id",
    )
    assert found == [
        (1, 0.15, 0.1, 0.15, "DOUBLE", "DOUBLE", None),
        (2, 1.1, 16777216.0, 0.1, "DOUBLE", "DOUBLE", None),
        (3, -2.5e-7, 123.456, 1e300, "DOUBLE", "DOUBLE", None),
        (4, None, None, None, "DOUBLE", "DOUBLE", None),
    ]


MODELS = {
    "dim_branch": """
        SELECT 'la' AS branch_id, 'Los Angeles' AS name, 'America/Los_Angeles' AS timezone,
               'USD' AS currency, 'config' AS _source, TIMESTAMP '2024-01-01' AS _loaded_at
    """,
    # an order becomes its invoice; money in a float column is cast to DECIMAL first
    "fct_invoice": """
        WITH lines AS (
            SELECT _source, order_id,
                   round(sum(quantity * unit_price * (1 - CAST(discount AS DECIMAL(9, 6)))), 2)
                       AS amount
            FROM stg_erp.order_lines
            GROUP BY ALL
        )
        SELECT o._source || ':' || o.id AS invoice_id, o._branch AS branch_id,
               o.order_date AS issued_on, 'invoice' AS kind, 'issued' AS status,
               l.amount AS net_amount, 0 AS tax_amount, l.amount AS total_amount,
               o.order_date AS ordered_on, o.required_date AS required_on,
               o.shipped_date AS shipped_on, o._source, o._loaded_at
        FROM stg_erp.orders AS o
        LEFT JOIN lines AS l ON l._source = o._source AND l.order_id = o.id
    """,
    "fct_invoice_line": """
        SELECT _source || ':' || id AS invoice_line_id, _branch AS branch_id,
               _source || ':' || order_id AS invoice_id, quantity AS qty, unit_price,
               quantity * unit_price * CAST(discount AS DECIMAL(9, 6)) AS discount_amount,
               quantity * unit_price * (1 - CAST(discount AS DECIMAL(9, 6))) AS line_amount,
               _source, _loaded_at
        FROM stg_erp.order_lines
    """,
}


def test_line_money_keeps_the_sources_digits_and_a_month_adds_up_to_its_exact_sum(
    postgres_template: str, tmp_path: Path
) -> None:
    """3 x 12.35 at 5% is 35.1975: rounded to the cent on every line, four such lines and one
    of 0.15 at 15% come to 140.93; the source's exact sum, rounded once, is 140.92."""
    url = postgres_template.replace("{db}", "stock")
    urls.ensure_database(urls.parse_url(url))
    _execute(
        url,
        "CREATE TABLE orders (id integer PRIMARY KEY, order_date date, required_date date, "
        "shipped_date date)",
        "CREATE TABLE order_lines (id integer PRIMARY KEY, order_id integer, "
        "unit_price numeric(12, 2), quantity integer, discount real)",
        "INSERT INTO orders VALUES (1, '2024-03-01', '2024-03-05', '2024-03-04'), "
        "(2, '2024-03-09', '2024-03-12', '2024-03-14'), (3, '2024-03-31', NULL, NULL)",
        "INSERT INTO order_lines VALUES (1, 1, 12.35, 3, 0.05), (2, 1, 12.35, 3, 0.05), "
        "(3, 2, 12.35, 3, 0.05), (4, 2, 0.15, 1, 0.15), (5, 3, 12.35, 3, 0.05)",
    )
    [(exact,)] = _execute(
        url,
        "SELECT round(sum(quantity * unit_price * (1 - discount::numeric)), 2) FROM order_lines",
    )
    assert exact == Decimal("140.92")
    project = _project(tmp_path / "p", url, MODELS)
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS, result.errors
    assert result.warnings == []

    line = _published(
        project,
        "SELECT discount_amount, line_amount, typeof(line_amount) "
        "FROM core.fct_invoice_line WHERE invoice_line_id = 'erp:1'",
    )
    assert line == [(Decimal("1.852500"), Decimal("35.197500"), "DECIMAL(18,6)")]
    month = _published(
        project,
        "SELECT CAST(date_trunc('month', i.issued_on) AS DATE), round(sum(l.line_amount), 2), "
        "sum(round(l.line_amount, 2)) "
        "FROM core.fct_invoice_line AS l JOIN core.fct_invoice AS i USING (invoice_id) "
        "GROUP BY 1",
    )
    assert month == [(dt.date(2024, 3, 1), exact, Decimal("140.93"))]
    # document totals are cents: each order's total is its own lines' exact sum rounded once
    # (70.395 → 70.40, 35.325 → 35.33, 35.1975 → 35.20), as the source's documents show it
    assert _published(
        project,
        "SELECT i.invoice_id, i.net_amount, round(sum(l.line_amount), 2), typeof(i.net_amount) "
        "FROM core.fct_invoice AS i JOIN core.fct_invoice_line AS l USING (invoice_id) "
        "GROUP BY ALL ORDER BY 1",
    ) == [
        ("erp:1", Decimal("70.40"), Decimal("70.40"), "DECIMAL(18,2)"),
        ("erp:2", Decimal("35.33"), Decimal("35.33"), "DECIMAL(18,2)"),
        ("erp:3", Decimal("35.20"), Decimal("35.20"), "DECIMAL(18,2)"),
    ]

    # fulfilment: the dates an order has, on its invoice; on time = shipped by the date required
    on_time = _published(
        project,
        "SELECT invoice_id, ordered_on, required_on, shipped_on, shipped_on <= required_on "
        "FROM core.fct_invoice ORDER BY invoice_id",
    )
    assert on_time == [
        ("erp:1", dt.date(2024, 3, 1), dt.date(2024, 3, 5), dt.date(2024, 3, 4), True),
        ("erp:2", dt.date(2024, 3, 9), dt.date(2024, 3, 12), dt.date(2024, 3, 14), False),
        ("erp:3", dt.date(2024, 3, 31), None, None, None),
    ]
