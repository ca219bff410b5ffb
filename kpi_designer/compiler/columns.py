"""Names in an analyst's expressions → qualified columns of a fact's tables, and the joins
that brings in: the fact, its parent (an invoice line's invoice), the dimension tables its
references reach, the branch (its time zone), the table of local days, and the tables related
to the fact that an expression names (``invoice.due_on``, ``first_payment.paid_on``)."""

from __future__ import annotations

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler import zones
from kpi_designer.compiler.rollups import Workspace, work_table
from kpi_designer.compiler.trees import (
    add_join,
    aggregate,
    as_date,
    col,
    core_table,
    ident,
    period_of,
    range_period,
)
from kpi_designer.semantic import DIMENSIONS, ENTITIES, FACTS, Fact, Relation, entity_of, relations

RELATED_KEY = "_key"
"""The column of a first or last related row holding the key of the row it relates to (a name
no core column has: theirs never start with ``_``)."""
RELATED_ROW = "_row"


class Columns:
    """Names in a fact's expressions → qualified columns, and the joins that brings in.

    Aliases: ``f`` the fact, ``p`` its parent, ``b`` the branch (its time zone), ``z`` the
    table of local days (``z_<column>`` for another column than the time column), one per
    dimension table reached (``d_client``), and one per first or last related row named
    (``first_payment``). With ``prefix`` every alias starts with it, so that
    a fact can be read twice in one query (a conversion's base and later events). The table of
    local days is read from ``zones`` (``None``: the temporary table, or the query's own).
    """

    def __init__(
        self, fact: Fact, time: str, prefix: str = "", zones: Workspace | None = None
    ) -> None:
        self.fact = fact
        self.time = time
        self.prefix = prefix
        self.zones = zones
        self.joins: dict[str, exp.Expr] = {}
        # first or last related rows named: alias → the relation and the columns named of it
        self.related: dict[str, tuple[Relation, set[str]]] = {}
        self.columns = fact.columns()
        self.mastered = {
            column: entity
            for entity, column in fact.reaches().items()
            if ENTITIES[entity].master is not None
        }

    def alias(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def from_table(self) -> exp.Table:
        return core_table(self.fact.table, self.alias("f"))

    def column(self, name: str) -> exp.Column:
        where = self.fact.column_table(name)
        if where == "p":
            self.need_parent()
        return col(name, self.alias(where))

    def need_parent(self) -> None:
        parent = self.fact.parent
        assert parent is not None
        alias = self.alias("p")
        if alias not in self.joins:
            self.joins[alias] = exp.EQ(
                this=col(parent.key, alias), expression=col(parent.key, self.alias("f"))
            )

    def need(self, entity: str) -> str:
        """Join the entity's table; its alias."""
        alias = self.alias("b" if entity == "branch" else f"d_{entity}")
        if alias not in self.joins:
            target = ENTITIES[entity]
            self.joins[alias] = exp.EQ(
                this=col(target.key, alias), expression=self.own_reference(entity)
            )
        return alias

    def own_reference(self, entity: str) -> exp.Column:
        """The entity's key exactly as the fact row holds it."""
        return self.column(self.fact.reaches()[entity])

    def reference(self, entity: str) -> exp.Expr:
        """The entity a row refers to: its own key, or for an entity with a ``master`` column
        (a client) the master's key when the referenced row is a duplicate."""
        own = self.own_reference(entity)
        master = ENTITIES[entity].master
        if master is None:
            return own
        return exp.Coalesce(this=col(master, self.need(entity)), expressions=[own])

    def key(self) -> exp.Column:
        return col(self.fact.key, self.alias("f"))

    def dimension(self, name: str) -> exp.Expr:
        d = DIMENSIONS[name]
        if d.own is not None and d.own in self.columns:
            return self.column(d.own)
        if d.column == ENTITIES[d.entity].key:
            return self.reference(d.entity)
        return col(d.column, self.need(d.entity))

    def related_column(self, relation: Relation, name: str) -> exp.Column:
        """The column ``name`` of a related table: of the entity's table joined on the fact's
        own reference (the parent itself when the entity is the fact's parent: a payment's
        invoice), or of the first or last related row (:meth:`related_rows`)."""
        if relation.entity is not None:
            return col(name, self.entity_alias(relation.entity))
        alias = self.alias(relation.name)
        if alias not in self.related:
            self.related[alias] = (relation, set())
            self.joins[alias] = exp.EQ(this=col(RELATED_KEY, alias), expression=self.key())
        self.related[alias][1].add(name)
        return col(name, alias)

    def entity_alias(self, entity: str) -> str:
        """The alias of the entity's table, joined on the fact's own reference."""
        parent, target = self.fact.parent, ENTITIES[entity]
        if (
            parent is not None
            and (parent.table, parent.key) == (target.table, target.key)
            and self.fact.reaches()[entity] == parent.key
        ):
            self.need_parent()
            return self.alias("p")
        return self.need(entity)

    def related_rows(self, relation: Relation, names: set[str]) -> exp.Select:
        """One row per row of the fact: of the rows of ``relation``'s fact that refer to one,
        the first (or last) by that fact's default time, ties by its key; ``_key`` the row it
        relates to, then the columns ``names``. Every row of that fact is read, whatever the
        request's range, filters or scope: a lead's first activity is its first, whoever sees
        it."""
        assert relation.fact is not None
        other = FACTS[relation.fact]
        entity = entity_of(self.fact)
        assert entity is not None
        rows = Columns(other, other.time, prefix="r")
        reference = rows.own_reference(entity)
        desc = relation.order == "last"
        order = exp.Order(
            expressions=[
                exp.Ordered(this=rows.time_column(), desc=desc, nulls_first=False),
                exp.Ordered(this=rows.key(), desc=desc, nulls_first=False),
            ]
        )
        number = exp.Window(this=exp.RowNumber(), partition_by=[reference.copy()], order=order)
        picked = sorted(names)
        ranked = exp.select(
            exp.alias_(reference.copy(), ident(RELATED_KEY), copy=False),
            *(exp.alias_(rows.column(n), ident(n), copy=False) for n in picked),
            exp.alias_(number, ident(RELATED_ROW), copy=False),
        ).from_(rows.from_table(), copy=False)
        ranked = rows.finish(
            ranked.where(exp.not_(exp.Is(this=reference, expression=exp.null())), copy=False)
        )
        first = exp.EQ(this=col(RELATED_ROW), expression=exp.Literal.number(1))
        return (
            exp.select(col(RELATED_KEY), *(col(n) for n in picked))
            .from_(ranked.subquery(ident("r"), copy=False), copy=False)
            .where(first, copy=False)
        )

    def rewrite(self, tree: exp.Expr) -> exp.Expr:
        """An analyst's expression with each name qualified: a fact column, else a dimension,
        and ``<table>.<column>`` a column of a related table (:func:`relations`). A reference
        to a client is to its master when the client is a duplicate."""
        related: dict[str, Relation] | None = None

        def qualify(node: exp.Expr) -> exp.Expr:
            nonlocal related
            if isinstance(node, exp.Column) and node.table:
                if related is None:
                    related = relations(self.fact)
                if node.table in related:
                    return self.related_column(related[node.table], node.name)
            if isinstance(node, exp.Column) and not node.table:
                if node.name in self.mastered:
                    return self.reference(self.mastered[node.name])
                if node.name in self.columns:
                    return self.column(node.name)
                if node.name in DIMENSIONS:
                    return self.dimension(node.name)
            return node

        return tree.copy().transform(qualify)

    def time_column(self) -> exp.Column:
        return self.column(self.time)

    def local_day(self, name: str | None = None) -> exp.Expr:
        """The row's day in its branch's time zone (a DATE column is already a day), looked up
        in the table of local days (:func:`zones.local_day`); a branch without a time zone
        counts in UTC rather than not at all. Of the time column, or of the fact's column
        ``name`` (a balance's ``until``), each with a line of the table of its own."""
        name = name or self.time
        column = self.column(name)
        if self.columns[name] == "DATE":
            return column
        z = self.need_zone_days(name)
        zone = exp.Coalesce(
            this=col("timezone", self.need("branch")), expressions=[exp.Literal.string("UTC")]
        )
        return zones.local_day(column, z, zone)

    def need_zone_days(self, name: str | None = None) -> str:
        """Join :data:`zones.ZONE_DAYS` on the row's branch and the UTC date of the time column
        (alias ``z``) or of the column ``name`` (alias ``z_<name>``); its alias."""
        name = name or self.time
        alias = self.alias("z" if name == self.time else f"z_{name}")
        if alias not in self.joins:
            self.joins[alias] = exp.and_(
                exp.EQ(this=col("branch_id", alias), expression=self.reference("branch")),
                exp.EQ(this=col("utc_date", alias), expression=as_date(self.column(name))),
                copy=False,
            )
        return alias

    def period(self, grain: m.Grain, first: exp.Expr | None = None) -> exp.Expr:
        """The first day of the row's period (:func:`period_of`; ``first``: the range's first
        day, at ``range`` grain, where the row's own day is not needed)."""
        if grain == "range":
            return range_period(first)
        return period_of(self.local_day(), grain)

    def range(self, start: exp.Expr, end: exp.Expr) -> list[exp.Expr]:
        """Rows whose local day is in [start, end] (:func:`zones.in_days`)."""
        if self.columns[self.time] == "DATE":
            return [exp.Between(this=self.local_day(), low=start, high=end)]
        moment = self.time_column()
        return zones.in_days(moment, self.local_day(), start, end)

    def near(self, start: exp.Expr, end: exp.Expr) -> list[exp.Expr]:
        """Rows stored near the days [start, end] (:func:`zones.near`), in plain bounds the
        engine can skip whole blocks of rows by. A DATE column is the day itself: those days
        exactly."""
        if self.columns[self.time] == "DATE":
            return [exp.Between(this=self.time_column(), low=start, high=end)]
        return zones.near(self.time_column(), start, end)

    def aggregate(self, measure: m.Measure) -> exp.Expr:
        if measure.expr is None:
            return exp.Count(this=exp.Star())
        return aggregate(measure.agg, self.rewrite(measure.expr))

    def finish(self, select: exp.Select) -> exp.Select:
        """``select`` with the joins its expressions needed, in the order they were needed."""
        for alias, on in self.joins.items():
            name = alias.removeprefix(self.prefix)
            if alias in self.related:
                rows = self.related_rows(*self.related[alias])
                select = add_join(
                    select, rows.subquery(ident(alias), copy=False), on=on, side="LEFT"
                )
                continue
            if name == "p":
                assert self.fact.parent is not None
                table = self.fact.parent.table
            elif name == "z" or name.startswith("z_"):
                zone_days = work_table(zones.ZONE_DAYS, self.zones, alias)
                select = add_join(select, zone_days, on=on, side="LEFT")
                continue
            elif name == "b":
                table = "dim_branch"
            else:
                table = ENTITIES[name.removeprefix("d_")].table
            select = add_join(select, core_table(table, alias), on=on, side="LEFT")
        return select
