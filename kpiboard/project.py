"""The project folder: ``kpiboard init`` writes its commented ``kpiboard.toml``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

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

[company]
# A company without branches: `branch` is the branch code of every source that names none
# (its rows' branch_id), and unless models/core/dim_branch.sql exists kpiboard builds
# core.dim_branch as one row from this section. Leave `branch` out when every source names its
# own branch (one database per branch) and a model fills dim_branch.
{company}
[dashboard]
host = "127.0.0.1"
port = 8050

[smtp]
# The mail server for scheduled report mail-outs and alerts (docs/mailouts.md).
host = "127.0.0.1"
port = 25
from_address = "kpiboard@localhost"
# starttls = true   (port 587)   or   ssl = true   (port 465)
# username = "reports"
# The password never goes in this file: set KPIBOARD_SMTP_PASSWORD in the environment.

[scheduler]
# `kpiboard scheduler` sends the mail-outs. A slot missed while it was down is sent late
# within grace_minutes of its time, and only recorded as missed after that.
grace_minutes = 360
# Run the pipeline on a schedule too (cron, in [project] timezone), e.g. "0 5 * * *":
# pipeline_cron = ""
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


def _company(branch: str | None) -> str:
    code = f"branch = {toml_string(branch)}" if branch else '# branch = "main"'
    return (
        '# name = "Acme Office Supplies"   # default: [project] name\n'
        f"{code}\n"
        '# timezone = "America/Denver"       # an IANA name; default: [project] timezone\n'
        '# currency = "USD"                  # the ISO 4217 code of its money; default USD\n'
    )


def config_text(
    name: str,
    sources: Sequence[SourceEntry] = (),
    *,
    company_branch: str | None = None,
    sources_text: str | None = None,
    generated: str | None = None,
) -> str:
    """The text of a new ``kpiboard.toml``; ``sources`` as ``(name, url)`` pairs or as mappings
    of their keys (``name``, ``url``, ``group``, ``branch``), written in that order, or
    ``sources_text``, the ``[[sources]]`` blocks already written. ``company_branch`` sets
    ``[company] branch``; ``generated`` is a first comment line saying where the file came from.
    """
    text = _HEADER.replace("{name}", toml_string(name)).replace(
        "{company}", _company(company_branch)
    )
    if generated:
        text = f"# {generated}\n{text}"
    if sources_text:
        return text + "\n# The operational database copied into the warehouse.\n\n" + sources_text
    if not sources:
        return text + _NO_SOURCES
    text += "\n# Operational databases copied into the warehouse, one [[sources]] block each.\n"
    for entry in sources:
        keys = dict(zip(("name", "url"), entry, strict=True)) if isinstance(entry, tuple) else entry
        text += "\n[[sources]]\n" + "".join(
            f"{key} = {toml_string(value)}\n" for key, value in keys.items()
        )
    return text


def init_project(
    directory: Path,
    *,
    name: str | None = None,
    sources: Sequence[SourceEntry] = (),
    force: bool = False,
) -> Path:
    """Create ``directory`` with a commented ``kpiboard.toml`` and the project's folders, each
    with a README on its format (:mod:`kpiboard.scaffold`); refuse to overwrite the file."""
    from kpiboard import scaffold
    from kpiboard.config import CONFIG_FILE  # pydantic's models: not for `kpiboard --help`

    text = config_text(name or directory.resolve().name, sources)
    files = [scaffold.ProjectFile(CONFIG_FILE, text), *scaffold.template_files()]
    scaffold.write_files(directory, files, force=force)
    return directory / CONFIG_FILE


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string: quoted, backslashes and quotes escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
