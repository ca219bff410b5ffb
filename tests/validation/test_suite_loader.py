"""The suite language: broken files and the exact message each produces, valid files and the model
they load into, the demo's suites, the warehouse checks and the mapping onto GX 1.x."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from textwrap import dedent

import duckdb
import pytest
from great_expectations import expectations as gxe
from great_expectations.expectations.row_conditions import Column

from kpiboard.errors import UserError
from validation.suite import (
    Between,
    ExistsIn,
    Expectation,
    Fresh,
    InSet,
    Location,
    NotNull,
    Regex,
    RowFilter,
    RowsMatchSource,
    Sql,
    Suite,
    SuiteError,
    SuiteProblem,
    Unique,
    check_columns,
    check_suites,
    load_suite_file,
    load_suites,
    parse_suite,
)

SHOWN = "suites/raw/crm/clients.yaml"
DEMO_SUITES = Path(__file__).resolve().parents[2] / "validation" / "suites" / "brightline"
PHONE = r"^(\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\+1 \d{3} \d{3} \d{4})$"


def problems(text: str, shown: str = SHOWN) -> list[str]:
    suite, found = parse_suite(dedent(text), shown)
    assert (suite is None) == bool(found)
    return [str(p) for p in found]


def resolve(ref: str) -> str:
    """The demo's resolver: groups and sources through their staging views, core as it is."""
    schema, table = ref.split(".")
    return f'"{schema if schema == "core" else "stg_" + schema}"."{table}"'


# -- broken suites, and the message each one gets --------------------------------------------

HEAD = "table: crm.clients\nexpectations:\n"

BROKEN = [
    pytest.param(
        HEAD + "  - not_null: name\n  - unique: tax_id\n  - regx: phone\n    pattern: '^x$'\n",
        [f"{SHOWN}:5: expectation 3: unknown kind 'regx' — did you mean 'regex'?"],
        id="unknown_kind",
    ),
    pytest.param(
        HEAD + "  - colour: phone\n",
        [
            f"{SHOWN}:3: expectation 1: unknown kind 'colour' (kinds: not_null, unique, regex, "
            "between, in_set, exists_in, rows_match_source, fresh, sql)"
        ],
        id="unknown_kind_no_suggestion",
    ),
    pytest.param(
        "tabel: crm.clients\nexpectations:\n  - not_null: id\n",
        [f"{SHOWN}:1: unknown key 'tabel' — did you mean 'table'?"],
        id="misspelled_table_key",
    ),
    pytest.param(
        "expectations:\n  - not_null: id\n",
        [f"{SHOWN}:1: missing key 'table' (e.g. table: crm.clients)"],
        id="missing_table",
    ),
    pytest.param(
        "table: crm.clients\n",
        [f"{SHOWN}:1: missing key 'expectations' (a list)"],
        id="missing_expectations",
    ),
    pytest.param(
        "table: crm.clients\nexpectations: []\n",
        [f"{SHOWN}:2: expectations is empty: a suite checks something"],
        id="no_expectations",
    ),
    pytest.param(
        "table: crm.clients\nexpectations:\n  not_null: id\n",
        [f"{SHOWN}:3: expectations must be a list, not a mapping"],
        id="expectations_not_a_list",
    ),
    pytest.param(
        "", [f"{SHOWN}:1: empty file: a suite needs table: and expectations:"], id="empty"
    ),
    pytest.param(
        "- table: crm.clients\n",
        [f"{SHOWN}:1: a suite is a mapping (table:, expectations: …), not a list"],
        id="not_a_mapping",
    ),
    pytest.param(
        "table: crm.clients\nexpectations: [\n",
        [f"{SHOWN}:3: invalid YAML: expected the node content, but found '<stream end>'"],
        id="invalid_yaml",
    ),
    pytest.param(
        "table: stg_crm.clients\nexpectations:\n  - not_null: id\n",
        [
            f"{SHOWN}:1: table 'stg_crm.clients' names a warehouse schema; write 'crm.clients': "
            "suites name sources and groups, the engine picks the relation"
        ],
        id="warehouse_schema",
    ),
    pytest.param(
        "table: clients\nexpectations:\n  - not_null: id\n",
        [
            f"{SHOWN}:1: table 'clients' must be <source or group>.<table> (crm.clients) "
            "or core.<table> (core.dim_client)"
        ],
        id="table_without_schema",
    ),
    pytest.param(
        "table: crm.clients\nkey: [id, id]\nexpectations:\n  - not_null: id\n",
        [f"{SHOWN}:2: key names column 'id' twice"],
        id="key_repeats",
    ),
    pytest.param(
        HEAD + "  - not_null: id\n    severity: warning\n",
        [
            f"{SHOWN}:4: expectation 1: severity must be error (stops publishing) or warn "
            "(quarantines the failing rows), not 'warning' — did you mean 'warn'?"
        ],
        id="severity_misspelled",
    ),
    pytest.param(
        HEAD + "  - not_null: id\n    severity: critical\n",
        [
            f"{SHOWN}:4: expectation 1: severity must be error (stops publishing) or warn "
            "(quarantines the failing rows), not 'critical'"
        ],
        id="severity_unknown",
    ),
    pytest.param(
        HEAD + "  - regex: phone\n    patern: '^x$'\n",
        [f"{SHOWN}:4: expectation 1: unknown key 'patern' for regex — did you mean 'pattern'?"],
        id="unknown_key_suggested",
    ),
    pytest.param(
        HEAD + "  - not_null: id\n    min: 3\n",
        [
            f"{SHOWN}:4: expectation 1: unknown key 'min' for not_null "
            "(not_null takes severity, hold, description, name, where)"
        ],
        id="key_of_another_kind",
    ),
    pytest.param(
        HEAD + "  - regex: phone\n",
        [f"{SHOWN}:3: expectation 1: regex needs pattern:"],
        id="missing_pattern",
    ),
    pytest.param(
        HEAD + "  - regex: phone\n    pattern: '(\\d{3}'\n",
        [
            f"{SHOWN}:4: expectation 1: pattern does not compile: "
            "missing ), unterminated subpattern at position 0"
        ],
        id="bad_regex",
    ),
    pytest.param(
        HEAD + "  - regex: phone\n    pattern: '^(?!555)\\d+$'\n",
        [
            f"{SHOWN}:4: expectation 1: pattern uses look-around or a back-reference, which "
            "DuckDB's regular expressions (RE2) do not support"
        ],
        id="regex_not_re2",
    ),
    pytest.param(
        HEAD + "  - not_null: [id, name]\n",
        [
            f"{SHOWN}:3: expectation 1: not_null takes one column; "
            "write one not_null item per column"
        ],
        id="column_list",
    ),
    pytest.param(
        HEAD + "  - not_null: 3\n",
        [f"{SHOWN}:3: expectation 1: not_null must be a string, not a number"],
        id="column_not_a_string",
    ),
    pytest.param(
        HEAD + "  - in_set: status_code\n    values: NEW\n",
        [f"{SHOWN}:4: expectation 1: values must be a list ([A, B]), not a string"],
        id="values_not_a_list",
    ),
    pytest.param(
        HEAD + "  - in_set: status_code\n    values: [NEW, ~]\n",
        [f"{SHOWN}:4: expectation 1: values: null cannot be one of the values"],
        id="null_in_values",
    ),
    pytest.param(
        HEAD + "  - between: qty\n",
        [f"{SHOWN}:3: expectation 1: between needs min:, max: or both"],
        id="between_without_bounds",
    ),
    pytest.param(
        HEAD + "  - between: qty\n    min: 5\n    max: 1\n",
        [f"{SHOWN}:5: expectation 1: max 1 is below min 5"],
        id="between_reversed",
    ),
    pytest.param(
        HEAD + "  - between: qty\n    min: 0\n    max: 2026-10-31\n",
        [f"{SHOWN}:5: expectation 1: min is a number but max is a date"],
        id="between_mixed",
    ),
    pytest.param(
        HEAD + "  - between: qty\n    min: soon\n",
        [
            f"{SHOWN}:4: expectation 1: min must be a number, a date (2026-10-31) or a timestamp "
            "(2026-10-31 23:59:59), not a string"
        ],
        id="between_bad_bound",
    ),
    pytest.param(
        HEAD + "  - exists_in: deal_id\n    ref: crm.deals\n",
        [
            f"{SHOWN}:4: expectation 1: ref 'crm.deals' must be <table>.<column>, "
            "e.g. crm.deals.id or core.dim_client.client_id"
        ],
        id="ref_without_column",
    ),
    pytest.param(
        HEAD + "  - exists_in: deal_id\n    ref: raw_crm.deals.id\n",
        [
            f"{SHOWN}:4: expectation 1: ref table 'raw_crm.deals' names a warehouse schema; "
            "write 'crm.deals': suites name sources and groups, the engine picks the relation"
        ],
        id="ref_warehouse_schema",
    ),
    pytest.param(
        HEAD + "  - fresh: updated_at\n    max_age: 3 dayz\n",
        [
            f"{SHOWN}:4: expectation 1: max_age must be a positive count of minutes, hours, "
            "days or weeks (max_age: 3 days)"
        ],
        id="fresh_bad_age",
    ),
    pytest.param(
        HEAD + "  - rows_match_source: false\n",
        [
            f"{SHOWN}:3: expectation 1: on a raw table write rows_match_source: true "
            "(the count is the source's own)"
        ],
        id="rows_match_source_raw",
    ),
    pytest.param(
        "table: core.dim_client\nexpectations:\n  - rows_match_source: core.dim_branch\n",
        [
            f"{SHOWN}:3: expectation 1: rows_match_source on a core table names the raw "
            "table it is built from (e.g. crm.clients), not core.dim_branch"
        ],
        id="rows_match_source_core",
    ),
    pytest.param(
        HEAD + "  - not_null: id\n    not_null: name\n",
        [f"{SHOWN}:4: expectation 1: key 'not_null' appears twice (first on line 3)"],
        id="repeated_key",
    ),
    pytest.param(
        HEAD + "  - unique: id\n    not_null: name\n",
        [
            f"{SHOWN}:4: expectation 1: two kinds in one expectation, 'unique' (line 3) and "
            "'not_null' (line 4); make them two list items"
        ],
        id="two_kinds",
    ),
    pytest.param(
        HEAD + "  - severity: error\n",
        [
            f"{SHOWN}:3: expectation 1: no kind: an expectation starts with one of not_null, "
            "unique, regex, between, in_set, exists_in, rows_match_source, fresh, sql"
        ],
        id="no_kind",
    ),
    pytest.param(
        HEAD + "  - not_null\n",
        [f"{SHOWN}:3: expectation 1: must be a mapping (- not_null: name), not a string"],
        id="item_not_a_mapping",
    ),
    pytest.param(
        HEAD + "  - not_null: id\n  - not_null: id\n",
        [
            f"{SHOWN}:4: expectation 2: name 'not_null_id' is already used by expectation 1 "
            "(line 3); give one of them another name:"
        ],
        id="duplicate_name",
    ),
    pytest.param(
        HEAD + "  - not_null: id\n    name: Id-Present\n",
        [f"{SHOWN}:4: expectation 1: name 'Id-Present' must be snake_case (a-z, 0-9, _)"],
        id="name_not_snake_case",
    ),
    pytest.param(
        HEAD + "  - not_null: id\n    where: [RCPT]\n",
        [
            f"{SHOWN}:4: expectation 1: where must be a mapping of column to value or list of "
            "values (where: {move_type: [RCPT, SHIP]})"
        ],
        id="where_not_a_mapping",
    ),
    pytest.param(
        HEAD + "  - sql: Percent As Amount\n    query: SELECT * FROM {table}\n",
        [
            f"{SHOWN}:3: expectation 1: sql names its rule: 'Percent As Amount' must be "
            "snake_case (sql: percent_as_amount)"
        ],
        id="sql_name",
    ),
    pytest.param(
        HEAD + "  - sql: rule\n    query: |\n      SELECT *\n      FROM {table} AS t\n"
        "      WHERE t.amount < AND\n",
        [f'{SHOWN}:7: expectation 1: query: syntax error at or near "AND"'],
        id="sql_syntax_error_on_its_line",
    ),
    pytest.param(
        HEAD + "  - sql: rule\n    query: SELECT * FROM {table} WHERE note = 'open\n",
        [f"{SHOWN}:4: expectation 1: query: unterminated string literal"],
        id="sql_unterminated_string",
    ),
    pytest.param(
        HEAD + "  - sql: rule\n    query: |\n      SELECT *\n      FROM {crm.invoices}\n",
        [
            f"{SHOWN}:5: expectation 1: the query never reads {{table}}, so the rows it returns "
            "cannot be this table's failing rows"
        ],
        id="sql_without_table",
    ),
    pytest.param(
        HEAD + "  - sql: rule\n    query: SELECT * FROM {table} JOIN {invoices} USING (id)\n",
        [
            f"{SHOWN}:4: expectation 1: unknown reference {{invoices}}: write {{table}} for this "
            "suite's table or {<source or group>.<table>} for another"
        ],
        id="sql_reference_without_schema",
    ),
    pytest.param(
        HEAD + "  - sql: rule\n    query: DELETE FROM {table}\n",
        [
            f"{SHOWN}:4: expectation 1: query must be a SELECT "
            "(its rows are the failing rows), not DELETE"
        ],
        id="sql_not_a_select",
    ),
    pytest.param(
        HEAD + "  - sql: rule\n    query: SELECT * FROM {table}; SELECT 1\n",
        [f"{SHOWN}:4: expectation 1: query must be one SELECT, found 2 statements"],
        id="sql_two_statements",
    ),
    pytest.param(
        HEAD + "  - sql: rule\n    description: ''\n    query: SELECT * FROM {table}\n",
        [f"{SHOWN}:4: expectation 1: description is empty"],
        id="empty_description",
    ),
    pytest.param(
        HEAD + "  - regex: phone\n    pattern: '^1$'\n    hold: values\n",
        [
            f"{SHOWN}:5: expectation 1: hold must be row (the failing rows are left out of core) "
            "or value (they go on with the offending values withheld), not 'values' — did you "
            "mean 'value'?"
        ],
        id="hold_misspelled",
    ),
    pytest.param(
        HEAD + "  - not_null: name\n    severity: error\n    hold: value\n",
        [
            f"{SHOWN}:5: expectation 1: hold: value cannot apply here: an error expectation "
            "quarantines nothing: it stops the run"
        ],
        id="hold_value_on_error",
    ),
    pytest.param(
        HEAD + "  - rows_match_source: true\n    hold: value\n",
        [
            f"{SHOWN}:4: expectation 1: hold: value cannot apply here: rows_match_source checks "
            "the whole table, not rows"
        ],
        id="hold_value_on_a_table_check",
    ),
    pytest.param(
        "table: core.dim_client\nexpectations:\n  - not_null: phone\n    hold: value\n",
        [
            "suites/raw/crm/clients.yaml:4: expectation 1: hold: value cannot apply here: core "
            "suites quarantine nothing"
        ],
        id="hold_value_on_core",
    ),
    pytest.param(
        HEAD + "  - sql: rule\n    query: SELECT * FROM {table}\n    withhold: phone\n",
        [
            f"{SHOWN}:5: expectation 1: withhold: names the columns a hold: value withholds; "
            "add hold: value"
        ],
        id="withhold_without_hold_value",
    ),
    pytest.param(
        "table: crm.payments\npart_of: crm.invoices\n"
        + HEAD.split("\n", 1)[1]
        + "  - not_null: id\n",
        [
            f"{SHOWN}:2: part_of must be a mapping (part_of: {{table: crm.invoices, key: "
            "invoice_id}), not a string"
        ],
        id="part_of_not_a_mapping",
    ),
    pytest.param(
        "table: crm.payments\npart_of: {table: crm.invoices, keys: invoice_id}\n"
        + HEAD.split("\n", 1)[1]
        + "  - not_null: id\n",
        [
            f"{SHOWN}:2: part_of: unknown key 'keys' — did you mean 'key'?",
            f"{SHOWN}:2: part_of needs key: (part_of: {{table: crm.invoices, key: invoice_id}})",
        ],
        id="part_of_key_misspelled",
    ),
    pytest.param(
        "table: crm.payments\npart_of: {table: stock.purchase_orders, key: invoice_id}\n"
        + HEAD.split("\n", 1)[1]
        + "  - not_null: id\n",
        [
            f"{SHOWN}:2: part_of table stock.purchase_orders must belong to the same source or "
            "group as crm.payments (crm.<table>): a part names its document within its source"
        ],
        id="part_of_another_source",
    ),
    pytest.param(
        "table: core.fct_payment\npart_of: {table: core.fct_invoice, key: invoice_id}\n"
        + HEAD.split("\n", 1)[1]
        + "  - not_null: payment_id\n",
        [f"{SHOWN}:2: part_of is for raw suites: quarantine holds documents before the transform"],
        id="part_of_on_core",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_a_broken_suite_gets_its_message(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_every_problem_of_a_file_is_reported_in_line_order() -> None:
    text = """\
        table: crm.clients
        colour: blue
        expectations:
          - not_null: id
            severity: fatal
          - regx: phone
          - between: qty
            min: 3
            max: 1
        """
    assert problems(text) == [
        f"{SHOWN}:2: unknown key 'colour'",
        f"{SHOWN}:5: expectation 1: severity must be error (stops publishing) or warn "
        "(quarantines the failing rows), not 'fatal'",
        f"{SHOWN}:6: expectation 2: unknown kind 'regx' — did you mean 'regex'?",
        f"{SHOWN}:9: expectation 3: max 1 is below min 3",
    ]


def test_suite_error_is_a_user_error_whose_message_is_one_line_per_problem(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text(HEAD + "  - regx: phone\n  - not_null: id\n    severity: hot\n")
    with pytest.raises(SuiteError) as caught:
        load_suite_file(path, shown=SHOWN)
    error = caught.value
    assert isinstance(error, UserError)
    assert (error.path, error.line) == (SHOWN, 3)
    assert str(error).splitlines() == [
        f"{SHOWN}:3: expectation 1: unknown kind 'regx' — did you mean 'regex'?",
        f"{SHOWN}:5: expectation 2: severity must be error (stops publishing) or warn "
        "(quarantines the failing rows), not 'hot'",
    ]


# -- folders of suites -------------------------------------------------------------------------


def write(folder: Path, relative: str, text: str) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")


def test_a_folder_reports_the_problems_of_every_file_at_once(tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    write(suites, "raw/crm/clients.yaml", HEAD + "  - not_null: id\n")
    write(suites, "raw/crm/clients_again.yml", HEAD + "  - unique: id\n")
    write(suites, "raw/crm/deals.yaml", "table: crm.deals\nexpectations:\n  - regx: id\n")
    write(suites, "core/dim_client.yaml", "table: crm.contacts\nexpectations:\n  - not_null: id\n")
    write(suites, "raw/crm/notes.txt", "not a suite")
    with pytest.raises(SuiteError) as caught:
        load_suites(suites)
    assert str(caught.value).splitlines() == [
        "suites/core/dim_client.yaml:1: table crm.contacts is a raw table but the file is under "
        "core/",
        "suites/raw/crm/deals.yaml:3: expectation 1: unknown kind 'regx' — did you mean 'regex'?",
        "suites/raw/crm/clients_again.yml:1: table crm.clients already has a suite: "
        "suites/raw/crm/clients.yaml:1; keep one file per table",
    ]


@pytest.mark.parametrize(
    ("document", "part_of", "expected"),
    [
        (
            "table: crm.invoices\nkey: [id]\n",
            "{table: crm.invoice, key: invoice_id}",
            "part_of: no suite for crm.invoice, so nothing names its documents — did you mean "
            "'crm.invoices'?",
        ),
        (
            "table: crm.invoices\n",
            "{table: crm.invoices, key: invoice_id}",
            "part_of: the suite of crm.invoices (suites/raw/crm/invoices.yaml:1) has no key:, so "
            "the columns naming its documents are unknown; give it one",
        ),
        (
            "table: crm.invoices\nkey: [id]\n",
            "{table: crm.invoices, key: [invoice_id, line_no]}",
            "part_of: key has 2 column(s) but the key of crm.invoices has 1 (id)",
        ),
        (
            "table: crm.invoices\nkey: [id]\npart_of: {table: crm.deals, key: deal_id}\n",
            "{table: crm.invoices, key: invoice_id}",
            "part_of: crm.invoices is itself part of crm.deals; name the whole document: "
            "part_of: {table: crm.deals, …}",
        ),
    ],
    ids=["unknown_document", "document_without_key", "key_sizes_differ", "nested_documents"],
)
def test_a_part_of_is_checked_against_its_documents_suite(
    tmp_path: Path, document: str, part_of: str, expected: str
) -> None:
    folder = tmp_path / "suites" / "raw" / "crm"
    folder.mkdir(parents=True)
    checks = "expectations:\n  - not_null: id\n"
    (folder / "invoices.yaml").write_text(document + checks)
    (folder / "deals.yaml").write_text("table: crm.deals\nkey: [id]\n" + checks)
    (folder / "payments.yaml").write_text(
        f"table: crm.payments\nkey: [id]\npart_of: {part_of}\n" + checks
    )
    with pytest.raises(SuiteError) as error:
        load_suites(tmp_path / "suites")
    assert [str(p) for p in error.value.problems] == [f"suites/raw/crm/payments.yaml:3: {expected}"]


def test_the_demo_declares_its_documents_and_holds_entities_by_value() -> None:
    suites = {s.table: s for s in load_suites(DEMO_SUITES)}
    documents = {t: (s.part_of.table, s.part_of.key) for t, s in suites.items() if s.part_of}
    assert documents == {
        "crm.invoice_items": ("crm.invoices", ("invoice_id",)),
        "crm.payments": ("crm.invoices", ("invoice_id",)),
        "crm.deal_stage_history": ("crm.deals", ("deal_id",)),
        "stock.purchase_order_lines": ("stock.purchase_orders", ("purchase_order_id",)),
    }
    by_value = {
        (t, e.name, e.withheld())
        for t, s in suites.items()
        for e in s.expectations
        if e.hold == "value"
    }
    assert {
        ("crm.clients", "regex_phone", ("phone",)),
        ("crm.clients", "regex_email", ("email",)),
        ("crm.clients", "regex_tax_id", ("tax_id",)),
        ("crm.contacts", "regex_phone", ("phone",)),
        ("crm.leads", "regex_email", ("email",)),
        ("crm.activities", "exists_in_deal_id", ("deal_id",)),
    } <= by_value


def test_a_missing_folder_is_a_suite_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no such suites folder"):
        load_suites(tmp_path / "nowhere")


def test_a_file_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "bad.yaml").write_bytes(b"table: crm.\xff\n")
    with pytest.raises(SuiteError, match=r"^suites/bad.yaml: not UTF-8 text: invalid start byte$"):
        load_suites(tmp_path / "suites")


# -- valid suites ------------------------------------------------------------------------------

VALID = """\
    # a comment
    table: crm.payments
    key: id
    description: Payments against invoices.
    expectations:
      - not_null: id
        severity: error
      - unique: [invoice_id, reference]
      - regex: phone
        pattern: '^(\\(\\d{3}\\) \\d{3}-\\d{4}|\\d{3}-\\d{3}-\\d{4}|\\+1 \\d{3} \\d{3} \\d{4})$'
        description: a US phone number
      - between: amount
        min: 0.01
        where: {method_code: [BANK, CARD]}
      - between: paid_at
        max: 2026-10-31 23:59:59
        name: future_paid_at
      - in_set: method_code
        values: [BANK, CARD, CASH]
      - exists_in: invoice_id
        ref: crm.invoices.id
      - exists_in: sku
        ref: stock.products.sku
        where: {kind: null}
      - rows_match_source: true
        severity: error
      - fresh: updated_at
        max_age: 2 weeks
      - sql: percent_as_amount
        query: |
          SELECT p.* FROM {table} AS p
          JOIN {crm.invoices} AS i ON i._source = p._source AND i.id = p.invoice_id
          WHERE p.amount < 0.15 * i.total_amount AND p.reference ~ '^\\d{3}'
    """


PAYMENTS, TABLE = "suites/raw/crm/payments.yaml", "crm.payments"


def test_a_valid_suite_loads_into_the_model() -> None:
    suite, found = parse_suite(dedent(VALID), PAYMENTS)
    assert found == []
    assert suite is not None

    assert suite == Suite(
        table="crm.payments",
        key=("id",),
        description="Payments against invoices.",
        location=Location("suites/raw/crm/payments.yaml", 2),
        key_location=Location("suites/raw/crm/payments.yaml", 3),
        expectations=(
            NotNull(
                name="not_null_id",
                severity="error",
                column="id",
                table=TABLE,
                location=Location(PAYMENTS, 6),
                number=1,
            ),
            Unique(
                name="unique_invoice_id_reference",
                unique_columns=("invoice_id", "reference"),
                scope=("_source",),
                table=TABLE,
                location=Location(PAYMENTS, 8),
                number=2,
            ),
            Regex(
                name="regex_phone",
                column="phone",
                pattern=PHONE,
                description="a US phone number",
                table=TABLE,
                location=Location(PAYMENTS, 9),
                number=3,
            ),
            Between(
                name="between_amount",
                column="amount",
                min_value=0.01,
                where=(RowFilter("method_code", ("BANK", "CARD")),),
                table=TABLE,
                location=Location(PAYMENTS, 12),
                number=4,
            ),
            Between(
                name="future_paid_at",
                column="paid_at",
                max_value=dt.datetime(2026, 10, 31, 23, 59, 59),
                table=TABLE,
                location=Location(PAYMENTS, 15),
                number=5,
            ),
            InSet(
                name="in_set_method_code",
                column="method_code",
                values=("BANK", "CARD", "CASH"),
                table=TABLE,
                location=Location(PAYMENTS, 18),
                number=6,
            ),
            ExistsIn(
                name="exists_in_invoice_id",
                column="invoice_id",
                ref_table="crm.invoices",
                ref_column="id",
                scope=("_source",),
                table=TABLE,
                location=Location(PAYMENTS, 20),
                number=7,
            ),
            ExistsIn(
                name="exists_in_sku",
                column="sku",
                ref_table="stock.products",
                ref_column="sku",
                where=(RowFilter("kind", (None,)),),
                table=TABLE,
                location=Location(PAYMENTS, 22),
                number=8,
            ),
            RowsMatchSource(
                name="rows_match_source",
                severity="error",
                source="crm.payments",
                table=TABLE,
                location=Location(PAYMENTS, 25),
                number=9,
            ),
            Fresh(
                name="fresh_updated_at",
                column="updated_at",
                max_age=dt.timedelta(weeks=2),
                table=TABLE,
                location=Location(PAYMENTS, 27),
                number=10,
            ),
            Sql(
                name="percent_as_amount",
                query=(
                    "SELECT p.* FROM {table} AS p\n"
                    "JOIN {crm.invoices} AS i ON i._source = p._source AND i.id = p.invoice_id\n"
                    "WHERE p.amount < 0.15 * i.total_amount AND p.reference ~ '^\\d{3}'\n"
                ),
                table=TABLE,
                location=Location(PAYMENTS, 29),
                number=11,
            ),
        ),
    )
    assert suite.layer == "raw"
    assert suite.row_key == ("_source", "id")


def test_core_suites_compare_across_the_whole_table() -> None:
    suite, found = parse_suite(
        dedent("""\
            table: core.fct_invoice
            key: [invoice_id]
            expectations:
              - unique: invoice_id
              - exists_in: client_id
                ref: core.dim_client.client_id
              - rows_match_source: crm.invoices
            """),
        "suites/core/fct_invoice.yaml",
    )
    assert found == [] and suite is not None
    unique, exists, rows = suite.expectations
    assert isinstance(unique, Unique) and unique.scope == ()
    assert isinstance(exists, ExistsIn) and exists.scope == ()
    assert isinstance(rows, RowsMatchSource) and rows.source == "crm.invoices"
    assert suite.layer == "core" and suite.row_key == ("invoice_id",)


# -- the demo's suites -------------------------------------------------------------------------

DEMO_FILES = sorted(DEMO_SUITES.rglob("*.yaml"))


@pytest.mark.parametrize("path", DEMO_FILES, ids=[p.stem for p in DEMO_FILES])
def test_every_demo_suite_file_loads(path: Path) -> None:
    suite = load_suite_file(path)
    assert suite.expectations
    layer = path.relative_to(DEMO_SUITES).parts[0]
    assert suite.layer == layer
    assert suite.table.split(".")[1] == path.stem


def test_the_demo_suites_cover_every_raw_and_core_table() -> None:
    from kpiboard.core_model import CORE_TABLES
    from kpiboard.demo.schema import crm_metadata, stock_metadata

    tables = {suite.table for suite in load_suites(DEMO_SUITES)}
    assert {f"crm.{t}" for t in crm_metadata.tables} <= tables
    assert {f"stock.{t}" for t in stock_metadata.tables} <= tables
    assert {f"core.{t.name}" for t in CORE_TABLES} <= tables


def test_the_demo_suites_name_only_columns_the_demo_tables_have() -> None:
    from kpiboard.core_model import CORE_TABLES
    from kpiboard.demo.schema import crm_metadata, stock_metadata

    meta = ["_source", "_loaded_at", "_deleted_at", "_branch"]
    columns: dict[str, list[str]] = {}
    for prefix, metadata in (("crm", crm_metadata), ("stock", stock_metadata)):
        for table in metadata.tables.values():
            columns[f"{prefix}.{table.name}"] = [*table.columns.keys(), *meta]
    for core in CORE_TABLES:
        columns[f"core.{core.name}"] = [c.name for c in core.columns]
    check_suites(load_suites(DEMO_SUITES), columns)


def test_every_demo_expectation_maps_to_gx() -> None:
    mapped = [
        (e, e.to_gx(resolve, source_rows=lambda _: 0))
        for suite in load_suites(DEMO_SUITES)
        for e in suite.expectations
    ]
    assert len(mapped) > 100
    for expectation, gx in mapped:
        assert gx.meta is not None and gx.meta["kpiboard"]["name"] == expectation.name
        assert gx.severity == {"error": "critical", "warn": "warning"}[expectation.severity]


# -- checking against the warehouse --------------------------------------------------------------

WAREHOUSE = {
    "crm.clients": ["id", "name", "phone", "email", "_source"],
    "crm.deals": ["id", "client_id", "_source"],
    "crm.invoices": ["id", "total_amount", "_source"],
    "core.dim_client": ["client_id"],
}


UNKNOWN_COLUMNS = [
    pytest.param(
        "table: crm.clients\nexpectations:\n  - regex: phon\n    pattern: '^x$'\n",
        [f"{SHOWN}:3: expectation 1: unknown column 'phon' in crm.clients — did you mean 'phone'?"],
        id="regex",
    ),
    pytest.param(
        "table: crm.clients\nkey: [ident]\nexpectations:\n  - not_null: id\n",
        [f"{SHOWN}:2: key: unknown column 'ident' in crm.clients"],
        id="key",
    ),
    pytest.param(
        "table: crm.clients\nexpectations:\n  - not_null: id\n    where: {emial: null}\n",
        [
            f"{SHOWN}:3: expectation 1: unknown column 'emial' in crm.clients — "
            "did you mean 'email'?"
        ],
        id="where",
    ),
    pytest.param(
        "table: crm.clients\nexpectations:\n  - unique: [name, phones]\n",
        [
            f"{SHOWN}:3: expectation 1: unknown column 'phones' in crm.clients — "
            "did you mean 'phone'?"
        ],
        id="unique-list",
    ),
    pytest.param(
        "table: crm.deals\nexpectations:\n  - exists_in: client_id\n    ref: crm.clients.idd\n",
        [f"{SHOWN}:3: expectation 1: unknown column 'idd' in crm.clients — did you mean 'id'?"],
        id="exists_in-ref-column",
    ),
    pytest.param(
        "table: core.dim_client\nexpectations:\n  - rows_match_source: crm.client\n",
        [f"{SHOWN}:3: expectation 1: unknown table crm.client — did you mean 'crm.clients'?"],
        id="rows_match_source-table",
    ),
    pytest.param(
        "table: core.dim_client\nkey: [id]\nexpectations:\n  - not_null: client_id\n",
        [f"{SHOWN}:2: key: unknown column 'id' in core.dim_client"],
        id="core-key",
    ),
]


@pytest.mark.parametrize(("text", "expected"), UNKNOWN_COLUMNS)
def test_an_unknown_column_gets_its_located_message(text: str, expected: list[str]) -> None:
    suite, found = parse_suite(text, SHOWN)
    assert found == [] and suite is not None
    assert [str(p) for p in check_columns(suite, WAREHOUSE)] == expected


def test_check_columns_finds_unknown_tables_and_columns_with_suggestions() -> None:
    text = """\
        table: crm.deals
        key: [idd]
        expectations:
          - not_null: clientid
          - exists_in: client_id
            ref: crm.clients.ids
          - exists_in: client_id
            ref: crm.client.id
            name: second
          - sql: rule
            query: SELECT * FROM {table} JOIN {crm.invoice} USING (id)
          - not_null: id
            where: {status_cod: W}
        """
    suite, found = parse_suite(dedent(text), "suites/raw/crm/deals.yaml")
    assert found == [] and suite is not None
    assert [str(p) for p in check_columns(suite, WAREHOUSE)] == [
        "suites/raw/crm/deals.yaml:2: key: unknown column 'idd' in crm.deals — did you mean 'id'?",
        "suites/raw/crm/deals.yaml:4: expectation 1: unknown column 'clientid' in crm.deals — "
        "did you mean 'client_id'?",
        "suites/raw/crm/deals.yaml:12: expectation 5: unknown column 'status_cod' in crm.deals",
        "suites/raw/crm/deals.yaml:5: expectation 2: unknown column 'ids' in crm.clients — "
        "did you mean 'id'?",
        "suites/raw/crm/deals.yaml:7: expectation 3: unknown table crm.client — "
        "did you mean 'crm.clients'?",
        "suites/raw/crm/deals.yaml:10: expectation 4: unknown table crm.invoice — "
        "did you mean 'crm.invoices'?",
    ]


def test_check_columns_reports_an_unknown_table_once() -> None:
    suite, _ = parse_suite("table: crm.client\nexpectations:\n  - not_null: x\n", SHOWN)
    assert suite is not None
    assert check_columns(suite, WAREHOUSE) == [
        SuiteProblem(SHOWN, 1, "unknown table crm.client — did you mean 'crm.clients'?")
    ]


def test_check_columns_ignores_case_as_duckdb_does() -> None:
    suite, _ = parse_suite("table: CRM.Clients\nexpectations:\n  - not_null: Phone\n", SHOWN)
    assert suite is not None
    assert check_columns(suite, WAREHOUSE) == []


def test_check_suites_raises_one_error_for_all_suites() -> None:
    one, _ = parse_suite("table: crm.clients\nexpectations:\n  - not_null: phon\n", SHOWN)
    two, _ = parse_suite("table: crm.dealz\nexpectations:\n  - not_null: id\n", "b.yaml")
    assert one is not None and two is not None
    with pytest.raises(SuiteError) as caught:
        check_suites([one, two], WAREHOUSE)
    assert str(caught.value).splitlines() == [
        f"{SHOWN}:3: expectation 1: unknown column 'phon' in crm.clients — did you mean 'phone'?",
        "b.yaml:1: unknown table crm.dealz — did you mean 'crm.deals'?",
    ]


# -- the mapping onto GX 1.x ---------------------------------------------------------------------


def one(text: str, table: str = "crm.clients") -> Expectation:
    suite, found = parse_suite(f"table: {table}\nexpectations:\n{dedent(text)}", SHOWN)
    assert found == [] and suite is not None
    return suite.expectations[0]


GX_CASES = [
    pytest.param(
        "- not_null: name\n  severity: error\n",
        gxe.ExpectColumnValuesToNotBeNull,
        {"column": "name", "severity": "critical"},
        id="not_null",
    ),
    pytest.param(
        "- unique: tax_id\n",
        gxe.ExpectCompoundColumnsToBeUnique,
        {"column_list": ["_source", "tax_id"], "severity": "warning"},
        id="unique_raw_within_source",
    ),
    pytest.param(
        "- unique: [invoice_id, line_no]\n",
        gxe.ExpectCompoundColumnsToBeUnique,
        {"column_list": ["_source", "invoice_id", "line_no"]},
        id="unique_compound",
    ),
    pytest.param(
        "- regex: phone\n  pattern: '^\\d{3}$'\n",
        gxe.ExpectColumnValuesToMatchRegex,
        {"column": "phone", "regex": r"^\d{3}$"},
        id="regex",
    ),
    pytest.param(
        "- between: qty\n  min: 0\n",
        gxe.ExpectColumnValuesToBeBetween,
        {"column": "qty", "min_value": 0, "max_value": None},
        id="between_min",
    ),
    pytest.param(
        "- between: moved_at\n  max: 2026-10-31 23:59:59\n",
        gxe.ExpectColumnValuesToBeBetween,
        {
            "column": "moved_at",
            "min_value": None,
            "max_value": dt.datetime(2026, 10, 31, 23, 59, 59),
        },
        id="between_timestamp",
    ),
    pytest.param(
        "- in_set: status_code\n  values: [NEW, WRK]\n",
        gxe.ExpectColumnValuesToBeInSet,
        {"column": "status_code", "value_set": ["NEW", "WRK"]},
        id="in_set",
    ),
    pytest.param(
        "- rows_match_source: true\n",
        gxe.ExpectTableRowCountToEqual,
        {"value": 1234},
        id="rows_match_source",
    ),
    pytest.param(
        "- fresh: updated_at\n  max_age: 3 days\n",
        gxe.ExpectColumnMaxToBeBetween,
        {"column": "updated_at", "min_value": dt.datetime(2026, 10, 29, 12, 0)},
        id="fresh",
    ),
]


@pytest.mark.parametrize(("text", "gx_class", "parameters"), GX_CASES)
def test_each_kind_maps_to_its_gx_class(
    text: str, gx_class: type[gxe.Expectation], parameters: dict[str, object]
) -> None:
    expectation = one(text)
    assert isinstance(
        expectation, NotNull | Unique | Regex | Between | InSet | RowsMatchSource | Fresh
    )
    gx = expectation.to_gx(
        resolve, now=dt.datetime(2026, 11, 1, 12, 0), source_rows={"crm.clients": 1234}.__getitem__
    )
    assert type(gx) is gx_class
    for name, value in parameters.items():
        assert getattr(gx, name) == value, name
    assert gx.meta == {
        "kpiboard": {
            "table": "crm.clients",
            "name": expectation.name,
            "kind": expectation.KIND,
            "severity": expectation.severity,
            "location": f"{SHOWN}:3",
        }
    }


def test_unique_on_a_core_table_is_a_plain_column_expectation() -> None:
    gx = one("- unique: client_id\n", table="core.dim_client").to_gx(resolve)
    assert type(gx) is gxe.ExpectColumnValuesToBeUnique
    assert gx.column == "client_id"


def test_where_becomes_a_gx_row_condition() -> None:
    gx = one(
        "- between: qty\n  min: 0\n  where: {move_type: [RCPT, SHIP], warehouse_id: 3}\n"
    ).to_gx(resolve)
    assert isinstance(gx, gxe.ExpectColumnValuesToBeBetween)
    assert gx.row_condition == (Column("move_type").is_in(["RCPT", "SHIP"])) & (
        Column("warehouse_id") == 3
    )
    null = one("- not_null: sku\n  where: {to_warehouse_id: null}\n").to_gx(resolve)
    assert isinstance(null, gxe.ExpectColumnValuesToNotBeNull)
    assert null.row_condition == Column("to_warehouse_id").is_null()


def test_description_is_carried_to_gx() -> None:
    gx = one("- not_null: name\n  description: every client has a name\n").to_gx(resolve)
    assert gx.description == "every client has a name"


def test_sql_resolves_references_and_escapes_its_own_braces_for_gx() -> None:
    rule = one(
        """\
        - sql: odd_reference
          query: |
            SELECT p.* FROM {table} AS p JOIN {crm.invoices} AS i ON i.id = p.invoice_id
            WHERE p.reference ~ '^\\d{3}';
        """
    )
    assert isinstance(rule, Sql)
    assert rule.references() == (("crm.invoices", None),)
    plain = (
        'SELECT p.* FROM "stg_crm"."clients" AS p JOIN "stg_crm"."invoices" AS i '
        "ON i.id = p.invoice_id\nWHERE p.reference ~ '^\\d{3}'"
    )
    assert rule.unexpected_rows_sql(resolve) == plain
    gx = rule.to_gx(resolve)
    assert type(gx) is gxe.UnexpectedRowsExpectation
    assert gx.unexpected_rows_query == plain.replace("{3}", "{{3}}")
    assert gx.unexpected_rows_query.format(batch="unused") == plain  # what GX runs


def test_sql_to_gx_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    one("- sql: rule\n  query: SELECT * FROM {table}\n").to_gx(resolve)
    assert capsys.readouterr().out == ""


def test_rows_match_source_needs_the_source_count() -> None:
    with pytest.raises(ValueError, match="rows_match_source needs source_rows"):
        one("- rows_match_source: true\n").to_gx(resolve)


def test_exists_in_finds_orphans_within_their_own_source_on_duckdb() -> None:
    """Branch A's deal 2 is not branch B's: a reference resolves within its own source."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA stg_crm")
    con.execute(
        "CREATE TABLE stg_crm.deals AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) d(id, _source)"
    )
    con.execute(
        "CREATE TABLE stg_crm.activities AS SELECT * FROM (VALUES "
        "(10, 1, 'a'), (11, 2, 'a'), (12, NULL, 'a'), (13, 2, 'b'), (14, 9, 'b')"
        ") a(id, deal_id, _source)"
    )
    rule = one("- exists_in: deal_id\n  ref: crm.deals.id\n", table="crm.activities")
    assert isinstance(rule, ExistsIn)
    rows = con.execute(
        f"SELECT id FROM ({rule.unexpected_rows_sql(resolve)}) ORDER BY id"
    ).fetchall()
    assert rows == [(11,), (14,)]
    gx = rule.to_gx(resolve)
    assert type(gx) is gxe.UnexpectedRowsExpectation
    assert gx.unexpected_rows_query == rule.unexpected_rows_sql(resolve)


def test_exists_in_across_sources_is_not_scoped() -> None:
    rule = one("- exists_in: sku\n  ref: stock.products.sku\n", table="crm.invoice_items")
    assert isinstance(rule, ExistsIn) and rule.scope == ()
    assert '"_source"' not in rule.unexpected_rows_sql(resolve)
