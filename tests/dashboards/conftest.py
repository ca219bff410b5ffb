"""Fixtures of the dashboard's tests: a project of its own, the app in this process (to call
callbacks and builders as functions), and the app served by ``kpiboard serve`` with a real
browser (Debian's chromium through Playwright) to drive it.

The project is a copy of the small demo (scale 0.01), so tests that save KPIs or plans from the
designer change nobody else's files.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import dash
    from flask.testing import FlaskClient
    from playwright.sync_api import Browser, Page

    from dashboards.access import Viewer
    from dashboards.data import Data

CHROMIUM = "/usr/bin/chromium"
START_SECONDS = 60


@pytest.fixture(scope="session")
def dash_project(small_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the small demo for the dashboard's tests."""
    folder = tmp_path_factory.mktemp("dash") / "D"
    shutil.copytree(small_demo, folder, ignore=shutil.ignore_patterns("sources"))
    return folder


@pytest.fixture(scope="session")
def dash_app(dash_project: Path) -> dash.Dash:
    """The dashboard app of the test project, made once in this process (Dash keeps one
    callback registry per process)."""
    from dashboards.app import create_app
    from kpiboard.config import load_settings

    app = create_app(load_settings(dash_project))
    As.reset()
    app.server.before_request(_as_test_viewer)  # test only: before any request is served
    return app


ANALYST = ("test-analyst", "analyst", None)
"""The viewer of the function-level tests: an analyst sees every page and every row."""


@pytest.fixture
def in_app(dash_app: dash.Dash) -> Iterator[Data]:
    """A request context of the app (callbacks read ``dashboards.app.data()``) with an analyst
    viewing, and its data."""
    from dashboards.access import Viewer, set_viewer
    from dashboards.app import data

    with dash_app.server.test_request_context("/"):
        set_viewer(Viewer(*ANALYST))
        yield data()


@pytest.fixture
def in_app_as(dash_app: dash.Dash) -> Iterator[Callable[[Viewer], Data]]:
    """``in_app_as(viewer)``: a request context of the app with ``viewer`` viewing (a new one
    each call, the previous one left), and its data."""
    from dashboards.access import set_viewer
    from dashboards.app import data

    with contextlib.ExitStack() as stack:

        def enter(who: Viewer) -> Data:
            stack.close()
            stack.enter_context(dash_app.server.test_request_context("/"))
            set_viewer(who)
            return data()

        yield enter


class As:
    """Test only: who the Flask test client's requests are made by — the analyst, unless a
    test says otherwise (:func:`client_as`; ``None``: nobody). The dashboard's login sets the
    viewer from the session; tests set it here instead."""

    viewer: Viewer | None = None

    @classmethod
    def reset(cls) -> None:
        from dashboards.access import Viewer

        cls.viewer = Viewer(*ANALYST)


def _as_test_viewer() -> None:
    """Test only: makes :class:`As`'s viewer the viewer of each request of the test client
    (the dashboard's login sets it from the session instead)."""
    from dashboards.access import set_viewer

    if As.viewer is not None:
        set_viewer(As.viewer)


@pytest.fixture
def client_as(dash_app: dash.Dash) -> Iterator[Callable[[Viewer | None], FlaskClient]]:
    """``client_as(viewer)``: Flask's test client of the app, each request made by ``viewer``
    (``None``: nobody logged in)."""

    def make(who: Viewer | None) -> FlaskClient:
        As.viewer = who
        return dash_app.server.test_client()

    yield make
    As.reset()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def served(dash_project: Path) -> Iterator[str]:
    """``kpiboard serve`` on the test project, on a free port: its base URL (ends with /)."""
    port = free_port()
    log = dash_project.parent / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kpiboard",
                "serve",
                "-p",
                str(dash_project),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"kpiboard serve did not start:\n{log.read_text()}")
        time.sleep(0.3)
    yield url
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


class Console(list[str]):
    """The page's console errors and uncaught exceptions, as they happen."""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (1440×1000) whose console errors are collected in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    errors = Console()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.errors = errors  # type: ignore[attr-defined]
    tab.set_default_timeout(90_000)  # a fresh server computes its first answers cold
    yield tab
    context.close()


def settle(page: Page, *, timeout: float = 90_000) -> None:
    """Wait until Dash has no callback in flight (its loading state is gone from the page)."""
    page.wait_for_load_state("networkidle", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=timeout
    )


def errors_of(page: Page) -> list[Any]:
    return list(page.errors)  # type: ignore[attr-defined]
