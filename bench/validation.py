"""Benchmark: the core expectation suites, pushed down into DuckDB through GX, against its peers.

Builds the demo company at ``--scale`` (default 10: about ten million fact rows; or reuses the
project ``--dir``), copies the published snapshot, and runs every expectation of every core
suite (``suites/core/*.yaml``) on its ``core`` tables along these paths, each in a fresh process
that reports the seconds of the checking alone and its own peak RSS:

- **kpiboard**: ``validation.run.plan`` (untimed; it creates the ``_validation`` schema, hence
  the writable copy) and ``validation.run.check`` for layer ``core``, the pipeline's own path:
  GX 1.x's SQL engine pushed down into DuckDB, one ephemeral context for all tables and one
  ``batch.validate`` per expectation (a unique column first asked for its proportion of unique
  values). Run twice: on the full suite, and without the custom-SQL
  expectations (``exists_in`` and ``sql``, which become ``UnexpectedRowsExpectation``).
- **GX pandas** (the peer): the same GX expectation objects, with the same result format, on
  pandas DataFrames: each core table read whole with DuckDB's ``.df()`` (read time included),
  an ephemeral context's pandas data source, a dataframe asset and a batch per table. GX cannot
  run custom SQL on pandas, so the peer skips those expectations and is compared with the
  kpiboard run that skips them too.
- **single-pass SQL** (the limit): one query per table, generated from the suite model, that
  computes every expectation's checked and unexpected counts in one scan of the table
  (``count(*) FILTER (WHERE ...)``; ``count(c) - count(DISTINCT c)`` for unique, with an exact
  follow-up query only where that finds duplicates; for ``exists_in`` a left join to the
  referenced keys, for ``sql`` a count of the rule's own query). Run on both sets. Its counts
  must equal kpiboard's: a difference is printed as a WRONG RESULT.

The parent prints one table and the goals of the issue, each PASS or FAIL: kpiboard at least 5x
faster than the GX pandas peer with "far less memory" (read here as at most 1/5 of its peak
RSS, the bar bench/etl.py sets), and at most 3x the single-pass SQL's time on the full suite.
The machine may be shared, so all paths run in the same session and the ratios are what to read.

    .venv/bin/python bench/validation.py                     # scale 10 demo in a temp folder
    .venv/bin/python bench/validation.py --scale 1           # a quick run
    .venv/bin/python bench/validation.py --dir /tmp/demo10 --scale 10   # build once, reuse after

With ``--dir`` the demo is built there unless a snapshot is already published (then ``--scale``
is not looked at); without it, in a temporary folder removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# this file is bench/validation.py: run as a script, its folder comes first on sys.path and would
# shadow the ``validation`` package it measures
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

if TYPE_CHECKING:
    from validation.suite import Expectation, Suite

LAYER = "core"
CUSTOM_KINDS = frozenset({"exists_in", "sql"})
"""Kinds that map onto GX's ``UnexpectedRowsExpectation``: custom SQL, which pandas cannot run."""

MODES = ("kpiboard-full", "kpiboard", "pandas", "sql", "sql-full", "floor")
LABELS = {
    "kpiboard-full": "kpiboard (GX pushed down)",
    "kpiboard": "kpiboard (GX pushed down)",
    "pandas": "peer: GX pandas engine",
    "sql": "limit: single-pass SQL",
    "sql-full": "limit: single-pass SQL",
    "floor": "imports only (GX, pandas)",
}
FULL_MODES = frozenset({"kpiboard-full", "sql-full"})


# -- the suites -----------------------------------------------------------------------------------


def core_suites(folder: Path) -> list[Suite]:
    from validation.suite import load_suites

    return [s for s in load_suites(folder) if s.layer == LAYER]


def measured(suite: Suite, *, full: bool) -> list[Expectation]:
    """The suite's expectations a path runs: all, or all but the custom-SQL ones."""
    return [e for e in suite.expectations if full or e.KIND not in CUSTOM_KINDS]


def expectation_id(suite: Suite, expectation: Expectation) -> str:
    return f"{suite.table}:{expectation.name}"  # as validation.run.Planned.id


def resolve(reference: str) -> str:
    """``validation.run.resolve``, which the parent checks this equals, without importing GX (as
    ``validation.run`` does): the single-pass SQL's process stays free of it."""
    scope, _, table = reference.partition(".")
    schema = "core" if scope == "core" else f"stg_{scope}"
    return f'"{schema}"."{table}"'


def references(suites: Sequence[Suite]) -> set[str]:
    found = {s.table for s in suites}
    for suite in suites:
        for e in suite.expectations:
            found |= {table for table, _ in e.references()}
    return found


# -- the limit: one single-pass query per table ----------------------------------------------------


def single_pass_sql(
    suite: Suite,
    expectations: Sequence[Expectation],
    now: dt.datetime,
    sources: Mapping[str, int],
) -> tuple[str, list[str]]:
    """One query over the suite's table giving, per expectation, a checked and an unexpected
    count (columns ``c<i>`` and ``u<i>``), in the order of ``expectations``; returns the query and
    the expectation ids. ``unique`` gives the number of *extra* copies, 0 exactly when GX's count
    (every row of a repeated value) is 0; :func:`exact_duplicates_sql` gives GX's count.
    ``rows_match_source`` compares the table's rows with ``sources`` (:func:`source_rows`)."""
    from validation.suite import (
        Between,
        ExistsIn,
        Fresh,
        InSet,
        NotNull,
        Regex,
        Sql,
        Unique,
    )
    from validation.suite.model import RowsMatchSource, quote, sql_literal

    joins: list[str] = []
    cells: list[str] = []
    for i, e in enumerate(expectations):
        where = [f.sql("t") for f in getattr(e, "where", ())]
        checked = _count(where)
        if isinstance(e, NotNull):
            unexpected = _count([f"t.{quote(e.column)} IS NULL", *where])
        elif isinstance(e, Unique):
            values = [f"t.{quote(c)}" for c in (*e.scope, *e.unique_columns)]
            present = [f"{v} IS NOT NULL" for v in values] + where
            distinct = values[0] if len(values) == 1 else f"({', '.join(values)})"
            unexpected = f"{_count(present)} - count(DISTINCT {distinct}) FILTER (WHERE " + (
                " AND ".join(present) + ")"
            )
        elif isinstance(e, Regex):
            pattern = sql_literal(e.pattern)
            unexpected = _count([f"NOT regexp_matches(t.{quote(e.column)}, {pattern})", *where])
        elif isinstance(e, Between):
            column = f"t.{quote(e.column)}"
            outside = []
            if e.min_value is not None:
                outside.append(f"{column} < {sql_literal(e.min_value)}")
            if e.max_value is not None:
                outside.append(f"{column} > {sql_literal(e.max_value)}")
            unexpected = _count([f"({' OR '.join(outside)})", *where])
        elif isinstance(e, InSet):
            values_sql = ", ".join(sql_literal(v) for v in e.values)
            unexpected = _count([f"t.{quote(e.column)} NOT IN ({values_sql})", *where])
        elif isinstance(e, ExistsIn):
            alias = f"r{i}"
            ref_columns = [f"{quote(e.ref_column)} AS k", *(quote(c) for c in e.scope)]
            match = [f"{alias}.k = t.{quote(e.column)}"]
            match += [f"{alias}.{quote(c)} = t.{quote(c)}" for c in e.scope]
            joins.append(
                f"LEFT JOIN (SELECT DISTINCT {', '.join(ref_columns)} "
                f"FROM {resolve(e.ref_table)}) AS {alias} ON {' AND '.join(match)}"
            )
            unexpected = _count([f"t.{quote(e.column)} IS NOT NULL", f"{alias}.k IS NULL", *where])
        elif isinstance(e, Sql):
            unexpected = f"(SELECT count(*) FROM ({e.unexpected_rows_sql(resolve)}))"
        elif isinstance(e, Fresh):
            newest = f"max(t.{quote(e.column)})" + (
                f" FILTER (WHERE {' AND '.join(where)})" if where else ""
            )
            oldest_allowed = sql_literal(now - e.max_age)
            checked = "1"
            unexpected = f"CASE WHEN {newest} >= {oldest_allowed} THEN 0 ELSE 1 END"
        elif isinstance(e, RowsMatchSource):
            checked = "1"
            unexpected = f"CASE WHEN count(*) = {sources[e.source]} THEN 0 ELSE 1 END"
        else:
            raise SystemExit(f"{e.location}: the benchmark has no single-pass SQL for {e.KIND}")
        cells += [f"{checked} AS c{i}", f"{unexpected} AS u{i}"]
    query = f"SELECT {', '.join(cells)}\nFROM {resolve(suite.table)} AS t\n" + "\n".join(joins)
    return query, [expectation_id(suite, e) for e in expectations]


def source_rows(database: Path, suites: Sequence[Suite]) -> dict[str, int]:
    """What each core table's ``rows_match_source`` compares with, as the pipeline gives it
    (:func:`validation.run.passed_counts`: the rows its raw table passed on). Counted once by
    the parent and handed to every path, as the pipeline counts them before it checks the core
    layer: not timed, and not in any path's memory."""
    import duckdb

    from validation.run import passed_counts

    with duckdb.connect(str(database), read_only=True) as con:
        return passed_counts(con, suites)


def exact_duplicates_sql(suite: Suite, expectation: Expectation) -> str:
    """GX's unexpected count for ``unique``: every row whose value (combination) repeats."""
    from validation.suite import Unique
    from validation.suite.model import quote

    assert isinstance(expectation, Unique)
    columns = [quote(c) for c in (*expectation.scope, *expectation.unique_columns)]
    conditions = [f"{c} IS NOT NULL" for c in columns] + [f.sql("t") for f in expectation.where]
    listed = ", ".join(columns)
    return (
        f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {resolve(suite.table)} AS t "
        f"WHERE {' AND '.join(conditions)} GROUP BY {listed} HAVING count(*) > 1)"
    )


def _count(conditions: Sequence[str]) -> str:
    return f"count(*) FILTER (WHERE {' AND '.join(conditions)})" if conditions else "count(*)"


# -- the measured runs, each in a fresh process ---------------------------------------------------


def _peak_mb() -> float:
    """This process's peak RSS since it started its program (Linux's ``VmHWM``).

    Not ``ru_maxrss``: on Linux that survives ``exec`` and starts from the RSS of the process
    that forked, so every child would report at least the parent's (which has imported GX).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(
    mode: str, database: Path, suites_dir: Path, now: dt.datetime, sources: Mapping[str, int]
) -> dict[str, Any]:
    """One measured run, in this (fresh) process; ``sources``: :func:`source_rows`."""
    suites = core_suites(suites_dir)
    full = mode in FULL_MODES
    if mode in ("kpiboard", "kpiboard-full"):
        return _kpiboard(database, suites, now, sources, full=full)
    if mode == "pandas":
        return _pandas(database, suites, sources)
    if mode in ("sql", "sql-full"):
        return _single_pass(database, suites, now, sources, full=full)
    if mode == "floor":
        import duckdb  # noqa: F401
        import great_expectations  # noqa: F401
        import pandas  # noqa: F401

        from validation import run  # noqa: F401

        return {"seconds": 0.0, "peak_mb": _peak_mb(), "counts": {}, "errors": {}}
    raise SystemExit(f"unknown mode {mode!r}")


def _warm_up_gx() -> None:
    """Create and drop one ephemeral context: GX imports much of itself on first use, which a
    pipeline run has paid already (raw validation) before it checks the core layer."""
    import great_expectations as gx

    gx.get_context(mode="ephemeral")


def _kpiboard(
    database: Path,
    suites: list[Suite],
    now: dt.datetime,
    sources: Mapping[str, int],
    *,
    full: bool,
) -> dict[str, Any]:
    import duckdb

    from validation.run import check, plan

    con = duckdb.connect(str(database))
    try:
        planned = plan(con, suites, layer=LAYER, keys={})
        con.execute("CHECKPOINT")
    finally:
        con.close()
    planned = [p for p in planned if full or p.expectation.KIND not in CUSTOM_KINDS]
    _warm_up_gx()
    started = time.perf_counter()
    outcomes = check(database, planned, now=now, source_rows=sources)
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    return {
        "seconds": seconds,
        "peak_mb": peak,
        "counts": {o.planned.id: [o.result.checked, o.result.unexpected] for o in outcomes},
        "errors": {o.planned.id: o.result.error for o in outcomes if o.result.error},
    }


def _pandas(database: Path, suites: list[Suite], sources: Mapping[str, int]) -> dict[str, Any]:
    import duckdb
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations import UnexpectedRowsExpectation

    from validation.engine import Check, _result_format

    _warm_up_gx()
    started = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("bench")
    con = duckdb.connect(str(database), read_only=True)
    counts: dict[str, list[int]] = {}
    errors: dict[str, str] = {}
    read_seconds = 0.0
    for suite in suites:
        expectations = measured(suite, full=False)
        if not expectations:
            continue
        read_started = time.perf_counter()
        frame = con.execute(f"SELECT * FROM {resolve(suite.table)}").df()
        read_seconds += time.perf_counter() - read_started
        asset = source.add_dataframe_asset(name=suite.table)
        definition = asset.add_batch_definition_whole_dataframe("whole_frame")
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        for e in expectations:
            key = expectation_id(suite, e)
            expectation = e.to_gx(resolve, now=None, source_rows=sources.__getitem__)
            assert not isinstance(expectation, UnexpectedRowsExpectation), key
            result_format = _result_format(Check(key, expectation, suite.row_key or ()))
            validation = batch.validate(expectation, result_format=result_format)
            info = validation.exception_info or {}
            failures = [info, *(v for v in info.values() if isinstance(v, dict))]
            failed = [f for f in failures if f.get("raised_exception")]
            if failed:
                errors[key] = str(failed[0].get("exception_message"))
                continue
            result = validation.result
            if "unexpected_count" in result:
                counts[key] = [int(result["element_count"]), int(result["unexpected_count"])]
            else:
                counts[key] = [1, 0 if validation.success else 1]
        del batch, frame
        gc.collect()
    con.close()
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    return {
        "seconds": seconds,
        "peak_mb": peak,
        "counts": counts,
        "errors": errors,
        "read_seconds": read_seconds,
    }


def _single_pass(
    database: Path,
    suites: list[Suite],
    now: dt.datetime,
    sources: Mapping[str, int],
    *,
    full: bool,
) -> dict[str, Any]:
    import duckdb

    # the queries are written before the clock starts
    queries = [
        (suite, expectations, *single_pass_sql(suite, expectations, now, sources))
        for suite in suites
        if (expectations := measured(suite, full=full))
    ]
    con = duckdb.connect(str(database), read_only=True)
    started = time.perf_counter()
    counts: dict[str, list[int]] = {}
    follow_ups = 0
    for suite, expectations, query, ids in queries:
        row = con.execute(query).fetchone()
        assert row is not None
        for i, (key, e) in enumerate(zip(ids, expectations, strict=True)):
            checked, unexpected = int(row[2 * i]), int(row[2 * i + 1])
            if e.KIND == "unique" and unexpected > 0:
                follow_ups += 1
                exact = con.execute(exact_duplicates_sql(suite, e)).fetchone()
                unexpected = int(exact[0]) if exact else 0
            counts[key] = [checked, unexpected]
    seconds = time.perf_counter() - started
    con.close()
    peak = _peak_mb()
    return {
        "seconds": seconds,
        "peak_mb": peak,
        "counts": counts,
        "errors": {},
        "follow_ups": follow_ups,
    }


def run(
    mode: str, database: Path, suites_dir: Path, now: dt.datetime, sources: Mapping[str, int]
) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", mode, "--database", str(database)]
    argv += ["--source-rows", json.dumps(dict(sources))]
    out = subprocess.run(
        [*argv, "--suites", str(suites_dir), "--now", now.isoformat()],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"{mode}: the measured run failed (exit {out.returncode})")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the demo -------------------------------------------------------------------------------------


def build_demo(folder: Path, *, scale: float, seed: int) -> None:
    """Generate the demo company's sources into ``folder`` and run the pipeline once."""
    from etl import pipeline
    from kpiboard.config import load_settings
    from kpiboard.demo import (
        build_sources,
        demo_sources,
        install_demo_models,
        install_demo_suites,
    )
    from kpiboard.project import init_project

    if not (folder / "kpiboard.toml").exists():
        init_project(folder, name="validation benchmark (demo)", sources=demo_sources())
    install_demo_models(folder / "models")
    install_demo_suites(folder / "suites")
    started = time.perf_counter()
    template = f"sqlite:///{(folder / 'sources').resolve()}/{{db}}.sqlite"
    built = build_sources(template, seed=seed, scale=scale)
    print(f"  sources: {built.total_rows:,} rows in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    result = pipeline.run(load_settings(folder), full=True)
    if result.status != pipeline.SUCCESS:
        raise SystemExit(f"the demo's pipeline run {result.status}: {result.errors}")
    print(f"  pipeline: {time.perf_counter() - started:.0f} s", flush=True)


def published(folder: Path) -> Path | None:
    from kpiboard.config import load_settings

    if not (folder / "kpiboard.toml").exists():
        return None
    return load_settings(folder).open_warehouse().published()


def table_rows(database: Path, suites: list[Suite]) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        rows = {}
        for suite in suites:
            found = con.execute(f"SELECT count(*) FROM {resolve(suite.table)}").fetchone()
            rows[suite.table] = int(found[0]) if found else 0
        return rows


# -- the report -----------------------------------------------------------------------------------

LINE = "{:<28} {:<15} {:>12} {:>8} {:>8}  {}"
ORDER = ("kpiboard-full", "sql-full", "kpiboard", "pandas", "sql")


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of a path's runs, with the highest peak RSS of any of them."""
    fastest = min(runs, key=lambda run: float(run["seconds"]))
    return {
        **fastest,
        "peak_mb": max(run["peak_mb"] for run in runs),
        "runs": [run["seconds"] for run in runs],
    }


def show(mode: str, what: str, count: int | str, r: dict[str, Any]) -> None:
    seconds = f"{r['seconds']:.2f}" if mode != "floor" else "-"
    runs = " ".join(f"{x:.2f}" for x in r["runs"]) if mode != "floor" else ""
    print(LINE.format(LABELS[mode], what, count, seconds, f"{r['peak_mb']:.0f}", runs))


def compare(
    ours: dict[str, Any], theirs: dict[str, Any], who: str, label: str, problems: list[str]
) -> None:
    """Every count of ``ours`` must equal ``theirs``'; differences go to ``problems``."""
    for key, counts in ours["counts"].items():
        other = theirs["counts"].get(key)
        if other != counts:
            problems.append(
                f"{label}: {key}: kpiboard checked/unexpected {counts}, {who} {other}"
                + (f" ({theirs['errors'][key]})" if key in theirs["errors"] else "")
            )
    for key in set(theirs["counts"]) - set(ours["counts"]):
        problems.append(f"{label}: {key}: {who} has a count, kpiboard none")


def verdicts(r: dict[str, dict[str, Any]], same: int, full: int) -> list[str]:
    def mark(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    ours, full_run, peer = r["kpiboard"], r["kpiboard-full"], r["pandas"]
    speed = peer["seconds"] / ours["seconds"]
    memory = ours["peak_mb"] / peer["peak_mb"]
    limit_full = full_run["seconds"] / r["sql-full"]["seconds"]
    limit_same = ours["seconds"] / r["sql"]["seconds"]
    return [
        f"  [{mark(speed >= 5)}] {speed:.1f}x faster than GX's pandas engine on the {same} "
        "expectations both run (goal >= 5x)",
        f"  [{mark(memory <= 0.2)}] peak RSS {memory:.3f} of the pandas peer's "
        f'({ours["peak_mb"]:.0f} / {peer["peak_mb"]:.0f} MB; "far less memory", read as '
        "<= 0.20)",
        f"  [{mark(limit_full <= 3)}] full suite ({full} expectations) {limit_full:.1f}x the "
        "single-pass SQL's time (goal <= 3x)",
        f"  [{mark(limit_same <= 3)}] without custom SQL ({same} expectations) {limit_same:.1f}x "
        "the single-pass SQL's time (the same goal, on the peer's set)",
        f"  [info] full suite peak RSS {full_run['peak_mb']:.0f} MB, "
        f"{full_run['peak_mb'] / peer['peak_mb']:.2f} of the peer's (which cannot run it)",
    ]


NOTES = """\
what each number is:
  seconds   the best of the runs (all in the last column), each the wall time of the checking
            alone in the path's own fresh process: imports, GX's first context (created and
            dropped once before timing: a pipeline run has paid it in raw validation) and
            kpiboard's plan() are excluded; the pandas peer's read of each table into a
            DataFrame is included (it is what that path costs).
  peak MB   the highest VmHWM (peak RSS) of the path's processes: interpreter, libraries and
            DuckDB's own memory included; "imports only" is the floor every GX path starts from.
  kpiboard (GX pushed down)   validation.run.check() on plan()'s list, as the pipeline runs it:
                              one ephemeral GX context, one batch.validate() per
                              expectation, SQL run inside DuckDB.
  peer: GX pandas engine      the same GX expectations and result format on each table read
                              whole into pandas; one table in memory at a time.
  limit: single-pass SQL      one generated query per table; unique as count(c) -
                              count(DISTINCT c), followed by an exact count only where there
                              are duplicates; exists_in as a left join to the distinct keys.
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, help="demo project to build once and reuse")
    parser.add_argument("--keep", action="store_true", help="keep the temporary demo project")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each path, interleaved; the best counts"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--suites", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--source-rows", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        now = dt.datetime.fromisoformat(args.now)
        sources = json.loads(args.source_rows)
        print(json.dumps(child(args.child, args.database, args.suites, now, sources)))
        return

    started = time.perf_counter()
    temporary = args.dir is None
    project = args.dir or Path(tempfile.mkdtemp(prefix="kpiboard-bench-validation-"))
    work = Path(tempfile.mkdtemp(prefix="kpiboard-bench-validation-copy-"))
    try:
        snapshot = published(project)
        if snapshot is None:
            print(f"building the demo at scale {args.scale:g} in {project}", flush=True)
            build_demo(project, scale=args.scale, seed=args.seed)
            snapshot = published(project)
            assert snapshot is not None
            scale_note = f"scale {args.scale:g}"
        else:
            scale_note = "reused, scale as built"
        database = work / "snapshot.duckdb"
        shutil.copyfile(snapshot, database)  # plan() writes its _validation schema
        suites_dir = project / "suites"
        suites = core_suites(suites_dir)
        from validation import run as validation_run

        for reference in references(suites):
            assert resolve(reference) == validation_run.resolve(reference), reference
        rows = table_rows(database, suites)
        sources = source_rows(database, suites)
        facts = sum(n for table, n in rows.items() if table.startswith("core.fct_"))
        full = sum(len(measured(s, full=True)) for s in suites)
        same = sum(len(measured(s, full=False)) for s in suites)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        print(
            f"\ncore suites of the demo ({scale_note}; {project}): {len(suites)} tables, "
            f"{sum(rows.values()):,} rows of which {facts:,} in fct_ tables; {full} expectations, "
            f"{full - same} of them custom SQL (exists_in, sql), which GX's pandas engine "
            f"cannot run: the peer skips them, and so does the kpiboard run compared with it\n"
        )
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in ORDER}
        for round_ in range(1, args.repeat + 1):
            for mode in ORDER:
                runs[mode].append(run(mode, database, suites_dir, now, sources))
            seconds = ", ".join(f"{m} {runs[m][-1]['seconds']:.2f} s" for m in ORDER)
            print(f"  round {round_}/{args.repeat}: {seconds}", flush=True)
        r = {mode: best(runs[mode]) for mode in ORDER}
        r["floor"] = best([run("floor", database, suites_dir, now, sources)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if temporary and not args.keep:
            shutil.rmtree(project, ignore_errors=True)
        elif temporary:
            print(f"\ndemo project kept at {project}")

    print()
    header = LINE.format("path", "expectations", "count", "seconds", "peak MB", "runs (s)")
    print(header)
    print("-" * len(header))
    for mode in (*ORDER, "floor"):
        what = "-" if mode == "floor" else "full suite" if mode in FULL_MODES else "no custom SQL"
        count = "-" if mode == "floor" else full if mode in FULL_MODES else same
        show(mode, what, count, r[mode])

    problems: list[str] = []
    for mode in ORDER:  # every run of a path counts the same
        for later in runs[mode][1:]:
            if later["counts"] != runs[mode][0]["counts"]:
                problems.append(f"{mode}: the runs' counts differ")
    for mode in ("kpiboard-full", "kpiboard"):
        problems += [f"{mode}: {key}: could not run: {e}" for key, e in r[mode]["errors"].items()]
    compare(r["kpiboard-full"], r["sql-full"], "single-pass SQL", "full suite", problems)
    compare(r["kpiboard"], r["sql"], "single-pass SQL", "no custom SQL", problems)
    disagreements: list[str] = []
    compare(r["kpiboard"], r["pandas"], "GX pandas", "peer", disagreements)

    print()
    print(
        f"the pandas peer read its tables into DataFrames in {r['pandas']['read_seconds']:.2f} s "
        "of its time; the single-pass SQL needed "
        f"{r['sql-full']['follow_ups']} exact duplicate count(s)\n"
    )
    print(NOTES)
    print("kpiboard against its peer, its limit and the goals")
    print("\n".join(verdicts(r, same, full)))
    for problem in problems:
        print(f"WRONG RESULT: {problem}")
    for problem in disagreements:
        print(f"PEER DISAGREES: {problem}")
    if not problems:
        print(f"\nevery count of kpiboard's {full} expectations equals the single-pass SQL's")
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
