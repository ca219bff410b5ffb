"""Errors of rendering: the user's to fix (a missing browser, a print that timed out)."""

from __future__ import annotations

from reports.errors import ReportError


class RenderError(ReportError):
    """A report could not be rendered; the message says why and what to do, in one line."""
