"""Benchmark: a mail-out of three PDF reports to 50 recipients, one reused browser against a
browser per recipient.

The workload of the issue: 50 recipients × 3 reports mailed to an SMTP server on loopback
(aiosmtpd, started by the benchmark in its own process), on the published snapshot of the demo
company (``kpiboard demo`` at ``--scale 1`` by default, or the project ``--dir``, which is only
read: the benchmark keeps its users and schedule in an app database of its own, in a temporary
folder, through ``KPIBOARD_APP_DATABASE_URL``).

The recipients are the company's own people as kpiboard users, each with the scope a company
would give them: the head of each branch (their branch's rows), the executives and the analyst
(every row), and every active employee — sales managers, service engineers, drivers, warehouse
keepers — with their own rows. The demo company has fewer than 50 people, so branch mailboxes
(``denver-sales@…`` with the branch's rows) make up the rest. The reports, each a PDF with a
relative period as a monthly pack would have: ``sales_plan_vs_fact`` (last month),
``receivables_aging`` (by manager, on the data's last day) and ``kpi_plan_vs_fact_by_employee``
(the sales managers' scorecard, last month).

Three paths, each in its own process so that its time and peak memory are its own, each
starting from a copy of the same app database (the users and one schedule) and sending the same
mails to the same server:

- **kpiboard**: one manual slot of the schedule (``run_now``) delivered by one
  :class:`reports.delivery.Deliverer` as the product does: one browser started once and
  reused for every PDF, a report rendered once per scope and shared between the recipients who
  see the same rows (the three mailboxes and the head of one branch; the executives), one SMTP
  connection, the delivery log written for every mail.
- **kpiboard, every recipient rendered**: the same with ``share_renders=False``: each
  recipient's reports run and printed for them alone. Against the first path it shows what the
  sharing saves; against the peer, what the browser's reuse alone saves.
- **peer: a fresh browser per recipient**: the naive script: for each recipient, their three
  reports run under their scope and printed by a browser started for that recipient and stopped
  after, the same mail composed (the same body, attachments and names), sent through one SMTP
  connection; no delivery log.

For each path: the batch's total time (from before the browser starts to the last mail
accepted) and of it the time spent loading the report catalog, starting and stopping browsers,
running the reports and printing PDFs (the rest: composing and sending the mails, the delivery
log); mails per second, the PDFs printed and browsers started, and the peak memory of the
process and its browser, sampled every 50 ms over the process tree (``bench/reports.py``'s
sampler): the sum of proportional set sizes (PSS), the sum of resident sets (RSS, counting each
shared page once per process), and the Python process's own peak (``ru_maxrss``). After each
path the server's received mails are counted: anything but one mail per recipient, each with
its three PDFs named as the first path named them, stops the benchmark with an error. Ratios are
the peer's time over each kpiboard path's, measured in the same run. The machine's load average
before each path is printed too: a busy machine slows every path, the peer's browser starts
most. The goals on 2 cores: the batch under 60 s, and at least 5x faster than the peer.

    python bench/mailout.py                      # builds the demo (scale 1) in a temporary folder
    python bench/mailout.py --dir /work/demo1    # an existing project (built once if missing)
    python bench/mailout.py --quick              # 10 recipients (a quick look)
    python bench/mailout.py --recipients 3       # any number
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
# run as `python bench/mailout.py`, this file's folder comes first on the path, where
# bench/reports.py would stand for the `reports` package: the project's root takes its place
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from kpiboard.config import Settings
    from reports import schedules as s
    from reports.delivery import Rendered
    from reports.render.pdf import Printer
    from reports.runner import Runner

RECIPIENTS = 50
QUICK = 10
GOAL_SECONDS = 60.0
GOAL_RATIO = 5.0
SCHEDULE = "monthly-pack"
ITEMS = (
    ("sales_plan_vs_fact", {"period": "last_month"}),
    ("receivables_aging", {"group_by": "manager"}),
    ("kpi_plan_vs_fact_by_employee", {"period": "last_month"}),
)
TEAMS = ("sales", "service", "finance", "office", "stock", "delivery")
"""Branch mailboxes that make up the recipients the company's people do not."""
PASSWORD = "benchmark password, long enough"
PATHS = {
    "kpiboard": "kpiboard",
    "every_rendered": "every recipient rendered",
    "fresh_browser": "fresh browser",
}


# -- the recipients -------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A recipient to set up: a kpiboard user (``role`` set) or a mailbox with a branch."""

    kind: str  # head | all_data | employee | mailbox
    name: str
    email: str
    role: str | None = None
    employee: str | None = None
    branch: str | None = None


def _user_name(email: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9._-]", "-", email.partition("@")[0].lower()).strip("-._") or "user"
    name, n = base, 1
    while name in taken or len(name) < 2:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def company_people(runner: Runner) -> tuple[list[Person], str]:
    """The company's active people as users with their scopes, heads, executives and
    employees taken in turn (so a few recipients are of every kind); and its mail domain."""
    with runner._cursor(runner._published()) as con:
        rows = con.execute(
            "SELECT e.employee_id, e.branch_id, e.role, e.email,"
            " e.employee_id IN (SELECT b.head_id FROM core.dim_branch AS b) AS heads"
            " FROM core.dim_employee AS e WHERE e.is_active"
            " ORDER BY e.branch_id, e.role, e.employee_id"
        ).fetchall()
    emails = [r[3] for r in rows if r[3] and "@" in r[3]]
    domain = emails[0].rpartition("@")[2] if emails else "example.com"
    taken: set[str] = set()
    kinds: dict[str, list[Person]] = {"head": [], "all_data": [], "employee": []}
    for employee, branch, job, email, heads in rows:
        email = email if email and "@" in email else f"{employee.replace(':', '-')}@{domain}"
        name = _user_name(email, taken)
        if heads:
            kinds["head"].append(Person("head", name, email, "branch_head", employee, branch))
        elif job in ("executive", "analyst"):
            kinds["all_data"].append(Person("all_data", name, email, job))
        else:
            kinds["employee"].append(Person("employee", name, email, "employee", employee))
    people = []
    while any(kinds.values()):
        people += [group.pop(0) for group in kinds.values() if group]
    return people, domain


def mailboxes(branches: list[str], domain: str) -> Iterator[Person]:
    """``denver-sales@…``, ``austin-sales@…``, … ``denver-service@…``: branch mailboxes, each
    seeing its branch's rows; numbered once every team has one."""
    round_ = 1
    while True:
        for team in TEAMS:
            for branch in branches:
                local = f"{branch}-{team}" + (str(round_) if round_ > 1 else "")
                yield Person("mailbox", local, f"{local}@{domain}", branch=branch)
        round_ += 1


def set_up(settings: Settings, count: int) -> list[Person]:
    """Add ``count`` recipients and the schedule that mails them the three reports."""
    from itertools import islice

    from kpiboard import access
    from reports import schedules as s
    from reports.runner import Runner

    runner = Runner.from_settings(settings)
    people, domain = company_people(runner)
    with runner._cursor(runner._published()) as con:
        found = con.execute("SELECT branch_id FROM core.dim_branch ORDER BY 1").fetchall()
    branches = [str(r[0]) for r in found]
    chosen = people[:count] + list(islice(mailboxes(branches, domain), max(0, count - len(people))))
    recipients = []
    for person in chosen:
        if person.role is None:
            scope = {"branch": (person.branch or "",)}
            recipients.append(s.Recipient(address=person.email, scope=scope))
            continue
        access.add_user(
            settings,
            person.name,
            person.role,
            PASSWORD,
            employee=person.employee,
            branches=[person.branch] if person.role == "branch_head" and person.branch else [],
            email=person.email,
        )
        recipients.append(s.Recipient(user=person.name))
    schedule = s.Schedule(
        name=SCHEDULE,
        items=tuple(s.Item(report, params) for report, params in ITEMS),
        recipients=tuple(recipients),
        cron="0 7 1 * *",
        timezone="America/Denver",
        format="pdf",
    )
    s.add(settings, schedule, by="bench", runner=runner)
    return chosen


# -- one path, in a child process -----------------------------------------------------------


SPENT: defaultdict[str, float] = defaultdict(float)
"""Seconds a path spent in each part of its work (``catalog``, ``browsers``: starting and
stopping them, ``reports``: running them, ``printing``), and ``pdfs`` and ``browser_starts``
counted."""


@contextmanager
def _spent(part: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        SPENT[part] += time.perf_counter() - started


def _timed_printer() -> Printer:
    """A :class:`Printer` that counts and times its starts, stops and PDFs in :data:`SPENT`."""
    from reports.render.pdf import Printer

    class Timed(Printer):
        def start(self) -> None:
            SPENT["browser_starts"] += 1
            with _spent("browsers"):
                super().start()

        def close(self) -> None:
            with _spent("browsers"):
                super().close()

        def pdf(self, result: Any, *, html: str | None = None) -> bytes:
            SPENT["pdfs"] += 1
            with _spent("printing"):
                return super().pdf(result, html=html)

    return Timed()


def _timed_runner(settings: Settings) -> Runner:
    """The project's :class:`Runner`, its making (the catalog) and its runs timed."""
    from reports.runner import Runner

    class Timed(Runner):
        def run(self, *args: Any, **kwargs: Any) -> Any:
            with _spent("reports"):
                return super().run(*args, **kwargs)

    with _spent("catalog"):
        return Timed.from_settings(settings)


def deliver_with_kpiboard(settings: Settings, *, share_renders: bool) -> int:
    """One manual slot of the schedule, delivered by one Deliverer with one browser; the mails
    sent."""
    from reports.delivery import Deliverer, run_now

    printer = _timed_printer()
    printer.start()
    try:
        with Deliverer(
            settings,
            runner=_timed_runner(settings),
            printer=printer,
            share_renders=share_renders,
        ) as deliverer:
            outcome = run_now(settings, SCHEDULE, by="bench", deliverer=deliverer)
    finally:
        printer.close()
    if outcome.status != "done":
        raise SystemExit(f"the slot ended {outcome.line()}")
    return outcome.counts.get("sent", 0)


def _peer_render(runner: Runner, printer: Printer, item: s.Item, scope: s.Scope | None) -> Rendered:
    """A report run under ``scope`` and printed, named and summed up as the product does."""
    from reports.delivery import MIME, Rendered, headline_numbers, scope_words
    from reports.mail import safe_filename

    result = runner.run(item.report, dict(item.params), scope=scope)
    content = printer.pdf(result)
    period = next((text for label, text in result.parameters if "period" in label.lower()), "")
    shown = scope_words(runner, scope)
    name = safe_filename(" - ".join(x for x in (result.report.title, period, shown) if x))
    return Rendered(
        result.report.title,
        period,
        shown,
        headline_numbers(result),
        len(result.frame),
        f"{name}.pdf",
        content,
        MIME["pdf"],
    )


def _peer_mail(
    settings: Settings,
    schedule: s.Schedule,
    recipient: s.Recipient,
    address: str,
    parts: list[Rendered],
    slot_at: dt.datetime,
) -> Any:
    """The mail the product sends for these parts (body, subject, attachments, headers)."""
    from reports.delivery import dashboard_link, delivery_key, slot_words, subject
    from reports.mail import (
        Attachment,
        Headline,
        Mail,
        ReportPart,
        Summary,
        body,
        build_message,
        domain_of,
        message_id,
    )

    key = delivery_key(schedule.schedule_id or 0, slot_at, recipient.key)
    summary = Summary(
        schedule=schedule.name,
        company=settings.company.name or settings.project.name,
        recipient=recipient.user or address,
        parts=tuple(
            ReportPart(
                p.title,
                p.period,
                p.scope,
                tuple(Headline(label, value) for label, value in p.headlines),
                p.filename,
                p.rows,
            )
            for p in parts
        ),
        link=dashboard_link(settings),
        sent_for=slot_words(slot_at, schedule.timezone),
    )
    html, text = body(summary)
    mail = Mail(
        to=address,
        subject=subject(schedule, parts),
        html=html,
        text=text,
        message_id=message_id(key[:32], domain_of(settings.smtp.from_address)),
        attachments=tuple(
            Attachment(p.filename or "", p.content or b"", p.mime or "") for p in parts
        ),
        headers=(("X-Kpiboard-Delivery", key),),
    )
    return build_message(mail, settings.smtp.from_address, date=slot_at.replace(tzinfo=dt.UTC))


def deliver_with_fresh_browsers(settings: Settings) -> int:
    """The peer: each recipient's reports printed by a browser started for them; the mails
    sent."""
    from kpiboard.access import get_user
    from reports import schedules as s
    from reports.mail import Mailer

    schedule = s.get(settings, SCHEDULE)
    runner = _timed_runner(settings)
    slot_at = s.now().replace(microsecond=0)
    sent = 0
    with Mailer(settings.smtp) as mailer:
        for recipient in schedule.recipients:
            if recipient.user:
                user = get_user(settings, recipient.user)
                address, scope = user.email or "", s.user_scope(user)
            else:
                address, scope = recipient.address or "", recipient.scope or None
            with _timed_printer() as printer:
                parts = [_peer_render(runner, printer, item, scope) for item in schedule.items]
            mailer.send(_peer_mail(settings, schedule, recipient, address, parts, slot_at))
            sent += 1
    return sent


def _peak_memory() -> Any:
    """``bench/reports.py``'s sampler of a process tree's memory (loaded by its path: as
    ``bench.reports`` it would be one file under two module names)."""
    spec = importlib.util.spec_from_file_location(
        "bench_reports", Path(__file__).with_name("reports.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PeakMemory()


def child(project: Path, path: str) -> dict[str, Any]:
    from kpiboard.config import load_settings

    settings = load_settings(project)
    with _peak_memory() as memory:
        started = time.perf_counter()
        if path == "fresh_browser":
            sent = deliver_with_fresh_browsers(settings)
        else:
            sent = deliver_with_kpiboard(settings, share_renders=path == "kpiboard")
        whole = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    parts = {f"{part}_s": SPENT[part] for part in ("catalog", "browsers", "reports", "printing")}
    return {
        "path": path,
        "whole": whole,
        "sent": sent,
        "pdfs": int(SPENT["pdfs"]),
        "browsers": int(SPENT["browser_starts"]),
        **parts,
        "rest_s": whole - sum(parts.values()),
        "peak_mb": memory.peak,
        "peak_rss_mb": memory.peak_rss,
        "own_rss_mb": own,
    }


# -- the parent: project, server, paths -----------------------------------------------------


def build_demo(project: Path, scale: float, seed: int) -> None:
    print(f"building the demo (scale {scale}) in {project} …", flush=True)
    subprocess.run(
        [
            *(sys.executable, "-m", "kpiboard", "demo", "--dir", str(project)),
            *("--scale", str(scale), "--seed", str(seed), "--no-serve"),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


def warm_caches(project: Path) -> None:
    """Read the warehouse and start the browser once, so that the first path does not pay for
    a cold disk cache the others find warm."""
    from reports.render.pdf import Printer

    for file in (project / "warehouse").rglob("*"):
        if file.is_file():
            with file.open("rb") as fh:
                while fh.read(1 << 20):
                    pass
    with Printer():
        pass


def run_path(project: Path, path: str, env: dict[str, str]) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", path, "--dir", str(project)]
    done = subprocess.run(
        args, capture_output=True, text=True, check=False, cwd=ROOT, env={**os.environ, **env}
    )
    if done.returncode != 0:
        raise SystemExit(f"{PATHS[path]} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def received(messages: list[Any]) -> dict[str, list[str]]:
    """The mails a path sent: each recipient address with its attachments' names."""
    found: dict[str, list[str]] = {}
    for item in messages:
        names = [p.get_filename() for p in item.message.walk() if p.get_filename()]
        found[str(item.message["To"])] = sorted(names)
    return found


def check_received(path: str, mails: dict[str, list[str]], count: int, sent: int) -> None:
    """One mail per recipient with every report attached, or the benchmark stops."""
    label = PATHS[path]
    if len(mails) != count or sent != count:
        raise SystemExit(
            f"{label}: the server received {len(mails)} mails for {count} recipients "
            f"({sent} sent as the path counted)"
        )
    short = [to for to, names in mails.items() if len(names) != len(ITEMS)]
    if short:
        raise SystemExit(
            f"{label}: {short[0]} received {len(mails[short[0]])} of {len(ITEMS)} PDFs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", type=Path, help="demo project to build once and reuse (only read)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--recipients", type=int, help=f"how many (default {RECIPIENTS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} recipients")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.dir, args.child)))
        return
    count = args.recipients if args.recipients is not None else QUICK if args.quick else RECIPIENTS
    if count < 1:
        parser.error("--recipients: at least 1")
    work = Path(tempfile.mkdtemp(prefix="kpiboard-bench-mailout-"))
    project = args.dir or work / "demo"
    if not (project / "kpiboard.toml").is_file():
        build_demo(project, args.scale, args.seed)
    try:
        measure(project, work, count)
    finally:
        # the app databases go; a demo built here stays, to be given as --dir next time
        shutil.rmtree(work if args.dir else work / "app", ignore_errors=True)


def measure(project: Path, work: Path, count: int) -> None:
    from kpiboard.config import load_settings
    from tests.smtp_server import SmtpServer

    server = SmtpServer()
    server.start()
    (work / "app").mkdir()
    template = work / "app" / "set-up.sqlite"
    env = {
        "KPIBOARD_SMTP_HOST": server.host,
        "KPIBOARD_SMTP_PORT": str(server.port),
        "KPIBOARD_SMTP_FROM_ADDRESS": "Reports <reports@kpiboard.example>",
    }
    try:
        settings = load_settings(
            project, env={**env, "KPIBOARD_APP_DATABASE_URL": f"sqlite:///{template}"}
        )
        people = set_up(settings, count)
        warm_caches(project)
        measured: dict[str, dict[str, Any]] = {}
        first: dict[str, list[str]] | None = None
        for path in PATHS:
            database = work / "app" / f"{path}.sqlite"
            shutil.copyfile(template, database)
            before, load = len(server.messages), os.getloadavg()[0]
            result = run_path(
                project, path, {**env, "KPIBOARD_APP_DATABASE_URL": f"sqlite:///{database}"}
            )
            mails = received(server.messages[before:])
            check_received(path, mails, count, result["sent"])
            if first is not None and mails != first:
                odd = next(to for to in first if first[to] != mails.get(to))
                raise SystemExit(f"{PATHS[path]}: {odd} got {mails.get(odd)}, not {first[odd]}")
            first = first or mails
            measured[path] = result | {"received": len(mails), "load": load}
    finally:
        server.stop()
    report(project, people, measured)


def report(project: Path, people: list[Person], measured: dict[str, dict[str, Any]]) -> None:
    count = len(people)
    kinds = Counter(p.kind for p in people)
    scopes = {(p.employee if p.kind == "employee" else p.branch) for p in people}
    reports = ", ".join(report for report, _ in ITEMS)
    print(f"mail-out of {count} recipients × {len(ITEMS)} PDF reports ({reports})")
    print(f"on {project} ({os.cpu_count()} cores)")
    print(
        f"recipients: {kinds['head']} branch heads, {kinds['all_data']} executives and analysts,"
        f" {kinds['employee']} employees, {kinds['mailbox']} branch mailboxes;"
        f" {len(scopes)} distinct scopes"
    )
    print(f"{'':28}" + "".join(f"{label:>26}" for label in PATHS.values()))
    for key, label, form in (
        ("whole", "total, s", ".2f"),
        ("catalog_s", "  loading the catalog, s", ".2f"),
        ("browsers_s", "  starting browsers, s", ".2f"),
        ("reports_s", "  running reports, s", ".2f"),
        ("printing_s", "  printing PDFs, s", ".2f"),
        ("rest_s", "  mails, log and the rest, s", ".2f"),
        ("mails_per_s", "mails/s", ".2f"),
        ("pdfs", "PDFs printed", "d"),
        ("browsers", "browsers started", "d"),
        ("peak_mb", "peak memory (PSS), MB", ".0f"),
        ("peak_rss_mb", "  RSS summed, MB", ".0f"),
        ("own_rss_mb", "  the Python process, MB", ".0f"),
        ("received", "mails received", "d"),
        ("load", "load average before (1 min)", ".1f"),
    ):
        cells = []
        for path in PATHS:
            value = measured[path].get(key)
            if key == "mails_per_s":
                value = measured[path]["received"] / measured[path]["whole"]
            cells.append(f"{value:>26{form}}")
        print(f"{label:28}" + "".join(cells))
    ours, each, peer = (measured[p]["whole"] for p in PATHS)
    print(f"peer / kpiboard: {peer / ours:.1f}x")
    print(f"peer / every recipient rendered: {peer / each:.1f}x")
    print(f"every recipient rendered / kpiboard: {each / ours:.1f}x")
    goals = (
        (f"batch under {GOAL_SECONDS:.0f} s", ours < GOAL_SECONDS, f"{ours:.1f} s"),
        (f"at least {GOAL_RATIO:.0f}x the peer", peer / ours >= GOAL_RATIO, f"{peer / ours:.1f}x"),
    )
    for name, ok, value in goals:
        print(f"goal {name}: {'PASS' if ok else 'MISS'} ({value})")


if __name__ == "__main__":
    main()
