"""Shared fixtures: real PostgreSQL and MariaDB servers, each test with databases of its own."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpiboard import urls
from kpiboard.demo import company

POSTGRES = "postgresql://postgres@127.0.0.1:5432/{db}"
MARIADB = "mysql://root@127.0.0.1:3306/{db}"


def _require(server: str) -> None:
    url = urls.parse_url(server.replace("{db}", "postgres" if "postgresql" in server else "mysql"))
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{urls.show(url)} is not reachable ({exc.orig}); .ci/run starts it")
    finally:
        engine.dispose()


def _server_template(server: str) -> Iterator[str]:
    """A ``{db}`` URL template whose databases are unique to the test and dropped after it."""
    _require(server)
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    template = server.replace("{db}", prefix + "{db}")
    try:
        yield template
    finally:
        for name in company.database_names():
            urls.drop_database(urls.expand(template, name))


@pytest.fixture
def postgres_template() -> Iterator[str]:
    yield from _server_template(POSTGRES)


@pytest.fixture
def mariadb_template() -> Iterator[str]:
    yield from _server_template(MARIADB)


CliRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def kpiboard() -> CliRunner:
    """Run ``kpiboard ARGS…`` in a folder as a user would: a separate process, real exit code."""

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kpiboard", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company at scale 0.01 (seed 5), built once per test process by ``kpiboard
    demo``: the project folder. Tests that add files to it remove them again."""
    from tests.test_cli import kpiboard

    folder = tmp_path_factory.mktemp("small_demo")
    result = kpiboard(
        folder, "demo", "--dir", "D", "--scale", "0.01", "--seed", "5", "--no-serve", timeout=300
    )
    assert result.returncode == 0, result.stderr
    return folder / "D"
