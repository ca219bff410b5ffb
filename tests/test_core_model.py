"""The canonical model: its DDL in a real DuckDB, and docs/model.md checked against that DDL.

The documentation is compared with what DuckDB reports in ``information_schema`` after
``create_core_schema`` ran, not with the Python declarations, so the test proves what an analyst
reads is what the warehouse holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pytest

from kpiboard.core_model import (
    BRANCH_INDEPENDENT_TABLES,
    CORE_TABLES,
    Column,
    Table,
    create_core_schema,
    ddl,
)

MODEL_DOC = Path(__file__).resolve().parents[1] / "docs" / "model.md"
DOC_NAME = "docs/model.md"
DOC_HEADER = ("column", "type", "description")

EXPECTED_TABLES = (
    "dim_branch",
    "dim_employee",
    "dim_client",
    "dim_product",
    "dim_supplier",
    "dim_warehouse",
    "dim_date",
    "fct_lead",
    "fct_deal",
    "fct_deal_stage",
    "fct_activity",
    "fct_task",
    "fct_invoice",
    "fct_invoice_line",
    "fct_payment",
    "fct_stock_move",
    "fct_purchase_order",
    "fct_service_request",
    "fct_delivery",
)


# --- the DDL as DuckDB reports it ------------------------------------------------------------


@dataclass(frozen=True)
class DbColumn:
    name: str
    type: str
    nullable: bool


def read_columns(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, list[DbColumn]]:
    """Table → its columns in ordinal order, from ``information_schema.columns``."""
    rows = con.execute(
        """
        SELECT table_name, column_name, data_type, is_nullable
        FROM information_schema.columns
        WHERE table_schema = ?
        ORDER BY table_name, ordinal_position
        """,
        [schema],
    ).fetchall()
    tables: dict[str, list[DbColumn]] = {}
    for table, column, data_type, is_nullable in rows:
        tables.setdefault(table, []).append(DbColumn(column, data_type, is_nullable == "YES"))
    return tables


def read_primary_keys(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, tuple[str, ...]]:
    rows = con.execute(
        """
        SELECT table_name, constraint_column_names
        FROM duckdb_constraints()
        WHERE schema_name = ? AND constraint_type = 'PRIMARY KEY'
        """,
        [schema],
    ).fetchall()
    return {table: tuple(columns) for table, columns in rows}


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def db_tables() -> dict[str, list[DbColumn]]:
    connection = duckdb.connect(":memory:")
    try:
        create_core_schema(connection)
        return read_columns(connection, "core")
    finally:
        connection.close()


# --- docs/model.md ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DocColumn:
    name: str
    type: str
    description: str
    line: int


@dataclass
class DocTable:
    name: str
    line: int
    paragraph: str = ""
    header: tuple[str, ...] | None = None
    columns: list[DocColumn] | None = None


@dataclass(frozen=True)
class ModelDoc:
    tables: dict[str, DocTable]
    problems: tuple[str, ...]


HEADING = re.compile(r"^##\s+core\.(?P<table>\w+)\s*$")
OTHER_HEADING = re.compile(r"^#{1,2}\s")
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+$")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().strip("`").strip() for cell in UNESCAPED_PIPE.split(inner)]


def parse_model_doc(text: str) -> ModelDoc:
    """Sections ``## core.<table>`` with their paragraph and the rows of their column table."""
    tables: dict[str, DocTable] = {}
    problems: list[str] = []
    current: DocTable | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        heading = HEADING.match(line)
        if heading:
            name = heading.group("table")
            if name in tables:
                problems.append(f"{DOC_NAME}:{number}: core.{name}: second section for the table")
            current = tables[name] = DocTable(name, number)
            continue
        if OTHER_HEADING.match(line):
            current = None
            continue
        if current is None or not line:
            continue
        if not line.startswith("|"):
            if current.header is None:
                current.paragraph = f"{current.paragraph} {line}".strip()
            continue
        if SEPARATOR.match(line):
            continue
        cells = _cells(line)
        if current.header is None:
            current.header = tuple(cells)
            current.columns = []
            continue
        assert current.columns is not None
        if len(cells) != len(DOC_HEADER):
            problems.append(
                f"{DOC_NAME}:{number}: core.{current.name}: row has {len(cells)} cells, "
                f"expected {len(DOC_HEADER)}: {line}"
            )
            continue
        column, type_, description = cells
        current.columns.append(DocColumn(column, type_, description, number))
    return ModelDoc(tables, tuple(problems))


@pytest.fixture(scope="module")
def doc() -> ModelDoc:
    return parse_model_doc(MODEL_DOC.read_text(encoding="utf-8"))


def doc_columns(table: DocTable) -> list[DocColumn]:
    return table.columns or []


TYPE_SHAPE = re.compile(r"^[A-Z][A-Z0-9_ ]*(\(\d+(,\d+)?\))?$")


@cache
def normalize_type(type_: str) -> str:
    """A type as DuckDB names it: ``numeric(18, 2)`` → ``DECIMAL(18,2)``, ``text`` → ``VARCHAR``.

    Anything that is not the shape of a type name comes back only upper-cased, so it is reported
    as a mismatch rather than run as SQL.
    """
    text = re.sub(r"\s+", " ", type_.strip().upper())
    text = re.sub(r"\s*([(),])\s*", r"\1", text)
    if not TYPE_SHAPE.match(text):
        return text
    with duckdb.connect(":memory:") as probe:
        try:
            row = probe.execute(f"SELECT typeof(CAST(NULL AS {text}))").fetchone()
        except duckdb.Error:
            return text
    assert row is not None
    return str(row[0])


def test_normalize_type_follows_duckdb_spelling() -> None:
    assert normalize_type("decimal(18, 2)") == "DECIMAL(18,2)"
    assert normalize_type("NUMERIC(18,3)") == "DECIMAL(18,3)"
    assert normalize_type("text") == "VARCHAR"
    assert normalize_type("int") == "INTEGER"
    assert normalize_type("timestamp without time zone") == "TIMESTAMP"
    assert normalize_type("money") == "MONEY"
    assert normalize_type("DECIMAL(18,2)") != normalize_type("DECIMAL(18,3)")


# --- the documentation against the DDL -------------------------------------------------------


def test_doc_parses_cleanly(doc: ModelDoc) -> None:
    assert not doc.problems, "\n".join(doc.problems)


def test_every_ddl_table_and_column_is_documented(
    db_tables: dict[str, list[DbColumn]], doc: ModelDoc
) -> None:
    problems: list[str] = []
    for table, columns in db_tables.items():
        section = doc.tables.get(table)
        if section is None:
            problems.append(f"{DOC_NAME}: core.{table}: no '## core.{table}' section")
            continue
        documented = {column.name for column in doc_columns(section)}
        problems.extend(
            f"{DOC_NAME}:{section.line}: core.{table}.{column.name} ({column.type}) "
            "is in the DDL but not documented"
            for column in columns
            if column.name not in documented
        )
    assert not problems, "\n".join(problems)


def test_doc_names_no_table_or_column_the_ddl_lacks(
    db_tables: dict[str, list[DbColumn]], doc: ModelDoc
) -> None:
    problems: list[str] = []
    for table, section in doc.tables.items():
        if table not in db_tables:
            problems.append(f"{DOC_NAME}:{section.line}: core.{table}: no such table in the DDL")
            continue
        in_ddl = {column.name for column in db_tables[table]}
        problems.extend(
            f"{DOC_NAME}:{column.line}: core.{table}.{column.name}: no such column in the DDL"
            for column in doc_columns(section)
            if column.name not in in_ddl
        )
    assert not problems, "\n".join(problems)


def test_documented_types_match_ddl(db_tables: dict[str, list[DbColumn]], doc: ModelDoc) -> None:
    problems: list[str] = []
    for table, section in doc.tables.items():
        ddl_types = {column.name: column.type for column in db_tables.get(table, [])}
        for column in doc_columns(section):
            ddl_type = ddl_types.get(column.name)
            if ddl_type is not None and normalize_type(column.type) != normalize_type(ddl_type):
                problems.append(
                    f"{DOC_NAME}:{column.line}: core.{table}.{column.name}: documented as "
                    f"{column.type!r}, DDL has {ddl_type!r}"
                )
    assert not problems, "\n".join(problems)


def test_doc_lists_columns_in_ddl_order(
    db_tables: dict[str, list[DbColumn]], doc: ModelDoc
) -> None:
    problems: list[str] = []
    for table, section in doc.tables.items():
        in_ddl = [column.name for column in db_tables.get(table, [])]
        documented = [column.name for column in doc_columns(section) if column.name in in_ddl]
        expected = [name for name in in_ddl if name in documented]
        if documented != expected:
            problems.append(
                f"{DOC_NAME}:{section.line}: core.{table}: columns documented in the order "
                f"{documented}, DDL order is {expected}"
            )
    assert not problems, "\n".join(problems)


def test_every_doc_section_has_description_header_and_described_columns(doc: ModelDoc) -> None:
    problems: list[str] = []
    for table, section in doc.tables.items():
        where = f"{DOC_NAME}:{section.line}: core.{table}"
        if not section.paragraph:
            problems.append(f"{where}: no paragraph describing the table")
        if section.header != DOC_HEADER:
            problems.append(f"{where}: table header is {section.header}, expected {DOC_HEADER}")
        seen: set[str] = set()
        for column in doc_columns(section):
            if column.name in seen:
                problems.append(f"{DOC_NAME}:{column.line}: core.{table}.{column.name}: twice")
            seen.add(column.name)
            if not column.description:
                problems.append(f"{DOC_NAME}:{column.line}: core.{table}.{column.name}: empty")
    assert not problems, "\n".join(problems)


def test_doc_marks_keys_and_required_columns_as_the_ddl_does(
    con: duckdb.DuckDBPyConnection, doc: ModelDoc
) -> None:
    """A description starts with "Primary key" exactly for key columns, "Required" for the other
    NOT NULL columns; every other column is nullable."""
    create_core_schema(con)
    db_tables = read_columns(con, "core")
    keys = read_primary_keys(con, "core")
    problems: list[str] = []
    for table, section in doc.tables.items():
        nullable = {column.name: column.nullable for column in db_tables.get(table, [])}
        for column in doc_columns(section):
            if column.name not in nullable:
                continue
            is_key = column.name in keys.get(table, ())
            says_key = column.description.startswith("Primary key")
            says_required = column.description.startswith("Required")
            where = f"{DOC_NAME}:{column.line}: core.{table}.{column.name}"
            if is_key != says_key:
                problems.append(
                    f"{where}: primary key column in the DDL: {is_key}, "
                    f"documented as 'Primary key': {says_key}"
                )
            elif not is_key and nullable[column.name] and says_required:
                problems.append(f"{where}: nullable in the DDL, but documented as Required")
            elif not is_key and not nullable[column.name] and not says_required:
                problems.append(f"{where}: NOT NULL in the DDL, but not documented as Required")
    assert not problems, "\n".join(problems)


def test_branch_independent_tables_say_why_in_the_doc(doc: ModelDoc) -> None:
    for table in BRANCH_INDEPENDENT_TABLES:
        section = doc.tables[table]
        assert "branch_id" in section.paragraph, (
            f"{DOC_NAME}:{section.line}: core.{table} has no branch_id; its description must "
            "say why"
        )


# --- the DDL itself --------------------------------------------------------------------------


def test_core_tables_are_the_architecture_tables() -> None:
    assert tuple(table.name for table in CORE_TABLES) == EXPECTED_TABLES


def test_create_core_schema_creates_what_is_declared(con: duckdb.DuckDBPyConnection) -> None:
    create_core_schema(con)
    db_tables = read_columns(con, "core")
    assert sorted(db_tables) == sorted(EXPECTED_TABLES)
    problems: list[str] = []
    for table in CORE_TABLES:
        declared = [DbColumn(c.name, c.type, c.nullable) for c in table.columns]
        if db_tables[table.name] != declared:
            problems.append(
                f"core.{table.name}: DuckDB has {db_tables[table.name]}, declared {declared}"
            )
    assert not problems, "\n".join(problems)


def test_every_table_has_its_primary_key_and_no_foreign_keys(
    con: duckdb.DuckDBPyConnection,
) -> None:
    create_core_schema(con)
    keys = read_primary_keys(con, "core")
    assert keys == {table.name: table.primary_key for table in CORE_TABLES}
    foreign = con.execute(
        "SELECT table_name FROM duckdb_constraints() "
        "WHERE schema_name = 'core' AND constraint_type = 'FOREIGN KEY'"
    ).fetchall()
    assert foreign == []


def test_primary_key_rejects_a_duplicate(con: duckdb.DuckDBPyConnection) -> None:
    create_core_schema(con)
    insert = (
        "INSERT INTO core.fct_payment (payment_id, branch_id, paid_on, _source, _loaded_at) "
        "VALUES ('crm_denver:7', 'denver', DATE '2025-01-31', 'crm_denver', now()::TIMESTAMP)"
    )
    con.execute(insert)
    with pytest.raises(duckdb.ConstraintException):
        con.execute(insert)


def test_create_core_schema_is_idempotent_and_keeps_rows(con: duckdb.DuckDBPyConnection) -> None:
    create_core_schema(con)
    before = read_columns(con, "core")
    con.execute(
        "INSERT INTO core.dim_branch (branch_id, name, currency, _source, _loaded_at) "
        "VALUES ('denver', 'Denver', 'USD', 'crm_denver', TIMESTAMP '2025-01-31 06:00:00')"
    )
    create_core_schema(con)
    assert read_columns(con, "core") == before
    assert con.execute("SELECT branch_id FROM core.dim_branch").fetchall() == [("denver",)]


def test_every_table_has_branch_id_and_load_metadata(
    db_tables: dict[str, list[DbColumn]],
) -> None:
    assert frozenset({"dim_date"}) == BRANCH_INDEPENDENT_TABLES
    problems: list[str] = []
    for table, columns in db_tables.items():
        by_name = {column.name: column for column in columns}
        required = {"_source": "VARCHAR", "_loaded_at": "TIMESTAMP"}
        if table in BRANCH_INDEPENDENT_TABLES:
            if "branch_id" in by_name:
                problems.append(f"core.{table}: declared branch-independent but has branch_id")
        else:
            required["branch_id"] = "VARCHAR"
        for name, type_ in required.items():
            column = by_name.get(name)
            if column is None or column.type != type_ or column.nullable:
                problems.append(f"core.{table}.{name}: expected {type_} NOT NULL, got {column}")
        if [column.name for column in columns[-2:]] != ["_source", "_loaded_at"]:
            problems.append(f"core.{table}: the load metadata must be the last two columns")
    assert not problems, "\n".join(problems)


# Naming conventions an analyst relies on: the suffix tells the type.
SUFFIX_TYPES = (
    ("_id", "VARCHAR"),
    ("_amount", "DECIMAL(18,2)"),
    ("_price", "DECIMAL(18,2)"),
    ("_cost", "DECIMAL(18,2)"),
    ("qty", "DECIMAL(18,3)"),
    ("_at", "TIMESTAMP"),
    ("_on", "DATE"),
)


# line money keeps the source's precision (docs/model.md, "Line money"); documents are cents
LINE_MONEY = {
    ("fct_invoice_line", "unit_price"),
    ("fct_invoice_line", "discount_amount"),
    ("fct_invoice_line", "line_amount"),
    ("fct_invoice_line", "tax_amount"),
    ("fct_invoice_line", "cost_amount"),
    ("fct_stock_move", "unit_cost"),
}


def test_column_names_follow_the_type_conventions(db_tables: dict[str, list[DbColumn]]) -> None:
    problems: list[str] = []
    for table, columns in db_tables.items():
        for column in columns:
            expected = [t for suffix, t in SUFFIX_TYPES if column.name.endswith(suffix)]
            if (table, column.name) in LINE_MONEY:
                expected = ["DECIMAL(18,6)"]
            if column.name.startswith("is_"):
                expected.append("BOOLEAN")
            if column.name == "amount":
                expected.append("DECIMAL(18,2)")
            if expected and column.type != expected[0]:
                problems.append(
                    f"core.{table}.{column.name}: {column.type}, expected {expected[0]}"
                )
    assert not problems, "\n".join(problems)


def test_schema_and_identifiers_are_quoted(con: duckdb.DuckDBPyConnection) -> None:
    schema = 'core "next"'
    create_core_schema(con, schema)
    assert sorted(read_columns(con, schema)) == sorted(EXPECTED_TABLES)
    assert ddl(schema)[0] == 'CREATE SCHEMA IF NOT EXISTS "core ""next"""'


@pytest.mark.parametrize(
    ("columns", "primary_key", "message"),
    [
        (
            (Column("a_id", "VARCHAR", False), Column("a_id", "VARCHAR")),
            ("a_id",),
            "duplicate columns ['a_id']",
        ),
        ((Column("a_id", "VARCHAR", False),), ("b_id",), "'b_id' is not a column"),
        ((Column("a_id", "VARCHAR"),), ("a_id",), "'a_id' is nullable"),
        ((Column("a_id", "VARCHAR", False),), (), "no primary key"),
    ],
    ids=["duplicate_column", "unknown_key", "nullable_key", "no_key"],
)
def test_table_rejects_broken_declarations(
    columns: tuple[Column, ...], primary_key: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Table("broken", columns, primary_key)
