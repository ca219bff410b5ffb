"""``kpiboard validate``: expectation suites, the quarantine and the duplicate clients."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kpiboard.cli.app import FormatOption, ProjectOption, load_settings, validate_app
from kpiboard.cli.etl import _print_validation, _run_pipeline
from kpiboard.errors import UserError
from kpiboard.output import Format, emit

# Start fast: each command imports the heavy modules it uses itself (the pipeline brings Great
# Expectations, the KPI engine pandas); these are for annotations only. tests/test_startup.py.
if TYPE_CHECKING:
    pass


@validate_app.callback(invoke_without_command=True)
def validate(
    ctx: typer.Context,
    project: ProjectOption = Path("."),
    table: Annotated[
        list[str] | None,
        typer.Option("--table", "-t", help="Only the suites of this table (repeatable)."),
    ] = None,
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", "-s", help="Only this suite, e.g. crm.clients (repeatable)."),
    ] = None,
) -> None:
    """Validate the published data again (no extraction): raw suites, quarantine, models, core
    suites; publish if no `error` expectation fails.

    With --suite or --table only those suites run and every other table keeps its quarantine;
    rows whose values did not convert are quarantined in every table, and every quarantined row
    is left out of core, whatever ran.

    The summary says how many expectations ran (`validation: 37 expectations on 9 tables, 2
    failed`); a project with sources but no suites gets a warning saying so (exit code 0).

    Exit codes: 0 passed (warn failures are quarantined); 5 an error expectation failed and
    nothing was published; 2 bad input (a malformed suite file, a suite naming a table or column
    the warehouse lacks, an unknown suite).

    Example: `kpiboard validate -p demo --suite crm.clients`
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings(project)
    if settings.open_warehouse().published() is None:
        raise UserError("nothing published yet; run `kpiboard etl run` first")
    result = _run_pipeline(settings, extract=False, suites=[*(table or ()), *(suite or ())])
    _print_validation(result, settings, every_suite=True)


@validate_app.command("quarantine")
def validate_quarantine(
    project: ProjectOption = Path("."),
    table: Annotated[str | None, typer.Option("--table", "-t", help="Only this table.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List the quarantined rows: table, source, primary key, expectation, hold, offending values.

    hold is `row` (the row is left out of core) or `value` (the row is in core, the offending
    value withheld as null).

    Example: `kpiboard validate quarantine -p demo --table clients --format csv`
    """
    settings = load_settings(project)
    con = settings.open_warehouse().connect()
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'quarantine' ORDER BY 1"
            ).fetchall()
        ]
        if table is not None and table not in tables:
            raise UserError(
                f"no quarantine for table {table!r} (quarantined: {', '.join(tables) or 'none'})"
            )
        rows = []
        for name in [table] if table else tables:
            cursor = con.execute(
                "SELECT source, row_key, expectation, severity, hold, offending "
                f'FROM quarantine."{name}" ORDER BY source, row_key, expectation'
            )
            for source, key, expectation, severity, hold, offending in cursor.fetchall():
                rows.append(
                    {
                        "table": name,
                        "source": source,
                        "primary_key": key,
                        "expectation": expectation,
                        "severity": severity,
                        "hold": hold,
                        "offending": offending,
                    }
                )
    finally:
        con.close()
    emit(
        rows,
        fmt,
        columns=[
            "table",
            "source",
            "primary_key",
            "expectation",
            "severity",
            "hold",
            "offending",
        ],
        title="Quarantined rows",
    )


@validate_app.command("duplicates")
def validate_duplicates(
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.table,
) -> None:
    """List the duplicate clients the last run linked, group by group: the master, each client
    and the client it matched, the rule (tax_id, phone, email, name_city, decision), the value
    that matched and the decision recorded, if any.

    To confirm or split, add a line to `duplicates.csv` beside kpiboard.toml (header
    `client_id,other_client_id,decision,note`; decision `same` or `different`) and run
    `kpiboard validate` to apply it:

        client_id,other_client_id,decision,note
        crm_denver:12,crm_denver:807,different,two shops of one owner
        crm_austin:31,crm_denver:455,same,moved from Austin to Denver

    Example: `kpiboard validate duplicates -p demo --format csv`
    """
    from validation import duplicates

    settings = load_settings(project)
    decisions = settings.resolve(settings.validation.duplicates)
    duplicates.read_decisions(decisions, str(settings.validation.duplicates))  # fail if malformed
    con = settings.open_warehouse().connect()
    try:
        rows = duplicates.list_groups(con)
    finally:
        con.close()
    columns = ["master", "client_id", "other_client_id", "other_name", "rule", "value", "decision"]
    if fmt is not Format.table:  # a table on a terminal keeps to what fits
        columns = list(rows[0]) if rows else [*columns[:1], "master_name", *columns[1:]]
    emit(
        rows,
        fmt,
        columns=columns,
        title="Duplicate clients (record decisions in "
        f"{settings.validation.duplicates}, then run `kpiboard validate`)",
    )
