"""A report as one standalone HTML page (Jinja2, autoescaped): the page the PDF prints too.

The page holds the header (title, question, parameters, when the data is from), the chart drawn
by plotly.js and the table of :func:`reports.result.layout`, with print CSS for A4 (portrait or
landscape as the report says; the table's header repeats on every page and no row is split).
plotly.js is the copy that ships inside the ``plotly`` package — inlined (a file that opens
anywhere, offline) or referenced by a URL the caller serves; never a CDN.

Every value, label and parameter goes through Jinja2's autoescape; the chart's figure is JSON
whose ``<``, ``>`` and ``&`` are written as ``\\u003c`` … so that no value can close the script.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reports import formats
from reports.model import CATEGORY_TITLES
from reports.result import Result, Table, layout

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"
FONT = '"Liberation Sans", "DejaVu Sans", Arial, sans-serif'
MARGINS = {"top": "15mm", "right": "12mm", "bottom": "14mm", "left": "12mm"}
"""The A4 page's margins (the running header and footer sit inside top and bottom)."""
PRINTABLE_WIDTH_PX = {"portrait": 706, "landscape": 1028}
"""A4's width less the side margins in CSS pixels (96 per inch): what the chart is drawn at."""
EMPTY_MESSAGE = "No rows for these parameters. Widen the period or choose another branch."

PlotlyMode = Literal["inline", "none"]


def plotly_js_path() -> Path:
    """plotly.js as shipped inside the installed ``plotly`` package (the same version that made
    the figure's JSON)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@functools.cache
def plotly_js() -> str:
    """plotly.js's text, safe to put inside a ``<script>`` element."""
    text = plotly_js_path().read_text(encoding="utf-8")
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


@functools.cache
def environment() -> jinja2.Environment:
    """The report templates, autoescaped whatever a template's name ends with."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )


def safe_json(text: str) -> str:
    """JSON that can sit inside a ``<script>`` element: no ``<``, ``>`` or ``&`` left as is."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def snapshot_text(when: dt.datetime) -> str:
    """The snapshot's time, to the minute, in UTC (a naive time is UTC already)."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _row_count(table: Table) -> str:
    n = len(table.data_rows)
    return f"{formats.count(n)} row" + ("" if n == 1 else "s")


def context(result: Result, table: Table | None = None) -> dict[str, Any]:
    """What the templates print (shared by the page and the PDF's running header and footer)."""
    from markupsafe import Markup

    from reports.render import charts

    report = result.report
    table = table if table is not None else layout(result)
    fig = charts.figure(result)
    chart_json = None
    chart_title = ""
    chart_height = 0
    if fig is not None:
        chart_json = Markup(safe_json(fig.to_json()))
        chart_title = (report.chart.title if report.chart else "") or report.title
        chart_height = int(fig.layout.height or 340)
    return {
        "report_id": report.id,
        "title": report.title,
        "question": report.question,
        "category": CATEGORY_TITLES.get(report.category, report.category),
        "company": result.company,
        "parameters": list(result.parameters),
        "snapshot_at": snapshot_text(result.snapshot_at),
        "data_end": result.data_end.isoformat() if result.data_end else "",
        "row_count": _row_count(table),
        "orientation": report.orientation,
        "margins": MARGINS,
        "font": FONT,
        "table": table,
        "chart_json": chart_json,
        "chart_title": chart_title,
        "chart_height": chart_height,
        "empty_message": EMPTY_MESSAGE,
        "signatures": list(report.signatures),
        "missing_why": formats.MISSING_WHY,
    }


def render_html(
    result: Result,
    *,
    plotly: PlotlyMode = "inline",
    plotly_src: str | None = None,
    table: Table | None = None,
) -> str:
    """The report's standalone page. ``plotly="inline"`` puts plotly.js inside the page (a file
    that opens offline); ``plotly="none"`` leaves it out, for a page that loads it from
    ``plotly_src`` (a URL the caller serves) or gets it injected (the PDF printer does)."""
    from markupsafe import Markup

    values = context(result, table)
    values["plotly_inline"] = (
        Markup(plotly_js()) if plotly == "inline" and values["chart_json"] else None
    )
    values["plotly_src"] = plotly_src if plotly == "none" else None
    return environment().get_template("page.html.j2").render(values)


def print_header(result: Result) -> str:
    """The PDF's running header: title, parameters, the snapshot's time."""
    return environment().get_template("print_header.html.j2").render(context_light(result))


def print_footer(result: Result) -> str:
    """The PDF's running footer: the company and "page X of Y"."""
    return environment().get_template("print_footer.html.j2").render(context_light(result))


def context_light(result: Result) -> dict[str, Any]:
    """The few values the running header and footer need (no table, no chart)."""
    return {
        "title": result.report.title,
        "parameters": list(result.parameters),
        "snapshot_at": snapshot_text(result.snapshot_at),
        "company": result.company,
        "margins": MARGINS,
        "font": FONT,
    }
