"""Benchmark: generating the demo company's operational databases.

Reports rows/s and peak memory (RSS) of ``kpiboard source generate`` at ``--scale 10`` (about
ten million rows) for each target engine, each run in a fresh process so peak memory is its own.
The peer is the naive way to fill a database from frames, ``pandas.DataFrame.to_sql`` on the
same generated batches, run in the same session at ``--peer-scale`` (it is too slow for the full
scale) and compared by rows/s. "generate only" is the generator without any writing: the floor
under every target.

    python bench/generate.py                        # SQLite, scale 10
    python bench/generate.py --targets sqlite,postgres,mariadb --scale 10 --peer-scale 0.5

PostgreSQL and MariaDB targets use databases named ``bench_gen_<db>`` on the local servers and
drop them afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# this file is bench/generate.py: run as a script, its folder comes first on sys.path, where
# bench/etl.py would shadow the etl package the demo generator imports
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

SERVERS = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/bench_gen_{db}",
    "mariadb": "mysql://root@127.0.0.1:3306/bench_gen_{db}",
}


def _template(target: str, folder: Path) -> str:
    return f"sqlite:///{folder}/{{db}}.sqlite" if target == "sqlite" else SERVERS[target]


def child(mode: str, target: str, scale: float, folder: Path) -> dict[str, Any]:
    """One measured run, in this (fresh) process."""
    from kpiboard import urls
    from kpiboard.demo import build_sources, database_urls, metadata_for
    from kpiboard.demo.generate import DemoGenerator

    template = _template(target, folder)
    started = time.perf_counter()
    rows = 0
    if mode == "generate-only":
        for batch in DemoGenerator(seed=42, scale=scale).batches():
            rows += len(batch.frame)
    elif mode == "kpiboard":
        rows = build_sources(template, seed=42, scale=scale, manifest=folder / "m.csv").total_rows
    elif mode == "pandas.to_sql":
        import sqlalchemy as sa

        targets = database_urls(template)
        engines = {}
        for name, url in targets.items():
            urls.ensure_database(url)
            engine = sa.create_engine(url)
            with engine.begin() as con:
                metadata_for(name).drop_all(con)
                metadata_for(name).create_all(con)
            engines[name] = engine
        for batch in DemoGenerator(seed=42, scale=scale).batches():
            table = metadata_for(batch.database).tables[batch.table]
            batch.frame.to_sql(
                batch.table,
                engines[batch.database],
                dtype={c.name: c.type for c in table.columns},
                if_exists="append",
                index=False,
                chunksize=10_000,
                method="multi" if target != "sqlite" else None,
            )
            rows += len(batch.frame)
        for engine in engines.values():
            engine.dispose()
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if target != "sqlite" and mode != "generate-only":
        for url in database_urls(template).values():
            urls.drop_database(url)
    return {"rows": rows, "seconds": seconds, "peak_mb": peak_kb / 1024}


def run(mode: str, target: str, scale: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kpiboard-bench-") as folder:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--targets",
                target,
                "--scale",
                str(scale),
                "--folder",
                folder,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--targets", default="sqlite", help="comma-separated: sqlite, postgres, mariadb"
    )
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--peer-scale", type=float, default=0.2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.targets, args.scale, Path(args.folder))))
        return

    targets = args.targets.split(",")
    print(f"demo generation, scale {args.scale:g} (peer at scale {args.peer_scale:g})\n")
    line = "{:<10} {:<15} {:>6} {:>12} {:>8} {:>10} {:>8}"
    header = line.format("target", "path", "scale", "rows", "seconds", "rows/s", "peak MB")
    print(header)
    print("-" * len(header))

    def show(target: str, mode: str, scale: float, r: dict[str, Any]) -> float:
        rate = r["rows"] / r["seconds"]
        cells = (f"{scale:g}", f"{r['rows']:,}", f"{r['seconds']:.1f}", f"{rate:,.0f}")
        print(line.format(target, mode, *cells, f"{r['peak_mb']:.0f}"))
        return rate

    show("-", "generate-only", args.scale, run("generate-only", "sqlite", args.scale))
    ratios = []
    for target in targets:
        ours = show(target, "kpiboard", args.scale, run("kpiboard", target, args.scale))
        peer = show(
            target, "pandas.to_sql", args.peer_scale, run("pandas.to_sql", target, args.peer_scale)
        )
        ratios.append((target, ours / peer))
    print()
    for target, ratio in ratios:
        print(f"{target}: kpiboard's bulk path writes {ratio:.1f}x the rows/s of pandas.to_sql")


if __name__ == "__main__":
    main()
