"""Plain HTTP routes beside the Dash callbacks: downloads and exports.

Each reads its filters from the query string exactly as the pages do
(:func:`dashboards.app.filters_of`) and its data through :class:`~dashboards.data.Data`; a
value that cannot be used is answered with ``400`` and one sentence, never a stack trace.
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

import flask

log = logging.getLogger("kpiboard.dashboards")


def _refuse(message: str, status: int = 400) -> flask.Response:
    return flask.Response(message + "\n", status=status, mimetype="text/plain; charset=utf-8")


def export_rows() -> flask.Response:
    """``/export/rows.csv?kpi=revenue&start=…&end=…&slice.branch=denver&<filters>``: every row
    behind one value (up to :data:`dashboards.explain.ROWS_EXPORTED`), as CSV."""
    from dashboards.app import data, filters_of
    from dashboards.explain import ROWS_EXPORTED, ExplainError, parse_request
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
        scope = filters.scope()
        rest = dict(request.slice)
        for dim in ("branch", "employee"):
            member = rest.pop(dim, None)
            if member is not None:
                if dim in scope and member not in scope[dim]:
                    raise ExplainError(f"no {dim} {member!r} in this view")
                scope[dim] = [member]
        frame = engine.rows(
            request.kpi,
            period=(request.start, request.end),
            grain="range",
            slice=rest,
            scope=scope,
            limit=ROWS_EXPORTED,
        )
    except (ExplainError, EvaluationError) as exc:
        return _refuse(str(exc))
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


def register(server: flask.Flask) -> None:
    server.add_url_rule("/export/rows.csv", "export_rows", export_rows)
