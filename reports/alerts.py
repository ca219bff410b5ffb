"""Alerts: a rule on one KPI, checked each time a new snapshot is published, that tells its
owners when a breach starts and when it ends — never again while nothing changed.

An alert watches one KPI (optionally one slice of it, ``{"branch": ("denver",)}``) over the
period of ``grain`` that holds the data's last day (:meth:`Engine.last_day`), by one of
:data:`RULES`:

``below_red``
    the KPI's status is red against its plan. The status is the engine's own
    (:meth:`Engine.evaluate`'s ``status`` column, from the KPI's thresholds): an alert is red
    exactly when the dashboard's tile is.
``change``
    the change against the previous period is larger than ``threshold``, either way: the
    relative change in percent, and for a KPI in percent the difference in percentage points,
    as the dashboard's tiles show a change (``+12.5%``, ``+2.1 pp``).
``no_data``
    the KPI counts no rows in the ``threshold`` days up to the data's last day (a source that
    stopped sending one table while the others still arrive).

:func:`check` evaluates every active alert on one snapshot and compares with the alert's
state (``alert_states``): ok → breached is a ``start`` event, breached → ok an ``end``;
anything else records the state and mails nothing. An alert that cannot be evaluated (its KPI
renamed, the warehouse lacking a table) records one ``error`` event when it starts failing,
not one per run, and the other alerts are checked as usual.

Two schedulers may check the same snapshot at once. Each moves an alert's state only from the
snapshot it read it at (compare and set on ``last_snapshot``) and adds the event in the same
transaction, under a unique key (alert, snapshot): the loser of the race adds nothing and sends
nothing. The event is committed before it is sent, so a crash while sending loses a mail rather
than sending it twice; what ``send`` did is recorded on the event (``mailed_at``,
``mail_error``).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from kpiboard import appdb
from kpiboard.errors import UserError
from kpiboard.yamlnodes import did_you_mean
from reports import formats

if TYPE_CHECKING:
    from kpi_designer.engine import Engine
    from kpi_designer.model import Kpi
    from kpiboard.config import Settings
    from reports.mail import Mail, Mailer

RULES = ("below_red", "change", "no_data")
GRAINS = ("day", "week", "month", "quarter")
KINDS = ("start", "end", "error")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""An alert's name: letters, digits, ``-`` and ``_``, up to 64, not starting with a sign."""
ADDRESS = re.compile(
    r"^[^@\s<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
"""What an owner's address must look like (``reports.mail.check_address`` checks it again
before a mail goes out)."""
USER = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
"""A kpiboard user's name (:data:`kpiboard.access.NAME`)."""
MAX_CHANGE = 100_000.0
MAX_DAYS = 3660
MAX_OWNERS = 50
MAX_MEMBERS = 100
SHOWN = 60
"""How much of a hostile name a message repeats."""


# -- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One rule on one KPI and who is told when it starts and stops holding."""

    name: str
    kpi: str
    rule: str
    threshold: float | None = None
    """change: percent (percentage points for a KPI in percent); no_data: days; below_red: none."""
    grain: str = "month"
    scope: Mapping[str, tuple[str, ...]] | None = None
    """The slice the KPI is evaluated for, ``{"branch": ("denver",)}``; ``None``: every row."""
    owners: tuple[str, ...] = ()
    """User names or addresses."""
    paused: bool = False
    alert_id: int | None = None
    created_at: dt.datetime | None = None
    created_by: str = ""

    def describe(self) -> str:
        """The rule in words: ``red against plan``, ``changes by more than 20% a month``."""
        if self.rule == "below_red":
            return f"red against plan ({self.grain})"
        if self.rule == "change":
            return f"changes by more than {_threshold_text(self.threshold)}% a {self.grain}"
        return f"no rows for {_threshold_text(self.threshold)} days"


@dataclass(frozen=True)
class AlertEvent:
    """A breach that started or ended, or an alert that could not be checked."""

    alert: Alert
    kind: str  # start | end | error
    at: dt.datetime
    snapshot: str
    value: float | None
    previous: float | None
    plan: float | None
    period: str
    message: str
    """One line a person reads: ``Revenue (Denver) is red: $41,200 against a plan of $60,000
    for December 2026``."""
    event_id: int | None = None


@dataclass(frozen=True)
class _Outcome:
    """What one evaluation of an alert found: breached or not, or the error that stopped it."""

    breached: bool = False
    value: float | None = None
    previous: float | None = None
    plan: float | None = None
    period: str = ""
    message: str = ""
    error: str | None = None


# -- validation ------------------------------------------------------------------------------


def validate(settings: Settings, alert: Alert, *, engine: Engine | None = None) -> Alert:
    """``alert`` normalised (owners and scope members stripped and deduplicated, a threshold
    of the rule as a float), or :class:`UserError` with the first problem in one line: a bad
    name, an unknown KPI (with a suggestion), a rule, grain or threshold that does not fit, a
    dimension the KPI cannot be sliced by, an owner who is neither a user nor an address, a
    ``below_red`` alert on a KPI without plans (it could never be red)."""
    name = alert.name
    if not isinstance(name, str) or not NAME.match(name):
        raise UserError(
            f"alert name {_shown(name)}: letters, digits, '-' and '_', up to 64 characters"
        )
    if alert.rule not in RULES:
        raise UserError(
            f"alert {name!r}: rule {_shown(alert.rule)} is not one of {', '.join(RULES)}"
            f"{did_you_mean(str(alert.rule), RULES)}"
        )
    if alert.grain not in GRAINS:
        raise UserError(
            f"alert {name!r}: grain {_shown(alert.grain)} is not one of {', '.join(GRAINS)}"
        )
    threshold = _checked_threshold(name, alert.rule, alert.threshold)
    if engine is None:
        from kpi_designer.engine import Engine, read_definitions

        engine = Engine.from_settings(settings, read_definitions(settings))
    kpis = engine.kpis
    if alert.kpi not in kpis:
        left_out = engine.definitions.left_out
        if alert.kpi in left_out:
            raise UserError(
                f"alert {name!r}: kpi {alert.kpi!r} has a problem: {left_out[alert.kpi].message}"
            )
        raise UserError(
            f"alert {name!r}: no KPI {_shown(alert.kpi)}{did_you_mean(str(alert.kpi), list(kpis))}"
            " (kpiboard kpi list shows them)"
        )
    scope = _checked_scope(name, alert.scope, engine.dimensions(alert.kpi))
    if alert.rule == "below_red" and not any(p.kpi == alert.kpi for p in engine.definitions.plans):
        raise UserError(
            f"alert {name!r}: kpi {alert.kpi!r} has no plan, so it is never red "
            "(add its plans under plans/, or use --rule change)"
        )
    owners = _checked_owners(settings, name, alert.owners)
    return replace(alert, threshold=threshold, scope=scope, owners=owners)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…'"


def _checked_threshold(name: str, rule: str, threshold: object) -> float | None:
    if rule == "below_red":
        if threshold is not None:
            raise UserError(
                f"alert {name!r}: rule below_red takes no threshold (red is the plan's)"
            )
        return None
    unit = "percent" if rule == "change" else "days"
    if threshold is None:
        example = "20" if rule == "change" else "3"
        raise UserError(f"alert {name!r}: rule {rule} needs a threshold in {unit} (e.g. {example})")
    try:
        number = float(cast(Any, threshold))
    except (TypeError, ValueError):
        raise UserError(f"alert {name!r}: threshold {_shown(threshold)} is not a number") from None
    if rule == "change" and not (0 < number <= MAX_CHANGE):
        raise UserError(
            f"alert {name!r}: threshold {_threshold_text(number)} percent: give more than 0 "
            f"and at most {MAX_CHANGE:,.0f}"
        )
    if rule == "no_data" and not (1 <= number <= MAX_DAYS and number == int(number)):
        raise UserError(
            f"alert {name!r}: threshold {_threshold_text(number)} days: give whole days "
            f"from 1 to {MAX_DAYS}"
        )
    return number


def _threshold_text(number: float | None) -> str:
    if number is None:
        return ""
    if math.isnan(number) or math.isinf(number):
        return str(number)
    return f"{number:g}"


def _checked_scope(
    name: str, scope: Mapping[str, Iterable[str]] | None, dimensions: Sequence[str]
) -> dict[str, tuple[str, ...]] | None:
    if not scope:
        return None
    out: dict[str, tuple[str, ...]] = {}
    for dimension, members in scope.items():
        if dimension not in dimensions:
            raise UserError(
                f"alert {name!r}: the KPI cannot be sliced by {_shown(dimension)}"
                f"{did_you_mean(str(dimension), dimensions)} (dimensions: {', '.join(dimensions)})"
            )
        kept = tuple(dict.fromkeys(str(m).strip() for m in members))
        if not kept or any(not m or len(m) > 200 or not m.isprintable() for m in kept):
            raise UserError(f"alert {name!r}: {dimension}: give members of up to 200 characters")
        if len(kept) > MAX_MEMBERS:
            raise UserError(f"alert {name!r}: {dimension}: at most {MAX_MEMBERS} members")
        out[dimension] = kept
    return out


def _checked_owners(settings: Settings, name: str, owners: Iterable[str]) -> tuple[str, ...]:
    kept = tuple(dict.fromkeys(str(o).strip() for o in owners))
    if not kept:
        raise UserError(f"alert {name!r}: give at least one owner (a user name or an address)")
    if len(kept) > MAX_OWNERS:
        raise UserError(f"alert {name!r}: at most {MAX_OWNERS} owners")
    users: list[str] | None = None
    for owner in kept:
        if "@" in owner and ADDRESS.match(owner):
            continue
        if not USER.match(owner):
            raise UserError(
                f"alert {name!r}: owner {_shown(owner)} is neither a user name nor an address"
            )
        if users is None:
            from kpiboard import access

            users = [u.name for u in access.list_users(settings)]
        if owner not in users:
            if "@" in owner:
                raise UserError(f"alert {name!r}: owner {_shown(owner)}: not an email address")
            raise UserError(
                f"alert {name!r}: no user {owner!r}{did_you_mean(owner, users)} "
                "(an owner is a user name or an address)"
            )
    return kept


# -- the store -------------------------------------------------------------------------------


def add(settings: Settings, alert: Alert, *, by: str, engine: Engine | None = None) -> Alert:
    """Add ``alert`` (:func:`validate`\\ d first), recorded in the audit log as ``by``'s."""
    from kpiboard import audit

    alert = validate(settings, alert, engine=engine)
    now = _now()
    values = {
        "name": alert.name,
        "kpi": alert.kpi,
        "rule": alert.rule,
        "threshold": alert.threshold,
        "grain": alert.grain,
        "scope": json.dumps({k: list(v) for k, v in alert.scope.items()}) if alert.scope else None,
        "owners": json.dumps(list(alert.owners)),
        "paused": alert.paused,
        "created_at": now,
        "created_by": by[:64],
    }
    try:
        with appdb.shared_engine(settings).begin() as db:
            inserted = db.execute(appdb.alerts.insert().values(**values))
            alert_id = cast(Any, inserted.inserted_primary_key)[0]
    except sa.exc.IntegrityError:
        raise UserError(
            f"alert {alert.name!r} exists already (kpiboard alert remove {alert.name} first)"
        ) from None
    added = replace(alert, alert_id=int(alert_id), created_at=now, created_by=by[:64])
    audit.record(settings, "alert_added", user=by, target=alert.name, detail=_detail(added))
    return added


def _detail(alert: Alert) -> dict[str, object]:
    return {
        "kpi": alert.kpi,
        "rule": alert.rule,
        "threshold": alert.threshold,
        "grain": alert.grain,
        "scope": {k: list(v) for k, v in alert.scope.items()} if alert.scope else None,
        "owners": list(alert.owners),
    }


def remove(settings: Settings, name: str, *, by: str) -> None:
    """Remove the alert ``name`` with its state and history (audit ``alert_removed``)."""
    from kpiboard import audit

    alert = get(settings, name)
    with appdb.shared_engine(settings).begin() as db:
        for table in (appdb.alert_events, appdb.alert_states, appdb.alerts):
            db.execute(table.delete().where(table.c.alert_id == alert.alert_id))
    audit.record(settings, "alert_removed", user=by, target=name, detail=_detail(alert))


def get(settings: Settings, name: str) -> Alert:
    """The alert ``name``; :class:`UserError` (with a suggestion) when there is none."""
    found = [a for a in list_alerts(settings) if a.name == name]
    if not found:
        names = [a.name for a in list_alerts(settings)]
        raise UserError(f"no alert {_shown(name)}{did_you_mean(str(name), names)}")
    return found[0]


def list_alerts(settings: Settings) -> list[Alert]:
    """Every alert, by name."""
    t = appdb.alerts
    with appdb.shared_engine(settings).connect() as db:
        rows = db.execute(sa.select(t).order_by(t.c.name)).mappings().all()
    return [_alert(row) for row in rows]


def _alert(row: sa.RowMapping) -> Alert:
    scope = json.loads(row["scope"]) if row["scope"] else None
    return Alert(
        name=row["name"],
        kpi=row["kpi"],
        rule=row["rule"],
        threshold=row["threshold"],
        grain=row["grain"],
        scope={k: tuple(v) for k, v in scope.items()} if scope else None,
        owners=tuple(json.loads(row["owners"])),
        paused=bool(row["paused"]),
        alert_id=row["alert_id"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def history(settings: Settings, name: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The events, newest first (of the alert ``name``): alert, kind, at, snapshot, period,
    value, previous, plan, message, mailed_at, mail_error."""
    events, alerts = appdb.alert_events, appdb.alerts
    query = (
        sa.select(
            alerts.c.name.label("alert"),
            events.c.kind,
            events.c.at,
            events.c.snapshot,
            events.c.period,
            events.c.value,
            events.c.previous,
            events.c.plan,
            events.c.message,
            events.c.mailed_at,
            events.c.mail_error,
        )
        .select_from(events.join(alerts, alerts.c.alert_id == events.c.alert_id))
        .order_by(events.c.at.desc(), events.c.event_id.desc())
        .limit(limit)
    )
    if name is not None:
        query = query.where(alerts.c.alert_id == get(settings, name).alert_id)
    with appdb.shared_engine(settings).connect() as db:
        return [dict(r) for r in db.execute(query).mappings()]


def state(settings: Settings, name: str) -> dict[str, Any] | None:
    """The alert's state after its last check (breached, since, last_snapshot, last_value,
    error), or ``None`` before its first."""
    alert = get(settings, name)
    t = appdb.alert_states
    with appdb.shared_engine(settings).connect() as db:
        row = db.execute(sa.select(t).where(t.c.alert_id == alert.alert_id)).mappings().first()
    return dict(row) if row is not None else None


# -- checking --------------------------------------------------------------------------------


def check(
    settings: Settings,
    *,
    send: Callable[[AlertEvent], object],
    snapshot: str | None = None,
    engine: Engine | None = None,
) -> list[AlertEvent]:
    """Check every active alert on ``snapshot`` (the name of a published snapshot's file; by
    default the one published now) and return the events this check added, each already
    handed to ``send`` (see the module's docstring). ``send`` raising, or returning a text
    (why it did not mail), is recorded as the event's ``mail_error``, and the next event is
    sent all the same. ``engine`` is for tests
    (an engine on that snapshot)."""
    active = [a for a in list_alerts(settings) if not a.paused]
    if not active:
        return []
    snapshot, engine, failure = _engine_on(settings, snapshot, engine)
    context = _Context(settings, engine, snapshot) if engine is not None else None
    events = []
    for alert in active:
        outcome = _Outcome(error=failure) if context is None else context.evaluate(alert)
        event = _record(settings, alert, snapshot, outcome)
        if event is not None:
            events.append(_send(settings, event, send))
    return events


def _engine_on(
    settings: Settings, snapshot: str | None, engine: Engine | None
) -> tuple[str, Engine | None, str | None]:
    """The snapshot's name and an engine reading that very snapshot (not whatever is published
    by the time it reads), or the one-line reason there is none (the definitions' plan files
    have a problem)."""
    from kpi_designer.engine import Engine, read_definitions
    from kpi_designer.errors import DefinitionError
    from kpiboard import sandbox

    warehouse = settings.open_warehouse()
    if snapshot is None:
        published = warehouse.published()
        if published is None:
            raise UserError(f"{warehouse.folder}: nothing published yet, so no alert to check")
        snapshot = published.name
    path = warehouse.snapshots / Path(snapshot).name
    if Path(snapshot).name != snapshot or not path.exists():
        raise UserError(f"snapshot {_shown(snapshot)} is not in {warehouse.snapshots}")
    if engine is not None:
        return snapshot, engine, None
    try:
        definitions = read_definitions(settings)
    except DefinitionError as exc:
        return snapshot, None, _one_line(str(exc))
    return snapshot, Engine(definitions, partial(sandbox.open_snapshot, path), lambda: path), None


class _Context:
    """One check's engine and the things every alert of it shares (the data's last day, the
    branches' names), asked once."""

    def __init__(self, settings: Settings, engine: Engine, snapshot: str) -> None:
        self.settings = settings
        self.engine = engine
        self.snapshot = snapshot
        self._last_day: dt.date | None = None
        self._last_day_known = False
        self._branches: dict[str, str] | None = None

    def last_day(self) -> dt.date | None:
        if not self._last_day_known:
            self._last_day = self.engine.last_day()
            self._last_day_known = True
        return self._last_day

    def evaluate(self, alert: Alert) -> _Outcome:
        """The alert's outcome; any failure to evaluate is the outcome's ``error``, one line."""
        from kpi_designer.errors import EvaluationError

        kpis, left_out = self.engine.kpis, self.engine.definitions.left_out
        if alert.kpi not in kpis:
            why = left_out[alert.kpi].message if alert.kpi in left_out else "not defined"
            return _Outcome(error=f"kpi {alert.kpi!r}: {why}{did_you_mean(alert.kpi, list(kpis))}")
        try:
            return RULE_CHECKS[alert.rule](self, alert, kpis[alert.kpi])
        except (EvaluationError, UserError) as exc:
            return _Outcome(error=_one_line(str(exc)))
        except Exception as exc:  # the warehouse or a definition: said once, the others go on
            return _Outcome(error=_one_line(f"{type(exc).__name__}: {exc}"))

    def title(self, alert: Alert, kpi: Kpi) -> str:
        """``Revenue (Denver)``: the KPI's label and the alert's slice."""
        if not alert.scope:
            return kpi.label
        parts = []
        for dimension, members in alert.scope.items():
            names = self.branches() if dimension == "branch" else {}
            shown = ", ".join(names.get(m, m) for m in members)
            parts.append(shown if dimension == "branch" else f"{dimension} {shown}")
        return f"{kpi.label} ({'; '.join(parts)})"

    def branches(self) -> dict[str, str]:
        if self._branches is None:
            path = self.settings.open_warehouse().snapshots / self.snapshot
            from kpiboard import sandbox

            con = sandbox.open_snapshot(path)
            try:
                rows = con.execute("SELECT branch_id, name FROM core.dim_branch").fetchall()
            finally:
                con.close()
            self._branches = {str(i): str(n) for i, n in rows if n}
        return self._branches

    def value_text(self, value: float | None, kpi: Kpi) -> str:
        if value is None:
            return formats.EM_DASH
        unit = formats.unit_format(kpi.unit)
        return formats.format_value(value, unit, self.settings.company.currency)

    def period(self, alert: Alert, offset: int = 0) -> tuple[dt.date, dt.date] | None:
        """The first and last day of the period of the alert's grain that holds the data's
        last day (``offset`` periods earlier); ``None`` before there is any data."""
        from kpi_designer.compiler import period_end, period_start

        last = self.last_day()
        if last is None:
            return None
        grain = cast(Any, alert.grain)
        first = period_start(last, grain)
        for _ in range(offset):
            first = period_start(first - dt.timedelta(days=1), grain)
        return first, period_end(first, grain)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 500 else line[:499] + "…"


def period_text(first: dt.date, grain: str) -> str:
    """``December 2026``, ``week of 7 Dec 2026``, ``7 Dec 2026``, ``2026-Q4``."""
    if grain == "month":
        return first.strftime("%B %Y")
    if grain == "week":
        return f"the week of {first.day} {first.strftime('%b %Y')}"
    if grain == "day":
        return f"{first.day} {first.strftime('%b %Y')}"
    return f"{first.year}-Q{(first.month - 1) // 3 + 1}"


def _number(value: object) -> float | None:
    if formats.is_missing(value):
        return None
    try:
        number = float(cast(Any, value))
    except (TypeError, ValueError):
        return None
    return None if math.isinf(number) else number


def _one_value(context: _Context, alert: Alert, first: dt.date, last: dt.date) -> dict[str, Any]:
    """The engine's row of the alert's KPI for one period (value, plan, status), or ``{}``."""
    frame = context.engine.evaluate(
        alert.kpi, start=first, end=last, grain=alert.grain, scope=alert.scope
    )
    rows = frame.to_dict("records")
    return rows[0] if rows else {}


def _below_red(context: _Context, alert: Alert, kpi: Kpi) -> _Outcome:
    """Red as the engine says it (its ``status`` column, from the KPI's thresholds)."""
    period = context.period(alert)
    if period is None:
        return _Outcome(message=f"{context.title(alert, kpi)}: no data yet")
    row = _one_value(context, alert, *period)
    value, plan = _number(row.get("value")), _number(row.get("plan"))
    if value is None and plan is not None and kpi.zero_when_missing:
        value = 0.0
    status = row.get("status") if isinstance(row.get("status"), str) else None
    when = period_text(period[0], alert.grain)
    title = context.title(alert, kpi)
    if plan is None:
        message = f"{title} has no plan for {when}"
    else:
        words = {"red": "is red", "amber": "is amber", "green": "is green"}.get(
            status or "", "has no status"
        )
        message = (
            f"{title} {words}: {context.value_text(value, kpi)} against a plan of "
            f"{context.value_text(plan, kpi)} for {when}"
        )
    return _Outcome(status == "red", value, None, plan, when, message)


def _change(context: _Context, alert: Alert, kpi: Kpi) -> _Outcome:
    """The change against the previous period beyond the threshold, either way; percentage
    points for a KPI in percent (as a tile's change reads)."""
    now, before = context.period(alert), context.period(alert, 1)
    if now is None or before is None:
        return _Outcome(message=f"{context.title(alert, kpi)}: no data yet")
    value = _number(_one_value(context, alert, *now).get("value"))
    previous = _number(_one_value(context, alert, *before).get("value"))
    if kpi.zero_when_missing:
        value = 0.0 if value is None else value
        previous = 0.0 if previous is None else previous
    when, then = period_text(now[0], alert.grain), period_text(before[0], alert.grain)
    title = context.title(alert, kpi)
    values = (
        f"{context.value_text(value, kpi)} against {context.value_text(previous, kpi)} in {then}"
    )
    size = _change_size(value, previous, kpi.unit)
    if size is None:
        return _Outcome(
            False, value, previous, None, when, f"{title}: no change to judge in {when}: {values}"
        )
    points = kpi.unit == "percent"
    shown = f"{abs(size):,.1f}{' pp' if points else '%'}"
    verb = "rose" if size > 0 else "fell" if size < 0 else "did not change"
    breached = abs(size) > float(alert.threshold or 0)
    limit = f"{_threshold_text(alert.threshold)}{' pp' if points else '%'}"
    message = f"{title} {verb} {shown} in {when}: {values}"
    if not breached:
        message += f" (within {limit})"
    return _Outcome(breached, value, previous, None, when, message)


def _change_size(value: float | None, previous: float | None, unit: str) -> float | None:
    """The change in percent of the previous value, or in percentage points for a KPI in
    percent; ``None`` when either is missing or the previous is zero."""
    if value is None or previous is None:
        return None
    if unit == "percent":
        return (value - previous) * 100
    if previous == 0:
        return None
    return (value - previous) / abs(previous) * 100


def _no_data(context: _Context, alert: Alert, kpi: Kpi) -> _Outcome:
    """No rows behind the KPI (its slice) in the last ``threshold`` days up to the data's
    last day."""
    title = context.title(alert, kpi)
    days = int(alert.threshold or 1)
    last = context.last_day()
    if last is None:
        return _Outcome(True, period="", message=f"{title} has no rows: nothing is published yet")
    first = last - dt.timedelta(days=days - 1)
    span = f"the {days} day{'' if days == 1 else 's'} to {last.day} {last.strftime('%b %Y')}"
    frame = context.engine.rows(
        alert.kpi, period=(first, last), grain="range", scope=alert.scope, limit=1
    )
    rows = int(frame.attrs.get("total", len(frame)))
    if rows == 0:
        return _Outcome(True, 0.0, None, None, span, f"{title} has no rows in {span}")
    return _Outcome(False, float(rows), None, None, span, f"{title} has rows again in {span}")


RULE_CHECKS: dict[str, Callable[[_Context, Alert, Kpi], _Outcome]] = {
    "below_red": _below_red,
    "change": _change,
    "no_data": _no_data,
}


def _record(
    settings: Settings, alert: Alert, snapshot: str, outcome: _Outcome
) -> AlertEvent | None:
    """Move the alert's state to ``outcome`` and add its event, if it makes one, in one
    transaction; ``None`` when there is no event, or another check of this snapshot moved
    the state first."""
    states, events = appdb.alert_states, appdb.alert_events
    at = _now()
    db_engine = appdb.shared_engine(settings)
    with db_engine.connect() as db:
        before = (
            db.execute(sa.select(states).where(states.c.alert_id == alert.alert_id))
            .mappings()
            .first()
        )
    if before is not None and before["last_snapshot"] == snapshot:
        return None  # checked already
    was_breached = bool(before["breached"]) if before is not None else False
    kind = _kind(was_breached, before["error"] if before is not None else None, outcome)
    breached = was_breached if outcome.error is not None else outcome.breached
    # when the breach started: kept through checks that change nothing and through errors
    since: dt.datetime | None = before["since"] if before is not None and breached else None
    if kind == "start":
        since = at
    new_state = {
        "breached": breached,
        "since": since,
        "last_snapshot": snapshot,
        "last_value": outcome.value
        if outcome.error is None
        else (before["last_value"] if before is not None else None),
        "error": outcome.error,
    }
    event: AlertEvent | None = None
    try:
        with db_engine.begin() as db:
            if before is None:
                db.execute(states.insert().values(alert_id=alert.alert_id, **new_state))
            else:
                moved = db.execute(
                    states.update()
                    .where(states.c.alert_id == alert.alert_id)
                    .where(states.c.last_snapshot == before["last_snapshot"])
                    .values(**new_state)
                ).rowcount
                if moved != 1:
                    raise _Lost
            if kind is not None:
                message = outcome.message
                if kind == "error":
                    message = f"alert {alert.name!r} could not be checked: {outcome.error}"
                event = AlertEvent(
                    alert=alert,
                    kind=kind,
                    at=at,
                    snapshot=snapshot,
                    value=outcome.value,
                    previous=outcome.previous,
                    plan=outcome.plan,
                    period=outcome.period,
                    message=message,
                )
                inserted = db.execute(
                    events.insert().values(
                        alert_id=alert.alert_id,
                        snapshot=snapshot,
                        kind=kind,
                        at=at,
                        value=_finite(event.value),
                        previous=_finite(event.previous),
                        plan=_finite(event.plan),
                        period=event.period[:40],
                        message=message,
                    )
                )
                event = replace(event, event_id=int(cast(Any, inserted.inserted_primary_key)[0]))
    except (_Lost, sa.exc.IntegrityError):
        return None  # another check of this snapshot got there first: it sends
    return event


class _Lost(Exception):
    """Another check moved the alert's state between our reading and our writing it."""


def _kind(was_breached: bool, error_before: str | None, outcome: _Outcome) -> str | None:
    """The event a check makes: ``error`` when the alert starts failing (not again while it
    keeps failing), ``start``/``end`` when the breach changes, else none."""
    if outcome.error is not None:
        return "error" if error_before is None else None
    if outcome.breached and not was_breached:
        return "start"
    if was_breached and not outcome.breached:
        return "end"
    return None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _send(
    settings: Settings, event: AlertEvent, send: Callable[[AlertEvent], object]
) -> AlertEvent:
    """Hand the committed event to ``send``; record when it was mailed, or why not: ``send``
    returning nothing (or ``True``) mailed it; returning a text did not, and says why (no mail
    server configured); raising did not either, and its message says why."""
    mailed_at: dt.datetime | None = None
    error: str | None = None
    try:
        answer = send(event)
    except Exception as exc:  # a mail server's refusal is recorded, the check goes on
        error = _one_line(str(exc) or type(exc).__name__)
    else:
        if isinstance(answer, str):
            error = _one_line(answer)
        elif answer is None or answer is True:
            mailed_at = _now()
        else:
            error = "not mailed"
    t = appdb.alert_events
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            t.update()
            .where(t.c.event_id == event.event_id)
            .values(mailed_at=mailed_at, mail_error=error)
        )
    return event


def _now() -> dt.datetime:
    """Now in UTC, naive (as the app database keeps times)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# -- the mail --------------------------------------------------------------------------------

SUBJECTS = {"start": "started", "end": "ended", "error": "could not be checked"}


def alert_mail(
    event: AlertEvent, owner_address: str, *, company: str, link: str, domain: str = "localhost"
) -> Mail:
    """The mail telling ``owner_address`` of ``event``: subject ``Alert: <name> started``
    (ended, could not be checked), the event's sentence, the numbers and a link to the
    dashboard. Its Message-ID is the same for the same event and owner, so a mail
    sent again is recognised as the same one."""
    alert = event.alert
    subject = _one_line(f"Alert: {alert.name} {SUBJECTS[event.kind]} — {company}")[:200]
    lines = [event.message]
    if event.kind != "error":
        lines.append(f"Rule: {alert.kpi} {alert.describe()}.")
    lines.append(f"Checked on the data published as {event.snapshot}.")
    text = "\n\n".join([*lines, f"Open the dashboard: {link}"]) + "\n"
    paragraphs = "".join(f'<p style="margin:0 0 12px 0">{html.escape(line)}</p>' for line in lines)
    body = (
        '<div style="max-width:600px;font-family:-apple-system,BlinkMacSystemFont,'
        "'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.45;"
        'color:#1f2328;font-variant-numeric:tabular-nums">'
        f'<p style="margin:0 0 12px 0;font-weight:600">{html.escape(subject)}</p>'
        f"{paragraphs}"
        f'<p style="margin:0"><a href="{html.escape(link, quote=True)}">Open the dashboard</a></p>'
        "</div>"
    )
    snapshot = Path(event.snapshot).stem
    key = f"alert-{alert.alert_id}-{event.kind}-{snapshot}-{_address_key(owner_address)}"
    from reports.mail import Mail

    return Mail(
        to=owner_address,
        subject=subject,
        html=body,
        text=text,
        message_id=f"<{re.sub(r'[^A-Za-z0-9._-]', '-', key)}@{domain}>",
        headers=(("X-Kpiboard-Alert", alert.name),),
    )


def send(settings: Settings, event: AlertEvent, *, mailer: Mailer) -> str | None:
    """Mail ``event`` to each of its alert's owners (a user's address from the users table)
    through ``mailer``: what the scheduler gives :func:`check`. Returns why an owner got
    nothing (a user without an address), or ``None`` when every owner was mailed; a refusal
    by the mail server raises."""
    from kpiboard.access import AccessError, get_user
    from reports.delivery import dashboard_link
    from reports.mail import build_message, domain_of

    missing = []
    for owner in event.alert.owners:
        address: str | None = owner
        if "@" not in owner:
            try:
                address = get_user(settings, owner).email
            except AccessError:
                address = None
        if not address:
            missing.append(owner)
            continue
        mail = alert_mail(
            event,
            address,
            company=settings.company.name or settings.project.name,
            link=dashboard_link(settings).rsplit("/", 1)[0] + "/",
            domain=domain_of(settings.smtp.from_address),
        )
        mailer.send(build_message(mail, settings.smtp.from_address))
    return f"no address for {', '.join(missing)}" if missing else None


def _address_key(address: str) -> str:
    import hashlib

    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:12]


def printed(event: AlertEvent) -> str:
    """What ``kpiboard alert check`` prints for an event when nothing mails it."""
    owners = ", ".join(event.alert.owners)
    return f"{event.alert.name}: {event.kind}: {event.message} (to {owners})"


__all__ = [
    "GRAINS",
    "KINDS",
    "RULES",
    "Alert",
    "AlertEvent",
    "add",
    "alert_mail",
    "check",
    "get",
    "history",
    "list_alerts",
    "period_text",
    "printed",
    "remove",
    "send",
    "state",
    "validate",
]
