"""PDF (and PNG) of a report: the HTML page printed by Debian's chromium through Playwright.

A :class:`Printer` starts the browser once and prints many reports with it (starting chromium
costs most of a second; printing a page a fraction of that). It is a context manager::

    with Printer() as printer:
        for result in results:
            Path(f"{result.report.id}.pdf").write_bytes(printer.pdf(result))

The browser is the system's ``chromium`` (``make setup`` installs it), never one Playwright
downloads. Playwright's synchronous objects belong to the thread that made them, so the printer
owns one worker thread that does all the browser work; :meth:`Printer.pdf` may be called from
any thread (calls are served one at a time).

What is printed is exactly :func:`reports.render.html.render_html`'s page. plotly.js and the
page are served to the browser from memory under a private origin; every other request is
refused, so a page never reaches the network. The printer waits until the page says it is ready
(the chart drawn as SVG, the fonts loaded) and then prints A4 in the report's orientation with
Chromium's running header (title, parameters, snapshot time) and footer (company, page X of Y):
text and charts stay vector.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, TypeVar

from reports.render.errors import RenderError
from reports.render.html import (
    MARGINS,
    PRINTABLE_WIDTH_PX,
    plotly_js,
    print_footer,
    print_header,
    render_html,
)
from reports.result import Result

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

T = TypeVar("T")

ORIGIN = "http://kpiboard.print"
"""The private origin pages are served under (never resolved: the printer answers it)."""
PLOTLY_URL = f"{ORIGIN}/static/plotly.min.js"
SHELL_URL = f"{ORIGIN}/shell.html"
SHELL = (
    '<!DOCTYPE html><html><head><meta charset="utf-8">'
    f'<script src="{PLOTLY_URL}"></script></head><body></body></html>'
)
"""The page reports are written into: plotly.js loaded once, kept across reports."""
WRITE_PAGE = """(html) => {
  window.kpiboardReady = false;
  window.kpiboardError = undefined;
  document.open();
  document.write(html);
  document.close();
}"""
"""Replaces the shell's document by a report's page; the window (and plotly.js) stays."""
KEEP_PLOTLY_CSS = """() => {
  const style = document.getElementById("plotly.js-style-global");
  window.kpiboardPlotlyCss = style && style.sheet
    ? Array.from(style.sheet.cssRules).map((rule) => rule.cssText).join("\\n")
    : "";
}"""
"""plotly.js's stylesheet, kept in the window: the pages written into it put it back."""
RECYCLE_AFTER = 200
"""Reports written into one shell page before a fresh one is made (bounds its memory)."""
RECYCLE_ROWS = 5_000
"""Table rows laid out in one shell page before a fresh one is made: a report of thousands
of rows leaves the page holding hundreds of megabytes, which a fresh page gives back (about a
second to load plotly.js again, paid only after large reports)."""
INSTALL_HINT = "install chromium (make setup does)"
PRINTABLE_HEIGHT_PX = {"portrait": 1013, "landscape": 684}
"""A4's height less the top and bottom margins in CSS pixels."""
SHEET_PX = {"portrait": (794, 1123), "landscape": (1123, 794)}
"""A whole A4 sheet in CSS pixels (96 per inch): what a screenshot shows."""


def find_chromium() -> str:
    """The system's chromium, or a clear error saying how to get it."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RenderError(f"cannot print PDF: no chromium on PATH; {INSTALL_HINT}")


def launch_chromium(playwright: Playwright, executable: str, timeout: float) -> Browser:
    """Start Debian's chromium headless for printing (``timeout`` in seconds), or a
    :class:`RenderError` saying why it would not start and how to get it."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return playwright.chromium.launch(
            executable_path=executable,
            timeout=timeout * 1000,
            args=["--disable-gpu", "--disable-dev-shm-usage", "--font-render-hinting=none"],
        )
    except PlaywrightError as error:
        raise RenderError(
            f"cannot start chromium ({executable}): {_first_line(error)}; {INSTALL_HINT}"
        ) from None


class Printer:
    """One headless chromium, reused for every report printed through it.

    ``timeout`` bounds each step of a print (loading the page, drawing the chart, printing), in
    seconds; ``launch_timeout`` the browser's start. A step that takes longer raises
    :class:`RenderError` naming the report and the step.
    """

    def __init__(
        self,
        executable: str | None = None,
        *,
        timeout: float = 30.0,
        launch_timeout: float = 30.0,
    ) -> None:
        self.executable = executable
        self.timeout = timeout
        self.launch_timeout = launch_timeout
        self._worker: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._uses = 0
        self._rows = 0

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> Printer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the browser and load plotly.js into it (done by the first print when not
        called)."""
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="kpiboard-printer")
        self._run(self._warm, self.launch_timeout + self.timeout, "starting chromium")

    def close(self) -> None:
        """Stop the browser and the worker thread; the printer can be started again."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            worker.submit(self._shutdown).result(timeout=30)
        finally:
            worker.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return self._worker is not None and self._browser is not None

    # -- printing ---------------------------------------------------------------------------

    def pdf(self, result: Result, *, html: str | None = None) -> bytes:
        """The report printed to PDF (A4 in the report's orientation)."""
        return self._run(lambda: self._print(result, html), self.timeout * 4, "printing")

    def screenshot(self, result: Result, *, full_page: bool = False) -> bytes:
        """A PNG of the report's first A4 sheet as the browser lays it out for print, margins
        included (without the PDF's running header and footer): a picture for review."""
        return self._run(lambda: self._shoot(result, full_page), self.timeout * 4, "screenshot")

    # -- the worker's side -------------------------------------------------------------------

    def _run(self, work: Callable[[], T], timeout: float, step: str) -> T:
        if self._worker is None:
            self.start()
        worker = self._worker
        if worker is None:  # closed by another thread meanwhile
            raise RenderError("the PDF printer was closed")
        future: Future[T] = worker.submit(work)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise RenderError(f"{step} took longer than {timeout:g} s; the browser hangs") from None

    def _launch(self) -> None:
        if self._browser is not None and self._browser.is_connected():
            return
        executable = self.executable or find_chromium()
        from playwright.sync_api import sync_playwright

        if self._playwright is None:
            self._playwright = sync_playwright().start()
        self._browser = launch_chromium(self._playwright, executable, self.launch_timeout)
        self._context = self._browser.new_context(java_script_enabled=True)
        self._context.set_default_timeout(self.timeout * 1000)
        self._context.route("**/*", self._serve)
        self._page = None

    def _warm(self) -> None:
        """The browser started and plotly.js loaded into the page reports are written into, so
        that the first report prints as fast as the others."""
        self._launch()
        self._shell()
        self._uses = 0

    def _shutdown(self) -> None:
        for close in (
            self._context.close if self._context else None,
            self._browser.close if self._browser else None,
            self._playwright.stop if self._playwright else None,
        ):
            if close is not None:
                with contextlib.suppress(Exception):  # closing a dead browser is no error
                    close()
        self._page = self._context = self._browser = self._playwright = None

    def _serve(self, route: Route) -> None:
        url = route.request.url
        if url == PLOTLY_URL:
            route.fulfill(
                status=200,
                content_type="application/javascript; charset=utf-8",
                body=_plotly_bytes(),
            )
        elif url == SHELL_URL:
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=SHELL)
        else:
            route.abort("blockedbyclient")  # a page never reaches the network

    def _shell(self) -> Page:
        """The page every report is written into, plotly.js already loaded: parsing plotly.js
        (4.8 MB) costs far more than printing a page, so it is done once per
        :data:`RECYCLE_AFTER` reports, not once per report."""
        from playwright.sync_api import Error as PlaywrightError

        self._launch()
        assert self._context is not None
        worn = self._uses >= RECYCLE_AFTER or self._rows >= RECYCLE_ROWS
        if self._page is not None and (self._page.is_closed() or worn):
            with contextlib.suppress(PlaywrightError):
                self._page.close()
            self._page = None
        if self._page is None:
            page = self._context.new_page()
            try:
                page.goto(SHELL_URL, wait_until="load")
                page.wait_for_function("typeof window.Plotly === 'object'")
                page.evaluate(KEEP_PLOTLY_CSS)
            except PlaywrightError as error:
                page.close()
                problem = _first_line(error)
                raise RenderError(f"cannot load plotly.js into chromium: {problem}") from None
            self._page, self._uses, self._rows = page, 0, 0
        self._uses += 1
        return self._page

    def _open(self, result: Result, html: str | None, *, sheet: bool = False) -> Page:
        """The report's page, written into the shell, its chart drawn and its fonts loaded.
        ``sheet``: the viewport is the whole A4 sheet with the page's margins as padding (a
        picture of a printed page), else the printable area (what the PDF prints)."""
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        page = self._shell()
        orientation = result.report.orientation
        if sheet:
            width, height = SHEET_PX[orientation]
        else:
            width, height = PRINTABLE_WIDTH_PX[orientation], PRINTABLE_HEIGHT_PX[orientation]
        page.set_viewport_size({"width": width, "height": height})
        page.emulate_media(media="print")
        if html is None:
            html = render_html(result, plotly="none")
        if sheet:
            margins = " ".join(MARGINS[side] for side in ("top", "right", "bottom", "left"))
            padding = f"<style>body {{ padding: {margins}; }}</style>"
            html = html.replace("</head>", padding + "</head>", 1)
        step = "loading the page"
        try:
            page.evaluate(WRITE_PAGE, html)
            step = "drawing the chart"
            page.wait_for_function("window.kpiboardReady === true", timeout=self.timeout * 1000)
        except PlaywrightTimeout:
            self._discard()  # a page that hangs is not reused
            raise RenderError(
                f"report '{result.report.id}': {step} took longer than {self.timeout:g} s"
            ) from None
        except PlaywrightError as error:
            self._discard()
            raise RenderError(
                f"report '{result.report.id}': {step} failed: {_first_line(error)}"
            ) from None
        problem = page.evaluate("window.kpiboardError || ''")
        if problem:
            raise RenderError(f"report '{result.report.id}': the chart failed to draw: {problem}")
        return page

    def _discard(self) -> None:
        from playwright.sync_api import Error as PlaywrightError

        page, self._page = self._page, None
        if page is not None:
            with contextlib.suppress(PlaywrightError):
                page.close()

    def _print(self, result: Result, html: str | None) -> bytes:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        page = self._open(result, html)
        self._rows += len(result.frame)
        try:
            return page.pdf(
                format="A4",
                landscape=result.report.orientation == "landscape",
                margin={
                    "top": MARGINS["top"],
                    "right": MARGINS["right"],
                    "bottom": MARGINS["bottom"],
                    "left": MARGINS["left"],
                },
                print_background=True,
                display_header_footer=True,
                header_template=print_header(result),
                footer_template=print_footer(result),
                prefer_css_page_size=False,
                outline=False,
                tagged=True,
            )
        except PlaywrightTimeout:
            raise RenderError(
                f"report '{result.report.id}': printing took longer than {self.timeout:g} s"
            ) from None

    def _shoot(self, result: Result, full_page: bool) -> bytes:
        page = self._open(result, None, sheet=True)
        return page.screenshot(full_page=full_page, type="png")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


_PLOTLY: list[bytes] = []


def _plotly_bytes() -> bytes:
    if not _PLOTLY:
        _PLOTLY.append(plotly_js().encode("utf-8"))
    return _PLOTLY[0]


def print_pdf(result: Result, printer: Printer | None = None, **kwargs: Any) -> bytes:
    """One report to PDF, with ``printer`` or a browser started (and stopped) for it."""
    if printer is not None:
        return printer.pdf(result, **kwargs)
    with Printer() as own:
        return own.pdf(result, **kwargs)
