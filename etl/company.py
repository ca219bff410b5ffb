"""A company without branches: ``core.dim_branch`` built from ``[company]`` in kpiboard.toml.

A company that runs one database (or one per system, none of them per branch) has one branch and
no table listing it. With ``[company] branch`` set, every source without its own ``branch`` gets
that code in ``_branch`` (:func:`etl.transform.staging_sources`), and, unless the project has its
own ``models/core/dim_branch.sql``, the pipeline adds the model :func:`branch_model` returns: one
row with the code, the company's name, time zone and currency.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from etl.transform import TARGET_SCHEMA, Model, parse_model_sql
from kpiboard.config import CONFIG_FILE, Settings

DIM_BRANCH = f"{TARGET_SCHEMA}.dim_branch"
SOURCE = "company"
"""``_source`` of the generated row: it comes from ``[company]``, not from a source."""


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def branch_model(settings: Settings, models: Sequence[Model]) -> Model | None:
    """The model of ``core.dim_branch`` built from ``[company]``; ``None`` when no default branch
    is set or a model of the project already fills ``core.dim_branch``."""
    company = settings.company
    if company.branch is None or any(m.target.lower() == DIM_BRANCH for m in models):
        return None
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    sql = (
        "SELECT "
        f"{_literal(company.branch)} AS branch_id, "
        f"{_literal(company.name or settings.project.name)} AS name, "
        f"{_literal(company.timezone or settings.project.timezone)} AS timezone, "
        f"{_literal(company.currency)} AS currency, "
        "TRUE AS is_active, "
        f"{_literal(SOURCE)} AS _source, "
        f"TIMESTAMP {_literal(loaded_at)} AS _loaded_at"
    )
    shown = f"{CONFIG_FILE} [company]"
    statement, problem = parse_model_sql(sql, shown)
    assert statement is not None and problem is None, problem  # our own SQL always parses
    return Model(
        TARGET_SCHEMA,
        "dim_branch",
        settings.project_dir / CONFIG_FILE,
        sql,
        frozenset(),
        shown,
    )


def with_company_branch(settings: Settings, models: list[Model]) -> list[Model]:
    """``models`` plus the ``[company]`` branch model when it applies (:func:`branch_model`)."""
    extra = branch_model(settings, models)
    return models if extra is None else [*models, extra]
