"""The demo company: Brightline Office Systems and its operational databases.

:func:`build_sources` generates the company's three branch CRMs and its stock database into any
database URL template, streaming month by month, and writes the dirt manifest beside them. The
rows come from :mod:`kpiboard.demo.generate`; the schemas from :mod:`kpiboard.demo.schema`.

The ``install_demo_*`` functions copy the demo's SQL models, expectation suites, KPI pack
(``kpis/``) and scorecards (``scorecards/``) into a project, where they are loaded like a user's
own; :mod:`kpiboard.demo.plans` sets its plans from the warehouse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from kpiboard import urls
from kpiboard.demo import company
from kpiboard.demo.dirt import write_manifest
from kpiboard.demo.generate import Batch, DemoGenerator
from kpiboard.demo.schema import crm_metadata, stock_metadata
from kpiboard.demo.writers import DatabaseWriter

__all__ = [
    "BuildResult",
    "build_sources",
    "database_urls",
    "demo_sources",
    "install_demo_kpis",
    "install_demo_models",
    "install_demo_scorecards",
    "install_demo_suites",
    "metadata_for",
]


def metadata_for(database: str) -> sa.MetaData:
    """The schema of one of the demo's databases, by name."""
    return stock_metadata if database == company.STOCK_DATABASE else crm_metadata


def database_urls(template: str) -> dict[str, URL]:
    """Each demo database's name and URL, from a template holding ``{db}``."""
    return {name: urls.expand(template, name) for name in company.database_names()}


@dataclass
class BuildResult:
    """What :func:`build_sources` wrote, for the summary a user sees."""

    urls: dict[str, URL]
    rows: dict[tuple[str, str], int] = field(default_factory=dict)
    defects: int = 0
    manifest: Path | None = None
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


Progress = Callable[[Batch], None]


def build_sources(
    template: str,
    *,
    seed: int = 42,
    scale: float = 1.0,
    manifest: Path | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Generate the demo's operational databases into ``template`` (``{db}`` → each name).

    Existing demo tables in those databases are replaced; other tables are left alone. The dirt
    manifest is written to ``manifest`` (for SQLite, by default, beside the database files).
    """
    targets = database_urls(template)
    started = time.perf_counter()
    writers: dict[str, DatabaseWriter] = {}
    result = BuildResult(urls=targets)
    try:
        for name, url in targets.items():
            urls.ensure_database(url)
            metadata = metadata_for(name)
            engine = sa.create_engine(url)
            try:
                with engine.begin() as con:
                    metadata.drop_all(con)
                    metadata.create_all(con)
            except sa.exc.OperationalError as exc:
                raise urls.connect_error(url, exc) from None
            finally:
                engine.dispose()
            writers[name] = DatabaseWriter(url)

        generator = DemoGenerator(seed=seed, scale=scale)
        for batch in generator.batches():
            table = metadata_for(batch.database).tables[batch.table]
            writers[batch.database].write(table, batch.frame)
            key = (batch.database, batch.table)
            result.rows[key] = result.rows.get(key, 0) + len(batch.frame)
            if progress is not None:
                progress(batch)
        for writer in writers.values():
            writer.commit()
    finally:
        for writer in writers.values():
            writer.close()

    if manifest is None and urls.backend(next(iter(targets.values()))) == "sqlite":
        manifest = Path(next(iter(targets.values())).database or ".").parent / "dirt_manifest.csv"
    if manifest is not None:
        result.defects = write_manifest(manifest, generator.defects)
        result.manifest = manifest
    else:
        result.defects = len(generator.defects)
    result.seconds = time.perf_counter() - started
    return result


def demo_sources(template: str = "sqlite:///sources/{db}.sqlite") -> list[dict[str, str]]:
    """The demo's four ``[[sources]]`` entries: the branch CRMs as group ``crm``, and stock;
    ``template``'s ``{db}`` is replaced by each database's name (default: the SQLite files
    ``kpiboard demo`` writes)."""
    entries = [
        {
            "name": b.database,
            "url": template.replace("{db}", b.database),
            "group": "crm",
            "branch": b.code,
        }
        for b in company.BRANCHES
    ]
    stock = company.STOCK_DATABASE
    return [*entries, {"name": stock, "url": template.replace("{db}", stock)}]


DEMO_MODELS = Path(str(resources.files("etl") / "models" / "brightline"))
DEMO_SUITES = Path(str(resources.files("validation") / "suites" / "brightline"))
DEMO_KPIS = Path(str(resources.files("kpiboard.demo") / "kpis"))
DEMO_SCORECARDS = Path(str(resources.files("kpiboard.demo") / "scorecards"))


def install_demo_models(target: Path) -> list[Path]:
    """Copy the demo's SQL models into a project's models folder; existing files are kept."""
    return _install(DEMO_MODELS, target, "*.sql")


def install_demo_suites(target: Path) -> list[Path]:
    """Copy the demo's expectation suites into a project's suites folder; existing files are
    kept."""
    return _install(DEMO_SUITES, target, "*.yaml")


def install_demo_kpis(target: Path) -> list[Path]:
    """Copy the demo's KPI definitions into a project's kpis folder; existing files are kept."""
    return _install(DEMO_KPIS, target, "*.yaml")


def install_demo_scorecards(target: Path) -> list[Path]:
    """Copy the demo's per-role scorecards into a project's scorecards folder; existing files are
    kept."""
    return _install(DEMO_SCORECARDS, target, "*.yaml")


def _install(source_dir: Path, target: Path, pattern: str) -> list[Path]:
    written = []
    for source in sorted(source_dir.rglob(pattern)):
        destination = target / source.relative_to(source_dir)
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
            written.append(destination)
    return written
