"""Plain HTTP routes beside the Dash callbacks: downloads and exports.

Each reads its filters from the query string exactly as the pages do
(:func:`dashboards.app.filters_of`: within the viewer's scope, whatever the address asks) and
its data through :class:`~dashboards.data.Data`; a value that cannot be used is answered with
``400`` and one sentence, never a stack trace. What the viewer may not have (a company-wide
report for a branch head, the Data Docs for a role that may not open the quality page) is
``403`` and one sentence. Every download and export is written to the audit log.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import io
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

import flask

if TYPE_CHECKING:
    from reports.render.pdf import Printer

log = logging.getLogger("kpiboard.dashboards")


def refuse(message: str, status: int = 400) -> flask.Response:
    """One line saying why, as plain text the browser never reads as a page (it may quote
    what was asked for)."""
    return flask.Response(
        message + "\n",
        status=status,
        mimetype="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def export_rows() -> flask.Response:
    """``/export/rows.csv?kpi=revenue&start=…&end=…&slice.branch=denver&<filters>``: every row
    behind one value (up to :data:`dashboards.explain.ROWS_EXPORTED`), as CSV."""
    from dashboards.app import audit, data, filters_of
    from dashboards.explain import ROWS_EXPORTED, ExplainError, narrowed, parse_request
    from kpi_designer.errors import EvaluationError

    args = flask.request.args
    filters = filters_of(flask.request.query_string.decode("utf-8", "replace"))
    raw: dict[str, Any] = {
        "kpi": args.get("kpi", ""),
        "start": args.get("start"),
        "end": args.get("end"),
    }
    raw["slice"] = {k[len("slice.") :]: v for k, v in args.items() if k.startswith("slice.")}
    try:
        request = parse_request(raw, filters)
        engine = data().engine()
        if request.kpi not in engine.kpis:
            raise ExplainError(f"no KPI {request.kpi!r} in this project")
        scope, rest = narrowed(request, filters)
        frame = engine.rows(
            request.kpi,
            period=(request.start, request.end),
            grain="range",
            slice=rest,
            scope=scope,
            limit=ROWS_EXPORTED,
        )
    except (ExplainError, EvaluationError) as exc:
        return refuse(str(exc))
    audit(
        "export",
        target=request.kpi,
        detail={
            "kpi": request.kpi,
            "period": f"{request.start}..{request.end}",
            "slice": dict(request.slice),
            "scope": scope,
            "rows": len(frame),
        },
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(c) for c in frame.columns])
    for values in frame.itertuples(index=False, name=None):
        writer.writerow(["" if v is None or v != v else v for v in values])
    name = f"{request.kpi}_{request.start}_{request.end}.csv"
    return flask.Response(
        out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


MIMETYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
"""The formats a report downloads as, as ``kpiboard report run`` writes them."""
SCOPE_KEYS = ("branch", "employee")
"""Keys of the query string that are the global filters' scope, not a report's parameters
(unless the report has a parameter of that name: then the value is both, and means the same)."""
COMPANY_WIDE = "report {report_id!r} is company-wide: it is for roles that see every row"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

_printer: list[Printer] = []
_printer_lock = threading.Lock()


def printer() -> Printer:
    """This process's PDF printer: one browser, started by the first PDF and reused by every
    later one (a :class:`~reports.render.pdf.Printer` serves threads one at a time), stopped
    when the process ends."""
    from reports.render.pdf import Printer

    with _printer_lock:
        if not _printer:
            made = Printer()
            _printer.append(made)
            atexit.register(_close, made)
        return _printer[0]


def _close(made: Printer) -> None:
    """Stop the printer's browser at exit; when the interpreter already stopped its worker
    threads, the browser's driver ends with the process anyway."""
    with contextlib.suppress(RuntimeError):
        made.close()


def report_parameters(report: Any, args: Any) -> dict[str, str]:
    """A report's parameters from a query string: every key but the global filters' own
    (``period``, ``branch``, ``employee``, ``compare``) unless the report declares it, so an
    unknown key is refused by the runner and the filters of the page's address are not."""
    from dashboards.filters import KEYS

    declared = {p.name for p in report.parameters}
    return {k: v for k, v in args.items() if k in declared or k not in KEYS}


def file_name(report: Any, given: dict[str, str], fmt: str) -> str:
    """``<id>_<period>.<fmt>``: the report's first period parameter as given (its default
    when not), made safe for a file name; ``<id>.<fmt>`` when it has none."""
    period = next((p for p in report.parameters if p.type == "period"), None)
    value = given.get(period.name) or period.default if period is not None else None
    if not value:
        return f"{report.id}.{fmt}"
    text = _UNSAFE.sub("_", str(value).replace("..", "_to_")).strip("_")
    return f"{report.id}_{text}.{fmt}"


def download_report(name: str) -> flask.Response:
    """``/download/report/<id>.<fmt>?<parameter>=<value>…&branch=…&employee=…``: a catalog
    report run under the scope of the global filters and rendered as ``kpiboard report run``
    renders it (PDF, XLSX, CSV or HTML). A company-wide report runs without a scope, for a
    viewer of every row only (``403`` for others). A value the report refuses is ``400`` with
    its one line; an unknown report ``404``."""
    from dashboards.access import may_run
    from dashboards.app import audit, data, filters_of
    from kpiboard.errors import UserError
    from reports.errors import UnknownReport
    from reports.render import render
    from reports.render.errors import RenderError

    report_id, _, fmt = name.rpartition(".")
    if fmt not in MIMETYPES or not report_id:
        return refuse(f"{name!r}: ask for <report>.pdf, .xlsx, .csv or .html", 404)
    d = data()
    try:
        report = d.runner().catalog.get(report_id)
    except UnknownReport as exc:
        return refuse(str(exc), 404)
    if not may_run(report):
        audit("access_refused", target=f"report {report_id}", detail={"format": fmt})
        return refuse(COMPANY_WIDE.format(report_id=report_id), 403)
    filters = filters_of(flask.request.query_string.decode("utf-8", "replace"))
    scope = filters.report_scope(report)
    given = report_parameters(report, flask.request.args)
    try:
        result = d.report(report_id, dict(given), scope=scope)
        body = render(result, fmt, printer() if fmt == "pdf" else None)
    except UserError as exc:  # a parameter, the scope, nothing published: one line
        return refuse(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except RenderError as exc:
        log.error("report %s as %s: %s", report_id, fmt, exc)
        return refuse(f"the {fmt.upper()} could not be made; try again or another format", 500)
    audit(
        "download",
        target=report_id,
        detail={"report": report_id, "format": fmt, "parameters": given, "scope": scope},
    )
    return flask.Response(
        body,
        mimetype=MIMETYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{file_name(report, given, fmt)}"'},
    )


def data_docs(name: str) -> flask.Response:
    """``/data-docs/<path>``: the validation's Data Docs (the folder ``[validation] data_docs``
    names), served read-only; a path outside the folder or a missing file is ``404``. They
    hold every branch's failing rows: ``403`` for a viewer who may not open the quality page."""
    from dashboards.access import page_is_for, viewer
    from dashboards.app import data

    if not viewer().may_open("quality"):
        return refuse(page_is_for("quality").replace("This page is", "The Data Docs are"), 403)
    settings = data().settings
    folder = settings.resolve(settings.validation.data_docs)
    return flask.send_from_directory(folder, name)


def register(server: flask.Flask) -> None:
    server.add_url_rule("/export/rows.csv", "export_rows", export_rows)
    server.add_url_rule("/download/report/<name>", "download_report", download_report)
    server.add_url_rule("/data-docs/<path:name>", "data_docs", data_docs)
