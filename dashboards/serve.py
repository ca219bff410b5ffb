"""``kpiboard serve``: the dashboard under gunicorn, a production WSGI server.

Worker processes (``--workers``), each with its own app, engine and caches, and threads inside
each (DuckDB answers queries outside the GIL, so threads of one worker work at once). The app is
made in each worker after the fork (DuckDB connections and Playwright's browser do not survive a
fork), so the master process stays small.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

THREADS = 4
TIMEOUT_SECONDS = 120
"""A request that takes longer (a large report printed to PDF) is not cut short before this."""


class _Server(BaseApplication):
    def __init__(self, project: Path, options: dict[str, Any]) -> None:
        self.project = project
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from dashboards.app import create_app
        from kpiboard.config import load_settings

        server = create_app(load_settings(self.project)).server
        # Dash finishes its setup (the page callbacks join the app's map) at the first request,
        # in that request's thread: a request served by another thread meanwhile gets a partial
        # callback map, and its page stays blank. One request here, before the worker accepts;
        # nobody is logged in, so the login gate answers it 401, but only after Dash's own
        # first-request setup, which runs before the gate (dashboards.auth)
        server.test_client().get("/_dash-dependencies")
        return server


def serve(
    project: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    workers: int = 1,
    threads: int = THREADS,
    ready: Any = None,
) -> None:
    """Serve ``project``'s dashboard until stopped (Ctrl-C, SIGTERM). ``ready`` is called with
    the URL once the server listens."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": TIMEOUT_SECONDS,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": os.environ.get("KPIBOARD_LOG_LEVEL", "warning"),
        "preload_app": False,
    }
    if ready is not None:
        options["when_ready"] = lambda _server: ready(f"http://{host}:{port}/")
    _Server(project, options).run()
