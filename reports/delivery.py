"""Delivering a schedule's slot: each recipient's reports, run under their scope, mailed once.

The delivery log in the app database is what makes a mail-out exactly once. A **slot** is one
time a schedule fires (``schedule_slots``, keyed by schedule and instant); each of its
recipients has one **delivery** row (``deliveries``), keyed by the SHA-256 of schedule, slot and
recipient: the idempotency key, which is also the left part of the mail's Message-ID. A row
moves through::

    pending ──claim──▶ claimed ──(connected, about to send)──▶ sending ──250──▶ sent
       ▲                  │                                       │
       └── retry ◀────────┴── passing failure (refused, 4xx) ─────┘   5xx, bad address: failed

Every move is one ``UPDATE … WHERE`` the row is still in the state it was read in, so of two
schedulers (or one restarted over the rows of one that died) exactly one wins each claim.

A crash while a row is ``claimed`` (running the reports, printing them, connecting) loses
nothing: the row is taken over — at once when the process that claimed it is gone from this
machine, else when its lease ends — and sent. The one window that cannot be closed is
``sending``: the mail server may have accepted the mail just before the process died, before
the log could say so. Such a row becomes ``unknown``; it is reported (``kpiboard schedule
history``, the dashboard, the scheduler's log), never resent blindly, and ``kpiboard schedule
resend`` sends it again when a person has checked it did not arrive. The window is the SMTP
``DATA`` exchange alone: everything slow happens before it.

Within a slot, recipients with the same scope share each rendered report (one run and one
print for the branch heads of one branch), and one browser prints every PDF.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kpiboard import appdb, audit
from kpiboard.errors import KpiboardError
from kpiboard.faults import crash_point
from reports import schedules as s

if TYPE_CHECKING:
    from kpiboard.config import Settings
    from reports.mail import Mail, Mailer
    from reports.render.pages import PagePrinter
    from reports.render.pdf import Printer
    from reports.result import Result
    from reports.runner import Runner

log = logging.getLogger("kpiboard.scheduler")

WORKER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
"""Who claims a row: this host and process (to tell a dead claimer from a live one), and a
token of its own (a process id is reused; the token is not)."""
CLAIMABLE = ("pending", "retry")
FINAL = ("sent", "failed", "unknown")
MIME = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def delivery_key(schedule_id: int, slot_at: dt.datetime, recipient: str) -> str:
    """The idempotency key of one recipient's mail of one slot."""
    text = f"{schedule_id}|{slot_at.isoformat()}|{recipient}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class SlotOutcome:
    """What delivering a slot came to, counted by delivery status."""

    schedule: str
    slot_at: dt.datetime
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def line(self) -> str:
        counted = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        extra = f": {self.error}" if self.error else ""
        return (
            f"{self.schedule} {self.slot_at:%Y-%m-%d %H:%M} UTC: {self.status} ({counted}){extra}"
        )


@dataclass(frozen=True)
class Rendered:
    """One report run and rendered for one scope: its attachment and its headline numbers."""

    title: str
    period: str
    scope: str
    headlines: tuple[tuple[str, str], ...]
    rows: int
    filename: str | None
    content: bytes | None
    mime: str | None


class TakenOver(Exception):
    """The row this process claimed was taken over (its lease ran out) before it was sent."""


class ReportFailed(KpiboardError):
    """A report of a schedule could not run or be rendered: one line naming it."""


class Deliverer:
    """Delivers slots: runs the reports under each recipient's scope, renders them, and mails
    them through one SMTP connection and one browser kept for as long as it lives.

    ``clock`` gives the time (naive UTC; tests move it); ``mailer`` and ``printer`` may be
    given (the benchmark and tests do), else they are made on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        runner: Runner | None = None,
        printer: Printer | None = None,
        mailer: Mailer | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        share_renders: bool = True,
        pages: PagePrinter | None = None,
    ) -> None:
        self.settings = settings
        self._runner = runner
        self._printer = printer
        self._own_printer = printer is None
        self._mailer = mailer
        self._pages = pages
        self._own_pages = pages is None
        self.clock = clock or s.now
        self.stopping = threading.Event()
        """Set when the process is asked to stop: no further recipient is claimed."""
        self.share_renders = share_renders

    # -- resources ---------------------------------------------------------------------------

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            from reports.runner import Runner

            self._runner = Runner.on_demand(self.settings)
        return self._runner

    @property
    def printer(self) -> Printer:
        if self._printer is None:
            from reports.render.pdf import Printer

            self._printer = Printer()
        return self._printer

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            from reports.mail import Mailer

            self._mailer = Mailer(self.settings.smtp)
        return self._mailer

    def close(self) -> None:
        if self._mailer is not None:
            with contextlib.suppress(Exception):
                self._mailer.close()
        if self._printer is not None and self._own_printer:
            self._printer.close()
            self._printer = None
        if self._pages is not None and self._own_pages:
            self._pages.close()
            self._pages = None

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sa.Engine:
        return appdb.shared_engine(self.settings)

    # -- slots -------------------------------------------------------------------------------

    def open_slot(
        self,
        schedule: s.Schedule,
        slot_at: dt.datetime,
        *,
        status: str = "open",
        late: bool = False,
        manual: bool = False,
    ) -> bool:
        """Record a slot (``open`` to be sent, ``missed`` not to be); ``False`` when it was
        recorded already (by another scheduler, or before a restart)."""
        assert schedule.schedule_id is not None
        try:
            with self.db.begin() as db:
                db.execute(
                    appdb.schedule_slots.insert().values(
                        schedule_id=schedule.schedule_id,
                        slot_at=_naive(slot_at),
                        status=status,
                        manual=manual,
                        late=late,
                        opened_at=self.clock(),
                        opened_by=WORKER,
                        finished_at=self.clock() if status == "missed" else None,
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def open_slots(self) -> list[tuple[int, dt.datetime]]:
        """Slots with work left: open ones, and finished ones with a retry due."""
        t, d = appdb.schedule_slots, appdb.deliveries
        with self.db.connect() as db:
            opened = db.execute(
                sa.select(t.c.schedule_id, t.c.slot_at).where(t.c.status == "open")
            ).all()
            retries = db.execute(
                sa.select(d.c.schedule_id, d.c.slot_at)
                .where(d.c.status.in_(("retry", "pending", "claimed")))
                .distinct()
            ).all()
        found = {(r[0], r[1]) for r in (*opened, *retries)}
        return sorted(found, key=lambda pair: (pair[1], pair[0]))

    def deliver(self, schedule_id: int, slot_at: dt.datetime) -> SlotOutcome:
        """Send what is left of a slot: create its recipients' rows, claim each that is free
        and due, send it, and close the slot when every row is final."""
        slot_at = _naive(slot_at)
        schedule = s.by_id(self.settings, schedule_id)
        if schedule is None:
            self._finish_slot(schedule_id, slot_at, "failed", "the schedule was removed")
            return SlotOutcome(f"#{schedule_id}", slot_at, "failed", error="schedule removed")
        self.release_dead()
        self._create_rows(schedule, slot_at)
        renders: dict[tuple[str, str], Rendered | ReportFailed] = {}
        as_of: list[dt.date | None] = []  # pinned on the first row that needs it
        for key in self._rows_to_send(schedule_id, slot_at):
            if self.stopping.is_set():  # SIGTERM: the rows left stay pending for the next start
                break
            if self._claim(key):
                if not as_of:
                    as_of.append(self._pin_data_end(schedule_id, slot_at))
                self._send_one(schedule, slot_at, key, renders, as_of[0])
        return self._close_slot(schedule, slot_at)

    def _pin_data_end(self, schedule_id: int, slot_at: dt.datetime) -> dt.date | None:
        """The day the slot's relative periods are resolved against: the data's end when the
        slot was first delivered, kept on the slot so every recipient and every retry gets the
        same period whatever the pipeline published since. ``None`` when there is no
        warehouse to read (the reports then fail with that error)."""
        t = appdb.schedule_slots
        where = (t.c.schedule_id == schedule_id, t.c.slot_at == slot_at)
        with self.db.connect() as db:
            pinned = db.execute(sa.select(t.c.data_end).where(*where)).scalar()
        if pinned is not None:
            return pinned
        try:
            now_end = self.runner.data_end()
        except (KpiboardError, OSError):
            return None
        with self.db.begin() as db:
            db.execute(t.update().where(*where, t.c.data_end.is_(None)).values(data_end=now_end))
            return db.execute(sa.select(t.c.data_end).where(*where)).scalar()

    # -- rows --------------------------------------------------------------------------------

    def _create_rows(self, schedule: s.Schedule, slot_at: dt.datetime) -> None:
        """One row per recipient (kept when there already is one: its state is the truth)."""
        from kpiboard.access import AccessError, get_user
        from reports.mail import message_id

        assert schedule.schedule_id is not None
        d = appdb.deliveries
        with self.db.connect() as db:
            present = {
                r[0]
                for r in db.execute(
                    sa.select(d.c.recipient).where(
                        d.c.schedule_id == schedule.schedule_id, d.c.slot_at == slot_at
                    )
                )
            }
        domain = _domain(self.settings.smtp.from_address)
        for recipient in schedule.recipients:
            if recipient.key in present:
                continue
            address, error = recipient.address, None
            if recipient.user:
                try:
                    user = get_user(self.settings, recipient.user)
                    address = user.email
                    if user.disabled:
                        error = f"user {user.name!r} is disabled"
                    elif not address:
                        error = f"user {user.name!r} has no email address"
                except AccessError as exc:
                    error = str(exc)
            key = delivery_key(schedule.schedule_id, slot_at, recipient.key)
            with contextlib.suppress(sa.exc.IntegrityError), self.db.begin() as db:
                db.execute(
                    d.insert().values(
                        delivery_key=key,
                        schedule_id=schedule.schedule_id,
                        slot_at=slot_at,
                        recipient=recipient.key,
                        address=address,
                        status="failed" if error else "pending",
                        attempts=0,
                        message_id=message_id(key[:32], domain),
                        updated_at=self.clock(),
                        error=error,
                    )
                )

    def _rows_to_send(self, schedule_id: int, slot_at: dt.datetime) -> list[str]:
        d = appdb.deliveries
        now = self.clock()
        with self.db.connect() as db:
            rows = db.execute(
                sa.select(d.c.delivery_key)
                .where(
                    d.c.schedule_id == schedule_id,
                    d.c.slot_at == slot_at,
                    sa.or_(
                        d.c.status == "pending",
                        sa.and_(d.c.status == "retry", d.c.next_attempt_at <= now),
                    ),
                )
                .order_by(d.c.recipient)
            )
            return [r[0] for r in rows]

    def _claim(self, key: str) -> bool:
        """Take the row for this process, if it is still free and due: one ``UPDATE`` whose
        ``WHERE`` is the row's free state, so two processes cannot both win."""
        d = appdb.deliveries
        now = self.clock()
        lease = now + dt.timedelta(seconds=self.settings.scheduler.lease_seconds)
        with self.db.begin() as db:
            won = db.execute(
                d.update()
                .where(
                    d.c.delivery_key == key,
                    sa.or_(
                        d.c.status == "pending",
                        sa.and_(d.c.status == "retry", d.c.next_attempt_at <= now),
                    ),
                )
                .values(status="claimed", claimed_by=WORKER, lease_until=lease, updated_at=now)
            ).rowcount
        return won == 1

    def _move(self, key: str, status: str, **values: Any) -> bool:
        """Move a row this process holds to ``status``; ``False`` if it holds it no more."""
        d = appdb.deliveries
        with self.db.begin() as db:
            moved = db.execute(
                d.update()
                .where(
                    d.c.delivery_key == key,
                    d.c.claimed_by == WORKER,
                    d.c.status.in_(("claimed", "sending")),
                )
                .values(status=status, updated_at=self.clock(), **values)
            ).rowcount
        return moved == 1

    def release_dead(self) -> list[str]:
        """Rows held by a process that is gone: ``claimed`` ones go back to ``pending`` (nothing
        was sent), ``sending`` ones become ``unknown`` (the server may have the mail). A process
        on this machine is gone when its id is; one elsewhere when its lease ended. Returns the
        keys that became ``unknown``."""
        d = appdb.deliveries
        now = self.clock()
        with self.db.connect() as db:
            held = db.execute(
                sa.select(d.c.delivery_key, d.c.status, d.c.claimed_by, d.c.lease_until).where(
                    d.c.status.in_(("claimed", "sending"))
                )
            ).all()
        unknown = []
        for key, status, claimer, lease in held:
            if claimer == WORKER or not (_gone(claimer) or (lease is not None and lease < now)):
                continue
            if status == "claimed":
                values: dict[str, Any] = {"status": "pending", "claimed_by": None}
            else:
                values = {
                    "status": "unknown",
                    "error": "the scheduler stopped while the mail server was receiving this "
                    "mail: it may have arrived; check with the recipient, then "
                    "`kpiboard schedule resend` sends it again",
                }
            with self.db.begin() as db:
                moved = db.execute(
                    d.update()
                    .where(d.c.delivery_key == key, d.c.status == status, d.c.claimed_by == claimer)
                    .values(updated_at=now, **values)
                ).rowcount
            if moved and status == "sending":
                unknown.append(key)
                log.warning("delivery %s: %s", key[:12], values["error"])
        return unknown

    # -- sending one -------------------------------------------------------------------------

    def _send_one(
        self,
        schedule: s.Schedule,
        slot_at: dt.datetime,
        key: str,
        renders: dict[tuple[str, str], Rendered | ReportFailed],
        as_of: dt.date | None = None,
    ) -> None:
        from reports.mail import MailError, build_message

        d = appdb.deliveries
        with self.db.connect() as db:
            row = db.execute(sa.select(d).where(d.c.delivery_key == key)).one()
        recipient = next((r for r in schedule.recipients if r.key == row.recipient), None)
        if recipient is None:  # taken off the schedule since the row was made
            self._move(key, "failed", error="no longer a recipient of the schedule")
            return
        try:
            scope = self._scope(schedule, recipient)
            parts = [
                self._page(item, recipient)
                if item.page is not None
                else self._rendered(schedule, item, scope, as_of, renders)
                for item in schedule.items
            ]
            crash_point("delivery-rendered")
            mail = self._mail(schedule, slot_at, recipient, row, parts)
            message = build_message(mail, self.settings.smtp.from_address, date=_aware(slot_at))
        except (ReportFailed, KpiboardError) as exc:
            self._move(key, "failed", attempts=row.attempts + 1, error=str(exc))
            return
        try:
            self.mailer.send(message, before_data=lambda: self._sending(key))
        except MailError as exc:
            self._failed_send(key, row.attempts + 1, exc)
            return
        except TakenOver as exc:  # a lease ran out while it rendered: the other process sends
            log.warning("%s", exc)
            with contextlib.suppress(Exception):
                self.mailer.close()
            return
        crash_point("delivery-accepted")
        self._move(key, "sent", attempts=row.attempts + 1, sent_at=self.clock(), error=None)

    def _sending(self, key: str) -> None:
        if not self._move(key, "sending"):
            raise TakenOver(f"delivery {key[:12]} was taken over before it was sent")
        crash_point("delivery-sending")

    def _failed_send(self, key: str, attempts: int, error: Exception) -> None:
        permanent = bool(getattr(error, "permanent", False)) and bool(
            getattr(error, "recipient", True)
        )
        config = self.settings.scheduler
        if permanent or attempts >= config.max_attempts:
            why = str(error) if permanent else f"{error} (gave up after {attempts} attempts)"
            self._move(key, "failed", attempts=attempts, error=why, claimed_by=None)
            return
        wait = config.retry_seconds * 2 ** (attempts - 1)
        self._move(
            key,
            "retry",
            attempts=attempts,
            error=str(error),
            next_attempt_at=self.clock() + dt.timedelta(seconds=wait),
            claimed_by=None,
        )
        with contextlib.suppress(Exception):  # the next attempt connects afresh
            self.mailer.close()

    def _page(self, item: s.Item, recipient: s.Recipient) -> Rendered:
        """A dashboard page printed as ``recipient`` sees it, logged in as them (pages go to
        users only: :func:`reports.schedules.check`)."""
        from urllib.parse import urlencode

        from kpiboard.access import get_user
        from reports.mail import safe_filename
        from reports.render.errors import RenderError
        from reports.render.pages import PagePrinter, seen_by

        assert item.page is not None
        if not recipient.user:
            raise ReportFailed(f"page {item.page}: a dashboard page is sent to users only")
        user = get_user(self.settings, recipient.user)
        if self._pages is None:
            self._pages = PagePrinter(self.settings)
        try:
            content = self._pages.pdf(user, item.page, urlencode(dict(item.params)))
        except RenderError as exc:
            raise ReportFailed(f"page {item.page}: {exc}") from None
        title = self._pages.title(item.page)
        period = str(item.params.get("period", "")).replace("_", " ")
        name = safe_filename(" - ".join(x for x in (title, period) if x))
        return Rendered(title, period, seen_by(user), (), 0, f"{name}.pdf", content, MIME["pdf"])

    def _scope(self, schedule: s.Schedule, recipient: s.Recipient) -> s.Scope | None:
        """The rows ``recipient`` gets: their own (a user's from the users table as it is
        now, an address's as named) or the schedule's."""
        from kpiboard.access import get_user

        if not schedule.own_scope:
            return schedule.scope or None
        if recipient.user:
            return s.user_scope(get_user(self.settings, recipient.user))
        if recipient.scope is None:
            raise ReportFailed(f"{recipient.address} has no scope named")
        return recipient.scope or None

    def _rendered(
        self,
        schedule: s.Schedule,
        item: s.Item,
        scope: s.Scope | None,
        as_of: dt.date | None,
        renders: dict[tuple[str, str], Rendered | ReportFailed],
    ) -> Rendered:
        cache_key = (item.text(), s.scope_text(scope) if scope else "all")
        if not self.share_renders or cache_key not in renders:
            try:
                renders[cache_key] = self._render(schedule, item, scope, as_of)
            except ReportFailed as exc:
                renders[cache_key] = exc
        found = renders[cache_key]
        if isinstance(found, ReportFailed):
            raise found
        return found

    def _render(
        self, schedule: s.Schedule, item: s.Item, scope: s.Scope | None, as_of: dt.date | None
    ) -> Rendered:
        from reports.errors import ReportError
        from reports.render.errors import RenderError

        try:
            result = self.runner.run(item.report, dict(item.params), scope=scope, as_of=as_of)
        except (ReportError, KpiboardError) as exc:
            raise ReportFailed(f"report {item.report!r}: {exc}") from None
        headlines = headline_numbers(result)
        period = next((text for label, text in result.parameters if "period" in label.lower()), "")
        scope_shown = scope_words(self.runner, scope)
        if schedule.format == "html":
            return Rendered(
                result.report.title,
                period,
                scope_shown,
                headlines,
                len(result.frame),
                None,
                None,
                None,
            )
        try:
            if schedule.format == "pdf":
                content = self.printer.pdf(result)
            else:
                from reports.render.xlsx import render_xlsx

                content = render_xlsx(result)
        except RenderError as exc:
            raise ReportFailed(f"report {item.report!r}: {exc}") from None
        from reports.mail import safe_filename

        name = safe_filename(" - ".join(x for x in (result.report.title, period, scope_shown) if x))
        return Rendered(
            result.report.title,
            period,
            scope_shown,
            headlines,
            len(result.frame),
            f"{name}.{schedule.format}",
            content,
            MIME[schedule.format],
        )

    def _mail(
        self,
        schedule: s.Schedule,
        slot_at: dt.datetime,
        recipient: s.Recipient,
        row: Any,
        parts: list[Rendered],
    ) -> Mail:
        from reports.mail import Attachment, Headline, Mail, ReportPart, Summary, body

        with self.db.connect() as db:
            slot = db.execute(
                sa.select(appdb.schedule_slots.c.late).where(
                    appdb.schedule_slots.c.schedule_id == schedule.schedule_id,
                    appdb.schedule_slots.c.slot_at == slot_at,
                )
            ).first()
        summary = Summary(
            schedule=schedule.name,
            company=self.settings.company.name or self.settings.project.name,
            recipient=recipient.user or str(recipient.address),
            parts=tuple(
                ReportPart(
                    title=p.title,
                    period=p.period,
                    scope=p.scope,
                    headlines=tuple(Headline(label, value) for label, value in p.headlines),
                    attachment=p.filename,
                    rows=p.rows,
                )
                for p in parts
            ),
            link=dashboard_link(self.settings),
            sent_for=slot_words(slot_at, schedule.timezone),
            late=bool(slot and slot.late),
        )
        html, text = body(summary)
        return Mail(
            to=row.address,
            subject=subject(schedule, parts),
            html=html,
            text=text,
            message_id=row.message_id,
            attachments=tuple(
                Attachment(p.filename, p.content, p.mime)
                for p in parts
                if p.filename and p.content is not None and p.mime
            ),
            headers=(("X-Kpiboard-Delivery", row.delivery_key),),
        )

    # -- closing a slot ----------------------------------------------------------------------

    def _close_slot(self, schedule: s.Schedule, slot_at: dt.datetime) -> SlotOutcome:
        d = appdb.deliveries
        with self.db.connect() as db:
            counts = {
                status: n
                for status, n in db.execute(
                    sa.select(d.c.status, sa.func.count())
                    .where(d.c.schedule_id == schedule.schedule_id, d.c.slot_at == slot_at)
                    .group_by(d.c.status)
                )
            }
            errors = [
                r[0]
                for r in db.execute(
                    sa.select(d.c.error)
                    .where(
                        d.c.schedule_id == schedule.schedule_id,
                        d.c.slot_at == slot_at,
                        d.c.status == "failed",
                    )
                    .order_by(d.c.recipient)
                )
            ]
        if any(status not in FINAL for status in counts):
            return SlotOutcome(schedule.name, slot_at, "open", counts)
        sent, total = counts.get("sent", 0), sum(counts.values())
        status = (
            "done"
            if sent == total
            else "failed"
            if sent == 0 and counts.get("failed")
            else "partial"
        )
        error = errors[0] if errors else None
        if self._finish_slot(schedule.schedule_id or 0, slot_at, status, error):
            self._after_slot(schedule, slot_at, status, error)
        return SlotOutcome(schedule.name, slot_at, status, counts, error)

    def _finish_slot(
        self, schedule_id: int, slot_at: dt.datetime, status: str, error: str | None
    ) -> bool:
        t = appdb.schedule_slots
        with self.db.begin() as db:
            return (
                db.execute(
                    t.update()
                    .where(
                        t.c.schedule_id == schedule_id, t.c.slot_at == slot_at, t.c.status == "open"
                    )
                    .values(status=status, error=error, finished_at=self.clock())
                ).rowcount
                == 1
            )

    def _after_slot(
        self, schedule: s.Schedule, slot_at: dt.datetime, status: str, error: str | None
    ) -> None:
        """A failing slot mails the owner once (the first of a run of failures); a slot that
        went through ends the run."""
        table = appdb.schedules
        if status == "done":
            with self.db.begin() as db:
                db.execute(
                    table.update()
                    .where(table.c.schedule_id == schedule.schedule_id)
                    .values(failing_since=None)
                )
            return
        with self.db.begin() as db:
            first = db.execute(
                table.update()
                .where(table.c.schedule_id == schedule.schedule_id, table.c.failing_since.is_(None))
                .values(failing_since=slot_at)
            ).rowcount
        log.warning("schedule %s, slot %s: %s: %s", schedule.name, slot_at, status, error)
        if first:
            self.notify_owner(schedule, slot_at, status, error or "")

    def notify_owner(
        self, schedule: s.Schedule, slot_at: dt.datetime, status: str, error: str
    ) -> None:
        """Mail the schedule's owner (or ``[scheduler] notify``) that a slot failed."""
        from kpiboard.access import AccessError, get_user
        from reports.mail import Mail, MailError, build_message, message_id

        address = schedule.owner
        if address and "@" not in address:
            try:
                address = get_user(self.settings, address).email or ""
            except AccessError:
                address = ""
        address = address or self.settings.scheduler.notify
        if not address:
            log.warning("schedule %s failed and has no owner address to tell", schedule.name)
            return
        when = slot_words(slot_at, schedule.timezone)
        what = "was not sent" if status == "failed" else "was not sent to every recipient"
        lines = [
            f"The mail-out {schedule.name!r} of {when} {what}.",
            "",
            error,
            "",
            f"`kpiboard schedule history {schedule.name}` shows every recipient's state; "
            f"`kpiboard schedule run-now {schedule.name}` sends it again once it is mended.",
            "You are told once: the next failures of this schedule are not mailed until one "
            "of its mail-outs goes through.",
        ]
        text = "\n".join(lines)
        import html as htmllib

        key = delivery_key(schedule.schedule_id or 0, slot_at, "owner")
        mail = Mail(
            to=address,
            subject=f"Mail-out {schedule.name!r} failed: {error[:120]}",
            html="".join(f"<p>{htmllib.escape(line)}</p>" for line in lines if line),
            text=text,
            message_id=message_id(key[:32], _domain(self.settings.smtp.from_address)),
        )
        try:
            self.mailer.send(build_message(mail, self.settings.smtp.from_address))
        except MailError as exc:
            log.error("schedule %s: could not tell its owner %s: %s", schedule.name, address, exc)


# -- what a mail says ------------------------------------------------------------------------


def headline_numbers(result: Result, limit: int = 6) -> tuple[tuple[str, str], ...]:
    """A report's headline numbers: its total row's values by column, as they read (the
    first ``limit``); a report without totals gives its row count."""
    from reports.result import layout

    table = layout(result)
    total = table.total
    if total is None:
        return (("Rows", f"{len(table.data_rows):,}"),)
    found = []
    for heading, cell in zip(table.header, total.cells, strict=False):
        if cell.label or cell.missing or not cell.text or heading.format == "text":
            continue
        found.append((heading.label, cell.text))
    return tuple(found[:limit]) or (("Rows", f"{len(table.data_rows):,}"),)


def scope_words(runner: Runner, scope: s.Scope | None) -> str:
    """A scope as a mail reads it: ``Denver``, ``Denver, Austin``, ``Sharon Thompson``."""
    if not scope:
        return ""
    kind, members = next(iter(scope.items()))
    try:
        names = dict(runner.members(kind, scope))
    except (KpiboardError, ValueError):
        names = {}
    return ", ".join(names.get(member) or member for member in members)


def subject(schedule: s.Schedule, parts: list[Rendered]) -> str:
    """``Sales by branch — November 2026`` (one report) or ``monday-pack: 3 reports —
    November 2026``."""
    period = parts[0].period if parts else ""
    head = parts[0].title if len(parts) == 1 else f"{schedule.name}: {len(parts)} reports"
    return f"{head} — {period}" if period else head


def slot_words(slot_at: dt.datetime, timezone: str) -> str:
    """``Monday 7 December 2026, 08:00 America/Denver``."""
    from zoneinfo import ZoneInfo

    local = _aware(slot_at).astimezone(ZoneInfo(timezone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {timezone}"


def dashboard_link(settings: Settings) -> str:
    base = settings.dashboard.public_url or (
        f"http://{settings.dashboard.host}:{settings.dashboard.port}"
    )
    return base.rstrip("/") + "/reports"


def _domain(from_address: str) -> str:
    from email.utils import parseaddr

    address = parseaddr(from_address)[1]
    return address.rpartition("@")[2] or "kpiboard.localhost"


def _naive(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _gone(claimer: str | None) -> bool:
    """Whether the process that claimed a row is gone: on this machine, when no process has
    its id; elsewhere we cannot tell (its lease decides)."""
    if not claimer:
        return True
    host, _, rest = claimer.partition(":")
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(rest.partition(":")[0]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def resend(
    settings: Settings, name: str, *, recipient: str | None = None, slot: str | None = None
) -> int:
    """Put ``unknown`` (and ``failed``) rows of a schedule back to ``pending``, so the next
    tick sends them; returns how many. Narrowed to a recipient and to a slot (``YYYY-MM-DD
    HH:MM`` UTC) when given."""
    schedule = s.get(settings, name)
    d = appdb.deliveries
    where = [d.c.schedule_id == schedule.schedule_id, d.c.status.in_(("unknown", "failed"))]
    if recipient:
        where.append(d.c.recipient.in_((f"user:{recipient}", f"address:{recipient}")))
    if slot:
        try:
            at = dt.datetime.strptime(slot, "%Y-%m-%d %H:%M")
        except ValueError:
            raise s.ScheduleError(f"slot {slot!r}: write it as YYYY-MM-DD HH:MM (UTC)") from None
        where += [d.c.slot_at >= at, d.c.slot_at < at + dt.timedelta(minutes=1)]
    with appdb.shared_engine(settings).begin() as db:
        moved = db.execute(
            d.update()
            .where(*where)
            .values(status="pending", claimed_by=None, error=None, updated_at=s.now())
        ).rowcount
        t = appdb.schedule_slots
        slots = db.execute(
            sa.select(d.c.slot_at)
            .where(d.c.schedule_id == schedule.schedule_id, d.c.status == "pending")
            .distinct()
        ).all()
        for (slot_at,) in slots:
            db.execute(
                t.update()
                .where(t.c.schedule_id == schedule.schedule_id, t.c.slot_at == slot_at)
                .values(status="open", finished_at=None)
            )
    return int(moved)


def run_now(
    settings: Settings, name: str, *, by: str, deliverer: Deliverer | None = None
) -> SlotOutcome:
    """Send a schedule now, whatever its cron says (a manual slot at this second)."""
    schedule = s.get(settings, name)
    audit.record(settings, "schedule_run", user=by, target=name)
    own = deliverer is None
    deliverer = deliverer or Deliverer(settings)
    try:
        at = deliverer.clock()
        deliverer.open_slot(schedule, at, manual=True)
        return deliverer.deliver(schedule.schedule_id or 0, at)
    finally:
        if own:
            deliverer.close()
