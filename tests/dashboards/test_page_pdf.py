"""A dashboard page printed for a mail-out is the page its recipient sees when logged in: a
Denver branch head's Overview holds the engine's Denver revenue as the tile shows it and none of
Austin's, an executive's the company's; the session the printer opens is over when the print
is; and the printed page reaches nothing but the dashboard's own server.

The printer serves the dashboard of the test project in this process and prints with Debian's
chromium (``reports.render.pages.PagePrinter``); it is started once for the module.
"""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import sqlalchemy as sa

from tests.dashboards.conftest import CHROMIUM, Login

if TYPE_CHECKING:
    from dashboards.data import Data
    from kpiboard import access
    from kpiboard.config import Settings
    from reports.render.pages import PagePrinter

PERIOD = "period=last_quarter"


@pytest.fixture(scope="module")
def settings(dash_project: Path) -> Settings:
    from kpiboard.config import load_settings

    return load_settings(dash_project)


@pytest.fixture(scope="module")
def printer(settings: Settings) -> Iterator[PagePrinter]:
    from reports.render.pages import PagePrinter

    with PagePrinter(settings, executable=CHROMIUM, timeout=90) as made:
        yield made


@pytest.fixture(scope="module")
def truth(settings: Settings) -> Data:
    """The test project's data read apart from the printer: the engine's numbers."""
    from dashboards.data import Data

    return Data(settings)


def user_of(settings: Settings, login: Login) -> access.User:
    from kpiboard import access

    return access.get_user(settings, login.name)


def revenue(truth: Data, scope: dict[str, list[str]] | None) -> str:
    """The engine's revenue of the last quarter for ``scope``, as the Overview's tile shows it."""
    from dashboards.filters import parse
    from dashboards.format import kpi_value

    f = parse("?" + PERIOD, data_end=truth.last_day())
    engine = truth.engine()
    frame = engine.evaluate("revenue", start=f.start, end=f.end, grain="range", scope=scope)
    unit = engine.kpis["revenue"].unit
    return kpi_value(float(frame["value"].iloc[0]), unit, truth.currency, short=True)


def text_of(pdf: bytes) -> str:
    from pypdf import PdfReader

    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def printer_sessions(settings: Settings, login: Login) -> list[sa.Row[tuple[object, ...]]]:
    from kpiboard import access, appdb
    from reports.render.pages import SESSION_ADDRESS

    user = access.get_user(settings, login.name)
    s = appdb.sessions
    with appdb.shared_engine(settings).connect() as db:
        query = sa.select(s).where(s.c.user_id == user.user_id, s.c.address == SESSION_ADDRESS)
        return list(db.execute(query))


def test_a_branch_heads_overview_holds_denvers_revenue_and_not_austins(
    printer: PagePrinter, settings: Settings, dash_users: dict[str, Login], truth: Data
) -> None:
    from reports.render.pages import PagePrinter

    denver = revenue(truth, {"branch": ["denver"]})
    austin = revenue(truth, {"branch": ["austin"]})
    everyone = revenue(truth, None)
    assert len({denver, austin, everyone}) == 3, (denver, austin, everyone)
    head = user_of(settings, dash_users["branch_head"])

    started = time.monotonic()
    # the address asks for Austin; the dashboard shows a branch head their own branch
    text = text_of(printer.pdf(head, "/", f"{PERIOD}&branch=austin"))
    first = time.monotonic() - started

    assert "Revenue" in text
    assert denver in text
    assert austin not in text and everyone not in text
    assert "Austin" not in text and "Portland" not in text
    assert "Overview" in text and f"for {head.name} (Branch head · denver)" in text
    assert "branch: 'austin' is not among your branches; showing denver" in text

    started = time.monotonic()
    again = text_of(printer.pdf(head, "/", PERIOD))
    second = time.monotonic() - started
    assert denver in again and austin not in again
    print(f"first print {first:.1f} s (server and browser started), next {second:.1f} s")
    assert isinstance(printer, PagePrinter)


def test_an_executives_overview_holds_every_branchs_revenue(
    printer: PagePrinter, settings: Settings, dash_users: dict[str, Login], truth: Data
) -> None:
    executive = user_of(settings, dash_users["executive"])
    text = text_of(printer.pdf(executive, "/", PERIOD))
    assert revenue(truth, None) in text
    # every branch against its plan, Denver's revenue among them
    assert {"Austin", "Denver", "Portland"} <= set(text.split())
    assert revenue(truth, {"branch": ["denver"]}) in text
    assert f"for {executive.name} (Executive · all branches)" in text


def test_no_session_of_the_printer_is_left_live(
    printer: PagePrinter, settings: Settings, dash_users: dict[str, Login]
) -> None:
    for role in ("analyst", "branch_head", "executive"):
        printer.pdf(user_of(settings, dash_users[role]), "/sales", PERIOD)
    for role in ("analyst", "branch_head", "executive"):
        sessions = printer_sessions(settings, dash_users[role])
        assert sessions, role  # each print opened one …
        # … and ended it (the users' own browser sessions of other tests are not the printer's)
        assert all(s.ended_at is not None and s.end_reason == "logout" for s in sessions)


def test_a_page_the_user_may_not_open_is_an_error_not_a_pdf(
    printer: PagePrinter, settings: Settings, dash_users: dict[str, Login]
) -> None:
    from reports.render.errors import RenderError

    head = user_of(settings, dash_users["branch_head"])
    with pytest.raises(RenderError, match="page /designer for user 'test-branch-head': the user"):
        printer.pdf(head, "/designer")
    for outside in ("https://example.com/", "//example.com/", "sales"):
        with pytest.raises(RenderError, match="not an address of the dashboard"):
            printer.pdf(head, outside)
    assert all(
        s.ended_at is not None for s in printer_sessions(settings, dash_users["branch_head"])
    )


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(b"reached")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def outside() -> Iterator[tuple[str, list[str]]]:
    """A server on another loopback port (anything but the dashboard is "outside"): its URL
    and the paths it was asked for."""
    _Counting.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Counting.hits
    server.shutdown()
    server.server_close()


def test_a_request_to_anything_but_the_dashboard_is_refused(
    printer: PagePrinter,
    settings: Settings,
    dash_users: dict[str, Login],
    outside: tuple[str, list[str]],
) -> None:
    url, hits = outside
    head = user_of(settings, dash_users["branch_head"])
    asked = f"{url}/leak?x=1"
    fetch = """async (url) => {
      try { const r = await fetch(url); return "reached: " + (await r.text()); }
      catch (e) { return "refused"; }
    }"""
    # the very page a print opens, in the user's own browser context (the printer's own path)
    answer = printer._as(head, "/", lambda page: page.evaluate(fetch, asked))
    assert answer == "refused"
    assert hits == []
    assert asked in printer.blocked
    assert not [u for u in printer.blocked if u.startswith(printer.url + "/")]


def test_a_screenshot_is_the_page_laid_out_for_print(
    printer: PagePrinter, settings: Settings, dash_users: dict[str, Login]
) -> None:
    from reports.render.pages import VIEWPORT

    head = user_of(settings, dash_users["branch_head"])
    png = printer.screenshot(head, "/", PERIOD)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == VIEWPORT["width"]
    assert int.from_bytes(png[20:24], "big") >= VIEWPORT["height"]


def test_a_mail_out_of_a_page_attaches_each_recipients_own_print(
    dash_project: Path,
    printer: PagePrinter,
    truth: Data,
    dash_users: dict[str, Login],
    smtp_server: Any,
) -> None:
    from kpiboard import access
    from kpiboard.config import load_settings
    from reports import schedules as s
    from reports.delivery import Deliverer, run_now

    env = {"KPIBOARD_SMTP_HOST": smtp_server.host, "KPIBOARD_SMTP_PORT": str(smtp_server.port)}
    settings = load_settings(dash_project, env=env)
    head, boss = dash_users["branch_head"].name, dash_users["executive"].name
    access.set_email(settings, head, "head@acme.example")
    access.set_email(settings, boss, "boss@acme.example")
    schedule = s.Schedule(
        name="overview-by-mail",
        items=(s.Item("page:/", {"period": "last_quarter"}),),
        recipients=(s.Recipient(user=head), s.Recipient(user=boss)),
        cron="0 8 * * MON",
        timezone="UTC",
    )
    s.add(settings, schedule, by="test")
    try:
        with Deliverer(settings, pages=printer) as deliverer:
            outcome = run_now(settings, schedule.name, by="test", deliverer=deliverer)
    finally:
        s.remove(settings, schedule.name, by="test")

    assert outcome.status == "done", outcome.line()
    printed = {}
    for received in smtp_server.messages:
        [part] = [p for p in received.message.walk() if p.get_filename()]
        assert part.get_filename() == "Overview - last quarter.pdf"
        printed[received.message["To"]] = text_of(part.get_payload(decode=True))
    denver = revenue(truth, {"branch": ["denver"]})
    everyone = revenue(truth, None)
    assert denver in printed["head@acme.example"]
    assert everyone not in printed["head@acme.example"]
    assert everyone in printed["boss@acme.example"]
