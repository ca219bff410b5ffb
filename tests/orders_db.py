"""A small order-processing database, as a company's own system would hold it.

The schema is the classic one of order-entry sample databases: categories, products, customers,
employees, orders with dates only (ordered, required, shipped) and order lines with a fractional
discount stored as a 4-byte float (PostgreSQL ``real``, MySQL ``FLOAT``). No table has an
``updated_at``. The rows are deterministic and made to catch what goes wrong on the way into a
warehouse: orders on the first and last day of every month (a day's shift moves them across a
month), discounts that do not round to the cent, freight as a float, orders not shipped yet.

:func:`create` writes it to a server; :data:`ORACLE` holds the hand-written SQL that answers the
KPI questions on the source itself, the numbers kpiboard must reproduce to the cent.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import sqlalchemy as sa

CATEGORIES = ["Printers", "Cartridges", "Paper", "Service"]
DISCOUNTS = [0.0, 0.0, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
FIRST_DAY = dt.date(2025, 1, 1)
LAST_DAY = dt.date(2026, 6, 30)

_DDL = {
    "postgresql": """
        CREATE TABLE categories (
            category_id integer PRIMARY KEY,
            category_name varchar(40) NOT NULL
        );
        CREATE TABLE products (
            product_id integer PRIMARY KEY,
            product_name varchar(60) NOT NULL,
            category_id integer REFERENCES categories (category_id),
            unit_price numeric(10,2) NOT NULL,
            discontinued boolean NOT NULL
        );
        CREATE TABLE customers (
            customer_id varchar(8) PRIMARY KEY,
            company_name varchar(80) NOT NULL,
            city varchar(40),
            email varchar(80)
        );
        CREATE TABLE employees (
            employee_id integer PRIMARY KEY,
            first_name varchar(30) NOT NULL,
            last_name varchar(30) NOT NULL,
            title varchar(40),
            hire_date date
        );
        CREATE TABLE orders (
            order_id integer PRIMARY KEY,
            customer_id varchar(8) REFERENCES customers (customer_id),
            employee_id integer REFERENCES employees (employee_id),
            order_date date NOT NULL,
            required_date date,
            shipped_date date,
            freight real
        );
        CREATE TABLE order_details (
            order_id integer REFERENCES orders (order_id),
            product_id integer REFERENCES products (product_id),
            unit_price numeric(10,2) NOT NULL,
            quantity smallint NOT NULL,
            discount real NOT NULL,
            PRIMARY KEY (order_id, product_id)
        );
    """,
    "mysql": """
        CREATE TABLE categories (category_id int PRIMARY KEY, category_name varchar(40) NOT NULL);
        CREATE TABLE products (
            product_id int PRIMARY KEY,
            product_name varchar(60) NOT NULL,
            category_id int,
            unit_price decimal(10,2) NOT NULL,
            discontinued tinyint(1) NOT NULL,
            FOREIGN KEY (category_id) REFERENCES categories (category_id)
        );
        CREATE TABLE customers (
            customer_id varchar(8) PRIMARY KEY,
            company_name varchar(80) NOT NULL,
            city varchar(40),
            email varchar(80)
        );
        CREATE TABLE employees (
            employee_id int PRIMARY KEY,
            first_name varchar(30) NOT NULL,
            last_name varchar(30) NOT NULL,
            title varchar(40),
            hire_date date
        );
        CREATE TABLE orders (
            order_id int PRIMARY KEY,
            customer_id varchar(8),
            employee_id int,
            order_date date NOT NULL,
            required_date date,
            shipped_date date,
            freight float,
            FOREIGN KEY (customer_id) REFERENCES customers (customer_id),
            FOREIGN KEY (employee_id) REFERENCES employees (employee_id)
        );
        CREATE TABLE order_details (
            order_id int,
            product_id int,
            unit_price decimal(10,2) NOT NULL,
            quantity smallint NOT NULL,
            discount float NOT NULL,
            PRIMARY KEY (order_id, product_id),
            FOREIGN KEY (order_id) REFERENCES orders (order_id),
            FOREIGN KEY (product_id) REFERENCES products (product_id)
        );
    """,
}


def rows(seed: int = 5) -> dict[str, list[dict[str, object]]]:
    """Every table's rows, the same for a seed on every server."""
    rnd = random.Random(seed)
    categories = [{"category_id": i + 1, "category_name": n} for i, n in enumerate(CATEGORIES)]
    products = [
        {
            "product_id": i,
            "product_name": f"Product {i}",
            "category_id": 1 + i % len(CATEGORIES),
            "unit_price": Decimal(rnd.randint(199, 45999)) / 100,
            "discontinued": i % 11 == 0,
        }
        for i in range(1, 31)
    ]
    customers = [
        {
            "customer_id": f"C{i:04d}",
            "company_name": f"Customer {i} Ltd",
            "city": rnd.choice(["Seattle", "Tacoma", "Spokane"]),
            "email": f"buyer{i}@example.com",
        }
        for i in range(1, 61)
    ]
    employees = [
        {
            "employee_id": i,
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "title": "Sales Representative",
            "hire_date": dt.date(2022, i, 1 + i),
        }
        for i in range(1, 6)
    ]
    orders: list[dict[str, object]] = []
    details: list[dict[str, object]] = []
    # customers start buying at different times, so "new customers" differ month to month
    first_month = {c["customer_id"]: rnd.randint(0, 15) for c in customers}
    day = FIRST_DAY
    order_id = 10000
    while day <= LAST_DAY:
        month_index = (day.year - FIRST_DAY.year) * 12 + day.month - 1
        next_day = day + dt.timedelta(days=1)
        edge = day.day == 1 or next_day.day == 1
        for _ in range(rnd.randint(2, 4) if edge else rnd.randint(0, 2)):
            eligible = [c for c, m in first_month.items() if m <= month_index]
            order_id += 1
            required = day + dt.timedelta(days=rnd.choice([7, 14, 28]))
            shipped = (
                None
                if day > LAST_DAY - dt.timedelta(days=10) and rnd.random() < 0.6
                else day + dt.timedelta(days=rnd.choice([1, 3, 5, 9, 16, 30]))
            )
            orders.append(
                {
                    "order_id": order_id,
                    "customer_id": rnd.choice(sorted(eligible)),
                    "employee_id": rnd.randint(1, 5),
                    "order_date": day,
                    "required_date": required,
                    "shipped_date": shipped,
                    "freight": rnd.choice([0.15, 1.1, 12.35, 32.38, 0.7]),
                }
            )
            for product in rnd.sample(products, rnd.randint(1, 4)):
                details.append(
                    {
                        "order_id": order_id,
                        "product_id": product["product_id"],
                        "unit_price": product["unit_price"],
                        "quantity": rnd.randint(1, 40),
                        "discount": rnd.choice(DISCOUNTS),
                    }
                )
        day = next_day
    return {
        "categories": categories,
        "products": products,
        "customers": customers,
        "employees": employees,
        "orders": orders,
        "order_details": details,
    }


def create(url: sa.URL, seed: int = 5) -> None:
    """Create the schema and write the rows into the (empty) database at ``url``."""
    data = rows(seed)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in _DDL[engine.dialect.name].split(";"):
                if statement.strip():
                    conn.exec_driver_sql(statement)
            meta = sa.MetaData()
            meta.reflect(conn)
            for table in data:  # in dependency order
                conn.execute(meta.tables[table].insert(), data[table])
    finally:
        engine.dispose()


# The questions, answered on the source by hand. Each returns (month, value) ordered by month,
# month as 'YYYY-MM'. A discount is a 4-byte float; both servers turn it into the decimal the
# user typed (0.15, not 0.150000006) when cast to a decimal, which is what "exact" means here.
_LINE = "d.unit_price * d.quantity * (1 - CAST(d.discount AS DECIMAL(6,4)))"
_MONTH = {
    "postgresql": "to_char({col}, 'YYYY-MM')",
    "mysql": "date_format({col}, '%%Y-%%m')",  # %% : the driver formats its parameters
}


def oracle(dialect: str) -> dict[str, str]:
    """The hand-written SQL of each KPI question for the source's own ``dialect``."""
    month = _MONTH[dialect].format(col="o.order_date")
    first_month = _MONTH[dialect].format(col="f.first_order")
    ship_month = _MONTH[dialect].format(col="o.order_date")
    return {
        "revenue": f"""
            SELECT {month} AS m, SUM({_LINE}) AS v
            FROM orders o JOIN order_details d ON d.order_id = o.order_id
            GROUP BY 1 ORDER BY 1""",
        "order_count": f"""
            SELECT {month} AS m, COUNT(*) AS v FROM orders o GROUP BY 1 ORDER BY 1""",
        "avg_order_value": f"""
            SELECT {month} AS m, SUM({_LINE}) / COUNT(DISTINCT o.order_id) AS v
            FROM orders o JOIN order_details d ON d.order_id = o.order_id
            GROUP BY 1 ORDER BY 1""",
        "on_time_shipping": f"""
            SELECT {ship_month} AS m,
                   1.0 * SUM(CASE WHEN o.shipped_date <= o.required_date THEN 1 ELSE 0 END)
                   / COUNT(*) AS v
            FROM orders o WHERE o.shipped_date IS NOT NULL
            GROUP BY 1 ORDER BY 1""",
        "new_customers": f"""
            SELECT {first_month} AS m, COUNT(*) AS v
            FROM (SELECT customer_id, MIN(order_date) AS first_order
                  FROM orders GROUP BY customer_id) f
            GROUP BY 1 ORDER BY 1""",
        "revenue_ytd": f"""
            SELECT m, SUM(v) OVER (PARTITION BY substr(m, 1, 4) ORDER BY m) AS v
            FROM (SELECT {month} AS m, SUM({_LINE}) AS v
                  FROM orders o JOIN order_details d ON d.order_id = o.order_id
                  GROUP BY 1) t
            ORDER BY m""",
    }


def answers(url: sa.URL) -> dict[str, dict[str, Decimal]]:
    """Each question's value per month, computed by the source database itself."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: {m: Decimal(str(v)) for m, v in conn.exec_driver_sql(sql)}
                for name, sql in oracle(engine.dialect.name).items()
            }
    finally:
        engine.dispose()
