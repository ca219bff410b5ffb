"""The shell in a real browser: it loads clean, filters live in the address, a tile explains
itself, and the numbers shown are the engine's."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.utils
import pytest

from tests.dashboards.conftest import Login, errors_of, log_in, settle

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from dashboards.data import Data


def test_the_overview_loads_without_a_console_error(served: str, page: Page) -> None:
    page.goto(served)
    page.wait_for_selector("#tile-revenue .kb-tile-value")
    settle(page)
    assert errors_of(page) == []
    assert page.locator("#kb-asof").inner_text().startswith("Data as of")


def test_a_branch_chosen_goes_into_the_address_and_changes_the_tiles(
    served: str, page: Page, dash_project: object
) -> None:
    from dashboards.data import Data
    from kpiboard.config import load_settings

    data = Data(load_settings(dash_project))  # type: ignore[arg-type]
    end = data.last_day()
    assert end is not None
    start = end.replace(day=1)
    page.goto(served + "?period=month_to_date&branch=denver")
    page.wait_for_selector("#tile-revenue .kb-tile-value")
    settle(page)
    shown = float(page.locator("#tile-revenue .kb-tile-value").get_attribute("data-value") or "nan")
    frame = data.engine().evaluate(
        "revenue", start=start, end=end, grain="range", scope={"branch": ["denver"]}
    )
    assert shown == frame["value"].iloc[0]
    assert errors_of(page) == []


def test_why_opens_the_rows_behind_the_number(served: str, page: Page) -> None:
    page.goto(served)
    page.wait_for_selector("#tile-revenue .kb-why")
    settle(page)
    page.click("#tile-revenue .kb-why")
    page.wait_for_selector("#kb-explain-title")
    assert page.locator("#kb-explain-title").inner_text() == "Revenue"
    assert "sum(" in page.locator(".kb-explain-facts").inner_text()
    assert errors_of(page) == []


def test_unknown_filters_are_named_not_guessed(in_app: Data) -> None:
    from dashboards.app import filters_of

    f = filters_of("?period=drop%20table&branch=atlantis&compare=plan")
    assert f.branch is None and f.period == "month_to_date"
    assert any("atlantis" in line for line in f.ignored)
    assert isinstance(f.start, dt.date)


# -- every page, the filters driven like a user, drilling, the drawer's rows, hostile addresses ----


def _registered_pages() -> list[str]:
    """The page modules the app imports (``dashboards.app.PAGES``), read at collection so each
    page is a test of its own and a page added later is covered without a change here."""
    from dashboards.app import PAGES

    return list(PAGES)


def _revenue_shown(page: Page) -> float:
    return float(page.locator("#tile-revenue .kb-tile-value").get_attribute("data-value") or "nan")


def _revenue(data: Data, start: dt.date, end: dt.date, branch: str | None = None) -> float:
    """The engine's revenue for the days and branch (all branches: every branch, as the shell's
    scope asks)."""
    branches = [branch] if branch else [b for b, _ in data.branches()]
    frame = data.engine().evaluate(
        "revenue", start=start, end=end, grain="range", scope={"branch": branches}
    )
    return float(frame["value"].iloc[0])


def _open_overview(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#tile-revenue .kb-tile-value", timeout=90_000)  # a cold worker
    settle(page)


@pytest.fixture(scope="module")
def project_data(dash_project: Path) -> Data:
    """The test project's data, read apart from the server (the numbers the pages must show)."""
    from dashboards.data import Data
    from kpiboard.config import load_settings

    return Data(load_settings(dash_project))


@pytest.mark.parametrize("name", _registered_pages())
def test_every_page_loads_clean(
    name: str, served: str, anonymous_page: Page, dash_users: dict[str, Login], dash_app: object
) -> None:
    """Each registered page, at its own path, for an admin (who may open every page): no
    console error, no failure shown, its title."""
    import dash

    page = anonymous_page
    log_in(page.context, served, dash_users["admin"])
    entry = dash.page_registry[f"dashboards.pages.{name}"]
    page.goto(served.rstrip("/") + entry["path"])
    page.wait_for_selector("#kb-main h1")
    settle(page)
    assert errors_of(page) == []
    assert page.locator(".kb-problem").count() == 0, page.locator(".kb-problem").all_inner_texts()
    assert page.locator("#kb-main h1").first.inner_text() == entry["name"]


def test_every_page_module_is_registered_once(dash_app: object) -> None:
    """The navigation is the page registry: every module of PAGES is in it, nothing else."""
    import dash

    from dashboards.app import PAGES

    assert sorted(dash.page_registry) == sorted(f"dashboards.pages.{n}" for n in PAGES)
    paths = [p["path"] for p in dash.page_registry.values()]
    assert len(paths) == len(set(paths))


def test_a_branch_picked_with_the_mouse_and_back_restores_the_numbers(
    served: str, page: Page, project_data: Data
) -> None:
    end = project_data.last_day()
    assert end is not None
    start = end.replace(day=1)
    _open_overview(page, served)
    everyone = _revenue_shown(page)
    assert everyone == pytest.approx(_revenue(project_data, start, end))
    key, name = project_data.branches()[-1]
    page.click("#kb-branch")
    page.get_by_role("option", name=name).click()
    page.wait_for_url(f"**branch={key}**")
    settle(page)
    one = _revenue_shown(page)
    assert one == pytest.approx(_revenue(project_data, start, end, key))
    assert one != everyone
    page.go_back()
    page.wait_for_url(lambda url: "branch=" not in url)
    page.wait_for_function(
        "v => document.querySelector('#tile-revenue .kb-tile-value')?.dataset.value === v",
        arg=repr(everyone),
    )
    settle(page)
    assert _revenue_shown(page) == everyone
    assert page.locator("#kb-branch").inner_text() == "All branches"
    assert errors_of(page) == []


def test_a_custom_range_typed_in_sets_the_address_and_the_numbers(
    served: str, page: Page, project_data: Data
) -> None:
    end = project_data.last_day()
    assert end is not None
    start, finish = end.replace(day=3) - dt.timedelta(days=40), end.replace(day=1)
    _open_overview(page, served + "?period=last_month")
    page.click("#kb-period")
    page.get_by_role("option", name="Custom range…").click()
    page.fill("#kb-range", start.isoformat())
    page.press("#kb-range", "Enter")
    page.fill("#kb-range-end-date", finish.isoformat())
    page.press("#kb-range-end-date", "Enter")
    page.wait_for_url(f"**period={start.isoformat()}..{finish.isoformat()}**")
    settle(page)
    page.wait_for_function(
        "v => document.querySelector('#tile-revenue .kb-tile-value')?.dataset.value === v",
        arg=repr(_revenue(project_data, start, finish)),
    )
    assert errors_of(page) == []


def test_a_tile_drills_into_its_page_with_the_same_filters(
    served: str, page: Page, dash_app: object
) -> None:
    import dash

    query = "?period=last_month&branch=denver&compare=last_year"
    _open_overview(page, served + query)
    page.click("#tile-revenue .kb-tile-label")
    page.wait_for_url("**/sales?**")
    assert page.url == served + "sales" + query
    if "dashboards.pages.sales" in dash.page_registry:
        page.wait_for_selector("#kb-main h1")
        settle(page)
        assert page.locator("#kb-main h1").first.inner_text() == "Sales & pipeline"
        assert page.locator(".kb-problem").count() == 0
        assert errors_of(page) == []


def test_the_rows_behind_revenue_add_up_to_the_tile(served: str, page: Page) -> None:
    """The drawer's CSV (every row the engine counted) sums to the number on the tile."""
    _open_overview(page, served + "?period=last_month&branch=denver")
    shown = _revenue_shown(page)
    page.click("#tile-revenue .kb-why")
    page.wait_for_selector("#kb-explain-title")
    href = page.locator("#kb-explain-body .kb-download").get_attribute("href")
    assert href and href.startswith("/export/rows.csv?")
    answer = page.request.get(served.rstrip("/") + href)
    assert answer.status == 200
    rows = list(csv.DictReader(io.StringIO(answer.text())))
    assert len(rows) > 1
    assert sum(float(r["value"]) for r in rows) == pytest.approx(shown, abs=0.005)
    assert errors_of(page) == []


HOSTILE = {
    "quote and SQL": "?branch=%27%3BDROP",
    "a script": "?period=%3Cscript%3Ewindow.__hit%3D1%3C%2Fscript%3E",
    "an image that runs code": "?branch=%3Cimg%20src%3Dx%20onerror%3Dwindow.__hit%3D1%3E",
    "3 kB": "?period=" + "9" * 3_000,
}


def test_a_10_kb_address_is_refused_before_the_app(served: str, page: Page) -> None:
    """gunicorn refuses a request line over 4 kB (its limit cannot be raised past 8 kB): the
    app never reads it, and the answer is a status, not a page that could run anything."""
    answer = page.request.get(served + "?period=" + "9" * 10_000)
    assert answer.status == 414
    assert "<script" not in answer.text().lower()


@pytest.mark.parametrize("query", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_address_is_named_and_never_run(served: str, page: Page, query: str) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _open_overview(page, served + query)
    assert page.locator(".kb-notice").count() == 1
    assert page.locator(".kb-notice").inner_text().strip()
    assert page.evaluate("() => window.__hit") is None
    assert dialogs == [] and errors_of(page) == []
    assert page.locator("#kb-main script, #kb-main img[src=x]").count() == 0
    assert page.locator("#tile-revenue .kb-tile-value").get_attribute("data-value")


class _Broken:
    """A project's data whose engine and report runner fail, the rest as it is: a page's
    callback must show a message, not a stack trace."""

    def __init__(self, data: Data) -> None:
        self._data = data
        self.failed = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._data, name)

    def _fail(self, *_args: object, **_kwargs: object) -> object:
        self.failed += 1
        raise RuntimeError("the warehouse could not be read")

    engine = runner = report = _fail


def _page_callbacks(dash_app: object) -> list[tuple[str, object]]:
    """Every page callback that reads only the address (a page's fill)."""
    import dash
    from dash._callback import GLOBAL_CALLBACK_MAP

    modules = {p["module"] for p in dash.page_registry.values()}
    found = []
    # the app takes the global callbacks into its own map at its first request
    every = {**GLOBAL_CALLBACK_MAP, **dash_app.callback_map}  # type: ignore[attr-defined]
    for key, spec in every.items():
        if "callback" not in spec:  # runs in the browser
            continue
        function = getattr(spec["callback"], "__wrapped__", spec["callback"])
        ids = {i["id"] for i in spec["inputs"]} | {s["id"] for s in spec.get("state", [])}
        if function.__module__ in modules and ids == {"url"}:
            found.append((key, function))
    return found


def test_a_failing_callback_shows_a_message_not_a_traceback(dash_app: object, in_app: Data) -> None:
    """Each page's fill with an engine that fails: one alert saying what went wrong."""
    from dashboards.app import EXTENSION

    server = dash_app.server  # type: ignore[attr-defined]
    fills = _page_callbacks(dash_app)
    assert any("overview-tiles" in key for key, _ in fills)
    broken = _Broken(in_app)
    server.extensions[EXTENSION] = broken
    try:
        for key, fill in fills:
            before = broken.failed
            try:
                out = fill("?period=last_month")  # type: ignore[operator]
            except RuntimeError:
                # left to the app's last resort, which logs it and shows one sentence
                # (tests/dashboards/test_errors.py)
                continue
            text = json.dumps(out, cls=plotly.utils.PlotlyJSONEncoder)
            assert "Traceback" not in text and 'File "' not in text, key
            if broken.failed > before:
                assert "kb-problem" in text and "could not be shown" in text, key
                assert "the warehouse could not be read" not in text, key  # the log has it
    finally:
        server.extensions[EXTENSION] = in_app
