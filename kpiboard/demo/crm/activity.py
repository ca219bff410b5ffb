"""A branch's daily work for one month: calls, mails, meetings and visits, and tasks.

Better employees log more activities and finish their tasks sooner; some tasks are still open, and
overdue, at the end of the data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo.arrays import NULL, IntArray
from kpiboard.demo.batch import Batch
from kpiboard.demo.crm.state import BranchState
from kpiboard.demo.dirt import ORPHAN_BASE
from kpiboard.demo.timeline import (
    DAY,
    END,
    HOUR,
    NAT,
    Month,
    censor,
    happened,
    latest,
    to_datetime,
    workday_after,
)

# per person and working day at scale 1, before seasonality (and the person's skill)
ACTIVITIES_PER_SALES_DAY = 40.0
ACTIVITIES_PER_ENGINEER_DAY = 6.0
ACTIVITIES_PER_HEAD_DAY = 3.0
TASKS_PER_SALES_DAY = 6.0

ACTIVITY_TYPES = np.array(["COUT", "CIN", "MAIL", "MEET", "VIS"], dtype=object)
CALL_OUTCOMES = np.array(["OK", "NOAN", "CB", "REF"], dtype=object)


def activities_and_tasks(s: BranchState, month: Month, rng: np.random.Generator) -> Iterator[Batch]:
    """The month's activities, then the sales managers' tasks."""
    # staff grows with the square root of the scale, and so does each person's workload
    per_day = math.sqrt(s.scale) * co.SEASONALITY[month.calendar_month - 1]
    known = s.clients.created_before(month.end)
    yield Batch(s.database, "activities", _activities(s, month, rng, per_day, known))
    yield Batch(s.database, "tasks", _tasks(s, month, rng, per_day, known))


def _activities(
    s: BranchState, month: Month, rng: np.random.Generator, per_day: float, known: IntArray
) -> pd.DataFrame:
    staff = s.staff
    people = np.concatenate(
        [staff.active("SM", month), staff.active("SE", month), staff.active("HD", month)]
    )
    role = staff.role[people]
    rate = (
        np.select(
            [role == "SM", role == "SE"],
            [ACTIVITIES_PER_SALES_DAY, ACTIVITIES_PER_ENGINEER_DAY],
            ACTIVITIES_PER_HEAD_DAY,
        )
        * staff.skill[people]
        * per_day
    )
    who = np.repeat(people, rng.poisson(rate * len(month.workdays)))
    n = len(who)
    aid = s.keys.take("activities", n)
    started = month.random_times(rng, n, workday_share=0.99)
    rng.shuffle(who)
    kind = rng.choice(ACTIVITY_TYPES, n, p=[0.40, 0.20, 0.25, 0.08, 0.07])
    minutes = np.select(
        [kind == "COUT", kind == "CIN", kind == "MEET", kind == "VIS"],
        [
            rng.lognormal(1.2, 0.8, n),
            rng.lognormal(1.4, 0.7, n),
            rng.uniform(30, 90, n),
            rng.uniform(45, 120, n),
        ],
        np.nan,
    )
    outcome = np.where(
        np.isin(kind, ["COUT", "CIN"]),
        rng.choice(CALL_OUTCOMES, n, p=[0.55, 0.25, 0.14, 0.06]),
        np.where(kind == "MAIL", NULL, "OK"),
    )
    minutes = np.where(outcome == "NOAN", 0.0, minutes)
    client = s.clients.id[rng.choice(known, n)]
    deal = s.recent_deals(rng, n, share=0.3, window=3000)
    subjects = np.empty(n, dtype=object)
    for t, options in co.ACTIVITY_SUBJECTS.items():
        mask = kind == t
        subjects[mask] = rng.choice(np.array(options, dtype=object), int(mask.sum()))
    activities = activity_rows(
        {"id": aid, "type_code": kind, "user_id": staff.id[who], "client_id": client},
        {"deal_id": deal},
        started,
        minutes,
        {"outcome_code": outcome, "subject": subjects},
    )
    s.dirt.orphan_reference(activities, "activities", "deal_id", 0.001, ORPHAN_BASE)
    s.dirt.future_date(activities, "activities", "started_at", 0.0004)
    return activities


def activity_rows(
    who: dict[str, object],
    about: dict[str, object],
    started: IntArray,
    minutes: np.ndarray,
    what: dict[str, object],
) -> pd.DataFrame:
    """Rows of the CRM's activities table, columns in the table's order: ``who`` (id, type,
    user, client), ``about`` (the deal, or the deal and the lead answered), the start and the
    duration in whole seconds of ``minutes`` (none where NaN), ``what`` (outcome, subject),
    created when it started and last updated a minute after it ended."""
    duration = np.where(np.isnan(minutes), np.nan, np.round(minutes * 60))
    ended = started + np.nan_to_num(duration).astype(np.int64)
    return pd.DataFrame(
        {
            **who,
            **about,
            "started_at": to_datetime(started),
            "duration_sec": duration,
            **what,
            "created_at": to_datetime(started),
            "updated_at": to_datetime(np.minimum(ended + 60, END - 1)),
        }
    )


def _tasks(
    s: BranchState, month: Month, rng: np.random.Generator, per_day: float, known: IntArray
) -> pd.DataFrame:
    staff = s.staff
    sales = staff.active("SM", month)
    counts = rng.poisson(
        TASKS_PER_SALES_DAY * per_day * len(month.workdays) * staff.skill[sales] ** 0.5
    )
    who = np.repeat(sales, counts)
    n = len(who)
    tid = s.keys.take("tasks", n)
    created = month.random_times(rng, n)
    due = workday_after(created, rng.integers(1, 8, n)) // DAY * DAY + 18 * HOUR
    skill = staff.skill[who]
    done = rng.random(n) < np.clip(0.80 * skill**0.3, 0.5, 0.98)
    took = (rng.lognormal(0, 0.9, n) * 2.2 * DAY / skill).astype(np.int64) + HOUR
    done_at = censor(np.where(done, created + took, NAT))
    cancelled = ~done & (rng.random(n) < 0.15) & (created < END - 30 * DAY)
    status = np.select([happened(done_at), cancelled], ["DONE", "CANC"], "OPEN")
    cancelled_at = np.where(status == "CANC", np.minimum(due + 7 * DAY, END - HOUR), NAT)
    head = staff.id[staff.active("HD", month)]
    author = np.where(rng.random(n) < 0.3, rng.choice(head, n), staff.id[who])
    return pd.DataFrame(
        {
            "id": tid,
            "title": rng.choice(co.TASK_TITLES, n),
            "assignee_id": staff.id[who],
            "author_id": author,
            "client_id": np.where(rng.random(n) < 0.8, s.clients.id[rng.choice(known, n)], np.nan),
            "deal_id": s.recent_deals(rng, n, share=0.25, window=2000),
            "priority": rng.choice([1, 2, 3], n, p=[0.2, 0.6, 0.2]),
            "status_code": status,
            "due_at": to_datetime(due),
            "done_at": to_datetime(done_at),
            "is_deleted": rng.random(n) < 0.005,
            "created_at": to_datetime(created),
            "updated_at": to_datetime(latest(created, done_at, cancelled_at)),
        }
    )
