"""The unit the demo generator produces: rows for one table of one database."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Batch:
    """Rows for one table of one database; columns in the table's order."""

    database: str
    table: str
    frame: pd.DataFrame
