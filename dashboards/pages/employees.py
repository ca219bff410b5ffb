"""Employees & KPIs: who is on plan in a role, what each earns as a bonus, and why.

A role's scorecard (``scorecards/<role>.yaml``) over the filters' months, asked of
:meth:`kpi_designer.engine.Engine.scorecard`: a ranking of the employees' scores (sorted bars,
100% marked), a grid with each one's score, bonus estimate and each KPI's achievement, and the
role's bonus total. One employee's month — from the global employee filter, or a click in the
ranking or the grid, which sets it in the address — shows each KPI's plan, fact, achievement,
weight and contribution as a table and a bullet graph, and the bonus line that follows.

The role is this page's own control, kept in the address as ``role=`` (it is no global filter:
the other pages have no use for it). The ranking compares an employee with the peers the
branch filter leaves (the scope without its employee), so a chosen employee is seen among them;
the employee's own month is asked with the filters' whole scope.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboards.access import viewing
from dashboards.app import data, filters_of, remembered
from dashboards.components.grid import Col, grid
from dashboards.components.states import empty, failed, notices, skeleton
from dashboards.figures import employees as figures
from dashboards.filters import Filters, with_changes
from dashboards.format import kpi_value, number_or_none
from dashboards.kpis import _day, add_months, month_start
from reports import formats

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.data import Data
    from kpi_designer.model import Scorecard
    from kpi_designer.scorecards import Scored

log = logging.getLogger("kpiboard.dashboards")

DEFAULT_ROLE = "sales_manager"
HIDDEN = {"display": "none"}


# -- what the page is asked -----------------------------------------------------------------------


def query_of(search: str | None) -> dict[str, str]:
    """Every parameter of the address, the page's own (``role``) and the global filters'."""
    return dict(parse_qsl((search or "").lstrip("?"), keep_blank_values=False))


def with_query(search: str | None, **changes: str | None) -> str:
    """The address's query with ``changes`` (``None`` removes a key), the rest kept."""
    values = query_of(search)
    for key, value in changes.items():
        if value:
            values[key] = value
        else:
            values.pop(key, None)
    return "?" + urlencode(values) if values else ""


def roles(d: Data) -> dict[str, str]:
    """Role → its scorecard's label, for every role that has a scorecard."""
    cards = d.engine().definitions.scorecards
    return {role: cards[role].label for role in sorted(cards)}


def chosen_role(d: Data, f: Filters, asked: str | None) -> str | None:
    """The role the page shows: the chosen employee's, when that role has a scorecard;
    otherwise the one the address asks for, or the default (sales managers), or the first."""
    known = roles(d)
    if f.employee:
        found = d.engine().employee(f.employee)
        if found is not None and found[0] in known:
            return found[0]
    if asked in known:
        return asked
    if DEFAULT_ROLE in known:
        return DEFAULT_ROLE
    return next(iter(known), None)


def peers_scope(f: Filters) -> dict[str, list[str]]:
    """The filters' scope without the employee: the ranking shows the employee's peers (their
    branch's, when a branch is chosen)."""
    return with_changes(f, employee=None).scope()


def employee_scope(f: Filters) -> dict[str, list[str]]:
    """The filters' scope: the chosen employee alone when there is one
    (:meth:`Filters.scope`)."""
    return f.scope()


def _scope_key(scope: Mapping[str, list[str]]) -> tuple[Any, ...]:
    return tuple(sorted((k, tuple(v)) for k, v in scope.items()))


def scorecard(d: Data, role: str, f: Filters, scope: Mapping[str, list[str]]) -> Scored:
    """The engine's scorecard of ``role`` over the filters' period in ``scope``, cached per
    snapshot."""
    key = ("employees-scorecard", role, f.start, f.end, _scope_key(scope))
    return d.cached(
        key, lambda: d.engine().scorecard(role, start=f.start, end=f.end, scope=dict(scope))
    )


def names(d: Data) -> dict[str, tuple[str, str]]:
    """Employee id → (full name, branch name)."""
    out: dict[str, tuple[str, str]] = {}
    for branch, branch_name in d.branches():
        for employee, name in d.employees(branch):
            out[employee] = (name, branch_name)
    for employee, name in d.employees():
        out.setdefault(employee, (name, formats.EM_DASH))
    return out


def months_of(f: Filters) -> list[dt.date]:
    """The first day of each month the period touches, oldest first."""
    out, month = [], month_start(f.start)
    while month <= f.end:
        out.append(month)
        month = add_months(month, 1)
    return out


# -- the role: ranking, grid and total -------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """Each employee of a role over the period: mean monthly score, summed bonus, mean
    achievement of each KPI, and the months a gate stopped the bonus."""

    frame: pd.DataFrame
    """``employee``, ``name``, ``branch``, ``months``, ``score``, ``bonus``, ``gate``,
    ``bonus_text`` and one column per weighted KPI (its mean achievement)."""
    kpis: tuple[str, ...]
    total_bonus: float


def ranked(
    scored: Scored, card: Scorecard, who: Mapping[str, tuple[str, str]], currency: str
) -> Ranked:
    """The scorecard's months folded per employee (one month: that month's numbers)."""
    import pandas as pd

    summary, parts = scored.summary, scored.parts
    kpi_ids = tuple(w.kpi for w in card.kpis)
    columns = [
        "employee",
        "name",
        "branch",
        "months",
        "score",
        "bonus",
        "gate",
        "gated_months",
        "bonus_text",
    ]
    if summary.empty:
        return Ranked(pd.DataFrame(columns=[*columns, *kpi_ids]), kpi_ids, 0.0)
    records = []
    achievements = (
        parts[parts["kpi"].isin(kpi_ids)]
        .assign(achievement=lambda x: x["achievement"].astype("float64"))
        .groupby(["employee", "kpi"])["achievement"]
        .mean()
    )
    for employee, rows in summary.groupby("employee", sort=False):
        gates = [str(g) for g in rows["gate"] if isinstance(g, str) and g]
        months = len(rows)
        if not gates:
            gate = ""
        elif months == 1:
            gate = gates[0]
        else:
            gate = f"no bonus in {len(gates)} of {months} months ({gates[0]}…)"
        name, branch = who.get(str(employee), (str(employee), formats.EM_DASH))
        bonus = float(rows["bonus"].sum())
        record: dict[str, Any] = {
            "employee": str(employee),
            "name": name,
            "branch": branch,
            "months": months,
            "score": float(rows["score"].mean()),
            "bonus": bonus,
            "gate": gate,
            "gated_months": len(gates),
            "bonus_text": formats.money(bonus, currency),
        }
        for kpi in kpi_ids:
            record[kpi] = number_or_none(achievements.get((employee, kpi)))
        records.append(record)
    frame = pd.DataFrame(records, columns=[*columns, *kpi_ids])
    frame = frame.sort_values(["score", "name"], ascending=[False, True], ignore_index=True)
    return Ranked(frame, kpi_ids, float(frame["bonus"].sum()))


def ranking_title(r: Ranked, card: Scorecard, f: Filters) -> str:
    """The ranking's message: how many are below plan, and who leads."""
    frame = r.frame
    below = int((frame["score"] < 1.0).sum())
    lead = frame.iloc[0]
    people = f"{card.label.lower()}s"
    return (
        f"{below} of {len(frame)} {people} below 100% · {lead['name']} leads at "
        f"{lead['score'] * 100:.1f}%"
    )


def role_columns(d: Data, r: Ranked, several_months: bool) -> list[Col]:
    kpis = d.engine().kpis
    columns = [Col("name", "Employee"), Col("branch", "Branch")]
    if several_months:
        columns.append(Col("months", "Months", "count"))
    columns += [
        Col("score", "Score" + (" (mean)" if several_months else ""), "percent"),
        Col("bonus", "Bonus estimate", "money"),
    ]
    columns += [
        Col(k, (kpis[k].label if k in kpis else k) + " (of plan)", "percent") for k in r.kpis
    ]
    columns.append(Col("gate", "No bonus because"))
    return columns


def wrapped(table: Any, records: list[dict[str, Any]], key: str) -> Any:
    """A grid whose headings wrap instead of being cut short, each row carrying ``key`` (its
    id: what a click on the row reports, though no column shows it)."""
    table.defaultColDef = {**table.defaultColDef, "wrapHeaderText": True, "autoHeaderHeight": True}
    table.rowData = [
        {**row, key: record[key]} for row, record in zip(table.rowData, records, strict=True)
    ]
    return table


def fact(label: str, value: str, note: str, id: str) -> dbc.Card:
    """A headline number of the page (not a KPI: it has no plan of its own)."""
    return dbc.Card(
        [
            html.Div(label, className="kb-tile-label"),
            html.Div(value, className="kb-tile-value", id=id),
            html.Div(note, className="kb-tile-plan kb-muted"),
        ],
        className="kb-tile kb-tile-none employees-fact",
    )


def label(kpis: Mapping[str, Any], kpi: str) -> str:
    return str(kpis[kpi].label) if kpi in kpis else kpi


def facts_row(
    r: Ranked, card: Scorecard, f: Filters, currency: str, kpis: Mapping[str, Any]
) -> list[Any]:
    frame = r.frame
    on_plan = int((frame["score"] >= 1.0).sum())
    gated = int((frame["gated_months"] > 0).sum())
    people = f"{card.label.lower()}s"
    return [
        fact(
            "Bonus estimate, total",
            formats.money(r.total_bonus, currency),
            f"{len(frame)} {people}, {f.period_text()}",
            "employees-total-bonus",
        ),
        fact(
            "Average score",
            formats.percent(float(frame["score"].mean())),
            "100% = every KPI on plan",
            "employees-average-score",
        ),
        fact(
            "On or above plan",
            f"{on_plan} of {len(frame)}",
            "score at least 100%",
            "employees-on-plan",
        ),
        fact(
            "No bonus (gate)",
            f"{gated} of {len(frame)}",
            "; ".join(f"{label(kpis, g.kpi)} below {g.min_achievement:.0%}" for g in card.gates)
            or "this scorecard has no gate",
            "employees-gated",
        ),
    ]


def fill_role(d: Data, f: Filters, role: str) -> tuple[Any, Any, Any]:
    """(facts, ranking, grid) of ``role`` under the filters."""
    card = d.engine().definitions.scorecards[role]
    scored = scorecard(d, role, f, peers_scope(f))
    r = ranked(scored, card, names(d), d.currency)
    if r.frame.empty:
        where = dict(d.branches()).get(f.branch, f.branch) if f.branch else "any branch"
        message = (
            f"No {card.label.lower()} worked in {where} in {f.period_text()}: "
            "choose another branch, role or period."
        )
        return None, empty(message, id="employees-ranking-empty"), None
    title = ranking_title(r, card, f)
    chart = html.Div(
        [
            html.P(
                f"Score = KPIs' achievements weighted ({_weights(d, card)}), each counted between "
                f"{card.floor:.0%} and {card.cap:.0%}"
                + ("; mean of the months" if len(months_of(f)) > 1 else "")
                + ". Click a bar for that employee's month.",
                className="kb-muted kb-small",
            ),
            dcc.Graph(
                id="employees-ranking",
                figure=figures.ranking(r.frame, title=title, selected=f.employee),
                config={"displaylogo": False},
            ),
        ],
        className="kb-card",
    )
    records = r.frame.to_dict("records")
    table = html.Div(
        [
            wrapped(
                grid(
                    "employees-role-grid",
                    records,
                    role_columns(d, r, len(months_of(f)) > 1),
                    currency=d.currency,
                    file_name=f"scorecard_{role}_{f.start}_{f.end}.csv",
                    row_id="employee",
                ),
                records,
                "employee",
            ),
            html.P(
                "Click a name for that employee's month, an achievement for the rows behind it.",
                className="kb-muted kb-small",
            ),
        ],
        className="kb-card",
    )
    return facts_row(r, card, f, d.currency, d.engine().kpis), chart, table


def _weights(d: Data, card: Scorecard) -> str:
    total = sum(w.weight for w in card.kpis)
    kpis = d.engine().kpis
    return ", ".join(
        f"{kpis[w.kpi].label if w.kpi in kpis else w.kpi} {w.weight / total:.0%}" for w in card.kpis
    )


# -- one employee's month -------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    """One employee's month of a scorecard: its parts (one row per KPI) and summary row."""

    employee: str
    name: str
    month: dt.date
    parts: list[dict[str, Any]]
    score: float
    bonus: float
    gate: str


def employee_month(
    scored: Scored, employee: str, month: dt.date, d: Data, name: str
) -> Month | None:
    """The employee's ``month`` from the scorecard; ``None`` when not employed in it."""
    summary = scored.summary
    rows = summary[(summary["employee"] == employee) & (summary["period"].map(_day) == month)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    parts = scored.parts[
        (scored.parts["employee"] == employee) & (scored.parts["period"].map(_day) == month)
    ]
    kpis = d.engine().kpis
    order = {k: i for i, k in enumerate(dict.fromkeys(parts["kpi"]))}
    records = []
    for part in parts.to_dict("records"):
        kpi = kpis.get(part["kpi"])
        unit = kpi.unit if kpi is not None else "number"
        weight = number_or_none(part.get("weight"))
        records.append(
            {
                "kpi": part["kpi"],
                "label": kpi.label if kpi is not None else part["kpi"],
                "unit": unit,
                "plan": number_or_none(part.get("plan")),
                "value": number_or_none(part.get("value")),
                "achievement": number_or_none(part.get("achievement")),
                "counted": number_or_none(part.get("counted")) if weight else None,
                "weight": weight,
                "contribution": number_or_none(part.get("contribution")) if weight else None,
                "status": part.get("status") or None,
                "value_text": kpi_value(part.get("value"), unit, d.currency),
                "plan_text": kpi_value(part.get("plan"), unit, d.currency),
                "role": "weighted" if weight else "gate only",
            }
        )
    records.sort(key=lambda r: (r["weight"] is None, -(r["weight"] or 0), order[r["kpi"]]))
    gate = row["gate"] if isinstance(row["gate"], str) else ""
    return Month(employee, name, month, records, float(row["score"]), float(row["bonus"]), gate)


def _weight_shares(card: Scorecard, records: list[dict[str, Any]]) -> None:
    """Weights as shares of the card's total (what the contribution is measured in)."""
    total = sum(w.weight for w in card.kpis)
    for record in records:
        if record["weight"] is not None:
            record["weight"] = record["weight"] / total


MONTH_COLUMNS = [
    Col("label", "KPI"),
    Col("weight", "Weight", "percent"),
    Col("plan", "Plan", "unit"),
    Col("value", "Fact", "unit"),
    Col("achievement", "Achievement", "percent"),
    Col("counted", "Counted", "percent"),
    Col("contribution", "Contribution to score", "percent"),
    Col("status", "Status", "status"),
]


def bullet_title(m: Month) -> str:
    """The bullet graph's message: how many weighted KPIs reach their plan that month."""
    weighted = [p for p in m.parts if p["weight"]]
    on_plan = sum(1 for p in weighted if (p["achievement"] or 0) >= 1.0)
    return f"{m.name}: {on_plan} of {len(weighted)} KPIs on plan in {m.month:%B %Y}"


def bonus_line(m: Month, card: Scorecard, currency: str) -> html.P:
    """How the bonus follows from the score: the formula, or the gate that stopped it."""
    formula = card.bonus.sql()
    score = formats.percent(m.score)
    if m.gate:
        return html.P(
            [
                html.Strong(f"No bonus in {m.month:%B %Y}: "),
                f"{m.gate}. The score, {score}, would otherwise pay {formula} ",
                f"(base {formats.money(card.base_amount, currency)}).",
            ],
            className="employees-bonus-line kb-bad",
            id="employees-bonus-line",
        )
    return html.P(
        [
            html.Strong(f"Bonus estimate {formats.money(m.bonus, currency)}"),
            f" = {formula} (score {score}, base {formats.money(card.base_amount, currency)}).",
        ],
        className="employees-bonus-line",
        id="employees-bonus-line",
    )


def why_not(d: Data, f: Filters, employee: str, name: str) -> str | None:
    """Why ``employee`` has no scorecard in the filters' period, or ``None`` when they have."""
    found = d.engine().employee(employee)
    if found is None:
        return f"No employee {employee!r} in this project."
    role, hired, left = found
    known = roles(d)
    if role not in known:
        with_cards = ", ".join(label.lower() for label in known.values()) or "no role"
        return (
            f"{name} is {_a(role.replace('_', ' '))}: that role has no scorecard, so there is "
            f"no score or bonus to show (scorecards exist for {with_cards})."
        )
    if hired is not None and hired > f.end:
        return f"{name} joined on {hired.isoformat()}, after this period: choose a later period."
    if left is not None and left < f.start:
        return f"{name} left on {left.isoformat()}, before this period: choose an earlier one."
    return None


def _a(words: str) -> str:
    return ("an " if words[:1] in "aeiou" else "a ") + words


def fill_employee(
    d: Data, f: Filters, month_text: str | None
) -> tuple[Any, Any, list[dt.date], dt.date | None]:
    """(title, body, the months to choose from, the month shown) of the chosen employee's
    month; an invitation when nobody is chosen."""
    if not f.employee:
        return (
            "One employee's month",
            empty(
                "Choose an employee (the Employee filter above, or click a name in the "
                "ranking) to see each KPI's plan, fact and contribution to the bonus."
            ),
            [],
            None,
        )
    who = names(d)
    name = who.get(f.employee, (f.employee, ""))[0]
    reason = why_not(d, f, f.employee, name)
    if reason:
        return name, empty(reason, id="employees-month-empty"), [], None
    role = chosen_role(d, f, None)
    assert role is not None  # why_not found the employee's role has a scorecard
    card = d.engine().definitions.scorecards[role]
    scored = scorecard(d, role, f, employee_scope(f))
    months = sorted({_day(p) for p in scored.summary["period"]})
    if not months:
        return (
            name,
            empty(
                f"{name} has no month as {_a(card.label.lower())} in {f.period_text()}.",
                id="employees-month-empty",
            ),
            [],
            None,
        )
    month = _day(month_text) if month_text else months[-1]
    if month not in months:
        month = months[-1]
    m = employee_month(scored, f.employee, month, d, name)
    assert m is not None
    _weight_shares(card, m.parts)
    explained = [p for p in m.parts]
    title = f"{name} · {card.label} · {month:%B %Y}"
    subtitle = f"{name} scores {formats.percent(m.score)} in {month:%B %Y}: " + (
        ", ".join(
            f"{p['label']} {formats.percent(p['achievement'])}"
            for p in m.parts
            if p["achievement"] is not None and p["weight"]
        )
        or "no KPI has a plan"
    )
    body = html.Div(
        [
            bonus_line(m, card, d.currency),
            html.Div(
                [
                    html.Div(
                        [
                            html.P(subtitle, className="kb-muted kb-small"),
                            dcc.Graph(
                                id="employees-bullet",
                                figure=figures.bullet(
                                    explained,
                                    title=bullet_title(m),
                                    floor=card.floor,
                                    cap=card.cap,
                                ),
                                config={"displaylogo": False},
                            ),
                        ],
                        className="kb-card",
                    ),
                    html.Div(
                        [
                            wrapped(
                                grid(
                                    "employees-kpi-grid",
                                    m.parts,
                                    MONTH_COLUMNS,
                                    currency=d.currency,
                                    file_name=f"scorecard_{f.employee}_{month:%Y-%m}.csv",
                                    row_id="kpi",
                                ),
                                m.parts,
                                "kpi",
                            ),
                            html.P(
                                "Contribution = counted achievement × weight; the score is "
                                "their sum. Click a number for the rows behind it.",
                                className="kb-muted kb-small",
                            ),
                        ],
                        className="kb-card",
                    ),
                ],
                className="employees-month-area",
            ),
        ],
        id="employees-month-body",
    )
    return title, body, months, month


# -- the page -------------------------------------------------------------------------------------


def _role_options() -> tuple[list[dict[str, str]], str | None]:
    if viewing() is None:  # no request, or Dash's own check of the layout: no data read
        return [], None
    try:
        known = roles(data())
    except Exception:  # the callbacks say what is wrong; the layout stays a skeleton
        log.exception("employees: the scorecards could not be read")
        return [], None
    return [{"label": label, "value": role} for role, label in known.items()], None


def layout(role: str | None = None, **query: Any) -> html.Div:
    options, _ = _role_options()
    value = role
    if options:
        search = "?" + urlencode({k: v for k, v in query.items() if isinstance(v, str)})
        value = chosen_role(data(), filters_of(search), role)
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Employees & KPIs", className="kb-page-title"),
                    html.Div(
                        [
                            dbc.Label(
                                "Role", html_for="employees-role", className="kb-filter-label"
                            ),
                            dcc.Dropdown(
                                id="employees-role",
                                options=options,
                                value=value,
                                clearable=False,
                                searchable=False,
                            ),
                        ],
                        className="kb-filter employees-role",
                    ),
                ],
                className="employees-head",
            ),
            html.Div(id="employees-notices"),
            html.Div([skeleton(120) for _ in range(4)], id="employees-facts", className="kb-tiles"),
            html.H2("Ranking", className="kb-section-title"),
            html.Div(
                [
                    html.Div(
                        [skeleton(360), dcc.Graph(id="employees-ranking", style=HIDDEN)],
                        id="employees-ranking-box",
                    ),
                    html.Div(
                        [skeleton(360), dag.AgGrid(id="employees-role-grid", style=HIDDEN)],
                        id="employees-grid-box",
                    ),
                ],
                className="employees-role-area",
            ),
            html.Div(
                [
                    html.H2(
                        "One employee's month",
                        className="kb-section-title",
                        id="employees-month-title",
                    ),
                    html.Div(
                        [
                            dbc.Label(
                                "Month",
                                html_for="employees-month-choice",
                                className="visually-hidden",
                            ),
                            dcc.Dropdown(
                                id="employees-month-choice",
                                clearable=False,
                                searchable=False,
                                placeholder="Month",
                            ),
                        ],
                        id="employees-month-picker",
                        className="employees-month-picker",
                        hidden=True,
                    ),
                ],
                className="employees-month-head",
            ),
            dcc.Store(id="employees-month-shown"),
            html.Div(
                [
                    skeleton(300),
                    dcc.Graph(id="employees-bullet", style=HIDDEN),
                    dag.AgGrid(id="employees-kpi-grid", style=HIDDEN),
                ],
                id="employees-month",
            ),
        ]
    )


dash.register_page(
    __name__,
    path="/employees",
    name="Employees & KPIs",
    title="Employees & KPIs",
    order=5,
    layout=layout,
)


@callback(
    Output("employees-facts", "children"),
    Output("employees-ranking-box", "children"),
    Output("employees-grid-box", "children"),
    Output("employees-notices", "children"),
    Input("url", "search"),
)
@remembered
def fill(search: str | None) -> tuple[Any, Any, Any, Any]:
    """The role's facts, ranking and grid under the address's filters and role."""
    d = data()
    f = filters_of(search)
    try:
        role = chosen_role(d, f, query_of(search).get("role"))
        if role is None:
            return (
                None,
                empty("This project has no scorecard: add one under scorecards/ (one per role)."),
                None,
                notices(f.ignored),
            )
        facts, chart, table = fill_role(d, f, role)
    except Exception:  # a failing callback shows a message, never a stack trace
        return None, failed("role's scorecard", page="employees"), None, notices(f.ignored)
    return facts, chart, table, notices(f.ignored)


@callback(
    Output("employees-month-title", "children"),
    Output("employees-month", "children"),
    Output("employees-month-picker", "hidden"),
    Output("employees-month-choice", "options"),
    Output("employees-month-choice", "value"),
    Output("employees-month-shown", "data"),
    Input("url", "search"),
    Input("employees-month-choice", "value"),
)
def fill_month(search: str | None, chosen: str | None) -> tuple[Any, ...]:
    """The chosen employee's month: the one picked, else the period's last the employee
    worked."""
    d = data()
    f = filters_of(search)
    try:
        title, body, months, month = fill_employee(d, f, chosen)
    except Exception:
        gone = failed("employee's month", page="employees")
        return "One employee's month", gone, True, [], None, None
    options = [{"label": f"{x:%B %Y}", "value": x.isoformat()} for x in months]
    shown = month.isoformat() if month else None
    return title, body, len(months) < 2, options, shown, shown


@callback(
    Output("url", "search", allow_duplicate=True),
    Input("employees-role", "value"),
    State("url", "search"),
    prevent_initial_call=True,
)
def pick_role(role: str | None, search: str | None) -> Any:
    """A role chosen goes into the address (``role=``); an employee of another role is let
    go, since their month belongs to their own role."""
    if not role:
        return no_update
    d = data()
    f = filters_of(search)
    if role == chosen_role(d, f, query_of(search).get("role")):
        return no_update
    return with_query(search, role=role, employee=None)


@callback(
    Output("url", "search", allow_duplicate=True),
    Input("employees-ranking", "clickData"),
    State("url", "search"),
    prevent_initial_call=True,
)
def pick_from_ranking(click: dict[str, Any] | None, search: str | None) -> Any:
    """A bar clicked sets the address's employee: that employee's month shows below."""
    employee = _clicked(click, 0)
    if not employee or query_of(search).get("employee") == employee:
        return no_update
    return with_query(search, employee=employee)


def _clicked(click: Mapping[str, Any] | None, index: int) -> str | None:
    try:
        value = (click or {})["points"][0]["customdata"][index]
    except (KeyError, IndexError, TypeError):
        return None
    return str(value) if value else None


@callback(
    Output("url", "search", allow_duplicate=True),
    Output("kb-explain-request", "data", allow_duplicate=True),
    Input("employees-role-grid", "cellClicked"),
    State("url", "search"),
    prevent_initial_call=True,
)
def role_grid_click(cell: dict[str, Any] | None, search: str | None) -> tuple[Any, Any]:
    """A name picks the employee; a KPI's achievement explains it for that employee."""
    if not cell or not cell.get("rowId"):
        return no_update, no_update
    employee, column = str(cell["rowId"]), str(cell.get("colId") or "")
    if column in ("name", "branch"):
        if query_of(search).get("employee") == employee:
            return no_update, no_update
        return with_query(search, employee=employee), no_update
    if column in data().engine().kpis:
        return no_update, {"kpi": column, "slice": {"employee": employee}}
    return no_update, no_update


def month_request(kpi: str, employee: str, month: dt.date) -> dict[str, Any]:
    """The explanation of ``kpi`` for ``employee`` in ``month``."""
    last = add_months(month, 1) - dt.timedelta(days=1)
    return {
        "kpi": kpi,
        "start": month.isoformat(),
        "end": last.isoformat(),
        "slice": {"employee": employee},
    }


@callback(
    Output("kb-explain-request", "data", allow_duplicate=True),
    Input("employees-kpi-grid", "cellClicked"),
    State("employees-month-shown", "data"),
    State("url", "search"),
    prevent_initial_call=True,
)
def month_grid_click(cell: dict[str, Any] | None, month: str | None, search: str | None) -> Any:
    """A KPI's plan, fact or achievement clicked: the rows behind it that month."""
    f = filters_of(search)
    if not cell or not cell.get("rowId") or not month or not f.employee:
        return no_update
    return month_request(str(cell["rowId"]), f.employee, _day(month))


@callback(
    Output("kb-explain-request", "data", allow_duplicate=True),
    Input("employees-bullet", "clickData"),
    State("employees-month-shown", "data"),
    State("url", "search"),
    prevent_initial_call=True,
)
def bullet_click(click: dict[str, Any] | None, month: str | None, search: str | None) -> Any:
    """A KPI's bar clicked: the rows behind it that month."""
    f = filters_of(search)
    kpi = _clicked(click, 0)
    if not kpi or not month or not f.employee:
        return no_update
    return month_request(kpi, f.employee, _day(month))
