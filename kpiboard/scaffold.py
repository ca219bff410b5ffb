"""``kpiboard init``: the files of a new project, and a project drafted from a database.

A new project gets ``kpiboard.toml`` and the folders kpiboard reads, each with a ``README.md``
that shows its format with a small example (the templates in ``kpiboard/templates/``). The
loaders ignore the READMEs: models are ``*.sql``, suites and KPIs ``*.yaml``, plans ``*.csv``.

``kpiboard init --from-url URL`` (:func:`init_from_url`) also inspects the database
(:mod:`kpiboard.inspect_source`) and writes its ``[[sources]]`` entry, a starter suite per table in
``suites/raw/<source>/`` and draft models in ``drafts/core/`` (:mod:`kpiboard.drafts`). Everything
is inspected and rendered before the first file is written, so a database that cannot be read
leaves nothing behind; an existing project's files are never overwritten without ``--force``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from kpiboard.config import CONFIG_FILE
from kpiboard.errors import UserError

TEMPLATES: dict[str, str] = {
    "models/core/README.md": "models_core.md",
    "kpis/README.md": "kpis.md",
    "plans/README.md": "plans.md",
    "reports/README.md": "reports.md",
    "suites/raw/README.md": "suites_raw.md",
    "suites/core/README.md": "suites_core.md",
}
"""Where each template goes in a new project → its file in ``kpiboard/templates``."""

DRAFTS_README = ("drafts/core/README.md", "drafts_core.md")
DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class ProjectFile:
    """A file to write, relative to the project folder. A ``template`` that already exists is
    kept as it is (the user may have edited it); any other existing file stops ``init``."""

    path: str
    text: str
    template: bool = False


def template(name: str) -> str:
    return resources.files("kpiboard.templates").joinpath(name).read_text(encoding="utf-8")


def template_files() -> list[ProjectFile]:
    return [ProjectFile(path, template(name), template=True) for path, name in TEMPLATES.items()]


def write_files(
    directory: Path, files: Sequence[ProjectFile], *, force: bool = False
) -> list[Path]:
    """Write ``files`` into ``directory``; without ``force``, refuse (writing nothing) when any
    of them, templates aside, already exists, naming them. Returns the files written."""
    existing = [f.path for f in files if not f.template and (directory / f.path).exists()]
    if existing and not force:
        shown = [str(directory / path) for path in existing]
        if len(shown) == 1:
            raise UserError(f"{shown[0]}: already exists (use --force to overwrite it)")
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        raise UserError(f"{listed}: already exist (use --force to overwrite them)")
    created_dir = not directory.exists()
    written: list[Path] = []
    try:
        for f in files:
            path = directory / f.path
            if f.template and path.exists() and not force:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f.text, encoding="utf-8")
            written.append(path)
    except OSError:
        for path in written:  # no half project: take back what this call wrote
            path.unlink(missing_ok=True)
        if created_dir:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)
        raise
    return written


@dataclass
class Drafted:
    """What ``init --from-url`` found and wrote, for the command's summary."""

    config: Path
    source: str
    url: str
    tables: int
    incremental: list[str] = field(default_factory=list)
    full: list[str] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    expectations: int = 0
    drafts: list[tuple[str, str, int, int]] = field(
        default_factory=list
    )  # path, from, mapped, todo
    skipped: list[str] = field(default_factory=list)  # tables without a suite (odd names)


def init_from_url(
    directory: Path,
    url: str,
    *,
    name: str | None = None,
    source: str | None = None,
    branch: str | None = None,
    force: bool = False,
    now: dt.datetime | None = None,
) -> Drafted:
    """Inspect the database at ``url`` and write a project for it into ``directory``: the
    configuration with its source, starter suites and draft models (see the module docstring).
    """
    from kpiboard import drafts, urls
    from kpiboard.inspect_source import (
        IDENTIFIER,
        check_source_name,
        default_source_name,
        generated_line,
        inspect_database,
        source_entry,
        suite_text,
    )
    from kpiboard.project import config_text

    parsed = urls.parse_url(url)
    source_name = check_source_name(source) if source else default_source_name(parsed)
    branch_code = branch or DEFAULT_BRANCH
    if not branch_code.strip():
        raise UserError("--branch: expected a branch code, e.g. main")
    info = inspect_database(url)
    at = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
    header = generated_line(info.url, at)
    config = config_text(
        name or directory.resolve().name,
        company_branch=branch_code,
        sources_text=source_entry(info, source_name),
        generated=header,
    )
    result = Drafted(directory / CONFIG_FILE, source_name, info.url, len(info.tables))
    files = [ProjectFile(CONFIG_FILE, config), *template_files()]
    for table in info.tables:
        (result.incremental if table.incremental else result.full).append(table.name)
        if not IDENTIFIER.match(table.name):
            result.skipped.append(table.name)
            continue
        path = f"suites/raw/{source_name}/{table.name}.yaml"
        text = suite_text(info, table, source_name, header, at.date())
        files.append(ProjectFile(path, text))
        result.suites.append(path)
        result.expectations += sum(1 for line in text.splitlines() if line.startswith("  - "))
    models = drafts.draft_models(info, source_name, header)
    if models:
        files.append(ProjectFile(DRAFTS_README[0], template(DRAFTS_README[1]), template=True))
    for draft in models:
        files.append(ProjectFile(draft.path, draft.text))
        result.drafts.append((draft.path, draft.source_table, draft.mapped, draft.todo))
    write_files(directory, files, force=force)
    return result
