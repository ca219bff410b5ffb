"""Screenshots of every dashboard page, for the documentation and for a look after a change.

Serves the project with ``kpiboard serve`` on a free port, photographs the login page
(``login.png``) and logs in through it as the administrator ``screenshots`` (made in the
project's app database if missing, a new random password each run), reads the pages from the
app's own navigation (so a page added to the app is photographed without a change here), visits
each with Debian's chromium (through Playwright's ``executable_path``), waits until Dash has no
callback in flight, and writes ``<out>/<page>.png`` (1440 px wide, the full page), then the
Overview with the explanation drawer of its first tile open (``overview-explain.png``), and
stops the server.

    scripts/screenshots                        # ./demo into docs/screenshots
    scripts/screenshots /work/demo1 --query "?period=last_month"
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1440, 1000
START_SECONDS = 90.0
SETTLE_MS = 60_000
USER = "screenshots"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(project: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``kpiboard serve`` of this checkout on ``project``, once it answers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "kpiboard", "serve", "-p", str(project), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit(f"kpiboard serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def screenshots_user(project: Path) -> str:
    """Make the administrator :data:`USER` in ``project``'s app database (or give it a new
    password): the password, for the login form."""
    from kpiboard import access
    from kpiboard.config import load_settings

    password = secrets.token_urlsafe(18)
    access.set_up_user(load_settings(project), USER, "admin", password)
    return password


def log_in(page: Any, base: str, password: str, out: Path) -> str:
    """Photograph the login page, then log in through it: the file written."""
    page.goto(base + "login")
    target = out / "login.png"
    page.screenshot(path=str(target))
    page.fill("#kb-login-name", USER)
    page.fill("#kb-login-password", password)
    page.click("#kb-login-submit")
    page.wait_for_selector(".kb-nav a.nav-link")
    return str(target)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def settle(page: Any) -> None:
    """Wait until Dash has no callback in flight, and charts have drawn."""
    page.wait_for_load_state("networkidle", timeout=SETTLE_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=SETTLE_MS
    )
    page.wait_for_timeout(800)


def pages_of(page: Any) -> list[tuple[str, str]]:
    """The navigation's pages as (short name, path): each link's id names its module."""
    found = []
    for link in page.locator(".kb-nav a.nav-link").all():
        module = json.loads(link.get_attribute("id") or "{}").get("index", "")
        href = (link.get_attribute("href") or "/").split("?")[0]
        found.append((module.rsplit(".", 1)[-1], href))
    return found


def shoot(base: str, out: Path, query: str, password: str) -> list[str]:
    """Every page's screenshot and the drawer's; the files written."""
    from playwright.sync_api import sync_playwright

    written: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.set_default_timeout(SETTLE_MS)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        written.append(log_in(page, base, password, out))
        page.goto(base + query)
        page.wait_for_selector(".kb-nav a.nav-link")
        for name, path in pages_of(page):
            errors.clear()
            page.goto(base.rstrip("/") + path + query)
            page.wait_for_selector("#kb-main h1")
            settle(page)
            # grids draw only the rows in view: make the whole page the view, then shoot
            height = int(page.evaluate("document.documentElement.scrollHeight"))
            page.set_viewport_size({"width": WIDTH, "height": max(HEIGHT, height)})
            page.wait_for_timeout(1500)
            target = out / f"{name}.png"
            page.screenshot(path=str(target), full_page=True)
            page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
            written.append(f"{target}{'  console errors: ' + '; '.join(errors) if errors else ''}")
            if path == "/" and page.locator(".kb-why").count():
                page.locator(".kb-why").first.click()
                page.wait_for_selector("#kb-explain-title")
                settle(page)
                target = out / "overview-explain.png"
                page.screenshot(path=str(target))
                written.append(str(target))
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("project", nargs="?", type=Path, default=Path("demo"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--query", default="", help="filters for every page, e.g. ?branch=denver")
    parser.add_argument("--port", type=int, help="default: a free one")
    args = parser.parse_args()
    if not (args.project / "kpiboard.toml").is_file():
        raise SystemExit(f"{args.project}: no kpiboard.toml; build one with `kpiboard demo`")
    args.out.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    log = args.out / ".serve.log"
    password = screenshots_user(args.project.resolve())
    server = start_server(args.project.resolve(), port, log)
    try:
        written = shoot(f"http://127.0.0.1:{port}/", args.out, args.query, password)
    finally:
        stop(server)
        log.unlink(missing_ok=True)
    print("\n".join(written))


if __name__ == "__main__":
    main()
