"""Fixtures of the dashboard's tests: a project of its own, the app in this process (to call
callbacks and builders as functions), and the app served by ``kpiboard serve`` with a real
browser (Debian's chromium through Playwright) to drive it.

The project is a copy of the small demo (scale 0.01), so tests that save KPIs or plans from the
designer change nobody else's files.

Nobody reads the dashboard without logging in: :func:`dash_users` makes one user per role in the
project's app database with a known password; :func:`client_as` gives a Flask test client logged
in as one of them, :func:`log_in` logs a browser page in, and the ``page`` fixture is logged in as
the analyst (who may open every page).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import dash
    from flask.testing import FlaskClient
    from playwright.sync_api import Browser, BrowserContext, Page

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
    callback registry per process; the mail-outs' page printer shares it)."""
    from dashboards.app import app_of
    from kpiboard.config import load_settings

    return app_of(load_settings(dash_project))


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
            with urllib.request.urlopen(url + "login", timeout=5) as response:
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
def anonymous_page(browser: Browser) -> Iterator[Page]:
    """A fresh page (1440×1000) of nobody logged in; its console errors are collected in
    ``page.errors``."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    errors = Console()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.errors = errors  # type: ignore[attr-defined]
    tab.set_default_timeout(90_000)  # a fresh server computes its first answers cold
    yield tab
    context.close()


@pytest.fixture
def page(anonymous_page: Page, served: str, dash_users: dict[str, Login]) -> Page:
    """A fresh page logged in as the analyst (who may open every page)."""
    log_in(anonymous_page.context, served, dash_users["analyst"])
    return anonymous_page


def settle(page: Page, *, timeout: float = 90_000) -> None:
    """Wait until Dash has no callback in flight (its loading state is gone from the page)."""
    page.wait_for_load_state("networkidle", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=timeout
    )


def errors_of(page: Page) -> list[Any]:
    return list(page.errors)  # type: ignore[attr-defined]


# -- logins --------------------------------------------------------------------------------------

ROLES = ("admin", "executive", "analyst", "branch_head", "employee")
BRANCH = "denver"
"""The branch the test branch head is granted, and the test employee works in."""
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Login:
    """A test user: their role, name and password, and the rows they are granted."""

    role: str
    name: str
    password: str
    employee: str | None = None
    branches: tuple[str, ...] = ()


def password_of(role: str) -> str:
    return f"the known password of the test {role}"


@pytest.fixture(scope="session")
def dash_users(dash_project: Path) -> dict[str, Login]:
    """One user per role in the test project's app database, by role: ``test-admin``,
    ``test-executive``, ``test-analyst``, ``test-branch-head`` (granted Denver) and
    ``test-employee`` (Denver's first sales manager in ``core.dim_employee``); each password is
    :func:`password_of` its role. A user there already is given that password and grant again."""
    from kpiboard import access
    from kpiboard.config import load_settings

    settings = load_settings(dash_project)
    employee = denver_sales_manager(dash_project)
    made: dict[str, Login] = {}
    for role in ROLES:
        login = Login(
            role,
            "test-" + role.replace("_", "-"),
            password_of(role),
            employee if role == "employee" else None,
            (BRANCH,) if role == "branch_head" else (),
        )
        access.set_up_user(
            settings,
            login.name,
            role,
            login.password,
            employee=login.employee,
            branches=login.branches,
        )
        made[role] = login
    return made


def denver_sales_manager(project: Path) -> str:
    """The employee id of Denver's first sales manager in the published snapshot."""
    from kpiboard import sandbox
    from kpiboard.config import load_settings

    # the sandbox's connection: the app may hold the file open with its configuration
    with sandbox.connect(load_settings(project).open_warehouse()) as db:
        found = db.execute(
            "SELECT employee_id FROM core.dim_employee WHERE branch_id = ? AND role = ?"
            " ORDER BY employee_id LIMIT 1",
            [BRANCH, "sales_manager"],
        ).fetchone()
    assert found is not None, "no sales manager in Denver"
    return str(found[0])


def csrf_of(html: str | bytes) -> str:
    """The CSRF token a form carries (the login page's)."""
    text = html.decode("utf-8") if isinstance(html, bytes) else html
    found = CSRF_FIELD.search(text)
    assert found is not None, "no csrf_token in the form"
    return found.group(1)


def log_in_client(client: FlaskClient, login: Login) -> Any:
    """Log the test client in as ``login`` (through the login form) and send the CSRF token
    with every later request, as Dash's renderer does: the login's response."""
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": login.name, "password": login.password, "csrf_token": csrf_of(form.data)},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    client.environ_base["HTTP_X_CSRFTOKEN"] = cookie.value
    return answer


ClientAs = Callable[..., "FlaskClient"]


@pytest.fixture(scope="session")
def client_as(dash_app: dash.Dash, dash_users: dict[str, Login]) -> ClientAs:
    """``client_as(role="analyst", *, csrf=True, address=None)``: a new Flask test client of the
    app, logged in as the test user of ``role`` (a session of its own), sending the CSRF token
    on every request unless ``csrf=False``, from ``address`` (``REMOTE_ADDR``) when given."""

    def make(role: str = "analyst", *, csrf: bool = True, address: str | None = None) -> Any:
        client = dash_app.server.test_client()
        if address is not None:
            client.environ_base["REMOTE_ADDR"] = address
        log_in_client(client, dash_users[role])
        if not csrf:
            del client.environ_base["HTTP_X_CSRFTOKEN"]
        return client

    return make


def log_in(context: BrowserContext, served: str, login: Login) -> None:
    """Log a browser context in as ``login`` (its cookies then open every page it may)."""
    form = context.request.get(served + "login")
    answer = context.request.post(
        served + "login",
        form={
            "username": login.name,
            "password": login.password,
            "csrf_token": csrf_of(form.text()),
        },
        max_redirects=0,
    )
    assert answer.status == 303, answer.text()


def opener_as(served: str, login: Login) -> urllib.request.OpenerDirector:
    """A ``urllib`` opener logged in to the served app as ``login`` (its cookies kept)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(served + "login", timeout=30) as form:
        token = csrf_of(form.read())
    body = urllib.parse.urlencode(
        {"username": login.name, "password": login.password, "csrf_token": token}
    ).encode()
    with opener.open(served + "login", data=body, timeout=30) as answer:
        assert "/login" not in answer.url, "the login was refused"
    return opener


@pytest.fixture(scope="session")
def client_viewing(dash_app: dash.Dash, dash_project: Path) -> Callable[..., FlaskClient]:
    """``client_viewing(viewer)``: a new Flask test client logged in as a user made to match
    ``viewer`` (its name, role and scope; made, or granted again, in the test project's app
    database); ``None``: a client of nobody logged in."""
    from kpiboard import access
    from kpiboard.config import load_settings

    settings = load_settings(dash_project)

    def make(who: Viewer | None) -> FlaskClient:
        client = dash_app.server.test_client()
        if who is None:
            return client
        scope = who.scope or {}
        password = password_of(who.name)
        access.set_up_user(  # the demo's own users have names like these: set up again
            settings,
            who.name,
            who.role,
            password,
            employee=(scope.get("employee") or [who.employee])[0],
            branches=tuple(scope.get("branch", ())),
        )
        log_in_client(client, Login(who.role, who.name, password))
        return client

    return make
