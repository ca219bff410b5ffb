"""The shell in a real browser: it loads clean, filters live in the address, a tile explains
itself, and the numbers shown are the engine's."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from tests.dashboards.conftest import errors_of, settle

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
