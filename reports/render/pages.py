"""A dashboard page printed to PDF for one user, exactly as they see it when logged in.

A schedule may mail a dashboard page (``page:/sales``, :data:`reports.schedules.PAGES`) instead
of a report. What a recipient gets must be what the dashboard shows *them*: their branches,
their rows, nothing of anyone else's. So the page is not rebuilt here; the dashboard itself
serves it and a browser prints it, logged in as the recipient:

- :class:`PagePrinter` serves the project's dashboard (:func:`dashboards.app.app_of`, the same
  app ``kpiboard serve`` runs, its login and scope rules included) on a free loopback port, with
  werkzeug in a daemon thread of this process, started at the first print.
- For each print it opens a server-side session of the recipient
  (:func:`kpiboard.access.open_session`), signs the session cookie Flask-Login would have set at
  a login, gives it to the recipient's browser context, opens the page, waits until Dash has run
  every callback and drawn every graph, and prints A4 landscape (vector, backgrounds printed) with
  a running header naming the page, the user and the time. The session is ended at once
  (:func:`kpiboard.access.end_session`): none outlives its print.
- One headless chromium (Debian's, never one Playwright downloads) serves every print; each user
  has a browser context of their own (their cookies and Dash's stored filters never meet
  another user's), reused for their next pages. Every request the page makes to anything but
  the loopback server is refused, so a printed page never reaches the network.

Playwright's synchronous objects belong to the thread that made them, so the printer owns one
worker thread that does all the browser work; :meth:`PagePrinter.pdf` may be called from any
thread (calls are served one at a time). Nothing is audited here: the caller logs the delivery.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import threading
import urllib.parse
import zoneinfo
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.serving import WSGIRequestHandler, make_server

from kpiboard import access
from kpiboard.config import Settings
from reports.render.errors import RenderError
from reports.render.html import FONT, MARGINS, PRINTABLE_WIDTH_PX, environment
from reports.render.pdf import PRINTABLE_HEIGHT_PX, find_chromium, launch_chromium

if TYPE_CHECKING:
    import dash
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, ViewportSize
    from werkzeug.serving import BaseWSGIServer

log = logging.getLogger("kpiboard.reports.pages")

T = TypeVar("T")

SESSION_ADDRESS = "mail-out printer"
"""The address recorded with a printer's session (a person's session records their IP)."""
SCALE = 0.75
"""The page is laid out at the printable width divided by this (1371 CSS px, a laptop's
screen) and printed scaled down to A4: the layout a reader knows, not a cramped one."""
VIEWPORT: ViewportSize = {
    "width": round(PRINTABLE_WIDTH_PX["landscape"] / SCALE),
    "height": round(PRINTABLE_HEIGHT_PX["landscape"] / SCALE),
}
"""The browser window: the printed page's width, so graphs are drawn at the size printed."""
CONTEXTS_KEPT = 8
"""Browser contexts of recent users kept open for their next pages; older ones are closed."""
BLOCKED_KEPT = 100
"""Refused addresses remembered (:attr:`PagePrinter.blocked`)."""
SERVER_THREADS_JOIN = 10.0
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")
"""The dashboard's files that are the same for every user and every page (scripts, styles,
the icon; their addresses carry their version): kept in memory after their first load, since
routing requests, as the printer does to refuse the outside, turns the browser's cache off."""

DRAWN = """() => {
  if (document.readyState !== "complete") return false;
  if (!document.getElementById("_pages_content")) return false;
  if (document.querySelector('[data-dash-is-loading="true"]')) return false;
  const shown = (el) => el.getClientRects().length > 0;
  if (Array.from(document.querySelectorAll(".kb-skeleton")).some(shown)) return false;
  return Array.from(document.querySelectorAll(".dash-graph"))
    .filter(shown)
    .every((graph) => graph.querySelector(".main-svg") !== null);
}"""
"""True once Dash has rendered the page, no callback is in flight, no placeholder is left and
every graph on show is drawn."""
PROBLEM = """() => {
  if (document.getElementById("kb-forbidden")) return "forbidden";
  const toast = document.getElementById("kb-error");
  if (toast && toast.getClientRects().length > 0) return "failed";
  return "";
}"""
"""What went wrong on the page, if anything: a page the user may not open, a callback that
failed (the dashboard's error toast is on show)."""


class _QuietHandler(WSGIRequestHandler):
    """No log line per request (a page makes dozens); errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class PagePrinter:
    """Serves the project's dashboard on a loopback port in this process (a werkzeug server in a
    daemon thread, started on first use) and prints its pages with one headless chromium, logged
    in as the recipient through a short-lived server-side session.

    ``timeout`` bounds each print (loading, drawing, printing), in seconds. A context manager::

        with PagePrinter(settings) as printer:
            Path("sales.pdf").write_bytes(printer.pdf(user, "/sales", "period=last_month"))
    """

    def __init__(
        self, settings: Settings, *, executable: str | None = None, timeout: float = 60.0
    ) -> None:
        self.settings = settings
        self.executable = executable
        self.timeout = timeout
        self.blocked: collections.deque[str] = collections.deque(maxlen=BLOCKED_KEPT)
        """Addresses outside the loopback server that a printed page asked for (refused)."""
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        self._app: dash.Dash | None = None
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None
        self._origin = ""
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._contexts: collections.OrderedDict[str, BrowserContext] = collections.OrderedDict()
        self._static: dict[str, tuple[int, dict[str, str], bytes]] = {}

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> PagePrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The loopback server's address (``http://127.0.0.1:<port>``), started if need be."""
        self._serve()
        return self._origin

    def close(self) -> None:
        """Stop the browser, the worker thread and the server; the printer can be used again."""
        with self._lock:
            worker, self._worker = self._worker, None
            server, self._server = self._server, None
            thread, self._server_thread = self._server_thread, None
        try:
            if worker is not None:
                try:
                    worker.submit(self._shutdown_browser).result(timeout=30)
                finally:
                    worker.shutdown(wait=True)
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            if thread is not None:
                thread.join(SERVER_THREADS_JOIN)

    # -- printing ---------------------------------------------------------------------------

    def pdf(self, user: access.User, path: str, query: str = "") -> bytes:
        """``path`` (with ``query``, e.g. ``period=last_month``) as ``user`` sees it, printed to
        PDF: A4 landscape, vector, backgrounds printed, a running header and footer."""
        target = self._target(path, query)
        return self._as(user, target, lambda page: self._print(page, user, target))

    def screenshot(self, user: access.User, path: str, query: str = "") -> bytes:
        """A PNG of the page as it is laid out for print (without the running header and
        footer): a picture for review."""
        target = self._target(path, query)
        return self._as(user, target, lambda page: page.screenshot(full_page=True, type="png"))

    def _target(self, path: str, query: str) -> str:
        from dashboards.auth import safe_next

        query = query.lstrip("?")
        target = path + ("?" + query if query else "")
        if not path.startswith("/") or "?" in path or safe_next(target) != target:
            raise RenderError(f"cannot print {target[:80]!r}: not an address of the dashboard")
        return target

    def _as(self, user: access.User, target: str, work: Callable[[Page], T]) -> T:
        """``work`` done on ``target`` opened by ``user`` in a session opened for it and ended
        after it, whatever happens."""
        self._serve()
        token = access.open_session(self.settings, user, SESSION_ADDRESS)
        try:
            cookie = self._session_cookie(user, token)
            return self._run(
                lambda: self._on_page(user, cookie, target, work),
                self.timeout * 2 + 30,
                f"page {target} for user '{user.name}'",
            )
        finally:
            access.end_session(self.settings, token, "logout")

    # -- the dashboard's server -------------------------------------------------------------

    def _serve(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            from dashboards.app import app_of

            self._app = app_of(self.settings)
            flask_app = self._app.server
            # Dash finishes its setup at the first request, in that request's thread; one
            # request here, before any page is served (dashboards/serve.py does the same)
            flask_app.test_client().get("/_dash-dependencies")
            server = make_server(
                "127.0.0.1", 0, flask_app, threaded=True, request_handler=_QuietHandler
            )
            thread = threading.Thread(
                target=server.serve_forever, name="kpiboard-page-server", daemon=True
            )
            thread.start()
            self._server, self._server_thread = server, thread
            self._origin = f"http://127.0.0.1:{server.server_port}"

    def _session_cookie(self, user: access.User, token: str) -> dict[str, Any]:
        """The session cookie a login of ``user`` with ``token`` would have set, for the
        browser: Flask-Login's fields, signed with the app's key."""
        import flask
        import flask_login

        from dashboards.auth import LoginUser

        assert self._app is not None
        server = self._app.server
        with server.test_request_context("/", base_url=self._origin):
            flask_login.login_user(LoginUser(user, token), remember=False)
            flask.session.permanent = True
            fields = dict(flask.session)
            signer = server.session_interface.get_signing_serializer(server)
            if signer is None:
                raise RenderError("cannot print a page: the dashboard has no secret key")
            value = signer.dumps(fields)
        return {
            "name": server.config["SESSION_COOKIE_NAME"],
            "value": value,
            "url": self._origin + "/",
            "httpOnly": True,
            "sameSite": "Lax",
        }

    # -- the worker's side -------------------------------------------------------------------

    def _run(self, work: Callable[[], T], timeout: float, what: str) -> T:
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="kpiboard-page-printer")
            worker = self._worker
        future: Future[T] = worker.submit(work)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise RenderError(
                f"{what}: took longer than {timeout:g} s; the browser hangs"
            ) from None

    def _launch(self) -> Browser:
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        from playwright.sync_api import sync_playwright

        executable = self.executable or find_chromium()
        self._contexts.clear()
        if self._playwright is None:
            self._playwright = sync_playwright().start()
        self._browser = launch_chromium(self._playwright, executable, self.timeout)
        return self._browser

    def _context(self, user: access.User) -> BrowserContext:
        """``user``'s own browser context, kept for their next pages."""
        browser = self._launch()
        context = self._contexts.pop(user.name, None)
        if context is None:
            context = browser.new_context(
                viewport=VIEWPORT, java_script_enabled=True, service_workers="block"
            )
            context.set_default_timeout(self.timeout * 1000)
            context.route("**/*", self._guard)
        self._contexts[user.name] = context
        while len(self._contexts) > CONTEXTS_KEPT:
            _, oldest = self._contexts.popitem(last=False)
            with contextlib.suppress(Exception):
                oldest.close()
        return context

    def _guard(self, route: Route) -> None:
        """Let requests to the loopback server through, the dashboard's static files from
        memory after their first load; refuse every other request."""
        request = route.request
        url = request.url
        if not (url == self._origin or url.startswith(self._origin + "/")):
            self.blocked.append(url)
            log.warning("a printed page asked for %s; refused", url[:200])
            route.abort("blockedbyclient")
            return
        path = urllib.parse.urlsplit(url).path
        if request.method != "GET" or not path.startswith(STATIC_PREFIXES):
            route.continue_()
            return
        kept = self._static.get(url)
        if kept is None:
            response = route.fetch()
            # the cookies a response sets are of the session it was asked in: never replayed
            headers = {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}
            kept = (response.status, headers, response.body())
            if response.status == 200:
                self._static[url] = kept
        status, headers, body = kept
        route.fulfill(status=status, headers=headers, body=body)

    def _on_page(
        self, user: access.User, cookie: dict[str, Any], target: str, work: Callable[[Page], T]
    ) -> T:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        what = f"page {target} for user '{user.name}'"
        context = self._context(user)
        context.add_cookies([cookie])  # type: ignore[list-item]
        page = context.new_page()
        step = "loading"
        try:
            page.emulate_media(media="print")
            page.goto(self._origin + target, wait_until="load")
            if urllib.parse.urlsplit(page.url).path == "/login":
                raise RenderError(f"{what}: the dashboard refused the printer's session")
            step = "drawing"
            page.wait_for_load_state("networkidle")
            page.wait_for_function(DRAWN, timeout=self.timeout * 1000)
            page.evaluate("() => document.fonts.ready.then(() => true)")
            problem = page.evaluate(PROBLEM)
            if problem == "forbidden":
                raise RenderError(f"{what}: the user may not open this page")
            if problem == "failed":
                raise RenderError(f"{what}: part of the page failed; the server's log says why")
            step = "printing"
            return work(page)
        except PlaywrightTimeout:
            raise RenderError(f"{what}: {step} took longer than {self.timeout:g} s") from None
        except PlaywrightError as error:
            raise RenderError(f"{what}: {step} failed: {_first_line(error)}") from None
        finally:
            with contextlib.suppress(PlaywrightError):
                page.close()

    def _print(self, page: Page, user: access.User, target: str) -> bytes:
        header, footer = running_header(self.settings, user, target, self._title(target))
        return page.pdf(
            format="A4",
            landscape=True,
            scale=SCALE,
            margin={
                "top": MARGINS["top"],
                "right": MARGINS["right"],
                "bottom": MARGINS["bottom"],
                "left": MARGINS["left"],
            },
            print_background=True,
            display_header_footer=True,
            header_template=header,
            footer_template=footer,
            prefer_css_page_size=False,
            outline=False,
            tagged=True,
        )

    def title(self, path: str) -> str:
        """The page's name as the navigation shows it (``Sales & pipeline``)."""
        self._serve()  # the app, and its page registry, is made with the server
        return self._title(path)

    def _title(self, target: str) -> str:
        import dash

        path = urllib.parse.urlsplit(target).path
        for entry in dash.page_registry.values():
            if entry.get("path") == path:
                return str(entry.get("name") or path)
        return path

    def _shutdown_browser(self) -> None:
        contexts = list(self._contexts.values())
        self._contexts.clear()
        for close in (
            *(c.close for c in contexts),
            self._browser.close if self._browser else None,
            self._playwright.stop if self._playwright else None,
        ):
            if close is not None:
                with contextlib.suppress(Exception):  # closing a dead browser is no error
                    close()
        self._browser = self._playwright = None


def running_header(
    settings: Settings,
    user: access.User,
    target: str,
    title: str,
    *,
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """The printed page's running header (the page and its filters, whom it was printed for
    and what they see, when) and footer (the company, the page's address, page X of Y)."""
    zone = zoneinfo.ZoneInfo(settings.project.timezone)
    at = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    parts = urllib.parse.urlsplit(target)
    filters = " · ".join(
        f"{key}: {value}"
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    public = settings.dashboard.public_url.rstrip("/")
    values = {
        "title": title,
        "filters": filters,
        "user": user.name,
        "seen": seen_by(user),
        "printed_at": f"{at:%d %b %Y %H:%M} {settings.project.timezone}".lstrip("0"),
        "company": settings.company.name or settings.project.name,
        "address": public + target if public else target,
        "margins": MARGINS,
        "font": FONT,
    }
    env = environment()
    return (
        env.get_template("page_header.html.j2").render(values),
        env.get_template("page_footer.html.j2").render(values),
    )


def seen_by(user: access.User) -> str:
    """What ``user`` sees, in a few words: "Branch head · denver", "Executive · all branches"."""
    label = user.rights.label
    scope = access.scope_of(user)
    if scope is None:
        return f"{label} · all branches"
    granted = [member for members in scope.values() for member in members]
    if access.NOBODY in granted:
        return f"{label} · no rows granted"
    if "branch" in scope:
        return f"{label} · {', '.join(scope['branch'])}"
    return f"{label} · own rows"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)
