"""Shared fixtures: real PostgreSQL and MariaDB servers, each test with databases of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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
