"""The product's look in one place: status colours and icons, the accent, the chart template.

Status colours are told apart by colour-blind readers (Okabe–Ito blue/orange/vermillion family
with distinct lightness) and never stand alone: each has an icon and words
(:data:`STATUS_TEXT`, the same words reports print). Charts use the one Plotly template of the
product, :func:`reports.render.charts.template` (registered as ``kpiboard``).
"""

from __future__ import annotations

from reports.formats import STATUSES
from reports.render.charts import GRID, INK, PREVIOUS, SERIES, TEMPLATE_NAME, template

__all__ = [
    "ACCENT",
    "BAD",
    "GOOD",
    "GRID",
    "INK",
    "PLAN",
    "PREVIOUS",
    "SERIES",
    "STATUS_COLOURS",
    "STATUS_ICONS",
    "STATUS_TEXT",
    "TEMPLATE_NAME",
    "template",
]

ACCENT = "#0b5cad"
"""The one colour of interaction: links, the selected filter, focus."""
GOOD = "#00795a"
"""A move for the better (green, dark enough for text on white: WCAG AA)."""
BAD = "#b8430a"
"""A move for the worse (vermillion, told apart from GOOD by colour-blind readers)."""
PLAN = "#1f2933"
"""The plan line: dark, dashed."""
STATUS_COLOURS = {"green": GOOD, "amber": "#8a6100", "red": BAD}
STATUS_ICONS = {"green": "✓", "amber": "!", "red": "✗"}
STATUS_TEXT = STATUSES
NO_PLAN = "no plan"
