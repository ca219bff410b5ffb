"""Benchmark: the candidate readers for extraction, on the same PostgreSQL table, in one run.

Why ConnectorX: it reads PostgreSQL, MySQL/MariaDB and SQLite into Arrow streams with one API.
This measures it against ADBC's PostgreSQL driver (libpq ``COPY`` binary) — read alone and read
into a DuckDB table — so the choice stays a measured one. DuckDB's own ``postgres_scanner`` is not
a candidate here: it is downloaded at run time, which these machines (and many customers') forbid.

    .venv/bin/python bench/etl_readers.py                 # 5M rows
    .venv/bin/python bench/etl_readers.py --rows 500000

Each reader runs in a fresh process (peak RSS is its own). The source table is the one
``bench/etl.py`` builds (``kpiboard_bench.bench`` on the local PostgreSQL), dropped afterwards.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
URL = "postgresql://postgres@127.0.0.1:5432/kpiboard_bench"
QUERY = "SELECT * FROM bench"
READERS = ("connectorx", "adbc", "connectorx→duckdb", "adbc→duckdb")


def _bench_etl() -> Any:
    """bench/etl.py, which builds the source table (loaded by path: ``etl`` is also a package)."""
    spec = importlib.util.spec_from_file_location("bench_etl", HERE / "etl.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child(reader: str, folder: Path) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    if reader.startswith("connectorx"):
        import connectorx as cx

        stream = cx.read_sql(URL, QUERY, return_type="arrow_stream", batch_size=100_000)
    else:
        import adbc_driver_postgresql.dbapi as adbc

        cursor = adbc.connect(URL).cursor()
        cursor.execute(QUERY)
        stream = cursor.fetch_record_batch()
    if reader.endswith("duckdb"):
        con = duckdb.connect(str(folder / "r.duckdb"))
        con.execute("SET memory_limit = '512MB'")
        con.register("stream", stream)
        con.execute("CREATE TABLE t AS SELECT * FROM stream")
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]  # type: ignore[index]
    else:
        rows = sum(batch.num_rows for batch in stream)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.folder))))
        return

    etl = _bench_etl()
    url = etl.source_url("postgres", Path("."))
    built = etl.create_source("postgres", url, args.rows)
    print(f"PostgreSQL table of {args.rows:,} rows, 10 columns (built in {built:.1f} s)\n")
    line = "{:<20} {:>10} {:>8} {:>11} {:>8}"
    print(line.format("reader", "rows", "seconds", "rows/s", "peak MB"))
    results = {}
    try:
        for reader in READERS:
            with tempfile.TemporaryDirectory(prefix="kpiboard-readers-") as folder:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", reader, "--folder", folder],
                    capture_output=True,
                    text=True,
                )
            if out.returncode:
                sys.exit(f"{reader} failed:\n{out.stderr}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[reader] = r
            rate = r["rows"] / r["seconds"]
            print(
                line.format(
                    reader,
                    f"{r['rows']:,}",
                    f"{r['seconds']:.1f}",
                    f"{rate:,.0f}",
                    f"{r['peak_mb']:.0f}",
                )
            )
    finally:
        etl.drop_source("postgres", url)
    read = results["adbc"]["seconds"] / results["connectorx"]["seconds"]
    load = results["adbc→duckdb"]["seconds"] / results["connectorx→duckdb"]["seconds"]
    print(f"\nADBC / ConnectorX time: {read:.2f} reading alone, {load:.2f} reading into DuckDB")


if __name__ == "__main__":
    main()
