"""The app database: state that is not a definition file — the pipeline's run history, the
users who may log in, their sessions, the audit log, and the alerts with their states and events.

SQLite by default (``app.sqlite`` in the project folder), PostgreSQL when ``[app] database_url``
says so. Tables are created on first use, and a column added to a table here after a database was
created is added to it on first use as well (nullable: older rows have no value), so an app
database of an older kpiboard keeps working without a migration step.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from kpiboard import urls
from kpiboard.config import Settings

metadata = sa.MetaData()

etl_runs = sa.Table(
    "etl_runs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    # running | success | partial | failed; died | published: the process ended while running
    # (before publishing, or after), found by the next run (etl.pipeline)
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("snapshot", sa.String(200)),
    sa.Column("full_refresh", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text),
    # what the run's summary warned of, one per line (a model-less table emptied, dates cast to
    # midnight UTC, duplicate decisions that name unknown clients …)
    sa.Column("warnings", sa.Text),
)

etl_table_runs = sa.Table(
    "etl_table_runs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("mode", sa.String(12), nullable=False),
    sa.Column("rows_read", sa.BigInteger, nullable=False),
    sa.Column("rows_loaded", sa.BigInteger, nullable=False),
    sa.Column("rows_deleted", sa.BigInteger, nullable=False),
    sa.Column("rows_invalid", sa.BigInteger),  # rows with a value that did not convert
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("watermark_before", sa.String(40)),
    sa.Column("watermark_after", sa.String(40)),
    sa.Column("error", sa.Text),
)

# -- access (kpiboard.access, kpiboard.audit) --------------------------------------------------

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    # admin | executive | analyst | branch_head | employee (kpiboard.access.ROLES)
    sa.Column("role", sa.String(20), nullable=False),
    # the core.dim_employee row this user is, when they are one (an employee's own rows)
    sa.Column("employee_id", sa.String(200)),
    sa.Column("email", sa.String(254)),  # where their mail-outs and alerts go
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("password_changed_at", sa.DateTime, nullable=False),
)

user_branches = sa.Table(
    "user_branches",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.user_id"), primary_key=True),
    sa.Column("branch_id", sa.String(200), primary_key=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    # the SHA-256 of the token the browser holds: the table alone opens no session
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.user_id"), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("address", sa.String(64)),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("end_reason", sa.String(20)),  # logout | password | disabled | idle | expired
)

login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("kind", sa.String(10), primary_key=True),  # user | address
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", sa.DateTime, nullable=False),
    sa.Column("locked_until", sa.DateTime),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("user_name", sa.String(64)),  # who (None: nobody logged in; cli:<os user>)
    sa.Column("address", sa.String(64)),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.String(400)),
    sa.Column("detail", sa.Text),  # JSON: parameters, the scope, a diff
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

# -- mail-outs (reports.schedules, reports.delivery) -----------------------------------------

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("schedule_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    # what is sent to whom: reports and their parameters, recipients, format, scope (JSON)
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("cron", sa.String(120), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(254), nullable=False),  # a user name or an address
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # slots before this instant are not the schedule's (set on creation and on resume)
    sa.Column("active_from", sa.DateTime, nullable=False),
    # the first failed slot of a run of failures: its owner was mailed then, and not again
    # until a slot succeeds
    sa.Column("failing_since", sa.DateTime),
    # an id is never given again (SQLite reuses the highest one without AUTOINCREMENT): the
    # delivery log names schedules by id and outlives a removed one
    sqlite_autoincrement=True,
)

schedule_slots = sa.Table(
    "schedule_slots",
    metadata,
    sa.Column("schedule_id", sa.Integer, primary_key=True),
    sa.Column("slot_at", sa.DateTime, primary_key=True),  # UTC; a manual run: when asked
    # open | done | partial | failed | missed
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("manual", sa.Boolean, nullable=False, default=False),
    sa.Column("late", sa.Boolean, nullable=False, default=False),
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("opened_by", sa.String(120), nullable=False),  # host:pid of the scheduler
    sa.Column("finished_at", sa.DateTime),
    sa.Column("error", sa.Text),  # why the slot failed (a report that cannot run)
    # the data's last day when the slot was first delivered: its relative periods are resolved
    # against it, so every recipient and every retry gets the same period
    sa.Column("data_end", sa.Date),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    # sha256 of schedule, slot and recipient: the idempotency key, and the Message-ID's left part
    sa.Column("delivery_key", sa.String(64), primary_key=True),
    sa.Column("schedule_id", sa.Integer, nullable=False),
    sa.Column("slot_at", sa.DateTime, nullable=False),
    sa.Column("recipient", sa.String(300), nullable=False),  # user:<name> | address:<address>
    sa.Column("address", sa.String(254)),
    # pending | sending | sent | retry | failed | unknown (reports.schedules)
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("claimed_by", sa.String(120)),
    sa.Column("lease_until", sa.DateTime),
    sa.Column("next_attempt_at", sa.DateTime),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("error", sa.Text),
    sa.Index("ix_deliveries_slot", "schedule_id", "slot_at"),
    sa.Index("ix_deliveries_status", "status"),
)

schedulers = sa.Table(
    "schedulers",
    metadata,
    # one row per scheduler process: what the dashboard reads to say whether mail goes out
    sa.Column("worker", sa.String(120), primary_key=True),  # host:pid:token
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("last_tick_at", sa.DateTime, nullable=False),
    sa.Column("stopped_at", sa.DateTime),
)

# -- alerts (reports.alerts) ------------------------------------------------------------------

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("kpi", sa.String(200), nullable=False),
    sa.Column("rule", sa.String(20), nullable=False),  # below_red | change | no_data
    sa.Column("threshold", sa.Float),  # change: percent (pp for a percent KPI); no_data: days
    sa.Column("grain", sa.String(10), nullable=False),  # month | week | day
    sa.Column("scope", sa.Text),  # JSON {dimension: [members]}, or NULL: every row
    sa.Column("owners", sa.Text, nullable=False),  # JSON [user name or address, …]
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sqlite_autoincrement=True,  # a removed alert's id is not given to a new one
)

alert_states = sa.Table(
    "alert_states",
    metadata,
    # no foreign keys: removing an alert removes its rows itself, on SQLite and PostgreSQL alike
    sa.Column("alert_id", sa.Integer, primary_key=True),
    sa.Column("breached", sa.Boolean, nullable=False),
    sa.Column("since", sa.DateTime),  # when the breach started (None: not breached)
    # the snapshot checked last: a state is moved on only from the one it was read at, so two
    # checks of one snapshot cannot both move it
    sa.Column("last_snapshot", sa.String(200), nullable=False),
    sa.Column("last_value", sa.Float),
    sa.Column("error", sa.Text),  # why the last check could not evaluate the alert
)

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, nullable=False),
    sa.Column("snapshot", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # start | end | error
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("previous", sa.Float),
    sa.Column("plan", sa.Float),
    sa.Column("period", sa.String(40)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("mailed_at", sa.DateTime),
    sa.Column("mail_error", sa.Text),
    # one event per alert and snapshot: the second of two checks of a snapshot cannot add one
    sa.UniqueConstraint("alert_id", "snapshot", name="uq_alert_events_alert_snapshot"),
)


def engine(settings: Settings) -> sa.Engine:
    """An engine on the app database, its tables created if missing."""
    url = urls.parse_url(settings.app.database_url)
    if urls.backend(url) == "sqlite" and url.database:
        url = url.set(database=str(settings.resolve(Path(url.database))))
    urls.ensure_database(url)
    # SQLite: a writer waits up to 30 s for another (two schedulers, the dashboard, a command)
    # rather than failing at once with "database is locked"
    options = {"connect_args": {"timeout": 30}} if urls.backend(url) == "sqlite" else {}
    eng = sa.create_engine(url, **options)
    try:
        metadata.create_all(eng)
        _add_missing_columns(eng)
    except sa.exc.OperationalError as exc:
        eng.dispose()
        raise urls.connect_error(url, exc) from None
    return eng


_shared: dict[str, sa.Engine] = {}
_shared_lock = threading.Lock()


def shared_engine(settings: Settings) -> sa.Engine:
    """One engine per app database for the life of the process, its pool shared by threads:
    what the dashboard uses on every request (:func:`engine` makes a new one per command)."""
    key = f"{settings.project_dir.resolve()}|{settings.app.database_url}"
    with _shared_lock:
        if key not in _shared:
            _shared[key] = engine(settings)
        return _shared[key]


def _add_missing_columns(eng: sa.Engine) -> list[str]:
    """Add the columns of :data:`metadata`'s tables that the database's tables lack (created by
    an older kpiboard); return them as ``table.column``. Such columns must be nullable."""
    inspector = sa.inspect(eng)
    added = []
    with eng.begin() as db:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=eng.dialect)
                name = eng.dialect.identifier_preparer.quote(column.name)
                db.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))
                added.append(f"{table.name}.{column.name}")
    return added


def run_history(settings: Settings, last: int = 10) -> list[dict[str, object]]:
    """The last ``last`` pipeline runs, newest first: run id, status, start and end, how many
    tables, the rows read, deleted and invalid, the error and warnings (what ``kpiboard etl
    status`` prints and the dashboard's data-quality page shows)."""
    eng = engine(settings)
    runs, tables = etl_runs, etl_table_runs
    query = (
        sa.select(
            runs.c.run_id,
            runs.c.status,
            runs.c.started_at,
            runs.c.finished_at,
            sa.func.count(tables.c.table_name).label("tables"),
            sa.func.coalesce(sa.func.sum(tables.c.rows_read), 0).label("rows_read"),
            sa.func.coalesce(sa.func.sum(tables.c.rows_deleted), 0).label("rows_deleted"),
            sa.func.coalesce(sa.func.sum(tables.c.rows_invalid), 0).label("rows_invalid"),
            runs.c.error,
            runs.c.warnings,
        )
        .select_from(runs.outerjoin(tables, tables.c.run_id == runs.c.run_id))
        .group_by(runs.c.run_id)
        .order_by(runs.c.started_at.desc())
        .limit(last)
    )
    try:
        with eng.connect() as db:
            return [dict(r._mapping) for r in db.execute(query)]
    finally:
        eng.dispose()
