"""Nobody reads the dashboard without a login: the gate, the login and logout, lockout, session
expiry, sessions ended by a new password or a disabled user, CSRF, and hostile login fields.

Failed logins count against the address they come from, so every test that fails a login on
purpose does so from an address of its own (:func:`fresh_address`), and locks out users of its
own (:func:`new_user`), never the shared test users.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import flask
import pytest
import sqlalchemy as sa

from tests.dashboards.conftest import csrf_of, errors_of, settle
from tests.dashboards.test_errors import shell_state_request

if TYPE_CHECKING:
    import dash
    from flask.testing import FlaskClient
    from playwright.sync_api import Page

    from kpiboard.config import Settings
    from tests.dashboards.conftest import ClientAs, Login

REFUSED = "The user name or the password is wrong, or the user is disabled."
_addresses = itertools.count(1)


def fresh_address() -> str:
    """An address no other login of this test run came from."""
    n = next(_addresses)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


@pytest.fixture
def settings(dash_app: dash.Dash) -> Settings:
    from dashboards.app import EXTENSION

    found: Settings = dash_app.server.extensions[EXTENSION].settings
    return found


def new_user(settings: Settings, role: str = "analyst") -> tuple[str, str]:
    """A user of this test alone: its name and password."""
    from kpiboard import access

    name = f"auth-{secrets.token_hex(4)}"
    password = f"password of {name}"
    access.add_user(settings, name, role, password)
    return name, password


def anonymous(dash_app: dash.Dash, address: str | None = None) -> FlaskClient:
    client = dash_app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address or fresh_address()
    return client


def post_login(client: FlaskClient, name: Any, password: Any, **more: Any) -> Any:
    token = csrf_of(client.get("/login").data)
    return client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token, **more}
    )


def log_in_as(client: FlaskClient, name: str, password: str) -> FlaskClient:
    answer = post_login(client, name, password)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    client.environ_base["HTTP_X_CSRFTOKEN"] = cookie.value
    return client


def callback(client: FlaskClient, dash_app: dash.Dash) -> Any:
    """The shell's state callback (branch choices, freshness …), as the browser sends it."""
    return client.post("/_dash-update-component", json=shell_state_request(dash_app))


def assert_refused_anonymous(answer: Any) -> None:
    assert answer.status_code == 401
    assert answer.get_data(as_text=True) == "Log in first: http://localhost/login\n"
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def last_audit(settings: Settings, action: str, user: str) -> dict[str, Any]:
    from kpiboard import audit

    found = audit.entries(settings, action=action, user=user, limit=1)
    assert found, f"no {action} of {user} in the audit log"
    return found[0]


def cookie_header(answer: Any, name: str) -> str:
    found = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert found, f"no cookie {name} set"
    return found[-1]


# -- the gate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["/", "/sales", "/sales?branch=denver&period=last_month", "/no-such-page"]
)
def test_an_anonymous_page_is_sent_to_the_login_with_where_it_was(
    dash_app: dash.Dash, target: str
) -> None:
    answer = anonymous(dash_app).get(target)
    assert answer.status_code == 302
    location = urllib.parse.urlsplit(answer.headers["Location"])
    assert location.path == "/login"
    sent = urllib.parse.parse_qs(location.query).get("next", ["/"])[0]
    assert sent == target


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_dash-update-component"),
        ("GET", "/_dash-layout"),
        ("GET", "/_dash-dependencies"),
        ("GET", "/download/report/x.pdf"),
        ("GET", "/download/report/sales_by_product.csv?period=last_month&branch=denver"),
        ("GET", "/export/rows.csv"),
        ("GET", "/export/rows.csv?kpi=revenue&start=2026-01-01&end=2026-10-31"),
        ("GET", "/data-docs/index.html"),
        ("POST", "/sales"),
    ],
)
def test_anonymous_data_is_refused_in_one_line(dash_app: dash.Dash, method: str, path: str) -> None:
    client = anonymous(dash_app)
    body = shell_state_request(dash_app) if path == "/_dash-update-component" else None
    answer = client.open(path, method=method, json=body)
    assert_refused_anonymous(answer)
    assert "Denver" not in answer.get_data(as_text=True)


def test_every_route_of_the_app_refuses_an_anonymous_request(dash_app: dash.Dash) -> None:
    """Every rule of the server — a route added later too — is public on purpose or refused."""
    from dashboards import auth

    client = anonymous(dash_app)
    seen = 0
    for rule in dash_app.server.url_map.iter_rules():
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "x").replace(f"<path:{argument}>", "x/y")
        path = path.replace("<path:x>", "x")
        if auth._public(path) or path.startswith("/assets/"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            answer = client.open(path, method=method)
            seen += 1
            if path.startswith(auth.DATA_PREFIXES) or method != "GET":
                assert_refused_anonymous(answer)
            else:
                assert answer.status_code == 302, (method, path)
                assert answer.headers["Location"].startswith("/login")
    assert seen >= 8


def test_the_login_page_and_assets_are_public(dash_app: dash.Dash) -> None:
    client = anonymous(dash_app)
    page = client.get("/login")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<script" not in text
    assert 'autocomplete="username"' in text and 'autocomplete="current-password"' in text
    assert '<label for="kb-login-name"' in text and '<label for="kb-login-password"' in text
    assert "/assets/vendor/bootstrap.min.css" in text
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none'
    assert client.get("/assets/vendor/bootstrap.min.css").status_code == 200
    assert client.get("/assets/kpiboard.css").status_code == 200
    assert client.get("/favicon.ico").status_code == 301


def test_every_response_carries_the_security_headers(
    dash_app: dash.Dash, client_as: ClientAs
) -> None:
    answers = [
        anonymous(dash_app).get("/login"),
        anonymous(dash_app).get("/_dash-layout"),
        anonymous(dash_app).get("/sales"),
        client_as().get("/_dash-layout"),
        client_as().get("/assets/kpiboard.css"),
    ]
    for answer in answers:
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"


# -- logging in --------------------------------------------------------------------------------


def test_a_wrong_password_is_refused_and_recorded(dash_app: dash.Dash, settings: Settings) -> None:
    name, _ = new_user(settings)
    address = fresh_address()
    client = anonymous(dash_app, address)
    answer = post_login(client, name, "not the password at all")
    assert answer.status_code == 401
    text = answer.get_data(as_text=True)
    assert REFUSED in text
    assert f'value="{name}"' in text  # the name stays in the form
    assert_refused_anonymous(client.get("/_dash-layout"))
    entry = last_audit(settings, "login_failed", name)
    assert entry["address"] == address
    assert entry["detail"] == {"reason": "wrong"}


def test_a_login_opens_a_session_with_safe_cookies(
    dash_app: dash.Dash, settings: Settings, dash_users: dict[str, Login]
) -> None:
    analyst = dash_users["analyst"]
    address = fresh_address()
    client = anonymous(dash_app, address)
    answer = post_login(client, analyst.name, analyst.password, next="/sales?branch=denver")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/sales?branch=denver"
    session = cookie_header(answer, "kpiboard_session")
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session
    csrf = cookie_header(answer, "_csrf_token")
    assert "HttpOnly" not in csrf and "SameSite=Lax" in csrf and "Path=/" in csrf
    entry = last_audit(settings, "login", analyst.name)
    assert entry["address"] == address
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf.split(";")[0].split("=", 1)[1]
    assert client.get("/_dash-layout").status_code == 200
    assert callback(client, dash_app).status_code == 200


def test_the_session_cookie_is_secure_over_https(
    dash_app: dash.Dash, dash_users: dict[str, Login]
) -> None:
    analyst = dash_users["analyst"]
    client = anonymous(dash_app)
    https = "https://localhost"
    form = client.get("/login", base_url=https)
    fields = {"username": analyst.name, "password": analyst.password}
    fields["csrf_token"] = csrf_of(form.data)
    # over https the CSRF check also wants the Referer of this host
    refused = client.post("/login", data=fields, base_url=https)
    assert refused.status_code == 400
    answer = client.post(
        "/login", data=fields, base_url=https, headers={"Referer": https + "/login"}
    )
    assert answer.status_code == 303
    assert "Secure" in cookie_header(answer, "kpiboard_session")
    assert "Secure" in cookie_header(answer, "_csrf_token")


def _settings_with(settings: Settings, **security: Any) -> Settings:
    changed = settings.security.model_copy(update=security)
    return settings.model_copy(update={"security": changed})


def test_secure_cookies_and_a_proxy_are_followed(
    settings: Settings, dash_users: dict[str, Login]
) -> None:
    """``secure_cookies`` makes the cookie Secure over plain HTTP; ``behind_proxy`` takes the
    client's address and scheme from the proxy's headers."""
    from dashboards import auth

    server = flask.Flask("secure_cookies_test")
    auth.install(server, _settings_with(settings, secure_cookies=True))
    assert server.config["SESSION_COOKIE_SECURE"] is True
    assert server.config["WTF_CSRF_TIME_LIMIT"] is None
    assert server.config["PERMANENT_SESSION_LIFETIME"] == dt.timedelta(
        hours=settings.security.session_max_hours
    )

    server = flask.Flask("behind_proxy_test")
    auth.install(server, _settings_with(settings, behind_proxy=True))
    analyst = dash_users["analyst"]
    client = server.test_client()
    client_address = fresh_address()
    proxied = {"X-Forwarded-For": client_address, "X-Forwarded-Proto": "https"}
    form = client.get("/login", headers=proxied)
    answer = client.post(
        "/login",
        data={
            "username": analyst.name,
            "password": analyst.password,
            "csrf_token": csrf_of(form.data),
        },
        headers={**proxied, "Referer": "https://localhost/login"},
    )
    assert answer.status_code == 303
    assert "Secure" in cookie_header(answer, "kpiboard_session")
    assert last_audit(settings, "login", analyst.name)["address"] == client_address


def test_a_name_is_locked_out_after_repeated_failures(
    dash_app: dash.Dash, settings: Settings
) -> None:
    name, password = new_user(settings)
    for _ in range(settings.security.lockout_after):
        assert post_login(anonymous(dash_app), name, "wrong password!").status_code == 401
    locked = post_login(anonymous(dash_app), name, password)  # the right one, too late
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= settings.security.lockout_seconds
    assert "Too many failed logins" in locked.get_data(as_text=True)
    assert last_audit(settings, "login_failed", name)["detail"] == {"reason": "locked"}


def test_an_address_is_locked_out_after_failures_with_any_names(
    dash_app: dash.Dash, settings: Settings
) -> None:
    name, password = new_user(settings)
    address = fresh_address()
    from kpiboard.access import ADDRESS_FACTOR

    for n in range(settings.security.lockout_after * ADDRESS_FACTOR):
        answer = post_login(anonymous(dash_app, address), f"nobody-{n}", "wrong password!")
        assert answer.status_code == 401
    locked = post_login(anonymous(dash_app, address), name, password)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    elsewhere = post_login(anonymous(dash_app), name, password)
    assert elsewhere.status_code == 303


# -- sessions end --------------------------------------------------------------------------------


def _session_end(settings: Settings, name: str) -> list[str | None]:
    from kpiboard import access, appdb

    user = access.get_user(settings, name)
    s = appdb.sessions
    with appdb.shared_engine(settings).connect() as db:
        rows = db.execute(sa.select(s.c.end_reason).where(s.c.user_id == user.user_id)).all()
    return [r.end_reason for r in rows]


def test_an_idle_session_ends(
    dash_app: dash.Dash, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kpiboard import access

    name, password = new_user(settings)
    client = log_in_as(anonymous(dash_app), name, password)
    assert callback(client, dash_app).status_code == 200
    later = access.now() + dt.timedelta(minutes=settings.security.session_idle_minutes + 1)
    monkeypatch.setattr(access, "now", lambda: later)
    assert_refused_anonymous(callback(client, dash_app))
    assert client.get("/sales").status_code == 302
    assert _session_end(settings, name) == ["idle"]


def test_a_session_ends_after_its_longest_life_though_in_use(
    dash_app: dash.Dash, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kpiboard import access

    name, password = new_user(settings)
    client = log_in_as(anonymous(dash_app), name, password)
    opened = access.now()
    longest = dt.timedelta(hours=settings.security.session_max_hours)
    step = dt.timedelta(minutes=settings.security.session_idle_minutes - 1)
    at = opened
    while at + step < opened + longest:  # in use all along: never idle
        at += step
        monkeypatch.setattr(access, "now", lambda at=at: at)
        assert client.get("/_dash-dependencies").status_code == 200
    assert callback(client, dash_app).status_code == 200
    over = opened + longest + dt.timedelta(minutes=1)
    monkeypatch.setattr(access, "now", lambda: over)
    assert_refused_anonymous(callback(client, dash_app))
    assert _session_end(settings, name) == ["expired"]


def test_logout_ends_the_session_for_good(dash_app: dash.Dash, settings: Settings) -> None:
    name, password = new_user(settings)
    client = log_in_as(anonymous(dash_app), name, password)
    kept = client.get_cookie("kpiboard_session")
    assert kept is not None
    token = client.environ_base.pop("HTTP_X_CSRFTOKEN")
    refused = client.post("/logout")  # without the form's token
    assert refused.status_code == 400
    client.environ_base["HTTP_X_CSRFTOKEN"] = token
    assert callback(client, dash_app).status_code == 200
    answer = client.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert "You have logged out." in client.get("/login").get_data(as_text=True)
    assert_refused_anonymous(callback(client, dash_app))
    replayed = anonymous(dash_app)
    replayed.set_cookie("kpiboard_session", kept.value)
    replayed.environ_base["HTTP_X_CSRFTOKEN"] = token
    assert_refused_anonymous(callback(replayed, dash_app))
    assert _session_end(settings, name) == ["logout"]
    assert last_audit(settings, "logout", name)["user_name"] == name


def test_a_new_password_and_disabling_end_the_sessions(
    dash_app: dash.Dash, settings: Settings
) -> None:
    from kpiboard import access

    name, password = new_user(settings)
    first = log_in_as(anonymous(dash_app), name, password)
    access.set_password(settings, name, password + " anew")
    assert_refused_anonymous(callback(first, dash_app))
    second = log_in_as(anonymous(dash_app), name, password + " anew")
    assert callback(second, dash_app).status_code == 200
    access.set_disabled(settings, name)
    assert_refused_anonymous(callback(second, dash_app))
    assert post_login(anonymous(dash_app), name, password + " anew").status_code == 401


# -- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "nonsense", "IjEi.forged.token"])
def test_a_callback_without_the_csrf_token_is_refused_before_it_runs(
    dash_app: dash.Dash,
    client_as: ClientAs,
    monkeypatch: pytest.MonkeyPatch,
    header: str | None,
) -> None:
    from dashboards.app import EXTENSION

    data = dash_app.server.extensions[EXTENSION]
    asked: list[object] = []
    real = data.branches

    def branches(*args: Any) -> Any:
        asked.append(args)
        return real(*args)

    monkeypatch.setattr(data, "branches", branches)
    client = client_as(csrf=False)
    headers = {} if header is None else {"X-CSRFToken": header}
    answer = client.post(
        "/_dash-update-component", json=shell_state_request(dash_app), headers=headers
    )
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert text.startswith("Refused: The CSRF token") and text.count("\n") == 1
    assert asked == []  # the callback did not run
    assert callback(client_as(), dash_app).status_code == 200
    assert asked  # as it does with the token


def test_a_token_of_another_session_is_refused(dash_app: dash.Dash, client_as: ClientAs) -> None:
    mine = client_as()
    theirs = client_as("executive")
    mine.environ_base["HTTP_X_CSRFTOKEN"] = theirs.environ_base["HTTP_X_CSRFTOKEN"]
    assert callback(mine, dash_app).status_code == 400


def test_a_login_without_the_forms_token_is_refused(
    dash_app: dash.Dash, dash_users: dict[str, Login]
) -> None:
    analyst = dash_users["analyst"]
    client = anonymous(dash_app)
    answer = client.post("/login", data={"username": analyst.name, "password": analyst.password})
    assert answer.status_code == 400
    assert "The login form had expired" in answer.get_data(as_text=True)
    assert_refused_anonymous(client.get("/_dash-layout"))


# -- where a login leads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/sales?branch=denver", "/sales?branch=denver"),
        ("/", "/"),
        ("//evil.example", "/"),
        ("//evil.example/sales", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/%0a", "/%0a"),
        ("/\n/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("sales", "/"),
        ("/login", "/"),
        ("/" + "a" * 3000, "/"),
        (None, "/"),
        (["/sales"], "/"),
    ],
)
def test_only_a_local_next_is_followed(given: Any, kept: str) -> None:
    from dashboards.auth import safe_next

    assert safe_next(given) == kept


@pytest.mark.parametrize("given", ["//evil.example", "https://evil", "/\\evil"])
def test_a_login_never_leads_to_another_site(
    dash_app: dash.Dash, dash_users: dict[str, Login], given: str
) -> None:
    analyst = dash_users["analyst"]
    answer = post_login(anonymous(dash_app), analyst.name, analyst.password, next=given)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"


# -- hostile login fields ------------------------------------------------------------------------


HOSTILE = [
    ("' OR 1=1 --", "x"),
    ("test-analyst' OR '1'='1", "' OR '1'='1"),
    ("test-analyst", "' OR 1=1 --"),
    ("test-analyst; DROP TABLE users; --", "whatever it is"),
    ("a" * 10_000, "password"),
    ("test-analyst", "p" * 10_000),
    ("test-analyst\x00", "the known password of the test analyst"),
    ("t\u0435st-analyst", "the known password of the test analyst"),  # a Cyrillic е
    ("ｔｅｓｔ-analyst", "the known password of the test analyst"),  # full-width letters
    ("test-analyst\u200b", "the known password of the test analyst"),  # a zero-width space
    ("../../etc/passwd", "x"),
    ("", ""),
]


@pytest.mark.parametrize(("name", "password"), HOSTILE)
def test_a_hostile_login_is_refused_with_the_one_message(
    dash_app: dash.Dash, settings: Settings, name: str, password: str
) -> None:
    from kpiboard import access

    users = len(access.list_users(settings))
    client = anonymous(dash_app)
    answer = post_login(client, name, password)
    assert answer.status_code == 401
    assert REFUSED in answer.get_data(as_text=True)
    assert_refused_anonymous(client.get("/_dash-layout"))
    assert len(access.list_users(settings)) == users


@pytest.mark.parametrize(
    "fields",
    [
        [("username", "test-analyst"), ("username", "test-admin"), ("password", "x" * 12)],
        [("username", "test-analyst")],
        [("password", "the known password of the test analyst")],
        [
            ("username", "test-analyst"),
            ("password", "the known password of the test analyst"),
            ("password", "another"),
        ],
    ],
)
def test_repeated_or_missing_fields_are_refused_with_the_one_message(
    dash_app: dash.Dash, fields: list[tuple[str, str]]
) -> None:
    from werkzeug.datastructures import MultiDict

    client = anonymous(dash_app)
    token = csrf_of(client.get("/login").data)
    answer = client.post("/login", data=MultiDict([*fields, ("csrf_token", token)]))
    assert answer.status_code == 401
    assert REFUSED in answer.get_data(as_text=True)
    assert_refused_anonymous(client.get("/_dash-layout"))


def test_a_hostile_name_is_recorded_cut_and_printable(
    dash_app: dash.Dash, settings: Settings
) -> None:
    from kpiboard import audit

    address = fresh_address()
    post_login(anonymous(dash_app, address), "evil\x00" + "x" * 500, "x")
    entry = next(
        e for e in audit.entries(settings, action="login_failed") if e["address"] == address
    )
    assert entry["user_name"] == "evil?" + "x" * 59
    assert entry["detail"] == {"reason": "malformed"}


# -- the user menu and the served app ------------------------------------------------------------


def test_the_top_bar_names_the_user_and_offers_a_logout(
    dash_app: dash.Dash, client_as: ClientAs, dash_users: dict[str, Login]
) -> None:
    from dashboards.components.user_menu import user_menu

    assert user_menu() is None  # Dash's validation layout: no request
    with dash_app.server.test_request_context("/"):
        assert user_menu() is None  # nobody logged in
    layout = client_as("branch_head").get("/_dash-layout").get_data(as_text=True)
    assert dash_users["branch_head"].name in layout and "Branch head" in layout
    menu = json.dumps(json.loads(layout)).split('"kb-user"')[0]
    assert '"action": "/logout"' in menu and '"name": "csrf_token"' in menu


def test_an_anonymous_first_request_still_sets_dash_up(dash_project: Path) -> None:
    """``kpiboard serve`` warms a worker with one anonymous request: Dash's first-request setup
    (the pages' callbacks join the map) runs before the login gate refuses it."""
    script = (
        "from pathlib import Path\n"
        "from dashboards.app import create_app\n"
        "from kpiboard.config import load_settings\n"
        f"app = create_app(load_settings(Path({str(dash_project)!r})))\n"
        "answer = app.server.test_client().get('/_dash-dependencies')\n"
        "print(answer.status_code, len(app.callback_map))\n"
    )
    cold = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    status, callbacks = cold.stdout.split()
    assert status == "401"
    assert int(callbacks) > 20  # the pages' callbacks, not only the shell's


def test_a_reader_logs_in_lands_where_they_were_and_logs_out(
    served: str, anonymous_page: Page, dash_users: dict[str, Login]
) -> None:
    page = anonymous_page
    analyst = dash_users["analyst"]
    page.goto(served + "sales?branch=denver")
    assert "/login?next=" in page.url
    assert page.locator("label[for=kb-login-name]").inner_text() == "User name"
    page.fill("#kb-login-name", analyst.name)
    page.fill("#kb-login-password", analyst.password)
    page.click("#kb-login-submit")
    page.wait_for_url(served + "sales?branch=denver")
    settle(page)
    assert page.locator(".kb-tile-value").count() >= 4
    assert "$" in page.locator(".kb-tile-value").first.inner_text()
    assert page.locator("#kb-user-name").inner_text() == analyst.name
    assert errors_of(page) == []
    page.click("#kb-logout button")
    page.wait_for_url(served + "login")
    assert page.locator("#kb-login-notice").inner_text() == "You have logged out."
    page.goto(served + "sales")
    assert "/login?next=%2Fsales" in page.url


def test_a_page_whose_session_ended_goes_to_the_login(
    served: str, anonymous_page: Page, settings: Settings
) -> None:
    from kpiboard import access
    from tests.dashboards.conftest import Login, log_in

    page = anonymous_page
    name, password = new_user(settings)
    log_in(page.context, served, Login("analyst", name, password))
    page.goto(served + "sales?branch=denver")
    settle(page)
    access.set_password(settings, name, password + " anew")  # ends the session
    page.locator(".kb-why").first.click()  # the next callback is refused: 401
    page.wait_for_url("**/login?next=*")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["next"] == [
        "/sales?branch=denver"
    ]


def test_nothing_of_the_anonymous_session_outlives_the_login(
    dash_app: dash.Dash, dash_users: dict[str, Login]
) -> None:
    """A login starts a new session: the CSRF token of the form it came from is void."""
    analyst = dash_users["analyst"]
    client = anonymous(dash_app)
    before = csrf_of(client.get("/login").data)
    assert post_login(client, analyst.name, analyst.password).status_code == 303
    client.environ_base["HTTP_X_CSRFTOKEN"] = before
    assert callback(client, dash_app).status_code == 400
