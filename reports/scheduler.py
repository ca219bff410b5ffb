"""``kpiboard scheduler``: the long-lived process that sends mail-outs on time.

It runs on APScheduler: a **tick** every ``[scheduler] tick_seconds``, and the pipeline on its
own cron when ``[scheduler] pipeline_cron`` names one. Each tick:

1. takes back rows of the delivery log held by schedulers that died (:mod:`reports.delivery`);
2. opens each schedule's slots that came due since its last one. A slot missed while no
   scheduler ran is sent once, marked late, when it is still within ``grace_minutes``; an older
   one is recorded as ``missed`` and reported, not sent (a week down does not flood anyone);
3. delivers every slot with work left: new slots, retries that are due, rows taken back;
4. checks the KPI alerts once per newly published snapshot (:mod:`reports.alerts`).

The app database, not this process, holds the truth: which slots were opened, which mails went
out. A restart, a crash or a second scheduler started by mistake reads the same rows, so nothing
is sent twice and nothing is lost. Slots come from :class:`reports.cron.Cron`, which keeps
daylight-saving changes from skipping or doubling one.

A schedule that fails — its report no longer runs, its cron was broken by hand — is logged and
recorded, its owner is mailed once, and the other schedules go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kpiboard import appdb
from reports import schedules as s
from reports.delivery import WORKER, Deliverer, SlotOutcome, _aware, _naive

if TYPE_CHECKING:
    from kpiboard.config import Settings

log = logging.getLogger("kpiboard.scheduler")

MISSED_KEPT = 1000
"""At most this many missed slots of one schedule are recorded at once (the newest)."""


@dataclass
class TickReport:
    """What one tick did."""

    opened: list[tuple[str, dt.datetime, bool]] = field(default_factory=list)
    """(schedule, slot, late) of every slot opened."""
    missed: dict[str, int] = field(default_factory=dict)
    """Slots recorded as missed, by schedule."""
    outcomes: list[SlotOutcome] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """Deliveries found in the one window a crash leaves unknown."""
    alerts: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Scheduler:
    """Opens due slots and delivers them; :meth:`tick` once, or :meth:`run_forever`."""

    def __init__(
        self,
        settings: Settings,
        *,
        deliverer: Deliverer | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or s.now
        self.deliverer = deliverer or Deliverer(settings, clock=self.clock)
        self._checked_snapshot: str | None = None
        self._stop = self.deliverer.stopping
        self._ticking = threading.Lock()  # held by a running tick: a stop waits for it

    # -- one pass ----------------------------------------------------------------------------

    def tick(self) -> TickReport:
        report = TickReport()
        now = self.clock()
        self._beat(now)
        report.unknown = self.deliverer.release_dead()
        for schedule in s.list_schedules(self.settings):
            if schedule.paused:
                continue
            try:
                self._open_due(schedule, now, report)
            except Exception as exc:  # one broken schedule does not stop the others
                log.exception("schedule %s: cannot open its slots", schedule.name)
                report.errors.append(f"{schedule.name}: {exc}")
        for schedule_id, slot_at in self.deliverer.open_slots():
            if self._stop.is_set():
                break
            try:
                outcome = self.deliverer.deliver(schedule_id, slot_at)
            except Exception as exc:
                log.exception("schedule #%s, slot %s: delivery failed", schedule_id, slot_at)
                report.errors.append(f"#{schedule_id} {slot_at}: {exc}")
                continue
            report.outcomes.append(outcome)
            log.info("%s", outcome.line())
        report.alerts = self.check_alerts()
        return report

    def _beat(self, now: dt.datetime, *, stopped: bool = False) -> None:
        """Record that this scheduler is alive (``schedulers``), or that it stopped."""
        t = appdb.schedulers
        values: dict[str, Any] = {"last_tick_at": now, "stopped_at": now if stopped else None}
        with appdb.shared_engine(self.settings).begin() as db:
            if not db.execute(t.update().where(t.c.worker == WORKER).values(values)).rowcount:
                db.execute(t.insert().values(worker=WORKER, started_at=now, **values))

    def _open_due(self, schedule: s.Schedule, now: dt.datetime, report: TickReport) -> None:
        from reports.cron import Cron

        cron = Cron.parse(schedule.cron, schedule.timezone)
        start = max(filter(None, (schedule.active_from, self._last_slot(schedule))))
        due = cron.slots(_aware(start), _aware(now))
        config = self.settings.scheduler
        grace = dt.timedelta(minutes=config.grace_minutes)
        late_after = dt.timedelta(minutes=config.late_after_minutes)
        missed = [at for at in due if _naive(now) - _naive(at) > grace]
        for at in missed[-MISSED_KEPT:]:
            self.deliverer.open_slot(schedule, at, status="missed")
        if missed:
            report.missed[schedule.name] = len(missed)
            log.warning(
                "schedule %s: %d slot(s) from %s to %s were missed while no scheduler ran and "
                "are older than the grace period (%d min): recorded, not sent",
                schedule.name,
                len(missed),
                s.local_text(_naive(missed[0]), schedule.timezone),
                s.local_text(_naive(missed[-1]), schedule.timezone),
                config.grace_minutes,
            )
        for at in due[len(missed) :]:
            late = _naive(now) - _naive(at) > late_after
            if self.deliverer.open_slot(schedule, at, late=late):
                report.opened.append((schedule.name, _naive(at), late))

    def _last_slot(self, schedule: s.Schedule) -> dt.datetime | None:
        t = appdb.schedule_slots
        with appdb.shared_engine(self.settings).connect() as db:
            return db.execute(
                sa.select(sa.func.max(t.c.slot_at)).where(
                    t.c.schedule_id == schedule.schedule_id, t.c.manual.is_(False)
                )
            ).scalar()

    # -- alerts ------------------------------------------------------------------------------

    def check_alerts(self) -> list[Any]:
        """Check the KPI alerts when a snapshot was published since the last check."""
        try:
            published = self.settings.open_warehouse().published()
        except Exception:  # no warehouse yet: nothing to check
            return []
        if published is None or published.name == self._checked_snapshot:
            return []
        try:
            from reports import alerts
        except ImportError:
            return []
        try:
            events = alerts.check(self.settings, snapshot=published.name, send=self._send_alert)
        except Exception:
            log.exception("alerts: the check on %s failed", published.name)
            return []
        self._checked_snapshot = published.name
        return list(events)

    def _send_alert(self, event: Any) -> None:
        from reports import alerts

        alerts.send(self.settings, event, mailer=self.deliverer.mailer)

    # -- the pipeline ------------------------------------------------------------------------

    def run_pipeline(self) -> None:
        """One pipeline run (``[scheduler] pipeline_cron``), then the alerts on what it
        published."""
        from etl import pipeline

        try:
            result = pipeline.run(self.settings)
        except Exception:
            log.exception("pipeline: the scheduled run failed")
            return
        log.info("pipeline: run %s %s", result.run_id, result.status)
        self.check_alerts()

    # -- the process -------------------------------------------------------------------------

    def run_forever(self) -> None:
        """Tick every ``tick_seconds`` (the first at once) until SIGTERM or SIGINT."""
        from apscheduler.schedulers.blocking import BlockingScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        config = self.settings.scheduler
        runner = BlockingScheduler(timezone=dt.UTC)
        runner.add_job(
            self._safe_tick,
            IntervalTrigger(seconds=config.tick_seconds, timezone=dt.UTC),
            id="tick",
            next_run_time=dt.datetime.now(dt.UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        if config.pipeline_cron:
            runner.add_job(
                self.run_pipeline,
                _pipeline_trigger(config.pipeline_cron, self.settings.project.timezone),
                id="pipeline",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )

        def stop(signum: int, frame: object) -> None:
            log.info("scheduler: stopping (signal %d)", signum)
            self._stop.set()
            runner.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            runner.start()
        finally:
            with self._ticking:  # the tick under way ends with the mail in hand
                self._beat(self.clock(), stopped=True)
            self.deliverer.close()

    def _safe_tick(self) -> None:
        try:
            with self._ticking:
                if self._stop.is_set():
                    return
                report = self.tick()
        except Exception:
            log.exception("scheduler: the tick failed; the next one tries again")
            return
        for name, count in report.missed.items():
            log.warning("%s: %d slot(s) missed", name, count)


def running(settings: Settings) -> list[dict[str, Any]]:
    """The schedulers that ticked lately (within three ticks and a minute), newest first:
    ``worker``, ``started_at``, ``last_tick_at``. Empty: no mail goes out."""
    t = appdb.schedulers
    recent = s.now() - dt.timedelta(seconds=3 * settings.scheduler.tick_seconds + 60)
    with appdb.shared_engine(settings).connect() as db:
        rows = db.execute(
            sa.select(t.c.worker, t.c.started_at, t.c.last_tick_at)
            .where(t.c.last_tick_at >= recent, t.c.stopped_at.is_(None))
            .order_by(t.c.last_tick_at.desc())
        )
        return [dict(r._mapping) for r in rows]


def last_tick(settings: Settings) -> dt.datetime | None:
    """When any scheduler last ticked (``None``: never)."""
    with appdb.shared_engine(settings).connect() as db:
        return db.execute(sa.select(sa.func.max(appdb.schedulers.c.last_tick_at))).scalar()


def _pipeline_trigger(expression: str, timezone: str) -> Any:
    """The pipeline's cron as an APScheduler trigger, checked by :class:`reports.cron.Cron`
    first (one message for a wrong expression, whoever reads it)."""
    from apscheduler.triggers.base import BaseTrigger

    from reports.cron import Cron

    cron = Cron.parse(expression, timezone)

    class CronTrigger(BaseTrigger):
        def get_next_fire_time(
            self, previous_fire_time: dt.datetime | None, now: dt.datetime
        ) -> dt.datetime:
            return cron.next(max(filter(None, (previous_fire_time, now))))

    return CronTrigger()
