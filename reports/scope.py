"""Row-level scope for report SQL: every ``core`` table read becomes that table filtered.

A report's author never writes the scope. Given a scope (``{"branch": ["denver"]}``,
``{"employee": ["crm_denver:7"]}``), :func:`apply` rewrites the SQL's tree (sqlglot): each
reference to a ``core`` table becomes a subquery of that table holding only the rows in scope,
under the name the query used for it::

    FROM core.fct_invoice AS i
    →  FROM (SELECT * FROM core.fct_invoice WHERE branch_id IN ($scope_1)) AS i

so every join, subquery and CTE of the report reads scoped rows, whatever the author forgot.
The scope's values are bound like any parameter. What the scope filters, table by table:

- **branch**: ``branch_id`` of every table but the reference data the whole company shares
  (:data:`SHARED`: products, suppliers, the calendar);
- **employee**: each fact by the employee its rows belong to (the one a KPI slices it by:
  an invoice's owner, a task's assignee, a delivery's driver); invoice lines and payments by
  their invoice's owner, stage changes by their deal's owner; clients by their owner,
  warehouses by their keeper, employees to themselves.

Under a scope a query may read nothing but ``core`` tables (and its own CTEs): ``raw_*``,
``stg_*`` or the quarantine hold the same rows unfiltered, so naming one is refused
(:class:`~reports.errors.ScopeError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from kpi_designer.semantic import FACTS
from reports.errors import ScopeError

CORE = "core"
SHARED = frozenset({"dim_product", "dim_supplier", "dim_date"})
"""Reference data the whole company shares: no branch or employee owns a product."""

PREFIX = "scope_"
"""Placeholders the rewrite binds are ``$scope_<n>`` (a report's parameters may not start so)."""

SCOPES = ("branch", "employee")

Scope = Mapping[str, Sequence[str]]


def _employee_filters() -> dict[str, str]:
    """Table → the condition (with ``{members}``) keeping an employee scope's rows."""
    out: dict[str, str] = {}
    for fact in FACTS.values():
        if fact.parent is not None:  # lines and payments belong to their invoice's owner
            parent = FACTS[fact.parent.table.removeprefix("fct_")]
            out[fact.table] = (
                f"{fact.parent.key} IN (SELECT {fact.parent.key} FROM {CORE}.{parent.table}"
                f" WHERE {parent.employee} IN ({{members}}))"
            )
        else:
            out[fact.table] = f"{fact.employee} IN ({{members}})"
    # a deal's stage history is the deal owner's, not whoever moved it
    out["fct_deal_stage"] = (
        f"deal_id IN (SELECT deal_id FROM {CORE}.fct_deal WHERE owner_id IN ({{members}}))"
    )
    out["dim_employee"] = "employee_id IN ({members})"
    out["dim_client"] = "owner_id IN ({members})"
    out["dim_warehouse"] = "keeper_id IN ({members})"
    return out


EMPLOYEE_FILTERS = _employee_filters()


def apply(sql: str, scope: Scope) -> tuple[str, dict[str, str]]:
    """``sql`` with every ``core`` table filtered by ``scope``, and the values its new
    placeholders bind. An empty scope (``{}``) changes nothing."""
    unknown = [name for name in scope if name not in SCOPES]
    if unknown:
        raise ScopeError(f"unknown scope {unknown[0]!r} (scopes: {', '.join(SCOPES)})")
    if not scope:
        return sql, {}
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as exc:
        raise ScopeError(
            f"the query cannot be read to apply the scope: {str(exc).splitlines()[0]}"
        ) from None
    values: dict[str, str] = {}

    def bind(members: Sequence[str]) -> str:
        names = []
        for member in members:
            name = f"{PREFIX}{len(values) + 1}"
            values[name] = str(member)
            names.append(f"${name}")
        return ", ".join(names) if names else "NULL"

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Func):  # range(), unnest(): generate rows, read none
            continue
        schema = table.db.lower()
        name = table.name.lower()
        if not schema:
            if name in ctes:
                continue
            raise ScopeError(
                f"table {table.name!r} has no schema: under a scope a report reads only core "
                f"tables, named core.<table>"
            )
        if schema != CORE:
            raise ScopeError(
                f"{table.db}.{table.name} is not a core table: under a scope a report reads only "
                "core tables (the others hold every branch's rows unfiltered)"
            )
        conditions = _conditions(name, scope, bind)
        if not conditions:
            continue
        alias = table.alias_or_name
        inner = f"SELECT * FROM {CORE}.{name} WHERE {' AND '.join(conditions)}"
        subquery = exp.Subquery(
            this=sqlglot.parse_one(inner, read="duckdb"),
            alias=exp.TableAlias(this=exp.to_identifier(alias)),
        )
        table.replace(subquery)
    return tree.sql(dialect="duckdb"), values


def _conditions(table: str, scope: Scope, bind: object) -> list[str]:
    assert callable(bind)
    conditions = []
    if "branch" in scope and table not in SHARED:
        conditions.append(f"branch_id IN ({bind(scope['branch'])})")
    if "employee" in scope and table in EMPLOYEE_FILTERS:
        conditions.append(EMPLOYEE_FILTERS[table].format(members=bind(scope["employee"])))
    return conditions


def describe(scope: Scope | None) -> str:
    """A scope as the header of a report shows it: ``branch denver``."""
    if not scope:
        return ""
    return "; ".join(f"{name} {', '.join(members) or 'none'}" for name, members in scope.items())
