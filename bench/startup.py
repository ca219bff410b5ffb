"""Benchmark: how long the ``kpiboard`` command line takes to start and answer.

Every command runs as a fresh process, ``--runs`` times (best and median printed); the peer is
the interpreter starting and doing nothing (``python -c pass``), so each command's ratio to it is
what kpiboard adds. Goals (ARCHITECTURE.md, "Start fast"): ``--help`` of any command under 0.5 s,
``kpi list`` under 1 s. Then the import time of each package, each in a fresh process: what a
command pays when it reaches that import.

    .venv/bin/python bench/startup.py                       # builds a small demo project first
    .venv/bin/python bench/startup.py -p demo --runs 7
    .venv/bin/python bench/startup.py -p demo --against main   # before/after in the same run

``--against REF`` also times every command on the code of the git revision REF (exported to a
temporary folder) and prints this tree's time over REF's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# this file is bench/startup.py: run as a script, its folder comes first on sys.path, where
# bench/etl.py would shadow the etl package
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
REPO = _HERE.parent

PEER = "python -c pass"
# name, arguments after `kpiboard` ({p} is the project folder), goal in seconds (None: no goal)
COMMANDS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("--help", ("--help",), 0.5),
    ("etl run --help", ("etl", "run", "--help"), 0.5),
    ("kpi eval --help", ("kpi", "eval", "--help"), 0.5),
    ("kpi list", ("kpi", "list", "-p", "{p}"), 1.0),
    ("kpi show revenue", ("kpi", "show", "revenue", "-p", "{p}"), None),
    ("source list", ("source", "list", "-p", "{p}"), None),
    ("etl status", ("etl", "status", "-p", "{p}"), None),
    ("sql 'select 1'", ("sql", "select 1", "-p", "{p}"), None),
    (
        "kpi eval revenue --by branch",
        ("kpi", "eval", "revenue", "--by", "branch", "-p", "{p}"),
        None,
    ),
)
MODULES = (
    "kpiboard",
    "kpiboard.cli",
    "etl",
    "etl.pipeline",
    "validation",
    "validation.run",
    "kpi_designer",
    "kpi_designer.engine",
    "great_expectations",
    "pandas",
    "duckdb",
    "sqlalchemy",
    "sqlglot",
    "typer",
    "rich",
)


def _env(code: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "COLUMNS": "100"}


def timed(argv: Sequence[str], *, code: Path, runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` fresh processes of ``argv``; a failing run stops the
    benchmark with its output (a fast failure is no measurement)."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=_env(code), cwd=code, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if done.returncode:
            sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds


def import_seconds(module: str, *, code: Path, runs: int) -> float:
    """The best time over ``runs`` fresh processes to import ``module`` (nothing imported before
    it but what the interpreter itself loads)."""
    probe = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    best = float("inf")
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", probe], env=_env(code), cwd=code, capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(f"import {module} failed:\n{done.stderr[-2000:]}")
        best = min(best, float(done.stdout.strip().splitlines()[-1]))
    return best


def build_demo(folder: Path, scale: float) -> Path:
    project = folder / "demo"
    argv = [sys.executable, "-m", "kpiboard", "demo", "--dir", str(project), "--no-serve"]
    print(f"Building a demo project (--scale {scale}) in {project} …", flush=True)
    timed([*argv, "--scale", str(scale)], code=REPO, runs=1)
    return project


def export(ref: str, folder: Path) -> Path:
    """The tree of git revision ``ref`` in ``folder``, to run the commands as they were."""
    tree = folder / "against"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-p", "--project", type=Path, help="A built project (default: a demo).")
    parser.add_argument("--runs", type=int, default=5, help="Fresh processes per command.")
    parser.add_argument("--scale", type=float, default=0.1, help="The demo's scale when built.")
    parser.add_argument("--against", metavar="REF", help="Also time the code of git revision REF.")
    parser.add_argument(
        "--only", action="append", help="Only this command (by its name above; repeatable)."
    )
    parser.add_argument("--modules", help="Comma-separated modules to time (default: all).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kpiboard-startup-") as tmp:
        project = (args.project or build_demo(Path(tmp), args.scale)).resolve()
        old = export(args.against, Path(tmp)) if args.against else None
        commands = [c for c in COMMANDS if not args.only or c[0] in args.only]
        peer = timed([sys.executable, "-c", "pass"], code=REPO, runs=args.runs)
        print(f"\nEach command a fresh process, {args.runs} runs; project {project}")
        print(f"peer: `{PEER}` best {_ms(min(peer))}, median {_ms(statistics.median(peer))}\n")
        head = f"{'kpiboard …':<30} {'best':>9} {'median':>9} {'x peer':>7} {'goal':>8} {'met':>4}"
        if old:
            head += f" {args.against + ' best':>16} {'now/then':>9}"
        print(head)
        for name, template, goal in commands:
            argv = [sys.executable, "-m", "kpiboard", *(a.format(p=project) for a in template)]
            runs = timed(argv, code=REPO, runs=args.runs)
            best = min(runs)
            line = (
                f"{name:<30} {_ms(best):>9} {_ms(statistics.median(runs)):>9} "
                f"{best / min(peer):>7.1f} {_ms(goal) if goal else '-':>8} "
                f"{('yes' if best < goal else 'NO') if goal else '':>4}"
            )
            if old:
                then = min(timed(argv, code=old, runs=args.runs))
                line += f" {_ms(then):>16} {best / then:>9.2f}"
            print(line, flush=True)

        modules = args.modules.split(",") if args.modules else MODULES
        print(f"\nImport time, each module alone in a fresh process (best of {args.runs})")
        print(f"{'module':<22} {'now':>9}" + (f" {args.against:>12}" if old else ""))
        for module in modules:
            line = f"{module:<22} {_ms(import_seconds(module, code=REPO, runs=args.runs)):>9}"
            if old:
                line += f" {_ms(import_seconds(module, code=old, runs=args.runs)):>12}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
