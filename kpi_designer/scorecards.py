"""Scorecard files (YAML, one per role) → :class:`~kpi_designer.model.Scorecard`, located errors.

A scorecard names a role, a monthly base amount, weighted KPIs, a floor and a cap on each KPI's
achievement, gates (no bonus below a share of a KPI's plan) and the bonus formula, an
expression over ``score`` and ``base_amount`` (see ``docs/kpis.md``). :func:`score` computes it
from each employee's KPI values and plans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.errors import DefinitionError
from kpi_designer.loader import DIALECT, SUFFIXES, NotAnExpression, parse_expression, reachable
from kpiboard.errors import Problem
from kpiboard.yamlnodes import Keys, NodeReader, did_you_mean, kind_of_node, line

if TYPE_CHECKING:  # pandas and DuckDB are imported where a card is scored: loading needs none
    import pandas as pd

ROLES = ("sales_manager", "service_engineer", "driver", "warehouse_keeper", "executive", "analyst")
"""``core.dim_employee.role`` values (docs/model.md)."""
KEYS = ("role", "label", "base_amount", "kpis", "floor", "cap", "gates", "bonus")
REQUIRED = ("role", "label", "base_amount", "kpis", "bonus")
FORMULA_NAMES = ("score", "base_amount")


def load_scorecards(folder: Path, kpis: Mapping[str, m.Kpi]) -> dict[str, m.Scorecard]:
    """Every scorecard under ``folder`` by role (none if the folder does not exist)."""
    if not folder.is_dir():
        return {}
    cards: dict[str, m.Scorecard] = {}
    problems: list[Problem] = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
        shown = path.relative_to(folder.parent).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(shown, None, f"cannot read: {exc}"))
            continue
        reader = _Reader(shown, kpis)
        card = reader.scorecard(text)
        problems += reader.problems
        if card is None:
            continue
        if card.role in cards:
            problems.append(
                Problem(
                    shown,
                    card.location.line,
                    f"role {card.role!r} already has a scorecard: {cards[card.role].location}",
                )
            )
            continue
        cards[card.role] = card
    if problems:
        raise DefinitionError(problems)
    return cards


class _Reader(NodeReader):
    explain_syntax = True

    def __init__(self, shown: str, kpis: Mapping[str, m.Kpi]) -> None:
        super().__init__(shown)
        self.kpis = kpis

    def scorecard(self, text: str) -> m.Scorecard | None:
        root = self.compose(text)
        if root is None:
            if not self.problems:
                self.problem(1, "empty file: a scorecard needs role:, kpis: and bonus:")
            return None
        if not isinstance(root, MappingNode):
            self.problem(line(root), f"a scorecard is a mapping, not {kind_of_node(root)}")
            return None
        keys = self.mapping(root, None)
        for key, (key_node, _) in keys.items():
            if key not in KEYS:
                self.problem(line(key_node), f"unknown key {key!r}{did_you_mean(key, KEYS)}")
        for key in REQUIRED:
            if key not in keys:
                self.problem(line(root), f"missing key {key!r}")
        before = len(self.problems)
        role = self.role(keys)
        label = self.optional_string(keys, "label", None)
        base = self.amount(keys, "base_amount", None, positive=True)
        floor = self.amount(keys, "floor", 0.0)
        cap = self.amount(keys, "cap", 1.5, positive=True)
        if floor is not None and cap is not None and floor >= cap:
            self.problem(
                line(keys["cap"][1]) if "cap" in keys else line(root),
                f"cap ({cap}) must be above floor ({floor})",
            )
        weighted = self.weighted(keys)
        gates = self.gates(keys)
        bonus = self.formula(keys)
        if len(self.problems) > before or None in (role, label, base, floor, cap, bonus):
            return None
        assert role and label and base is not None and floor is not None and cap is not None
        assert weighted is not None and gates is not None and bonus is not None
        return m.Scorecard(
            role,
            label,
            base,
            tuple(weighted),
            floor,
            cap,
            tuple(gates),
            bonus,
            m.Location(self.shown, line(root)),
        )

    def role(self, keys: Keys) -> str | None:
        if "role" not in keys:
            return None
        node = keys["role"][1]
        role = self.string(node, "role", None)
        if role is not None and role not in ROLES:
            hint = did_you_mean(role, ROLES) or f" (roles: {', '.join(ROLES)})"
            self.problem(line(node), f"unknown role {role!r}{hint}")
            return None
        return role

    def amount(
        self, keys: Keys, key: str, default: float | None, *, positive: bool = False
    ) -> float | None:
        """``key``'s number, at least 0 (above 0 when ``positive``); ``default`` when absent."""
        if key not in keys:
            return default
        node = keys[key][1]
        value = self.number(node, key, None)
        if value is None:
            return None
        if (positive and value <= 0) or value < 0:
            self.problem(line(node), f"{key} must be {'above' if positive else 'at least'} 0")
            return None
        return float(value)

    def kpi_ref(self, node: Node, what: str) -> str | None:
        kpi = self.string(node, what, None)
        if kpi is None:
            return None
        if kpi not in self.kpis:
            self.problem(
                line(node), f"{what}: unknown KPI {kpi!r}{did_you_mean(kpi, list(self.kpis))}"
            )
            return None
        if "employee" not in reachable(self.kpis[kpi], self.kpis):
            self.problem(line(node), f"{what}: KPI {kpi!r} cannot be computed per employee")
            return None
        return kpi

    def items(
        self, keys: Keys, key: str, fields: Sequence[str]
    ) -> list[tuple[MappingNode, Keys]] | None:
        if key not in keys:
            return []
        node = keys[key][1]
        if not isinstance(node, SequenceNode):
            self.problem(line(node), f"{key} must be a list, not {kind_of_node(node)}")
            return None
        out = []
        for number, child in enumerate(node.value, start=1):
            if not isinstance(child, MappingNode):
                self.problem(
                    line(child),
                    f"{key} {number}: must be a mapping ({{{fields[0]}: …, {fields[1]}: …}})",
                )
                return None
            found = self.mapping(child, None)
            for name, (key_node, _) in found.items():
                if name not in fields:
                    self.problem(
                        line(key_node),
                        f"{key} {number}: unknown key {name!r}{did_you_mean(name, fields)}",
                    )
                    return None
            for name in fields:
                if name not in found:
                    self.problem(line(child), f"{key} {number}: missing {name}:")
                    return None
            out.append((child, found))
        return out

    def weighted(self, keys: Keys) -> list[m.Weighted] | None:
        items = self.items(keys, "kpis", ("kpi", "weight"))
        if items is None:
            return None
        if not items and "kpis" in keys:
            self.problem(line(keys["kpis"][1]), "kpis is empty: a scorecard weighs some KPIs")
            return None
        out = []
        seen: set[str] = set()
        for _, found in items:
            kpi = self.kpi_ref(found["kpi"][1], "kpis")
            weight = self.amount(found, "weight", None, positive=True)
            if kpi in seen:
                self.problem(line(found["kpi"][1]), f"kpis: {kpi!r} is listed twice")
                return None
            if kpi is None or weight is None:
                return None
            seen.add(kpi)
            out.append(m.Weighted(kpi, weight))
        return out

    def gates(self, keys: Keys) -> list[m.Gate] | None:
        items = self.items(keys, "gates", ("kpi", "min_achievement"))
        if items is None:
            return None
        out = []
        for _, found in items:
            kpi = self.kpi_ref(found["kpi"][1], "gates")
            minimum = self.amount(found, "min_achievement", None, positive=True)
            if kpi is None or minimum is None:
                return None
            out.append(m.Gate(kpi, minimum))
        return out

    def formula(self, keys: Keys) -> exp.Expr | None:
        if "bonus" not in keys:
            return None
        node = keys["bonus"][1]
        text = self.string(node, "bonus", None)
        if text is None:
            return None
        try:
            tree = parse_expression(text)
        except NotAnExpression as exc:
            self.problem(line(node), f"bonus {exc}")
            return None
        for column in tree.find_all(exp.Column):
            if column.table or column.name not in FORMULA_NAMES:
                hint = did_you_mean(column.name, FORMULA_NAMES)
                self.problem(
                    line(node),
                    f"bonus: unknown name {column.sql()!r}{hint} "
                    f"(the formula may use {', '.join(FORMULA_NAMES)})",
                )
                return None
        return tree


# -- scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """A scorecard's outcome: one row per employee and month (``summary``) and one per
    employee, month and KPI (``parts``, what each KPI contributed and why)."""

    summary: pd.DataFrame
    parts: pd.DataFrame


def score(card: m.Scorecard, parts: pd.DataFrame) -> Scored:
    """The scorecard over ``parts``: rows of ``employee``, ``period``, ``kpi``, ``value``,
    ``plan`` and ``achievement`` for every KPI of the card (and its gates).

    Each KPI's achievement is clamped to ``[floor, cap]`` (no plan counts as the floor) and
    weighted; ``score`` is the weighted sum over the sum of weights; a gate whose KPI is below
    its minimum achievement (or has no plan) sets the bonus to 0.
    """
    import pandas as pd

    weights = {w.kpi: w.weight for w in card.kpis}
    total = sum(weights.values())
    frame = parts.copy()
    # float64 even when there are no rows: mapping an empty string column keeps its dtype
    frame["weight"] = pd.Series(
        [weights.get(k) for k in frame["kpi"]], index=frame.index, dtype="float64"
    )
    counted = frame["achievement"].astype("float64").fillna(card.floor).clip(card.floor, card.cap)
    frame["counted"] = counted
    frame["contribution"] = frame["counted"] * frame["weight"].fillna(0.0) / total
    scored = frame[frame["kpi"].isin(list(weights))]
    summary = (
        scored.groupby(["employee", "period"], as_index=False)["contribution"]
        .sum()
        .rename(columns={"contribution": "score"})
    )
    summary["gate"] = None
    for gate in card.gates:
        rows = frame[frame["kpi"] == gate.kpi].set_index(["employee", "period"])["achievement"]
        failed = {
            key
            for key, value in rows.items()
            if value is None or pd.isna(value) or float(value) < gate.min_achievement
        }
        for index, row in summary.iterrows():
            if row["gate"] is None and (row["employee"], row["period"]) in failed:
                summary.at[index, "gate"] = f"{gate.kpi} below {gate.min_achievement:.0%} of plan"
    summary["base_amount"] = card.base_amount
    summary["bonus"] = _formula(card.bonus, summary)
    summary.loc[summary["gate"].notna(), "bonus"] = 0.0
    return Scored(
        summary.sort_values(["period", "employee"], ignore_index=True),
        frame.sort_values(["period", "employee", "kpi"], ignore_index=True),
    )


def _formula(bonus: exp.Expr, summary: pd.DataFrame) -> pd.Series:
    """The bonus formula over each row's ``score`` and ``base_amount``, run by DuckDB, in the
    sandbox (the formula is SQL an analyst wrote)."""
    import pandas as pd

    from kpiboard import sandbox

    if summary.empty:
        return pd.Series([], dtype="float64")
    con = sandbox.memory()
    try:
        con.register("scores", summary[["score", "base_amount"]])
        select = exp.select(exp.cast(bonus.copy(), exp.DataType.build("DOUBLE"))).from_("scores")
        values = [row[0] for row in con.execute(select.sql(DIALECT)).fetchall()]
    finally:
        con.close()
    return pd.Series(values, index=summary.index, dtype="float64")
