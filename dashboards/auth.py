"""Nobody reads the dashboard without logging in: the login page, the session, CSRF.

:func:`install` puts the dashboard's Flask server behind a login:

- **Who is asking.** Flask-Login keeps one thing in Flask's signed session cookie: the token of
  a server-side session (:func:`kpiboard.access.open_session`). Each request loads its user
  with :func:`kpiboard.access.session_user` — so a session ended by logout, idleness, age, a
  password change or a disabled user is over at the next request — and makes them the request's
  viewer (:func:`dashboards.access.set_viewer`). There is no remember-me cookie.
- **The gate.** Only ``/login``, ``/assets/*`` and the favicon are public. Anyone else asking
  for a page is sent to ``/login?next=<the page>``; anything that holds data (Dash's
  ``/_dash-*`` endpoints, ``/download/*``, ``/export/*``, ``/data-docs/*``) is answered ``401``
  with one line and nothing of the data.
- **CSRF.** Flask-WTF checks a token on every POST: the login and logout forms carry it, and
  Dash's renderer sends the ``_csrf_token`` cookie's value (set here on every response to a
  logged-in user) as ``X-CSRFToken`` with each callback.
- **Cookies.** The session cookie is HttpOnly and SameSite=Lax, and Secure when the request
  came over TLS or ``[security] secure_cookies`` says so; behind a proxy
  (``[security] behind_proxy``) the client's address and scheme come from the proxy's
  ``X-Forwarded-For`` and ``X-Forwarded-Proto``.

Logins, failed logins and logouts are written to the audit log (:mod:`kpiboard.audit`).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from functools import cache
from pathlib import Path
from typing import Any

import flask
import flask_login
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from dashboards.access import Viewer, set_viewer
from kpiboard import access, audit
from kpiboard.config import Settings

LOGIN = "/login"
LOGOUT = "/logout"
PUBLIC = frozenset({LOGIN, LOGOUT, "/favicon.ico", "/_favicon.ico"})
"""Addresses anyone may ask for (logout only ends what there is)."""
PUBLIC_PREFIXES = ("/assets/",)
DATA_PREFIXES = ("/_", "/download/", "/export/", "/data-docs/")
"""Addresses that answer with data, not a page: refused with ``401`` instead of redirected
(Dash's own endpoints all begin with ``/_``)."""
CSRF_COOKIE = "_csrf_token"
"""The cookie Dash's renderer sends back as the ``X-CSRFToken`` header of every callback."""
NAME_MAX = 200
PASSWORD_MAX = access.PASSWORD_MAX
NEXT_MAX = 2000
"""A ``next`` address longer than this is dropped (the login lands on the overview)."""
AUDIT_NAME_MAX = 64
REFUSED = "The user name or the password is wrong, or the user is disabled."
"""What every refused login says (also the message of :func:`kpiboard.access.log_in`)."""
LOGGED_OUT = "You have logged out."
EXPIRED_FORM = "The login form had expired. Please log in again."
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Sent with every response: no framing (clickjacking), no content sniffing, and addresses
(which carry filters) are not sent to other sites."""
LOGIN_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""The login page runs no script at all."""
TEMPLATE = Path(__file__).parent / "templates" / "login.html"


class LoginUser(flask_login.UserMixin):
    """Flask-Login's user: the app database's user and the session they logged in with."""

    def __init__(self, user: access.User, token: str) -> None:
        self.user = user
        self.token = token

    def get_id(self) -> str:
        return self.token


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, its cookie Secure also when this request came over TLS
    (a fixed ``SESSION_COOKIE_SECURE`` would break logins over plain HTTP on a laptop)."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or _over_tls()


def _over_tls() -> bool:
    return flask.has_request_context() and flask.request.is_secure


def install(server: flask.Flask, settings: Settings) -> None:
    """Put ``server`` behind the login (call before any other route is added)."""
    security = settings.security
    server.config.update(
        SECRET_KEY=access.secret_key(settings),
        SESSION_COOKIE_NAME="kpiboard_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=security.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=security.session_max_hours),
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session: an open page must keep working
        WTF_CSRF_SSL_STRICT=True,  # over https the Referer must be this host (see docs)
    )
    server.session_interface = _Sessions()
    if security.behind_proxy:
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]

    logins = flask_login.LoginManager()
    logins.session_protection = None  # the server-side session is the protection
    logins.user_loader(lambda token: _load(settings, token))
    logins.init_app(server)

    # who is asking is known before Dash's own first-request setup builds a layout
    server.before_request_funcs.setdefault(None, []).insert(0, _identify)
    server.before_request(_gate)
    CSRFProtect(server)  # after the gate: an anonymous callback is 401, not 400
    server.register_error_handler(CSRFError, lambda error: _csrf_refused(settings, error))
    server.after_request(_finish)

    server.add_url_rule(LOGIN, "kb_login", lambda: login(settings), methods=["GET", "POST"])
    server.add_url_rule(LOGOUT, "kb_logout", lambda: logout(settings), methods=["POST"])
    server.add_url_rule("/favicon.ico", "kb_favicon", _favicon)


def _load(settings: Settings, token: str) -> LoginUser | None:
    user = access.session_user(settings, token)
    return None if user is None else LoginUser(user, token)


def _current() -> LoginUser | None:
    found = flask_login.current_user
    return found if getattr(found, "is_authenticated", False) else None


def _public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def _identify() -> None:
    """Make the logged-in user (if any) the request's viewer. What an earlier request left in
    ``flask.g`` is dropped first (``g`` outlives a request when an app context was pushed
    around it, as in tests)."""
    for kept in ("_login_user", "csrf_token"):
        flask.g.pop(kept, None)
    set_viewer(None)
    if _public(flask.request.path):
        return
    user = _current()
    if user is not None:
        set_viewer(Viewer.of(user.user, user.token))


def _gate() -> Response | None:
    """Let a logged-in user and the public addresses through; send anyone else to the login
    page (a page) or refuse them in one line (anything holding data)."""
    path = flask.request.path
    if _public(path) or _current() is not None:
        return None
    if path.startswith(DATA_PREFIXES) or flask.request.method not in ("GET", "HEAD"):
        return line(f"Log in first: {flask.request.url_root.rstrip('/')}{LOGIN}", 401)
    return flask.redirect(_login_address(_here()), 302)


def _here() -> str:
    """The address being asked for, as a local path and query."""
    path = urllib.parse.quote(flask.request.path, safe="/-._~!$'()*+,;=:@")
    query = flask.request.query_string.decode("latin-1")
    return path + ("?" + query if query else "")


def _login_address(target: str | None) -> str:
    nxt = safe_next(target)
    root = flask.request.script_root
    if nxt == "/":
        return f"{root}{LOGIN}"
    return f"{root}{LOGIN}?" + urllib.parse.urlencode({"next": nxt})


def safe_next(target: Any) -> str:
    """``target`` if it is an address on this site (a path beginning with one ``/``, no scheme
    or host, no backslash or control character, not too long), else ``/``: a login never sends
    anyone to another site."""
    if not isinstance(target, str) or not target.startswith("/") or len(target) > NEXT_MAX:
        return "/"
    if target.startswith("//") or "\\" in target or any(ord(c) < 0x21 for c in target):
        return "/"
    if "\x7f" in target:
        return "/"
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in (LOGIN, LOGOUT):
        return "/"
    return target


def line(message: str, status: int, **headers: str) -> flask.Response:
    """One line of plain text the browser never reads as a page."""
    return flask.Response(
        message + "\n",
        status=status,
        content_type="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", **headers},
    )


def _csrf_refused(settings: Settings, error: CSRFError) -> Response:
    if flask.request.path == LOGIN:
        return _form(settings, error=EXPIRED_FORM, status=400)
    return line(f"Refused: {error.description} Reload the page and try again.", 400)


def _finish(response: flask.Response) -> flask.Response:
    """Every response: the security headers; a logged-in user's: the CSRF cookie Dash's
    renderer sends back."""
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
    if _current() is not None:
        response.set_cookie(
            CSRF_COOKIE,
            generate_csrf(),
            secure=bool(flask.current_app.config["SESSION_COOKIE_SECURE"]) or _over_tls(),
            httponly=False,  # the renderer reads it
            samesite="Lax",
            path="/",
        )
    return response


def _favicon() -> Response:
    return flask.redirect(f"{flask.request.script_root}/_favicon.ico", 301)


# -- the login page ------------------------------------------------------------------------------


@cache
def _template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def _form(
    settings: Settings,
    *,
    error: str | None = None,
    notice: str | None = None,
    name: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> flask.Response:
    nxt = safe_next(flask.request.values.get("next"))
    body = flask.render_template_string(
        _template(),
        company=settings.company.name or settings.project.name,
        root=flask.request.script_root,
        action=flask.request.script_root + LOGIN,
        next=nxt if nxt != "/" else "",
        name=name if len(name) <= NAME_MAX and name.isprintable() else "",
        error=error,
        notice=notice,
        csrf=generate_csrf(),
    )
    response = flask.Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = LOGIN_POLICY
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _address() -> str:
    return (flask.request.remote_addr or "unknown")[:64]


def _field(key: str, longest: int) -> str | None:
    """A form field given once, as text of at most ``longest`` characters with no NUL;
    ``None`` for anything else (missing, repeated, too long)."""
    given = flask.request.form.getlist(key)
    if len(given) != 1 or len(given[0]) > longest or "\x00" in given[0]:
        return None
    return given[0]


def _audit_name(name: str) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in name[: AUDIT_NAME_MAX * 2])
    return shown[:AUDIT_NAME_MAX]


def login(settings: Settings) -> Response:
    """``GET /login``: the form; ``POST /login``: check the name and password, open a session
    and go on to ``next``; a refusal shows the form again with one message."""
    if flask.request.method == "GET":
        if _current() is not None:
            return flask.redirect(safe_next(flask.request.args.get("next")), 302)
        notices = flask.get_flashed_messages()
        return _form(settings, notice=str(notices[0]) if notices else None)
    name = _field("username", NAME_MAX)
    password = _field("password", PASSWORD_MAX)
    address = _address()
    tried = name if name is not None else (flask.request.form.get("username") or "")
    if name is None or password is None:
        audit.record(
            settings,
            "login_failed",
            user=_audit_name(tried),
            address=address,
            detail={"reason": "malformed"},
        )
        return _form(settings, error=REFUSED, status=401)
    try:
        user = access.log_in(settings, name, password, address)
    except access.LoginRefused as refused:
        locked = refused.retry_after is not None
        audit.record(
            settings,
            "login_failed",
            user=_audit_name(name),
            address=address,
            detail={"reason": "locked" if locked else "wrong"},
        )
        if locked:
            wait = {"Retry-After": str(refused.retry_after)}
            return _form(settings, error=str(refused), name=name, status=429, headers=wait)
        return _form(settings, error=str(refused), name=name, status=401)
    nxt = safe_next(flask.request.form.get("next"))
    earlier = _current()
    if earlier is not None:  # a second login in one browser ends the first session
        access.end_session(settings, earlier.token, "logout")
    flask.session.clear()  # nothing of the anonymous session is carried over (fixation)
    flask.g.pop("csrf_token", None)  # nor its CSRF token
    token = access.open_session(settings, user, address)
    flask_login.login_user(LoginUser(user, token), remember=False)
    flask.session.permanent = True  # the cookie ends with the session's absolute limit
    set_viewer(Viewer.of(user, token))
    audit.record(settings, "login", user=user.name, address=address)
    return flask.redirect(flask.request.script_root + nxt, 303)


def logout(settings: Settings) -> Response:
    """``POST /logout``: end the session here and on the server, back to the login page."""
    user = _current()
    if user is not None:
        access.end_session(settings, user.token, "logout")
        audit.record(settings, "logout", user=user.user.name, address=_address())
    flask_login.logout_user()
    flask.session.clear()
    set_viewer(None)
    if user is not None:
        flask.flash(LOGGED_OUT)
    response = flask.redirect(flask.request.script_root + LOGIN, 303)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
