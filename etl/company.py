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

from etl.transform import TARGET_SCHEMA, Model, builtin_model, string_literal
from kpiboard.config import CONFIG_FILE, Settings

DIM_BRANCH = f"{TARGET_SCHEMA}.dim_branch"
SOURCE = "company"
"""``_source`` of the generated row: it comes from ``[company]``, not from a source."""


def branch_model(settings: Settings, models: Sequence[Model]) -> Model | None:
    """The model of ``core.dim_branch`` built from ``[company]``; ``None`` when no default branch
    is set or a model of the project already fills ``core.dim_branch``."""
    company = settings.company
    if company.branch is None or any(m.target.lower() == DIM_BRANCH for m in models):
        return None
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    sql = (
        "SELECT "
        f"{string_literal(company.branch)} AS branch_id, "
        f"{string_literal(company.name or settings.project.name)} AS name, "
        f"{string_literal(company.timezone or settings.project.timezone)} AS timezone, "
        f"{string_literal(company.currency)} AS currency, "
        "TRUE AS is_active, "
        f"{string_literal(SOURCE)} AS _source, "
        f"TIMESTAMP {string_literal(loaded_at)} AS _loaded_at"
    )
    path = settings.project_dir / CONFIG_FILE
    return builtin_model("dim_branch", sql, path, f"{CONFIG_FILE} [company]")


def with_company_branch(settings: Settings, models: list[Model]) -> list[Model]:
    """``models`` plus the ``[company]`` branch model when it applies (:func:`branch_model`)."""
    extra = branch_model(settings, models)
    return models if extra is None else [*models, extra]
