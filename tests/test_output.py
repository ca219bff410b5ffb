"""``emit``'s tables in a narrow terminal: the row's id and its numbers are never split."""

from __future__ import annotations

import io

import pytest

from kpiboard.output import Format, emit

ROWS = [
    {
        "id": "active_clients_rolling_12m",
        "label": "Clients with a purchase in the last twelve months",
        "defined_at": "kpis/clients.yaml:74",
        "rows": 1_234_567,
    },
    {"id": "revenue", "label": "Revenue", "defined_at": "kpis/sales.yaml:3", "rows": 98_765},
]


@pytest.mark.parametrize("width", [60, 80])
def test_a_narrow_table_keeps_ids_and_numbers_whole(
    monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    out = io.StringIO()
    emit(ROWS, Format.table, out=out)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    for whole in ("active_clients_rolling_12m", "1,234,567", "98,765"):
        assert whole in text, (whole, text)


def test_a_table_too_wide_to_wrap_prints_each_row_as_a_block_with_nothing_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    row = {f"column_{i}": f"value number {i}" for i in range(8)}
    out = io.StringIO()
    emit([row], Format.table, out=out)
    assert out.getvalue().splitlines() == [f"column_{i}: value number {i}" for i in range(8)]
