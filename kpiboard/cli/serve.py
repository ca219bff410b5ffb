"""``kpiboard serve``: the dashboard, on a production WSGI server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kpiboard.cli.app import ProjectOption, app, load_settings, out
from kpiboard.errors import UserError


def serve_dashboard(
    project: Path, *, host: str | None, port: int | None, workers: int, announce: str = ""
) -> None:
    """Serve ``project``'s dashboard (bind address from ``[dashboard]`` unless given)."""
    settings = load_settings(project)
    if settings.open_warehouse().published() is None:
        raise UserError(
            f"{settings.warehouse_path}: nothing published yet; run `kpiboard etl run "
            f"-p {project}` first, then serve"
        )
    bind_host = host or settings.dashboard.host
    bind_port = port or settings.dashboard.port
    _check_free(bind_host, bind_port)
    from dashboards.serve import serve

    def ready(url: str) -> None:
        out.print(f"{announce}Dashboard: {url}  (Ctrl-C stops it)", markup=False)

    serve(settings.project_dir, host=bind_host, port=bind_port, workers=workers, ready=ready)


def _check_free(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(
                f"cannot serve on {host}:{port}: {exc.strerror or exc}; "
                "choose another with --port (or stop what uses it)"
            ) from None


@app.command()
def serve(
    project: ProjectOption = Path("."),
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on; default [dashboard] host (127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port; default [dashboard] port (8050)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes, each with 4 threads.")
    ] = 1,
) -> None:
    """Serve the dashboard on gunicorn (a production WSGI server), bound to 127.0.0.1 unless
    told otherwise. A snapshot published by `kpiboard etl run` is read without a restart, and
    a KPI or plan file saved is read at the next request.

    Example: `kpiboard serve -p demo --port 8050 --workers 2`
    """
    serve_dashboard(project, host=host, port=port, workers=workers)
