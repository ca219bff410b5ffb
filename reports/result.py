"""What a report run gives its renderers: the rows and everything the page says about them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reports.model import Column, Report

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Result:
    """A report's answer: its parameters as the header shows them (the scope last), every
    column the query returned, the columns shown, and where the data comes from."""

    report: Report
    parameters: tuple[tuple[str, str], ...]
    frame: pd.DataFrame
    columns: tuple[Column, ...]
    currency: str
    snapshot_at: dt.datetime
    data_end: dt.date | None
    company: str
    query_seconds: float
