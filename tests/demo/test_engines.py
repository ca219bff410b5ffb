"""The same seed writes the same content to SQLite, PostgreSQL and MariaDB (real servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpiboard.demo import BuildResult, build_sources, company, metadata_for
from kpiboard.demo.checksum import table_checksums

SEED, SCALE = 5, 0.01

Checksums = dict[str, dict[str, tuple[int, str]]]


def checksums(result: BuildResult) -> Checksums:
    return {name: table_checksums(url, metadata_for(name)) for name, url in result.urls.items()}


@pytest.fixture(scope="module")
def sqlite_checksums(tmp_path_factory: pytest.TempPathFactory) -> Checksums:
    folder = tmp_path_factory.mktemp("engines")
    return checksums(build_sources(f"sqlite:///{folder}/{{db}}.sqlite", seed=SEED, scale=SCALE))


def assert_same(expected: Checksums, actual: Checksums) -> None:
    assert expected.keys() == actual.keys() == set(company.database_names())
    for database, tables in expected.items():
        for table, (rows, digest) in tables.items():
            assert rows > 0, f"{database}.{table} is empty"
            assert actual[database][table] == (rows, digest), f"{database}.{table} differs"


def test_postgres_gets_the_same_content_as_sqlite(
    sqlite_checksums: Checksums, postgres_template: str, tmp_path: Path
) -> None:
    result = build_sources(postgres_template, seed=SEED, scale=SCALE, manifest=tmp_path / "m.csv")
    assert_same(sqlite_checksums, checksums(result))


def test_mariadb_gets_the_same_content_as_sqlite(
    sqlite_checksums: Checksums, mariadb_template: str, tmp_path: Path
) -> None:
    result = build_sources(mariadb_template, seed=SEED, scale=SCALE, manifest=tmp_path / "m.csv")
    assert_same(sqlite_checksums, checksums(result))


def test_generating_again_replaces_the_content(postgres_template: str, tmp_path: Path) -> None:
    build_sources(postgres_template, seed=SEED + 1, scale=SCALE, manifest=tmp_path / "a.csv")
    first = checksums(
        build_sources(postgres_template, seed=SEED, scale=SCALE, manifest=tmp_path / "b.csv")
    )
    again = checksums(
        build_sources(postgres_template, seed=SEED, scale=SCALE, manifest=tmp_path / "c.csv")
    )
    assert first == again
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "c.csv").read_text()


def test_a_different_seed_changes_the_checksums(
    sqlite_checksums: Checksums, tmp_path: Path
) -> None:
    other = checksums(
        build_sources(f"sqlite:///{tmp_path}/{{db}}.sqlite", seed=SEED + 1, scale=SCALE)
    )
    changed = [
        (db, t)
        for db, tables in other.items()
        for t, value in tables.items()
        if value != sqlite_checksums[db][t]
    ]
    assert ("crm_denver", "activities") in changed and ("stock", "stock_moves") in changed
