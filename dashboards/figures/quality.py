"""Figures of the data-quality page: where quarantine holds rows, and whether the data gets
cleaner or dirtier run by run.

Pure: a report's frame in, a ``go.Figure`` out (``DESIGN.md``, "Charts"): a ranking as
horizontal bars sorted by value, a trend as a line with time left to right, titles that say
the message and axis titles with units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dashboards import theme

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

HELD_HEIGHT_MIN = 220
RUNS_HEIGHT = 300


def _go() -> Any:
    import plotly.graph_objects as go

    theme.template()  # registers the product's template once
    return go


def held_by_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``quarantine_by_table``'s rows added up per table: ``table_name``, ``held_rows``,
    largest first (ties by name)."""
    if frame.empty:
        return frame.reindex(columns=["table_name", "held_rows"])
    summed = frame.groupby("table_name", as_index=False)["held_rows"].sum()
    summed["held_rows"] = summed["held_rows"].astype("int64")
    return summed.sort_values(
        ["held_rows", "table_name"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def quarantine_bars(frame: pd.DataFrame) -> go.Figure:
    """Rows held in quarantine per table (from ``quarantine_by_table``), a ranking: horizontal
    bars, the largest on top; the title names the table holding the most."""
    go = _go()
    per_table = held_by_table(frame)
    total = int(per_table["held_rows"].sum()) if len(per_table) else 0
    if total:
        top = per_table.iloc[0]
        share = top["held_rows"] / total
        title = (
            f"{top['table_name']} holds {share:.0%} of the {total:,} rows in quarantine"
            if len(per_table) > 1
            else f"All {total:,} rows in quarantine are in {top['table_name']}"
        )
    else:
        title = "No rows are held in quarantine"
    figure = go.Figure(
        go.Bar(
            x=list(per_table["held_rows"]),
            y=list(per_table["table_name"]),
            orientation="h",
            marker={"color": theme.INK},
            text=[f"{int(v):,}" for v in per_table["held_rows"]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:,} rows held<extra></extra>",
            name="Rows held",
        )
    )
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={
            "text": title,
            "subtitle": {"text": "Rows held now, by source table", "font": {"size": 12}},
        },
        xaxis={"title": {"text": "Rows held (count)"}, "tickformat": ",d"},
        yaxis={"title": {"text": ""}, "autorange": "reversed", "type": "category"},
        height=max(HELD_HEIGHT_MIN, 90 + 24 * len(per_table)),
        showlegend=False,
        margin={"r": 40},
    )
    return figure


def run_trend(frame: pd.DataFrame, column: str, what: str) -> go.Figure:
    """One measure of ``validation_runs`` over the runs (``column``: ``failed_checks`` or
    ``rows_quarantined``; ``what`` how it reads: "checks failing"). A line, time left to
    right; the title compares the last run with the one before."""
    go = _go()
    runs = frame.sort_values("validated_at", kind="stable") if len(frame) else frame
    values = [None if v != v else float(v) for v in runs[column]] if len(runs) else []
    title = f"No validation run yet: no {what}"
    if values:
        last = values[-1] or 0
        title = f"{last:,.0f} {what} in the last run"
        if len(values) > 1 and values[-2] is not None:
            before = values[-2]
            diff = last - before
            title += (
                ", as many as the run before"
                if diff == 0
                else f", {abs(diff):,.0f} {'more' if diff > 0 else 'fewer'} than the run before"
            )
    figure = go.Figure(
        go.Scatter(
            x=list(runs["validated_at"]) if len(runs) else [],
            y=values,
            mode="lines+markers",
            line={"color": theme.INK, "width": 2},
            marker={"size": 7},
            name=what.capitalize(),
            hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:,} " + what + "<extra></extra>",
        )
    )
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={
            "text": title,
            "subtitle": {"text": f"{what.capitalize()}, run by run", "font": {"size": 12}},
        },
        xaxis={"title": {"text": "Validation run (time, UTC)"}, "type": "date"},
        yaxis={"title": {"text": f"{what.capitalize()} (count)"}, "rangemode": "tozero"},
        height=RUNS_HEIGHT,
        showlegend=False,
    )
    return figure
