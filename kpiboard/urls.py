"""Database URLs: parse and check them, pick our drivers, fill in ``{db}``, create databases.

Users write plain SQLAlchemy URLs (``postgresql://postgres@127.0.0.1/crm``); kpiboard chooses the
driver it ships with for each backend, so ``postgresql://`` means psycopg 3 and ``mysql://`` or
``mariadb://`` means PyMySQL. A URL template may hold ``{db}``, replaced by each database's name, so
one option addresses the demo's four databases.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from kpiboard.errors import SourceUnavailable, UrlError

if TYPE_CHECKING:  # SQLAlchemy is imported where a URL is parsed: `kpiboard --help` parses none
    from sqlalchemy.engine import URL

# backend as written -> (backend, driver) we use
_DRIVERS: dict[str, tuple[str, str | None]] = {
    "sqlite": ("sqlite", None),
    "postgresql": ("postgresql", "psycopg"),
    "postgres": ("postgresql", "psycopg"),
    "mysql": ("mysql", "pymysql"),
    "mariadb": ("mysql", "pymysql"),
}
EXPECTED = "a database URL such as sqlite:///path/file.sqlite, postgresql://user@host/db or mysql://user@host/db"


# SQLAlchemy's own URL grammar (sqlalchemy.engine.url), for checking a URL without importing it
_URL = re.compile(
    r"""
    (?P<name>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.X,
)


def check_url(text: str) -> None:
    """Raise :class:`UrlError` exactly when :func:`parse_url` would, without importing
    SQLAlchemy: loading ``kpiboard.toml`` checks every source's URL, and most commands never
    connect to one (a test keeps the two in step)."""
    match = _URL.match(text)
    if match is None:
        raise UrlError(
            f"{text!r} is not {EXPECTED} (Could not parse SQLAlchemy URL from given URL string)"
        )
    port = match.group("port")
    if port:
        try:
            int(port)
        except ValueError as exc:
            raise UrlError(f"{text!r} is not {EXPECTED} ({exc})") from None
    backend = match.group("name").partition("+")[0]
    if backend not in _DRIVERS:
        known = ", ".join(sorted(_DRIVERS))
        raise UrlError(f"{text!r}: unsupported database {backend!r} (supported: {known})")
    database = match.group("database")
    host = match.group("ipv6host") or match.group("ipv4host")
    _check_parts(text, _DRIVERS[backend][0], database, host)


def _check_parts(text: str, backend: str, database: str | None, host: str | None) -> None:
    if backend == "sqlite":
        if not database or database == ":memory:":
            raise UrlError(
                f"{text!r}: a SQLite URL needs a file path, e.g. sqlite:///data/crm.sqlite"
            )
    elif not database:
        raise UrlError(f"{text!r}: the URL names no database (expected …/DATABASE at its end)")
    elif not host:
        raise UrlError(f"{text!r}: the URL names no host (expected …://user@HOST/database)")


def parse_url(text: str) -> URL:
    """Parse ``text`` into a URL with kpiboard's driver for its backend.

    Raises :class:`UrlError` with the reason when it is not a URL kpiboard can use.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise UrlError(f"{text!r} is not {EXPECTED} ({exc})") from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in _DRIVERS:
        known = ", ".join(sorted(_DRIVERS))
        raise UrlError(f"{text!r}: unsupported database {backend!r} (supported: {known})")
    ours, default_driver = _DRIVERS[backend]
    url = url.set(
        drivername=f"{ours}+{driver or default_driver}" if default_driver or driver else ours
    )
    _check_parts(text, ours, url.database, url.host)
    return url


def expand(template: str, db: str) -> URL:
    """The URL of database ``db`` from a template holding ``{db}``."""
    try:
        url = parse_url(template.replace("{db}", db))
    except UrlError as exc:  # name the text the user wrote, not our expansion of it
        raise UrlError(
            str(exc).replace(repr(template.replace("{db}", db)), repr(template))
        ) from None
    if "{db}" not in template:
        raise UrlError(
            f"{template!r}: the URL must contain {{db}}, replaced by each database's name"
        )
    return url


def show(url: URL) -> str:
    """The URL as text with its password hidden, for messages and logs."""
    return url.render_as_string(hide_password=True)


def backend(url: URL) -> str:
    return url.get_backend_name()


def connect_error(url: URL, exc: BaseException) -> SourceUnavailable:
    """One line saying which database could not be reached and the driver's own reason."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return SourceUnavailable(f"cannot connect to {show(url)}: {reason}")


def ensure_database(url: URL) -> None:
    """Create the database ``url`` names if it does not exist (a SQLite file's folder, too)."""
    import sqlalchemy as sa

    kind = backend(url)
    name = url.database or ""
    if kind == "sqlite":
        Path(name).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return
    if kind == "postgresql":
        server = url.set(database="postgres")
        exists_sql = sa.text("SELECT 1 FROM pg_database WHERE datname = :name")
        create_sql = f'CREATE DATABASE "{_identifier(name)}"'
    else:
        server = url.set(database="")
        exists_sql = sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name")
        create_sql = (
            f"CREATE DATABASE `{_identifier(name)}`"
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as con:
            if con.execute(exists_sql, {"name": name}).first() is None:
                con.exec_driver_sql(create_sql)
    except sa.exc.OperationalError as exc:
        raise connect_error(url, exc) from None
    finally:
        engine.dispose()


def drop_database(url: URL) -> None:
    """Drop the database ``url`` names, if it exists (tests and ``--replace`` use it)."""
    import sqlalchemy as sa

    kind = backend(url)
    name = url.database or ""
    if kind == "sqlite":
        Path(name).expanduser().unlink(missing_ok=True)
        return
    server = url.set(database="postgres" if kind == "postgresql" else "")
    quoted = f'"{_identifier(name)}"' if kind == "postgresql" else f"`{_identifier(name)}`"
    suffix = " WITH (FORCE)" if kind == "postgresql" else ""
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as con:
            con.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}{suffix}")
    finally:
        engine.dispose()


def _identifier(name: str) -> str:
    if not name or any(ch in name for ch in '"`;\\\0') or len(name) > 63:
        raise UrlError(f"{name!r} cannot be a database name (at most 63 characters, no quotes)")
    return name
