"""Shared fixtures: real PostgreSQL and MariaDB servers, each test with databases of its own, and
a real SMTP server on loopback (tests/smtp_server.py)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from kpiboard import urls
from kpiboard.demo import company

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer, TlsFiles

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


# --- a real SMTP server on loopback (tests/smtp_server.py) ---------------------------------------


@pytest.fixture(scope="session")
def smtp_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a certificate for 127.0.0.1 signed by it, made once per test process."""
    pytest.importorskip("cryptography", reason="TLS tests make their certificate with it")
    from tests.smtp_server import make_tls

    return make_tls(tmp_path_factory.mktemp("smtp_tls"))


SmtpServerFactory = Callable[..., "SmtpServer"]


@pytest.fixture
def smtp_server_factory(request: pytest.FixtureRequest) -> Iterator[SmtpServerFactory]:
    """Start loopback SMTP servers: ``start()`` plain, ``start(tls="starttls", login=("u",
    "p"))`` with STARTTLS and AUTH LOGIN, ``start(tls="ssl")`` TLS from the first byte. The
    client must trust ``server.ca_file`` (``monkeypatch.setenv("SSL_CERT_FILE", …)``). Every
    server is stopped after the test."""
    from tests.smtp_server import SmtpServer

    servers: list[SmtpServer] = []

    def start(*, tls: str | None = None, login: tuple[str, str] | None = None) -> SmtpServer:
        files = request.getfixturevalue("smtp_tls") if tls else None
        server = SmtpServer(tls=tls, tls_files=files, login=login)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(smtp_server_factory: SmtpServerFactory) -> SmtpServer:
    """A plain SMTP server on a free port of 127.0.0.1 that keeps what it accepts (``.messages``)
    and refuses on demand (``.fail_rcpt(550)``, ``.fail_data(451, times=2)``); ``.stop()`` and
    ``.start()`` take it down and up on the same port."""
    return smtp_server_factory()
