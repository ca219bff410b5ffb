"""Database URLs: driver choice, the messages for URLs kpiboard cannot use, ``{db}`` templates, and
creating and dropping databases on the real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from kpiboard import urls
from kpiboard.errors import SourceUnavailable, UrlError

# --- parse_url ---------------------------------------------------------------------------------

DRIVERS: list[tuple[str, str, str]] = [
    # (as written, driver we pick, the URL we connect with)
    (
        "postgresql://u@db.example.com/crm",
        "postgresql+psycopg",
        "postgresql+psycopg://u@db.example.com/crm",
    ),
    ("postgres://u:pw@db:5433/crm", "postgresql+psycopg", "postgresql+psycopg://u:pw@db:5433/crm"),
    ("mysql://root@127.0.0.1/crm", "mysql+pymysql", "mysql+pymysql://root@127.0.0.1/crm"),
    (
        "mariadb://root@127.0.0.1:3306/crm",
        "mysql+pymysql",
        "mysql+pymysql://root@127.0.0.1:3306/crm",
    ),
    ("sqlite:///data/crm.sqlite", "sqlite", "sqlite:///data/crm.sqlite"),
    ("sqlite:////srv/data/crm.sqlite", "sqlite", "sqlite:////srv/data/crm.sqlite"),
    # a driver the user names explicitly is kept
    ("postgresql+psycopg2://u@db/crm", "postgresql+psycopg2", "postgresql+psycopg2://u@db/crm"),
]


@pytest.mark.parametrize(("text", "driver", "rendered"), DRIVERS, ids=[d[0] for d in DRIVERS])
def test_parse_url_picks_our_driver(text: str, driver: str, rendered: str) -> None:
    url = urls.parse_url(text)

    assert url.drivername == driver
    assert url.render_as_string(hide_password=False) == rendered


def test_backend_names_the_engine_not_the_spelling() -> None:
    assert urls.backend(urls.parse_url("postgres://u@h/db")) == "postgresql"
    assert urls.backend(urls.parse_url("mariadb://u@h/db")) == "mysql"
    assert urls.backend(urls.parse_url("sqlite:///x.sqlite")) == "sqlite"


REJECTED: list[tuple[str, str, str]] = [
    (
        "malformed",
        "postgres//x",
        "'postgres//x' is not a database URL such as sqlite:///path/file.sqlite, "
        "postgresql://user@host/db or mysql://user@host/db "
        "(Could not parse SQLAlchemy URL from given URL string)",
    ),
    (
        "empty",
        "",
        "'' is not a database URL such as sqlite:///path/file.sqlite, "
        "postgresql://user@host/db or mysql://user@host/db "
        "(Could not parse SQLAlchemy URL from given URL string)",
    ),
    (
        "unsupported_backend",
        "oracle://scott@db.example.com/orcl",
        "'oracle://scott@db.example.com/orcl': unsupported database 'oracle' "
        "(supported: mariadb, mysql, postgres, postgresql, sqlite)",
    ),
    (
        "server_without_database",
        "postgresql://u@db.example.com",
        "'postgresql://u@db.example.com': the URL names no database "
        "(expected …/DATABASE at its end)",
    ),
    (
        "server_with_empty_database",
        "mysql://u@db.example.com/",
        "'mysql://u@db.example.com/': the URL names no database (expected …/DATABASE at its end)",
    ),
    (
        "server_without_host",
        "mysql://u@/crm",
        "'mysql://u@/crm': the URL names no host (expected …://user@HOST/database)",
    ),
    (
        "server_without_anything_but_database",
        "postgresql:///crm",
        "'postgresql:///crm': the URL names no host (expected …://user@HOST/database)",
    ),
    (
        "sqlite_memory",
        "sqlite:///:memory:",
        "'sqlite:///:memory:': a SQLite URL needs a file path, e.g. sqlite:///data/crm.sqlite",
    ),
    (
        "sqlite_without_path",
        "sqlite://",
        "'sqlite://': a SQLite URL needs a file path, e.g. sqlite:///data/crm.sqlite",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_parse_url_rejects_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(UrlError) as caught:
        urls.parse_url(text)

    assert str(caught.value) == message


# --- expand ------------------------------------------------------------------------------------


def test_expand_fills_in_the_database_name() -> None:
    url = urls.expand("postgresql://u@db.example.com/kpi_{db}", "crm_austin")

    assert url.drivername == "postgresql+psycopg"
    assert url.database == "kpi_crm_austin"
    assert (
        str(urls.expand("sqlite:///sources/{db}.sqlite", "stock"))
        == "sqlite:///sources/stock.sqlite"
    )


EXPAND_REJECTED: list[tuple[str, str, str]] = [
    (
        "no_placeholder",
        "sqlite:///x.sqlite",
        "'sqlite:///x.sqlite': the URL must contain {db}, replaced by each database's name",
    ),
    (
        "no_placeholder_server",
        "postgresql://u@db.example.com/crm",
        "'postgresql://u@db.example.com/crm': the URL must contain {db}, "
        "replaced by each database's name",
    ),
    # the message quotes the template as the user wrote it, not our expansion of it
    (
        "no_host",
        "mysql://u@/{db}",
        "'mysql://u@/{db}': the URL names no host (expected …://user@HOST/database)",
    ),
    (
        "unsupported_backend",
        "oracle://scott@db/{db}",
        "'oracle://scott@db/{db}': unsupported database 'oracle' "
        "(supported: mariadb, mysql, postgres, postgresql, sqlite)",
    ),
]


@pytest.mark.parametrize(
    ("template", "message"), [r[1:] for r in EXPAND_REJECTED], ids=[r[0] for r in EXPAND_REJECTED]
)
def test_expand_rejects_with_the_users_text(template: str, message: str) -> None:
    with pytest.raises(UrlError) as caught:
        urls.expand(template, "crm_denver")

    assert str(caught.value) == message


# --- show ----------------------------------------------------------------------------------------


def test_show_hides_the_password() -> None:
    url = urls.parse_url("postgresql://reader:s3cret-pw@db.example.com:5433/crm")

    assert urls.show(url) == "postgresql+psycopg://reader:***@db.example.com:5433/crm"
    assert urls.show(urls.parse_url("mysql://root@h/crm")) == "mysql+pymysql://root@h/crm"


def test_connect_error_names_the_database_without_its_password() -> None:
    url = urls.parse_url("postgresql://postgres:s3cret-pw@127.0.0.1:1/nothing_here")

    with pytest.raises(SourceUnavailable) as caught:
        urls.ensure_database(url)

    message = str(caught.value)
    assert message.startswith("cannot connect to postgresql+psycopg://postgres:***@127.0.0.1:1/")
    assert "s3cret-pw" not in message
    assert "\n" not in message
    assert caught.value.exit_code == 3


# --- creating and dropping databases on real servers ------------------------------------------

SERVERS = [
    pytest.param(
        "postgresql://postgres@127.0.0.1:5432/", id="postgres", marks=pytest.mark.postgres
    ),
    pytest.param("mysql://root@127.0.0.1:3306/", id="mariadb", marks=pytest.mark.mariadb),
]


def _exists(url: URL) -> bool:
    """Ask the server's catalog, not kpiboard, whether the database exists."""
    if urls.backend(url) == "postgresql":
        server = url.set(database="postgres")
        sql = "SELECT 1 FROM pg_database WHERE datname = :name"
    else:
        server = url.set(database="")
        sql = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
    engine = sa.create_engine(server)
    try:
        with engine.connect() as con:
            return con.execute(sa.text(sql), {"name": url.database}).first() is not None
    finally:
        engine.dispose()


@pytest.fixture(params=SERVERS)
def fresh_database(request: pytest.FixtureRequest) -> Iterator[URL]:
    """The URL of a database that does not exist yet, dropped after the test whatever happens."""
    url = urls.parse_url(f"{request.param}kpiboard_t_{uuid.uuid4().hex[:12]}")
    try:
        yield url
    finally:
        urls.drop_database(url)
    assert not _exists(url)


def test_ensure_and_drop_database(fresh_database: URL) -> None:
    assert not _exists(fresh_database)

    urls.ensure_database(fresh_database)
    assert _exists(fresh_database)

    urls.ensure_database(fresh_database)  # a second time: already there, no error
    assert _exists(fresh_database)

    engine = sa.create_engine(fresh_database)  # and it is a database we can write into
    try:
        with engine.begin() as con:
            con.exec_driver_sql("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
            con.exec_driver_sql("INSERT INTO probe (id) VALUES (7)")
            assert con.exec_driver_sql("SELECT id FROM probe").scalar_one() == 7
    finally:
        engine.dispose()

    urls.drop_database(fresh_database)
    assert not _exists(fresh_database)

    urls.drop_database(fresh_database)  # dropping what is gone is not an error
    assert not _exists(fresh_database)


@pytest.mark.mariadb
def test_mariadb_databases_are_created_utf8mb4() -> None:
    url = urls.parse_url(f"mysql://root@127.0.0.1:3306/kpiboard_t_{uuid.uuid4().hex[:12]}")
    try:
        urls.ensure_database(url)
        engine = sa.create_engine(url.set(database=""))
        try:
            with engine.connect() as con:
                charset = con.execute(
                    sa.text(
                        "SELECT default_character_set_name FROM information_schema.schemata"
                        " WHERE schema_name = :name"
                    ),
                    {"name": url.database},
                ).scalar_one()
        finally:
            engine.dispose()
    finally:
        urls.drop_database(url)
    assert charset == "utf8mb4"


def test_sqlite_ensure_creates_the_folder_and_drop_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "crm.sqlite"
    url = urls.parse_url(f"sqlite:///{path}")

    urls.ensure_database(url)
    assert path.parent.is_dir()

    path.write_bytes(b"")
    urls.drop_database(url)
    assert not path.exists()
    urls.drop_database(url)  # gone already: no error


UNSAFE_NAMES = [
    pytest.param('postgresql://postgres@127.0.0.1:5432/bad"name', 'bad"name', id="postgres_quote"),
    pytest.param("mysql://root@127.0.0.1:3306/bad`name", "bad`name", id="mariadb_backtick"),
    pytest.param('mysql://root@127.0.0.1:3306/bad"name', 'bad"name', id="mariadb_quote"),
    pytest.param(
        "postgresql://postgres@127.0.0.1:5432/x;DROP DATABASE postgres",
        "x;DROP DATABASE postgres",
        id="postgres_semicolon",
    ),
]


@pytest.mark.parametrize(("text", "name"), UNSAFE_NAMES)
@pytest.mark.parametrize(
    "action", [urls.ensure_database, urls.drop_database], ids=["ensure", "drop"]
)
def test_database_name_with_a_quote_is_refused(
    text: str, name: str, action: Callable[[URL], None]
) -> None:
    url = urls.parse_url(text)
    assert url.database == name

    with pytest.raises(UrlError) as caught:
        action(url)

    assert str(caught.value) == (
        f"{name!r} cannot be a database name (at most 63 characters, no quotes)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://u@h:abc/db",
        "nonsense",
        "://x",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///rel/x.sqlite",
        "sqlite:////abs/x.sqlite",
        "postgresql://u@h/",
        "postgresql:///db",
        "mysql://h",
        "mysql://root@127.0.0.1:3306/crm",
        "mariadb://root@127.0.0.1/crm",
        "postgresql://u:p@[::1]:5432/db?sslmode=require",
        "postgresql+psycopg2://u@h/db",
        "oracle://u@h/db",
        "postgres://u:p%40ss@host/db",
    ],
)
def test_check_url_agrees_with_parse_url(text: str) -> None:
    """Settings check URLs without SQLAlchemy; the check must refuse exactly what parsing does,
    with the same message."""
    try:
        urls.parse_url(text)
    except UrlError as exc:
        with pytest.raises(UrlError) as light:
            urls.check_url(text)
        assert str(light.value) == str(exc)
    else:
        urls.check_url(text)
