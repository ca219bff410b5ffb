"""Benchmark: the ETL's copy of one large source table into a DuckDB snapshot.

One source table of ``--rows`` rows (default five million; 10 columns: BIGINT key, two
NUMERIC(12,2) one of them 10% NULL, INTEGER, two VARCHAR/TEXT one of them 10% NULL with lengths
from 1 to 120, two TIMESTAMP with ``updated_at`` spread over 2024-2025, DATE, BOOLEAN; an index
on ``updated_at``) is built once per target engine, then four paths read it, each in a fresh
process that reports its seconds and its own peak RSS:

- **kpiboard full**: ``etl.pipeline.run(settings, full=True)`` end to end on a fresh project
  (discovery, ConnectorX ``arrow_stream``, casts into DuckDB, publish, run history).
- **naive pandas** (the peer): ``pandas.read_sql(sql, engine, chunksize=100_000)`` on a
  SQLAlchemy engine with kpiboard's drivers (psycopg 3, PyMySQL, sqlite3), each chunk put into a
  fresh DuckDB file with ``con.register`` and ``INSERT INTO … SELECT * FROM chunk``.
- **transport limit**: the engine's own client reading every row and throwing it away:
  PostgreSQL ``psql \\copy … TO '/dev/null' (FORMAT binary)``; MariaDB ``mariadb -e "SELECT *"``
  (text protocol); SQLite a ``SELECT`` through Python's ``sqlite3`` with ``fetchmany``.
- **kpiboard incremental**: after the full run, 1% of the rows (every 100th id) get new values
  and ``updated_at = now``; then ``etl.pipeline.run(settings)`` on the same project.

The parent prints one table and the ratios kpiboard promises, each marked PASS or FAIL: a full
refresh at least 7x faster than the naive peer with at most 1/5 of its peak memory, at most 2x
the transport limit's time, an incremental run at most 15% of the full refresh's time, and
kpiboard's peak RSS under 1 GB. The machine may be shared, so the peers always run in the same
session and the ratios are what to read.

    .venv/bin/python bench/etl.py                       # 5,000,000 rows, all three engines
    .venv/bin/python bench/etl.py --rows 500000         # a quick run
    .venv/bin/python bench/etl.py --targets postgres --keep

PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB (127.0.0.1:3306, root) use a database
named ``kpiboard_bench``, dropped at the end unless ``--keep``; SQLite uses a temporary file
(kept, and its path printed, with ``--keep``). MariaDB's timestamps are ``DATETIME`` (its
``TIMESTAMP`` is a time-zone-converted type limited to 2038).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# this file is bench/etl.py: run as a script, its folder comes first on sys.path and would shadow
# the ``etl`` package it measures
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

DATABASE = "kpiboard_bench"
SERVERS = {
    "postgres": f"postgresql://postgres@127.0.0.1:5432/{DATABASE}",
    "mariadb": f"mysql://root@127.0.0.1:3306/{DATABASE}",
}
TARGETS = ("postgres", "sqlite", "mariadb")
CHUNK = 100_000
TOUCH_EVERY = 100  # the incremental run's changed rows: every 100th id, 1%

# -- the source table ---------------------------------------------------------------------------

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation"
)
EPOCH_2024 = 1_704_067_200  # 2024-01-01 00:00:00 UTC
TWO_YEARS = 63_072_000  # seconds

# one row per id g, the same values on every engine; g * 48271 scatters updated_at over the range
_COLUMNS = """
    g,
    ((g * 7919) % 1000000) / 100.0,
    CASE WHEN g % 10 = 3 THEN NULL ELSE ((g * 104729) % 50000) / 100.0 END,
    (g * 31) % 1000,
    {customer},
    CASE WHEN g % 10 = 7 THEN NULL ELSE substr('{lorem}', 1, {note_length}) END,
    {created_at},
    {updated_at},
    {due_date},
    g % 3 <> 0"""

DDL = {
    "postgres": """CREATE TABLE bench (
        id BIGINT PRIMARY KEY, amount NUMERIC(12,2) NOT NULL, discount NUMERIC(12,2),
        quantity INTEGER NOT NULL, customer VARCHAR(40) NOT NULL, note TEXT,
        created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, due_date DATE NOT NULL,
        active BOOLEAN NOT NULL)""",
    "mariadb": """CREATE TABLE bench (
        id BIGINT PRIMARY KEY, amount NUMERIC(12,2) NOT NULL, discount NUMERIC(12,2),
        quantity INTEGER NOT NULL, customer VARCHAR(40) NOT NULL, note TEXT,
        created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, due_date DATE NOT NULL,
        active BOOLEAN NOT NULL) ENGINE=InnoDB""",
    "sqlite": """CREATE TABLE bench (
        id BIGINT PRIMARY KEY, amount NUMERIC(12,2) NOT NULL, discount NUMERIC(12,2),
        quantity INTEGER NOT NULL, customer VARCHAR(40) NOT NULL, note TEXT,
        created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, due_date DATE NOT NULL,
        active BOOLEAN NOT NULL)""",
}

_EXPRESSIONS = {
    "postgres": {
        "customer": "'customer ' || ((g * 48271) % 100000)",
        "note_length": "CAST(1 + (g * 13) % 120 AS INTEGER)",
        "created_at": (
            f"TIMESTAMP '2024-01-01' + ((g * 48271) % {TWO_YEARS} - g % 2592000) "
            "* INTERVAL '1 second'"
        ),
        "updated_at": f"TIMESTAMP '2024-01-01' + ((g * 48271) % {TWO_YEARS}) * INTERVAL '1 second'",
        "due_date": "DATE '2024-01-01' + ((g * 48271) % 730)::int",
    },
    "mariadb": {
        "customer": "concat('customer ', (g * 48271) % 100000)",
        "note_length": "1 + (g * 13) % 120",
        "created_at": (
            f"TIMESTAMP '2024-01-01 00:00:00' "
            f"+ INTERVAL ((g * 48271) % {TWO_YEARS} - g % 2592000) SECOND"
        ),
        "updated_at": (
            f"TIMESTAMP '2024-01-01 00:00:00' + INTERVAL ((g * 48271) % {TWO_YEARS}) SECOND"
        ),
        "due_date": "DATE '2024-01-01' + INTERVAL ((g * 48271) % 730) DAY",
    },
    "sqlite": {
        "customer": "'customer ' || ((g * 48271) % 100000)",
        "note_length": "1 + (g * 13) % 120",
        "created_at": (
            f"datetime({EPOCH_2024} + (g * 48271) % {TWO_YEARS} - g % 2592000, 'unixepoch')"
        ),
        "updated_at": f"datetime({EPOCH_2024} + (g * 48271) % {TWO_YEARS}, 'unixepoch')",
        "due_date": f"date({EPOCH_2024} + ((g * 48271) % 730) * 86400, 'unixepoch')",
    },
}

# the incremental run's change at the source: new values, updated_at = now, on 1% of the ids
TOUCH = {
    "postgres": (
        "UPDATE bench SET amount = amount + 1, quantity = quantity + 1000000, "
        "customer = 'changed ' || id, updated_at = LOCALTIMESTAMP(0) "
        f"WHERE id % {TOUCH_EVERY} = 0"
    ),
    "mariadb": (
        "UPDATE bench SET amount = amount + 1, quantity = quantity + 1000000, "
        f"customer = concat('changed ', id), updated_at = NOW() WHERE id % {TOUCH_EVERY} = 0"
    ),
    "sqlite": (
        "UPDATE bench SET amount = amount + 1, quantity = quantity + 1000000, "
        "customer = 'changed ' || id, updated_at = datetime('now') "
        f"WHERE id % {TOUCH_EVERY} = 0"
    ),
}


def _select_rows(target: str, first: int, last: int) -> str:
    """``SELECT`` of the generated rows ``first``..``last`` (ids), in the target's dialect."""
    columns = _COLUMNS.format(lorem=LOREM, **_EXPRESSIONS[target])
    if target == "postgres":
        return f"SELECT {columns} FROM generate_series({first}::bigint, {last}) AS s(g)"
    if target == "mariadb":
        numbers = f"SELECT CAST(seq AS SIGNED) AS g FROM seq_{first}_to_{last}"
        return f"SELECT {columns} FROM ({numbers}) s"
    return (
        f"WITH RECURSIVE s(g) AS (SELECT {first} UNION ALL SELECT g + 1 FROM s WHERE g < {last}) "
        f"SELECT {columns} FROM s"
    )


def source_url(target: str, folder: Path) -> str:
    return f"sqlite:///{folder}/{DATABASE}.sqlite" if target == "sqlite" else SERVERS[target]


def create_source(target: str, url: str, rows: int) -> float:
    """Build the ``bench`` table of ``rows`` rows at ``url``; returns the seconds it took."""
    started = time.perf_counter()
    if target == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        path.unlink(missing_ok=True)
        con = sqlite3.connect(path)
        try:
            con.execute("PRAGMA journal_mode = OFF")
            con.execute("PRAGMA synchronous = OFF")
            con.execute(DDL[target])
            con.execute(f"INSERT INTO bench {_select_rows(target, 1, rows)}")
            con.execute("CREATE INDEX bench_updated_at ON bench (updated_at)")
            con.commit()
        finally:
            con.close()
        return time.perf_counter() - started

    import sqlalchemy as sa

    from kpiboard import urls

    parsed = urls.parse_url(url)
    urls.drop_database(parsed)
    urls.ensure_database(parsed)
    engine = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as con:
            con.exec_driver_sql(DDL[target])
            # a few statements of a million rows keep the server's undo and WAL small
            step = 1_000_000
            for first in range(1, rows + 1, step):
                last = min(first + step - 1, rows)
                sql = f"INSERT INTO bench {_select_rows(target, first, last)}"
                con.exec_driver_sql(sql.replace("%", "%%"))
            con.exec_driver_sql("CREATE INDEX bench_updated_at ON bench (updated_at)")
            if target == "postgres":  # hint bits and statistics, so no reader pays for them
                con.exec_driver_sql("VACUUM (FREEZE, ANALYZE) bench")
            else:
                con.exec_driver_sql("ANALYZE TABLE bench")
    finally:
        engine.dispose()
    return time.perf_counter() - started


def touch_source(target: str, url: str) -> int:
    """Change 1% of the rows (new values, ``updated_at`` now); returns how many changed."""
    if target == "sqlite":
        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            changed = con.execute(TOUCH[target]).rowcount
            con.commit()
        finally:
            con.close()
        return changed

    import sqlalchemy as sa

    from kpiboard import urls

    engine = sa.create_engine(urls.parse_url(url))
    try:
        with engine.begin() as con:
            changed = con.exec_driver_sql(TOUCH[target].replace("%", "%%")).rowcount
        if target == "postgres":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
                con.exec_driver_sql("VACUUM ANALYZE bench")
    finally:
        engine.dispose()
    return int(changed)


def drop_source(target: str, url: str) -> None:
    from kpiboard import urls

    urls.drop_database(urls.parse_url(url))


def write_project(folder: Path, url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kpiboard.toml").write_text(
        f'[etl]\nbatch_rows = {CHUNK}\n\n[[sources]]\nname = "bench"\nurl = "{url}"\n',
        encoding="utf-8",
    )


# -- the measured runs, each in a fresh process -------------------------------------------------


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def child(mode: str, target: str, url: str, folder: Path) -> dict[str, Any]:
    """One measured run, in this (fresh) process; checks what it loaded after measuring."""
    if mode in ("kpiboard-full", "kpiboard-incremental"):
        return _kpiboard(target, folder, full=mode == "kpiboard-full")
    if mode == "naive":
        return _naive(url, folder)
    if mode == "transport":
        return _transport(target, url)
    raise SystemExit(f"unknown mode {mode!r}")


def _kpiboard(target: str, folder: Path, *, full: bool) -> dict[str, Any]:
    from etl import pipeline
    from kpiboard.config import load_settings

    started = time.perf_counter()
    settings = load_settings(folder)
    result = pipeline.run(settings, full=full)
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    if result.status != pipeline.SUCCESS:
        raise SystemExit(f"run {result.status}: {result.errors}")
    with settings.open_warehouse().connect() as con:
        row = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE customer LIKE 'changed %') "
            "FROM raw_bench.bench"
        ).fetchone()
    assert row is not None
    return {
        "rows": sum(t.rows_read for t in result.tables),
        "seconds": seconds,
        "peak_mb": peak,
        "loaded": row[0],
        "changed": row[1],
    }


def _naive(url: str, folder: Path) -> dict[str, Any]:
    import duckdb
    import pandas as pd
    import sqlalchemy as sa

    from kpiboard import urls

    started = time.perf_counter()
    engine = sa.create_engine(urls.parse_url(url))
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(folder / "naive.duckdb"))
    rows = 0
    for chunk in pd.read_sql("SELECT * FROM bench", engine, chunksize=CHUNK):
        con.register("chunk", chunk)
        if rows == 0:
            con.execute("CREATE TABLE bench AS SELECT * FROM chunk")
        else:
            con.execute("INSERT INTO bench SELECT * FROM chunk")
        con.unregister("chunk")
        rows += len(chunk)
    con.execute("CHECKPOINT")
    con.close()
    engine.dispose()
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    with duckdb.connect(str(folder / "naive.duckdb"), read_only=True) as check:
        loaded = check.execute("SELECT count(*) FROM bench").fetchone()
    return {"rows": rows, "seconds": seconds, "peak_mb": peak, "loaded": loaded and loaded[0]}


TRANSPORT = {
    "postgres": [
        "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DATABASE, "-X", "-q",
        "-c", "\\copy (SELECT * FROM bench) TO '/dev/null' (FORMAT binary)",
    ],
    "mariadb": ["mariadb", "-h", "127.0.0.1", "-u", "root", DATABASE, "-e", "SELECT * FROM bench"],
}  # fmt: skip


def _transport(target: str, url: str) -> dict[str, Any]:
    started = time.perf_counter()
    if target == "sqlite":
        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        cursor = con.execute("SELECT * FROM bench")
        rows = 0
        while batch := cursor.fetchmany(CHUNK):
            rows += len(batch)
        con.close()
        return {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}
    with open("/dev/null", "wb") as sink:
        subprocess.run(TRANSPORT[target], check=True, stdout=sink)
    seconds = time.perf_counter() - started
    # neither client counts the rows it read: the parent fills in the table's
    return {"rows": None, "seconds": seconds, "peak_mb": _peak_mb(resource.RUSAGE_CHILDREN)}


def run(mode: str, target: str, url: str, folder: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", mode, "--targets", target, "--url", url]
    out = subprocess.run(
        [*argv, "--folder", str(folder)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"{target} {mode}: the measured run failed (exit {out.returncode})")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the report -----------------------------------------------------------------------------------

PATHS = {
    "kpiboard-full": "kpiboard full",
    "naive": "naive pandas",
    "transport": "transport limit",
    "kpiboard-incremental": "kpiboard incr 1%",
}
LINE = "{:<9} {:<17} {:>10} {:>8} {:>11} {:>8}"


def show(target: str, mode: str, r: dict[str, Any]) -> None:
    rows = r["rows"]
    cells = (f"{rows:,}", f"{r['seconds']:.1f}", f"{rows / r['seconds']:,.0f}")
    print(LINE.format(target, PATHS[mode], *cells, f"{r['peak_mb']:.0f}"), flush=True)


def verdicts(target: str, r: dict[str, dict[str, Any]]) -> list[str]:
    """The promised ratios for one target, each with PASS or FAIL."""
    full, naive, limit, incr = (
        r[m] for m in ("kpiboard-full", "naive", "transport", "kpiboard-incremental")
    )

    def mark(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    speed = naive["seconds"] / full["seconds"]
    memory = full["peak_mb"] / naive["peak_mb"]
    transport = full["seconds"] / limit["seconds"]
    incremental = incr["seconds"] / full["seconds"]
    peak = max(full["peak_mb"], incr["peak_mb"])
    limit_note = {
        "postgres": "psql \\copy binary",
        "mariadb": "mariadb client, text protocol",
        "sqlite": "Python sqlite3 fetchmany, not a true floor",
    }[target]
    return [
        f"  [{mark(speed >= 7)}] full refresh {speed:.1f}x faster than naive pandas (goal >= 7x)",
        f"  [{mark(memory <= 0.2)}] full refresh peak RSS {memory:.2f} of naive pandas' "
        f"({full['peak_mb']:.0f} / {naive['peak_mb']:.0f} MB; goal <= 0.20)",
        f"  [{mark(transport <= 2)}] full refresh {transport:.1f}x the transport limit's time "
        f"({limit_note}; goal <= 2x)",
        f"  [{mark(incremental <= 0.15)}] incremental (1% changed) {incremental:.0%} of the full "
        f"refresh's time (goal <= 15%)",
        f"  [{mark(peak < 1024)}] kpiboard peak RSS {peak:.0f} MB, full or incremental "
        "(goal < 1024 MB)",
    ]


NOTES = """\
what each number is:
  seconds   wall time of the path in its own fresh process, imports excluded, setup included
            (kpiboard: settings, discovery, run history; naive: engine and DuckDB file).
  peak MB   ru_maxrss of that process (interpreter and libraries included); for PostgreSQL's
            and MariaDB's transport limit, of the psql / mariadb client it ran.
  kpiboard full         etl.pipeline.run(settings, full=True) on a fresh project: ConnectorX
                        arrow_stream, casts into DuckDB, CHECKPOINT, fsync and publish.
  naive pandas          pandas.read_sql(chunksize=100_000) over SQLAlchemy (psycopg 3, PyMySQL or
                        sqlite3 as kpiboard configures them), each chunk INSERTed into DuckDB; no
                        casts, so less work and lossy types (decimals become DOUBLE, SQLite's
                        timestamps VARCHAR); psycopg and PyMySQL buffer the whole result.
  transport limit       the engine's own client reading every row to /dev/null (PostgreSQL
                        binary COPY, MariaDB text protocol) or Python sqlite3 fetchmany; rows are
                        the table's (psql and mariadb do not count them).
  kpiboard incr 1%      etl.pipeline.run(settings) on the full run's project after 1% of the rows
                        (every 100th id) got new values and updated_at = now: rows are those read.
"""


def measure(target: str, url: str, rows: int, problems: list[str]) -> dict[str, dict[str, Any]]:
    """Build the source, run the four paths, print their rows; wrong results go to ``problems``."""
    build = create_source(target, url, rows)
    print(f"{target:<9} (source table built in {build:.1f} s)", flush=True)
    r: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kpiboard-bench-") as work:
        project = Path(work) / "project"
        write_project(project, url)
        for mode in ("kpiboard-full", "naive", "transport"):
            r[mode] = run(mode, target, url, project if mode != "naive" else Path(work))
            r[mode]["rows"] = r[mode]["rows"] or rows
            show(target, mode, r[mode])
        changed = touch_source(target, url)
        r["kpiboard-incremental"] = run("kpiboard-incremental", target, url, project)
        show(target, "kpiboard-incremental", r["kpiboard-incremental"])
    for mode in ("kpiboard-full", "naive"):
        if r[mode]["loaded"] != rows:
            problems.append(f"{target} {mode}: loaded {r[mode]['loaded']:,} rows, not {rows:,}")
    incr = r["kpiboard-incremental"]
    if incr["loaded"] != rows or incr["changed"] != changed:
        problems.append(
            f"{target} incremental: {incr['loaded']:,} rows with {incr['changed']:,} "
            f"changed, expected {rows:,} with {changed:,}"
        )
    return r


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="comma-separated: postgres, sqlite, mariadb"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.targets, args.url, Path(args.folder))))
        return

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r} (targets: {', '.join(TARGETS)})")
    started = time.perf_counter()
    print(f"ETL of one {args.rows:,}-row, 10-column table into DuckDB, batches of {CHUNK:,}\n")
    header = LINE.format("target", "path", "rows", "seconds", "rows/s", "peak MB")
    print(header)
    print("-" * len(header), flush=True)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    problems: list[str] = []
    sqlite_folder = Path(tempfile.mkdtemp(prefix="kpiboard-bench-sqlite-"))
    try:
        for target in targets:
            url = source_url(target, sqlite_folder)
            try:
                results[target] = measure(target, url, args.rows, problems)
            finally:
                if not args.keep and target != "sqlite":
                    drop_source(target, url)
    finally:
        if args.keep:
            print(f"\nSQLite source kept at {sqlite_folder}")
        else:
            shutil.rmtree(sqlite_folder, ignore_errors=True)

    print()
    print(NOTES)
    for target, r in results.items():
        print(f"{target}: kpiboard against its peers and goals")
        print("\n".join(verdicts(target, r)))
    for problem in problems:
        print(f"WRONG RESULT: {problem}")
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
