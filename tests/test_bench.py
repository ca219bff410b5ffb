"""The benchmarks still run: each is a script, run rarely and by hand, so a change elsewhere can
break it unnoticed. These tests run the cheap parts of them (the benchmarks' numbers are not
checked here: they are measured by running the benchmarks)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from kpiboard.demo import install_demo_suites
from validation.suite.model import RowsMatchSource

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_validation_benchmark_has_single_pass_sql_for_every_core_expectation(
    tmp_path: Path,
) -> None:
    """The limit path writes one query per core suite; a kind of expectation it has no SQL for
    stops the whole benchmark."""
    bench = _script("validation")
    install_demo_suites(tmp_path)
    suites = bench.core_suites(tmp_path)
    sources = {
        e.source: 7 for s in suites for e in s.expectations if isinstance(e, RowsMatchSource)
    }
    kinds = set()
    for suite in suites:
        expectations = bench.measured(suite, full=True)
        now = dt.datetime(2026, 11, 1)
        query, ids = bench.single_pass_sql(suite, expectations, now, sources)
        assert len(ids) == len(expectations) and f"u{len(ids) - 1}" in query
        kinds |= {e.KIND for e in expectations}
    assert {"not_null", "unique", "exists_in", "sql", "rows_match_source"} <= kinds


def test_the_generation_benchmark_generates(tmp_path: Path) -> None:
    """Run as a script, the benchmark's folder comes first on sys.path, where bench/etl.py
    would shadow the etl package."""
    child = ["--child", "generate-only", "--targets", "sqlite", "--scale", "0.01"]
    out = subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), *child, "--folder", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["rows"] > 10_000


def test_the_startup_benchmark_times_commands_and_imports(tmp_path: Path) -> None:
    """One run of two commands and one import, on a project with the demo's KPIs: each command
    with its time, its ratio to the bare interpreter and its goal; the module with its time."""
    from kpiboard.demo import install_demo_kpis
    from kpiboard.project import init_project

    init_project(tmp_path, name="bench")
    install_demo_kpis(tmp_path / "kpis")
    argv = [sys.executable, str(BENCH / "startup.py"), "-p", str(tmp_path), "--runs", "1"]
    only = ["--only", "etl run --help", "--only", "kpi list", "--modules", "kpiboard.cli"]
    out = subprocess.run([*argv, *only], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line[:30].strip(): line[30:].split() for line in out.stdout.splitlines()}
    # best, ms, median, ms, times the peer, goal, ms, met
    for name, goal in (("etl run --help", "500"), ("kpi list", "1,000")):
        best, _, _, _, ratio, shown_goal, _, met = rows[name]
        assert float(best.replace(",", "")) > 0 and float(ratio) > 1, rows[name]
        assert (shown_goal, met in ("yes", "NO")) == (goal, True)
    assert "kpi show revenue" not in rows
    imports = [line.split() for line in out.stdout.split("Import time")[1].splitlines()[2:]]
    assert [(i[0], i[2]) for i in imports if i] == [("kpiboard.cli", "ms")]


def test_the_kpi_benchmark_computes_every_kpi_of_its_subset_three_ways() -> None:
    """Each KPI of the subset is a demo KPI, has rows in the hand-written SQL and is emitted by
    the pandas peer: a KPI missing from either would only show as a WRONG RESULT after a long
    run on a built demo."""
    import inspect

    from kpi_designer.loader import load_kpis

    bench = _script("kpi")
    folder = Path(__file__).resolve().parents[1] / "kpiboard" / "demo" / "kpis"
    demo = load_kpis(folder)
    picks = [p.kpi for p in bench.SUBSET]
    assert len(picks) == len(set(picks)) and set(picks) <= set(demo)
    statements = "\n".join(bench.limit_statements().values())
    peer = inspect.getsource(bench._Peer)
    for kpi in picks:
        assert f"'{kpi}'" in statements, kpi
        assert f'"{kpi}"' in peer, kpi
    assert {demo[k].TYPE for k in picks} >= {"balance", "entities", "derived", "conversion"}


def test_the_dashboard_benchmark_sends_callbacks_as_the_browser_does() -> None:
    """Outputs read from the callback map, pattern ids (ALL) expanded to the page's ids, and
    the page's fills found from the address: a payload Dash refuses would only show as an
    HTTP 500 after a server start."""
    bench = _script("dashboard")
    nav = '{"index":["ALL"],"type":"kb-nav"}'
    dependencies = [
        {
            "output": f"..kb-branch.options...{nav}.href..",
            "inputs": [{"id": "url", "property": "search"}],
            "state": [{"id": nav, "property": "id"}],
        },
        {
            "output": "..url.search...kb-period.value..",
            "inputs": [
                {"id": "url", "property": "search"},
                {"id": "kb-period", "property": "value"},
            ],
            "state": [],
        },
        {"output": "x.children", "inputs": [], "state": [], "clientside_function": {}},
    ]
    shell, sync = bench.callbacks_of(dependencies)
    assert [c.name for c in (shell, sync)] == ["kb-branch", "url"]
    assert bench._reads_only_address(shell) and not bench._reads_only_address(sync)
    ids = ["url", {"type": "kb-nav", "index": "a"}, {"type": "kb-nav", "index": "b"}]
    body = shell.payload(ids, {("url", "search"): "?branch=denver"}, ["url.search"])
    assert body["outputs"][1] == [
        {"id": {"type": "kb-nav", "index": "a"}, "property": "href"},
        {"id": {"type": "kb-nav", "index": "b"}, "property": "href"},
    ]
    assert body["inputs"] == [{"id": "url", "property": "search", "value": "?branch=denver"}]
    assert [s["value"] for s in body["state"][0]] == ids[1:]
    layout = {"props": {"id": "url", "children": [{"props": {"id": ids[1]}}]}}
    assert list(bench.walk_ids(layout)) == ids[:2]


def test_the_mailout_benchmark_mails_every_recipient_on_each_path(small_demo: Path) -> None:
    """Three recipients (a branch head, an executive, an employee) on the small demo: each path
    in its own process sends one mail per recipient, counted at the loopback server, with one
    browser for kpiboard's paths and one per recipient for the peer; the table, the ratios and
    the goals are printed."""
    argv = [sys.executable, str(BENCH / "mailout.py"), "--dir", str(small_demo)]
    out = subprocess.run(
        [*argv, "--recipients", "3"], capture_output=True, text=True, check=False, timeout=900
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (
        "recipients: 1 branch heads, 1 executives and analysts, 1 employees, 0 branch mailboxes;"
        " 3 distinct scopes" in out.stdout
    )
    rows = {line[:28].strip(): line[28:].split() for line in out.stdout.splitlines()}
    assert rows["mails received"] == ["3", "3", "3"]
    assert rows["browsers started"] == ["1", "1", "3"]
    assert rows["PDFs printed"] == ["9", "9", "9"]  # three scopes: nothing to share
    for row in ("total, s", "mails/s", "peak memory (PSS), MB", "  the Python process, MB"):
        assert all(float(value) > 0 for value in rows[row.strip()]), row
    ratios = [line.split(": ") for line in out.stdout.splitlines() if line.startswith("peer / ")]
    assert [r[0] for r in ratios] == ["peer / kpiboard", "peer / every recipient rendered"]
    assert all(float(r[1].rstrip("x")) > 0 for r in ratios)
    goals = [line for line in out.stdout.splitlines() if line.startswith("goal ")]
    assert [g.split(":")[0] for g in goals] == [
        "goal batch under 60 s",
        "goal at least 5x the peer",
    ]
    assert all(g.split(": ")[1].split()[0] in ("PASS", "MISS") for g in goals)


def test_the_mailout_benchmark_stops_when_a_mail_is_missing() -> None:
    """A path whose mails the server did not all receive, or that lack a report, stops the
    benchmark with a line saying which."""
    bench = _script("mailout")
    three = ["a.pdf", "b.pdf", "c.pdf"]
    bench.check_received("kpiboard", {"a@x.example": three, "b@x.example": three}, 2, 2)
    with pytest.raises(SystemExit, match="kpiboard: the server received 1 mails for 2 recipients"):
        bench.check_received("kpiboard", {"a@x.example": three}, 2, 2)
    short = {"a@x.example": three, "b@x.example": three[:2]}
    with pytest.raises(SystemExit, match=r"fresh browser: b@x\.example received 2 of 3 PDFs"):
        bench.check_received("fresh_browser", short, 2, 2)
