"""The data-quality page: its numbers are the data-quality reports' and the pipeline's run
history, its charts rank and trend them, the Data Docs are served and nothing beside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from tests.dashboards.conftest import errors_of, settle

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from dashboards.data import Data
    from tests.dashboards.conftest import ClientAs


def texts(component: Any) -> Iterator[str]:
    """Every string in a Dash component tree."""
    if isinstance(component, str):
        yield component
    elif isinstance(component, list | tuple):
        for part in component:
            yield from texts(part)
    elif component is not None and hasattr(component, "children"):
        yield from texts(component.children)


@pytest.fixture
def runner(in_app: Data) -> Any:
    """A runner of its own (no page cache in between) on the same project."""
    from reports.runner import Runner

    return Runner.from_settings(in_app.settings)


def test_the_headline_numbers_are_the_reports(in_app: Data, runner: Any) -> None:
    from dashboards.pages.quality import facts, pipeline_runs

    shown = {f.key: f for f in facts(in_app, pipeline_runs(in_app))}
    held = runner.run("quarantine_by_table").frame
    runs = runner.run("validation_runs").frame.sort_values("validated_at")
    balance = runner.run("reconciliation_by_source").frame
    fresh = runner.run("freshness_by_source").frame
    assert shown["quarantined"].value == int(held["held_rows"].sum())
    assert shown["quarantined"].value == in_app.quality().quarantined
    assert shown["failing"].value == int(runs["failed_checks"].iloc[-1])
    assert shown["unbalanced"].value == int((balance["balanced"] == "No").sum())
    assert shown["quiet"].value == int((fresh["state"] == "Quiet").sum())
    assert shown["quarantined"].bad == (shown["quarantined"].value > 0)


def test_the_pipeline_runs_are_the_run_history_etl_status_reads(in_app: Data) -> None:
    import sqlalchemy as sa

    from dashboards.pages.quality import RUNS_SHOWN, pipeline_runs
    from kpiboard import appdb

    runs = pipeline_runs(in_app)
    engine = appdb.engine(in_app.settings)
    with engine.connect() as db:
        recorded = db.execute(
            sa.select(appdb.etl_runs.c.run_id, appdb.etl_runs.c.status).order_by(
                appdb.etl_runs.c.started_at.desc()
            )
        ).all()
    engine.dispose()
    assert [(r["run_id"], r["status"]) for r in runs] == [tuple(r) for r in recorded][:RUNS_SHOWN]
    assert runs and runs[0]["rows_read"] > 0


def test_quarantine_is_ranked_by_table_largest_first(runner: Any) -> None:
    from dashboards.figures.quality import quarantine_bars

    frame = runner.run("quarantine_by_table").frame
    figure = quarantine_bars(frame)
    bars = figure.data[0]
    expected = frame.groupby("table_name")["held_rows"].sum().sort_values(ascending=False)
    assert list(bars.x) == sorted(bars.x, reverse=True)
    assert dict(zip(bars.y, bars.x, strict=True)) == {k: int(v) for k, v in expected.items()}
    assert bars.orientation == "h"
    assert str(bars.y[0]) in figure.layout.title.text


def test_the_trend_says_how_the_last_run_compares() -> None:
    from dashboards.figures.quality import run_trend

    frame = pd.DataFrame(
        {
            "validated_at": [dt.datetime(2026, 10, 2), dt.datetime(2026, 10, 1)],
            "failed_checks": [4, 7],
        }
    )
    figure = run_trend(frame, "failed_checks", "checks failing")
    assert list(figure.data[0].y) == [7.0, 4.0]  # time left to right
    assert (
        figure.layout.title.text == "4 checks failing in the last run, 3 fewer than the run before"
    )


def test_a_branch_filter_is_said_not_to_apply(in_app: Data) -> None:
    from dashboards.pages.quality import fill

    out = fill("?branch=denver")
    said = " ".join(texts(out[0]))
    assert "company-wide" in said
    assert not any("Something went wrong" in t for part in out for t in texts(part))
    assert fill("")[0] is None


def test_data_docs_are_served_and_nothing_beside_them(client_as: ClientAs) -> None:
    client = client_as()
    for hostile in (
        "/data-docs/../kpiboard.toml",
        "/data-docs/%2e%2e/kpiboard.toml",
        "/data-docs/..%2fkpiboard.toml",
    ):
        answer = client.get(hostile)
        assert answer.status_code == 404, hostile
        assert b"[project]" not in answer.data
    # an absolute path does not match the route at all (Dash answers with its page shell)
    assert b"root:" not in client.get("/data-docs//etc/passwd").data
    assert client.get("/data-docs/no-such-page.html").status_code == 404


def test_the_data_docs_index_is_served(client_as: ClientAs, dash_project: Any) -> None:
    from kpiboard.config import load_settings

    settings = load_settings(dash_project)
    index = settings.resolve(settings.validation.data_docs) / "index.html"
    if not index.is_file():
        pytest.skip("the test project's pipeline built no Data Docs")
    answer = client_as().get("/data-docs/index.html")
    assert answer.status_code == 200
    assert answer.data == index.read_bytes()


def test_the_quality_page_loads_with_the_reports_numbers(
    served: str, page: Page, dash_project: Any
) -> None:
    from kpiboard.config import load_settings
    from reports.runner import Runner

    held = Runner.from_settings(load_settings(dash_project)).run("quarantine_by_table").frame
    page.goto(served + "quality?branch=denver")
    page.wait_for_selector("#quality-fact-quarantined .kb-tile-value")
    settle(page)
    shown = page.locator("#quality-fact-quarantined .kb-tile-value").inner_text()
    assert shown == f"{int(held['held_rows'].sum()):,}"
    assert "company-wide" in page.locator("#quality-notices").inner_text()
    assert errors_of(page) == []
