"""Renderers: a :class:`reports.result.Result` to bytes, one function per format.

``html`` is a standalone page (plotly.js inside), ``pdf`` that page printed by chromium
(:class:`reports.render.pdf.Printer`; pass one to print many reports with one browser),
``xlsx`` a workbook with typed cells, ``csv`` the data rows. HTML, PDF and XLSX print the same
table (:func:`reports.result.layout`): the same rows, subtotals and totals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from reports.render.errors import RenderError

if TYPE_CHECKING:
    from reports.render.pdf import Printer
    from reports.result import Result

RenderFormat = Literal["html", "pdf", "xlsx", "csv"]
FORMATS: tuple[str, ...] = ("html", "pdf", "xlsx", "csv")
SUFFIXES = {"html": ".html", "pdf": ".pdf", "xlsx": ".xlsx", "csv": ".csv"}

__all__ = ["FORMATS", "SUFFIXES", "RenderError", "render"]


def render(result: Result, fmt: str, printer: Printer | None = None, *, bom: bool = False) -> bytes:
    """``result`` as ``fmt`` (html, pdf, xlsx or csv). A PDF uses ``printer`` when given (a
    browser already started), else starts one for this report alone. ``bom`` puts a
    byte-order mark before a CSV."""
    if fmt == "html":
        from reports.render.html import render_html

        return render_html(result).encode("utf-8")
    if fmt == "pdf":
        from reports.render.pdf import print_pdf

        return print_pdf(result, printer)
    if fmt == "xlsx":
        from reports.render.xlsx import render_xlsx

        return render_xlsx(result)
    if fmt == "csv":
        from reports.render.csv import render_csv

        return render_csv(result, bom=bom)
    raise RenderError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
