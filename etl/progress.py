"""What a pipeline run reports while it works (:class:`Progress`).

Its own module so the command line can define its progress bars without importing the pipeline,
which brings in Great Expectations: only the commands that run the pipeline pay for that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etl.load import TableResult
    from etl.sources import SourceTable


class Progress:
    """What a run reports while it works; the command line draws bars from it. No-ops here."""

    def tables_found(self, source: str, tables: Sequence[SourceTable]) -> None: ...
    def rows(self, source: str, table: str, rows: int) -> None: ...
    def table_done(self, result: TableResult) -> None: ...
    def step(self, name: str) -> None: ...
