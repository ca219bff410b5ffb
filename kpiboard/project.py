"""The project folder: ``kpiboard init`` writes its commented ``kpiboard.toml``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from kpiboard.errors import UserError

_HEADER = """\
# kpiboard project configuration.
#
# Every setting has a default that works out of the box; change what you need.
# Secrets can stay out of this file: KPIBOARD_<SECTION>_<KEY> environment variables
# override a setting (KPIBOARD_SMTP_PASSWORD, KPIBOARD_APP_DATABASE_URL) and
# KPIBOARD_SOURCE_<NAME>_URL overrides the URL of the source called <name>.
# Relative paths are relative to this file's folder.

[project]
name = {name}
# Time zone for calendars, schedules and "today" in reports (IANA name, e.g. "America/Denver").
timezone = "UTC"

[warehouse]
# The warehouse folder: DuckDB snapshots (raw_*, core, validation results), the newest
# published one read by dashboards and reports while the pipeline builds the next.
path = "warehouse"
# How many published snapshots to keep for rollback.
keep_snapshots = 3

[app]
# Users, roles, schedules, run history and the audit log. SQLite by default;
# e.g. postgresql://kpiboard@db.example.com/kpiboard_app on a server.
database_url = "sqlite:///app.sqlite"

[dashboard]
host = "127.0.0.1"
port = 8050

[smtp]
# The mail server for scheduled report mail-outs and alerts.
host = "127.0.0.1"
port = 25
sender = "kpiboard@localhost"
starttls = false
# username = "reports"
# password: better set KPIBOARD_SMTP_PASSWORD in the environment
"""

_NO_SOURCES = """
# Operational databases to copy into the warehouse, one [[sources]] block each.
# URLs are SQLAlchemy URLs: sqlite:///path/file.sqlite, postgresql://user@host/db,
# mysql://user@host/db (MariaDB too). Without "tables", every table is copied.
#
# [[sources]]
# name = "crm_main"
# url = "postgresql://readonly@crm.example.com/crm"
# tables = ["clients", "deals", "invoices"]
#
# [sources.table.invoices]
# primary_key = ["id"]
# incremental = "updated_at"
"""


SourceEntry = tuple[str, str] | Mapping[str, str]


def config_text(name: str, sources: Sequence[SourceEntry] = ()) -> str:
    """The text of a new ``kpiboard.toml``; ``sources`` as ``(name, url)`` pairs or as mappings
    of their keys (``name``, ``url``, ``group``, ``branch``), written in that order."""
    text = _HEADER.replace("{name}", _toml_string(name))
    if not sources:
        return text + _NO_SOURCES
    text += "\n# Operational databases copied into the warehouse, one [[sources]] block each.\n"
    for entry in sources:
        keys = dict(zip(("name", "url"), entry, strict=True)) if isinstance(entry, tuple) else entry
        text += "\n[[sources]]\n" + "".join(
            f"{key} = {_toml_string(value)}\n" for key, value in keys.items()
        )
    return text


def init_project(
    directory: Path,
    *,
    name: str | None = None,
    sources: Sequence[SourceEntry] = (),
    force: bool = False,
) -> Path:
    """Create ``directory`` with a commented ``kpiboard.toml``; refuse to overwrite one."""
    from kpiboard.config import CONFIG_FILE  # pydantic's models: not for `kpiboard --help`

    path = directory / CONFIG_FILE
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (use --force to overwrite it)")
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(config_text(name or directory.resolve().name, sources), encoding="utf-8")
    return path


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
