"""What pages read follows the project: a snapshot published while serving is read at the next
request, and a KPI file saved is in the definitions at the next request — no restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dashboards import data as data_module
from dashboards.data import Data
from kpiboard.config import load_settings

NEW_KPI = """\
kpis:
  - id: invoices_this_test_counts
    label: Invoices this test counts
    description: Every invoice, whatever its status.
    type: simple
    unit: count
    direction: higher
    fact: invoice
    agg: count
"""


@pytest.fixture
def project(small_demo: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "D"
    shutil.copytree(small_demo, folder)
    return folder


def test_a_new_snapshot_and_a_new_kpi_are_read_without_a_restart(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_module, "RECHECK_SECONDS", 0.0)
    data = Data(load_settings(project))
    first = data.snapshot()
    branches = data.branches()
    assert [b for b, _ in branches] == ["austin", "denver", "portland"]
    assert "invoices_this_test_counts" not in data.engine().kpis

    (project / "kpis" / "test_counts.yaml").write_text(NEW_KPI, encoding="utf-8")
    engine = data.engine()
    assert "invoices_this_test_counts" in engine.kpis
    end = data.last_day()
    assert end is not None
    counted = engine.evaluate(
        "invoices_this_test_counts", start=end.replace(day=1), end=end, grain="range"
    )["value"].iloc[0]
    issued = engine.evaluate("invoice_count", start=end.replace(day=1), end=end, grain="range")
    assert counted >= issued["value"].iloc[0] > 0

    run = subprocess.run(
        [sys.executable, "-m", "kpiboard", "etl", "run", "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert data.snapshot() != first
    assert data.as_of() is not None and data.branches() == branches
    # the engine reads the new snapshot: its connection is to the published file
    assert (
        data.engine()
        .evaluate("invoices_this_test_counts", start=end.replace(day=1), end=end, grain="range")[
            "value"
        ]
        .iloc[0]
        == counted
    )


def test_a_kpi_file_with_a_problem_leaves_out_that_kpi_only(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_module, "RECHECK_SECONDS", 0.0)
    data = Data(load_settings(project))
    before = set(data.engine().kpis)
    (project / "kpis" / "broken.yaml").write_text(
        NEW_KPI.replace("agg: count", "agg: sum\n    expr: 'net_amount +'"),
        encoding="utf-8",
    )
    engine = data.engine()
    assert set(engine.kpis) == before
    problem = engine.definitions.left_out["invoices_this_test_counts"]
    assert "broken.yaml" in str(problem.path)
