"""Data quality: can the numbers on the other pages be trusted today?

The pipeline's last runs (the app database's run history, as ``kpiboard etl status`` shows it),
the last validation runs and whether failing checks and quarantined rows grow or shrink from
run to run, the checks failing now, the rows held in quarantine by table and defect and one by
one, every source table reconciled (did every row arrive?) and how fresh each is, and a link to
the validation's Data Docs. All of it from the catalog's data-quality reports, which are
company-wide: the branch filter does not narrow them, and the page says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from dashboards.app import data, filters_of
from dashboards.components.grid import Col, grid, report_table
from dashboards.components.states import empty, failed, notices, skeleton
from dashboards.data import Data
from dashboards.figures import quality as figures_quality
from dashboards.filters import Filters
from reports import formats

log = logging.getLogger("kpiboard.dashboards")

RUNS_SHOWN = 10
"""Pipeline runs listed."""
GRAPH_CONFIG: Any = {"displaylogo": False, "responsive": True}
DATA_DOCS_INDEX = "index.html"


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Data quality", className="kb-page-title"),
                    html.Div(id="quality-docs", className="quality-docs"),
                ],
                className="quality-head",
            ),
            html.Div(id="quality-notices"),
            html.Div([skeleton(110) for _ in range(5)], id="quality-facts", className="kb-tiles"),
            html.H2("Pipeline runs", className="kb-section-title"),
            html.Div(skeleton(200), id="quality-pipeline"),
            html.H2("Validation, run by run", className="kb-section-title"),
            html.Div(skeleton(300), id="quality-validation"),
            html.H2("Checks failing in the last validation run", className="kb-section-title"),
            html.Div(skeleton(260), id="quality-failures"),
            html.H2("Rows held in quarantine", className="kb-section-title"),
            html.Div(skeleton(320), id="quality-quarantine"),
            html.H2("Reconciliation per source", className="kb-section-title"),
            html.Div(skeleton(260), id="quality-reconciliation"),
            html.H2("Freshness per source", className="kb-section-title"),
            html.Div(skeleton(260), id="quality-fresh"),
        ]
    )


dash.register_page(
    __name__, path="/quality", name="Data quality", title="Data quality", order=7, layout=layout
)


# -- the numbers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One number of the headline row: what, the number as it reads, a line under it, and
    whether it asks for attention (``bad``) — shown by a word and an icon as well as a colour."""

    key: str
    label: str
    value: int | None
    text: str
    detail: str
    bad: bool


def _when(value: Any) -> str:
    if value is None or value != value:
        return formats.EM_DASH
    return formats.format_value(value, "datetime")


def facts(d: Data, runs: list[dict[str, Any]]) -> list[Fact]:
    """The headline row, every number from the data-quality reports (and the run history)."""
    held = d.report("quarantine_by_table").frame
    validations = d.report("validation_runs").frame
    fresh = d.report("freshness_by_source").frame
    balance = d.report("reconciliation_by_source").frame
    quarantined = int(held["held_rows"].sum()) if len(held) else 0
    tables_held = int(held["table_name"].nunique()) if len(held) else 0
    out = [
        Fact(
            "quarantined",
            "Rows in quarantine",
            quarantined,
            f"{quarantined:,}",
            f"in {tables_held:,} table{'s' if tables_held != 1 else ''}" if quarantined else "none",
            quarantined > 0,
        )
    ]
    if len(validations):
        last = validations.sort_values("validated_at", kind="stable").iloc[-1]
        failing = int(last["failed_checks"] or 0)
        out.append(
            Fact(
                "failing",
                "Checks failing",
                failing,
                f"{failing:,}",
                f"of {int(last['checks']):,} in the run of {_when(last['validated_at'])}",
                failing > 0,
            )
        )
    else:
        out.append(
            Fact("failing", "Checks failing", None, formats.EM_DASH, "never validated", True)
        )
    unbalanced = int((balance["balanced"] == "No").sum()) if len(balance) else 0
    out.append(
        Fact(
            "unbalanced",
            "Tables not balanced",
            unbalanced,
            f"{unbalanced:,}",
            f"of {len(balance):,} source tables reconciled",
            unbalanced > 0,
        )
    )
    quiet = int((fresh["state"] == "Quiet").sum()) if len(fresh) else 0
    out.append(
        Fact(
            "quiet",
            "Tables gone quiet",
            quiet,
            f"{quiet:,}",
            f"of {len(fresh):,} tables with no change for a while",
            quiet > 0,
        )
    )
    if runs:
        last_run = runs[0]
        status = str(last_run["status"])
        out.append(
            Fact(
                "pipeline",
                "Last pipeline run",
                None,
                status.capitalize(),
                f"started {_when(last_run['started_at'])}",
                status not in ("success", "running"),
            )
        )
    else:
        out.append(Fact("pipeline", "Last pipeline run", None, formats.EM_DASH, "none yet", True))
    return out


def fact_card(fact: Fact) -> dbc.Card:
    icon, word = ("!", "needs a look") if fact.bad else ("✓", "fine")
    return dbc.Card(
        [
            html.Div(fact.label, className="kb-tile-label"),
            html.Div(fact.text, className="kb-tile-value quality-fact-value"),
            html.Div(
                [
                    html.Span(icon + " ", className="kb-bad" if fact.bad else "kb-good"),
                    fact.detail,
                    html.Span(f" ({word})", className="visually-hidden"),
                ],
                className="kb-tile-plan",
            ),
        ],
        className=f"kb-tile quality-fact kb-tile-{'amber' if fact.bad else 'green'}",
        id=f"quality-fact-{fact.key}",
    )


RUN_COLUMNS = [
    Col("started_at", "Started", "datetime"),
    Col("finished_at", "Finished", "datetime"),
    Col("status", "Status"),
    Col("tables", "Tables", "count"),
    Col("rows_read", "Rows read", "count"),
    Col("rows_deleted", "Rows deleted", "count"),
    Col("rows_invalid", "Rows invalid", "count"),
    Col("error", "Error"),
    Col("run_id", "Run"),
]


def pipeline_runs(d: Data) -> list[dict[str, Any]]:
    """The last pipeline runs, newest first (the run history of ``kpiboard etl status``; not
    cached: a failed run publishes no snapshot, and must show at once)."""
    from kpiboard import appdb

    return appdb.run_history(d.settings, RUNS_SHOWN)


def pipeline_section(runs: list[dict[str, Any]]) -> Any:
    if not runs:
        return empty("No pipeline run recorded yet: run `kpiboard etl run`.")
    records = [
        {**r, "error": (str(r["error"]).splitlines()[0] if r.get("error") else None)} for r in runs
    ]
    return dbc.Card(grid("quality-pipeline-grid", records, RUN_COLUMNS), body=True)


def _graph(id: str, figure: Any) -> dcc.Graph:
    return dcc.Graph(id=id, figure=figure, config=GRAPH_CONFIG, className="quality-graph")


def validation_section(d: Data) -> Any:
    result = d.report("validation_runs")
    if result.frame.empty:
        return empty("No validation run recorded yet: `kpiboard etl run` validates the data.")
    frame = result.frame
    if len(frame) < 2:
        last = frame.iloc[-1]
        trend: Any = html.P(
            f"One validation run so far ({_when(last['validated_at'])}: "
            f"{int(last['failed_checks'] or 0):,} checks failing, "
            f"{int(last['rows_quarantined'] or 0):,} rows quarantined); the trend shows "
            "from the next run on.",
            className="kb-muted",
            id="quality-trend-none",
        )
    else:
        trend = html.Div(
            [
                dbc.Card(
                    _graph(
                        "quality-trend-failing",
                        figures_quality.run_trend(frame, "failed_checks", "checks failing"),
                    ),
                    body=True,
                ),
                dbc.Card(
                    _graph(
                        "quality-trend-held",
                        figures_quality.run_trend(frame, "rows_quarantined", "rows quarantined"),
                    ),
                    body=True,
                ),
            ],
            className="kb-charts",
        )
    return html.Div(
        [trend, dbc.Card(report_table("quality-runs-grid", result), body=True, className="mt-3")]
    )


def failures_section(d: Data) -> Any:
    result = d.report("validation_failures")
    if result.frame.empty:
        return empty("Every check passed in the last validation run.")
    return dbc.Card(report_table("quality-failures-grid", result), body=True)


def quarantine_section(d: Data) -> Any:
    by_table = d.report("quarantine_by_table")
    if by_table.frame.empty:
        return empty("No rows are held in quarantine: every source row passed its checks.")
    rows = d.report("quarantined_rows")
    return html.Div(
        [
            dbc.Card(
                _graph("quality-held-bars", figures_quality.quarantine_bars(by_table.frame)),
                body=True,
            ),
            html.H3("By table and defect", className="quality-subtitle"),
            dbc.Card(report_table("quality-held-grid", by_table), body=True),
            html.H3(
                f"The rows held, to fix at the source (first {len(rows.frame):,})",
                className="quality-subtitle",
            ),
            dbc.Card(report_table("quality-rows-grid", rows), body=True),
        ]
    )


def reconciliation_section(d: Data) -> Any:
    result = d.report("reconciliation_by_source")
    if result.frame.empty:
        return empty("No reconciliation recorded yet: the next pipeline run reconciles.")
    return dbc.Card(report_table("quality-reconciliation-grid", result), body=True)


def freshness_section(d: Data) -> Any:
    result = d.report("freshness_by_source")
    if result.frame.empty:
        return empty("No source table has been loaded yet.")
    return dbc.Card(report_table("quality-fresh-grid", result), body=True)


def docs_link(d: Data) -> Any:
    """A link to the validation's Data Docs when they have been built."""
    settings = d.settings
    index = settings.resolve(settings.validation.data_docs) / DATA_DOCS_INDEX
    if not index.is_file():
        return html.Span("No Data Docs built yet", className="kb-muted")
    return html.A(
        "Open the Data Docs ↗",
        href=f"/data-docs/{DATA_DOCS_INDEX}",
        target="_blank",
        rel="noopener",
        className="btn btn-outline-primary btn-sm",
        id="quality-docs-link",
        title="Every check of every validation run, as Great Expectations reports it",
    )


def scope_notice(f: Filters) -> list[str]:
    """What the page says of the filters: the data quality is company-wide."""
    said = list(f.ignored)
    if f.branch or f.employee:
        said.append(
            "Data quality is company-wide: the branch and employee filters do not apply here."
        )
    return said


def _safely(name: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except Exception:  # one section failing shows a message, never a stack trace
        return failed(name, page="data quality")


@callback(
    Output("quality-notices", "children"),
    Output("quality-docs", "children"),
    Output("quality-facts", "children"),
    Output("quality-pipeline", "children"),
    Output("quality-validation", "children"),
    Output("quality-failures", "children"),
    Output("quality-quarantine", "children"),
    Output("quality-reconciliation", "children"),
    Output("quality-fresh", "children"),
    Input("url", "search"),
)
def fill(search: str | None) -> tuple[Any, ...]:
    d = data()
    f = filters_of(search)
    runs: list[dict[str, Any]] = _safely("pipeline runs", lambda: pipeline_runs(d))
    history = runs if isinstance(runs, list) else []
    return (
        notices(scope_notice(f)),
        _safely("data docs", lambda: docs_link(d)),
        _safely("facts", lambda: [fact_card(x) for x in facts(d, history)]),
        runs if not isinstance(runs, list) else _safely("runs", lambda: pipeline_section(runs)),
        _safely("validation runs", lambda: validation_section(d)),
        _safely("failures", lambda: failures_section(d)),
        _safely("quarantine", lambda: quarantine_section(d)),
        _safely("reconciliation", lambda: reconciliation_section(d)),
        _safely("freshness", lambda: freshness_section(d)),
    )
