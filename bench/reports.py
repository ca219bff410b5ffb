"""Benchmark: every catalog report printed to PDF, one reused browser against a browser per report.

The workload of the issue: all reports of the catalog, each with its defaults (a required
employee: the first sales manager of the first branch), run on the published snapshot of the
demo company (``kpiboard demo`` at ``--scale 1`` by default, or the project ``--dir``) and
printed to PDF. Two paths, each in its own process so that its peak memory is its own:

- **kpiboard**: one :class:`reports.runner.Runner` and one :class:`reports.render.pdf.Printer`
  (Debian's chromium, started once), every report run and printed in turn.
- **peer: a fresh browser per report**: the same runs, each printed by ``print_pdf(result)``
  without a printer, which starts chromium for that report and stops it after — the naive way.

For each path: the whole catalog's time, p50 and p95 of a report's time, and of it the query
time (the runner) and the print time (HTML to PDF) apart; the peak memory of the process and
its browser, sampled every 50 ms over the process tree: the sum of the processes' proportional
set sizes (PSS: a page the browser's processes share is counted once, split between them),
the goal's measure, and beside it the sum of their resident sets, which counts each shared page
once per process; and the peak resident set of the Python process alone (``ru_maxrss``: the
runner, DuckDB, pandas, the renderers). The goals on 2 cores: p50 under 0.5 s, the whole catalog
under 90 s and peak memory under 1 GB, for kpiboard; the memory goal is printed both ways, with
the browser and its Playwright driver and without them.
Ratios are peer over kpiboard, measured in the same run.

    python bench/reports.py                 # builds the demo (scale 1) in a temporary folder
    python bench/reports.py --dir demo      # an existing project (built once if missing)
    python bench/reports.py --only 20       # the first 20 reports (a quick look)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run as `python bench/reports.py`, this file's folder comes first on the path, where it would
# stand for the `reports` package: the project's root takes its place
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(ROOT))
GOAL_P50 = 0.5
GOAL_TOTAL = 90.0
GOAL_RSS_MB = 1024.0


# -- memory of a process tree -----------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _memory_kb(pid: int) -> tuple[int, int]:
    """A process's resident memory and its proportional share of it (``Rss``, ``Pss``), kB."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def tree_memory_mb(root: int) -> tuple[float, float]:
    """Memory of ``root`` and all its descendants, in MB: the sum of their resident sets (which
    counts a page every process of the browser shares once per process) and the sum of their
    proportional sets (a shared page split between its sharers: what the tree really holds)."""
    tree = _children()
    rss = pss = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        one_rss, one_pss = _memory_kb(pid)
        rss += one_rss
        pss += one_pss
        stack += tree.get(pid, [])
    return rss / 1024, pss / 1024


class PeakMemory:
    """Samples the process tree's memory in a thread: ``peak`` (proportional sets) and
    ``peak_rss`` (resident sets summed), in MB."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0.0
        self.peak_rss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss, pss = tree_memory_mb(os.getpid())
            self.peak = max(self.peak, pss)
            self.peak_rss = max(self.peak_rss, rss)
            self._stop.wait(self.interval)


# -- one path, in a child process ---------------------------------------------------------------


def _given(runner: Any, report: Any) -> dict[str, str]:
    """Values for a report's required parameters (an employee: the first sales manager)."""
    given = {}
    for parameter in report.parameters:
        if parameter.required and parameter.type == "employee":
            with runner._cursor(runner._published()) as con:
                row = con.execute(
                    "SELECT employee_id FROM core.dim_employee WHERE role = 'sales_manager'"
                    " ORDER BY branch_id, employee_id LIMIT 1"
                ).fetchone()
            given[parameter.name] = str(row[0])
    return given


def child(project: Path, path: str, only: int | None) -> dict[str, Any]:
    from kpiboard.config import load_settings
    from reports.render.pdf import Printer, print_pdf
    from reports.runner import Runner

    runner = Runner.from_settings(load_settings(project))
    reports = list(runner.catalog.reports.values())[:only]
    timings: list[dict[str, Any]] = []
    with PeakMemory() as memory:
        started = time.perf_counter()
        printer = Printer() if path == "kpiboard" else None
        if printer is not None:
            printer.start()
        try:
            for report in reports:
                t0 = time.perf_counter()
                result = runner.run(report, _given(runner, report))
                t1 = time.perf_counter()
                pdf = printer.pdf(result) if printer is not None else print_pdf(result)
                t2 = time.perf_counter()
                timings.append(
                    {
                        "id": report.id,
                        "rows": len(result.frame),
                        "query": t1 - t0,
                        "print": t2 - t1,
                        "total": t2 - t0,
                        "bytes": len(pdf),
                    }
                )
        finally:
            if printer is not None:
                printer.close()
        whole = time.perf_counter() - started
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {
        "path": path,
        "whole": whole,
        "own_rss_mb": own,
        "peak_mb": memory.peak,
        "peak_rss_mb": memory.peak_rss,
        "reports": timings,
    }


def run_path(project: Path, path: str, only: int | None) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", path, "--dir", str(project)]
    if only:
        args += ["--only", str(only)]
    done = subprocess.run(args, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{path} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the report ---------------------------------------------------------------------------------


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(measured: dict[str, Any]) -> dict[str, float]:
    totals = [r["total"] for r in measured["reports"]]
    return {
        "whole": measured["whole"],
        "p50": _p(totals, 0.5),
        "p95": _p(totals, 0.95),
        "query_p50": _p([r["query"] for r in measured["reports"]], 0.5),
        "print_p50": _p([r["print"] for r in measured["reports"]], 0.5),
        "query_sum": sum(r["query"] for r in measured["reports"]),
        "print_sum": sum(r["print"] for r in measured["reports"]),
        "mean": statistics.fmean(totals),
        "peak_mb": measured["peak_mb"],
        "peak_rss_mb": measured["peak_rss_mb"],
        "own_rss_mb": measured["own_rss_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", type=Path, help="demo project to build once and reuse")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", type=int, help="only the first N reports")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.dir, args.child, args.only)))
        return
    project = args.dir or Path(tempfile.mkdtemp(prefix="kpiboard-bench-reports-")) / "demo"
    if not (project / "kpiboard.toml").is_file():
        print(f"building the demo (scale {args.scale}) in {project} …", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "kpiboard",
                "demo",
                "--dir",
                str(project),
                "--scale",
                str(args.scale),
                "--seed",
                str(args.seed),
                "--no-serve",
            ],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
    ours = run_path(project, "kpiboard", args.only)
    peer = run_path(project, "fresh_browser", args.only)
    a, b = summary(ours), summary(peer)
    n = len(ours["reports"])
    print(f"{n} reports to PDF on {project} ({os.cpu_count()} cores)")
    print(f"{'':24}{'kpiboard':>12}{'fresh browser':>15}{'ratio':>8}")
    for key, label in (
        ("whole", "whole catalog, s"),
        ("p50", "p50 per report, s"),
        ("p95", "p95 per report, s"),
        ("query_p50", "  query p50, s"),
        ("print_p50", "  print p50, s"),
        ("query_sum", "  query total, s"),
        ("print_sum", "  print total, s"),
        ("peak_mb", "peak memory (PSS), MB"),
        ("peak_rss_mb", "  RSS summed, MB"),
        ("own_rss_mb", "  the Python process, MB"),
    ):
        ratio = b[key] / a[key] if a[key] else float("nan")
        print(f"{label:24}{a[key]:>12.3f}{b[key]:>15.3f}{ratio:>7.1f}x")
    slowest = sorted(ours["reports"], key=lambda r: -r["total"])[:5]
    print("slowest (kpiboard): " + ", ".join(f"{r['id']} {r['total']:.2f} s" for r in slowest))
    goals = (
        ("p50 under 0.5 s", a["p50"] < GOAL_P50),
        ("catalog under 90 s", a["whole"] < GOAL_TOTAL),
        ("peak memory under 1 GB, browser included", a["peak_mb"] < GOAL_RSS_MB),
        ("peak RSS of the Python process under 1 GB", a["own_rss_mb"] < GOAL_RSS_MB),
    )
    for name, ok in goals:
        print(f"goal {name}: {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
