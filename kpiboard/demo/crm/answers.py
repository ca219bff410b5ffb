"""Answers to a month's leads: the first call or e-mail to each, and the follow-ups after it.

The sales manager a lead is assigned to answers it in working time (Monday to Friday, 08:00-18:00,
the hours the CRMs' other work happens in): a call-in is called back within minutes, a website
questionnaire is called back (or answered by e-mail, when it did not ask for a call) within the
hour, an e-mail lead gets an e-mail in a few hours, a trade-show contact an e-mail the next days.
A lead that arrives on Friday evening is answered on Monday. Slower managers take visibly longer —
the time shrinks with the square of their skill — and leave more leads unanswered; junk is mostly
never answered. A lead that became a client was answered before it converted.

Every answer is an activity naming its lead (``activities.lead_id``); a lead still being worked
gets some follow-up calls, e-mails or a meeting, up to its conversion. The answers are drawn from
a generator of their own (see :class:`kpiboard.demo.generate.Streams`), so the rest of the
branch's month is drawn as it would be without them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo.arrays import NULL, BoolArray, IntArray, ObjArray
from kpiboard.demo.batch import Batch
from kpiboard.demo.crm.activity import activity_rows
from kpiboard.demo.crm.state import BranchState
from kpiboard.demo.timeline import (
    DAY,
    END,
    HOUR,
    happened,
    working_time_after,
)

MINUTE = 60

ANSWER_MINUTES = {
    # channel: median working minutes to the first answer, for a manager of skill 1
    "CALL": 20,
    "WEB": 45,
    "ADS": 60,
    "REF": 120,
    "MKTP": 120,
    "MAIL": 180,
    "EXPO": 600,
}
EMAILED = ("MAIL", "MKTP", "EXPO")
"""Channels answered by e-mail; the others by a call (a website form asking for none: e-mail)."""

UNANSWERED = 0.04
"""Share of genuine leads a manager of skill 1 never answers (more for weaker managers)."""
JUNK_ANSWERED = 0.12
"""Share of junk leads someone answered before seeing it was junk."""

FOLLOW_UPS_CONVERTED, FOLLOW_UPS_OTHER = 1.3, 0.6
"""Mean follow-up activities of an answered lead that converted, and of one that did not."""
FOLLOW_UP_TYPES = np.array(["COUT", "MAIL", "MEET"], dtype=object)
CALL_OUTCOMES = np.array(["OK", "NOAN", "CB"], dtype=object)


def lead_answers(s: BranchState, rng: np.random.Generator) -> Batch:
    """The activities that answer the month's leads (``s.month_leads``), in time order."""
    leads = s.month_leads
    n = len(leads.id)
    skill = s.staff.skill[leads.assignee]
    converted = happened(leads.converted)

    median = np.array([ANSWER_MINUTES[c] for c in leads.channel], dtype=float) * MINUTE
    took = (median * rng.lognormal(0.0, 0.9, n) / skill**2).astype(np.int64) + 2 * MINUTE
    answered_at = working_time_after(leads.created, took)
    # a client was talked to before it became one
    answered_at = np.where(
        converted, np.minimum(answered_at, leads.converted - 15 * MINUTE), answered_at
    )
    answered_at = np.maximum(answered_at, leads.created + MINUTE)
    p_unanswered = np.where(
        leads.junk, 1 - JUNK_ANSWERED, np.clip(UNANSWERED / skill**2, 0.01, 0.25)
    )
    answered = (converted | (rng.random(n) >= p_unanswered)) & (answered_at < END)
    by_mail = np.isin(leads.channel, EMAILED) | ((leads.channel == "WEB") & ~leads.callback)
    first_kind = np.where(by_mail, "MAIL", "COUT").astype(object)

    follow_lead, follow_at, follow_kind = _follow_ups(s, rng, answered & ~leads.junk, answered_at)

    lead = np.concatenate([np.flatnonzero(answered), follow_lead])
    started = np.concatenate([answered_at[answered], follow_at])
    kind = np.concatenate([first_kind[answered], follow_kind])
    first = np.arange(len(lead)) < int(answered.sum())
    order = np.argsort(started, kind="stable")
    return Batch(
        s.database,
        "activities",
        _frame(s, rng, lead[order], started[order], kind[order], first[order]),
    )


def _follow_ups(
    s: BranchState, rng: np.random.Generator, worked: BoolArray, answered_at: IntArray
) -> tuple[IntArray, IntArray, ObjArray]:
    """Follow-ups of the ``worked`` leads: lead positions, times and activity types.

    They come a few working days apart after the first answer, and stop at the lead's
    conversion (from then on the CRM logs activities on the client) and at the end of the data.
    """
    leads = s.month_leads
    converted = happened(leads.converted)
    counts = np.where(
        worked, rng.poisson(np.where(converted, FOLLOW_UPS_CONVERTED, FOLLOW_UPS_OTHER)), 0
    )
    lead = np.repeat(np.arange(len(leads.id)), counts)
    gap = rng.integers(1, 5, len(lead))  # working days since the previous contact
    elapsed = np.cumsum(gap)
    group_start = np.repeat(np.cumsum(counts) - counts, counts)
    days_after = elapsed - elapsed[group_start] + gap[group_start]  # restart at each lead
    day = np.busday_offset(
        (answered_at[lead] // DAY).astype("datetime64[D]"), days_after, roll="forward"
    ).astype(np.int64)
    at = day * DAY + rng.integers(9 * HOUR, 17 * HOUR, len(lead))
    kind = rng.choice(FOLLOW_UP_TYPES, len(lead), p=[0.5, 0.35, 0.15])
    ends = np.where(converted[lead], leads.converted[lead], END)
    kept = at < ends
    return lead[kept], at[kept], kind[kept]


def _frame(
    s: BranchState,
    rng: np.random.Generator,
    lead: IntArray,
    started: IntArray,
    kind: ObjArray,
    first: BoolArray,
) -> pd.DataFrame:
    """The activities' rows: by the lead's manager, on no client yet, naming the lead."""
    leads = s.month_leads
    n = len(lead)
    call = kind == "COUT"
    outcome = np.where(
        call,
        rng.choice(CALL_OUTCOMES, n, p=[0.62, 0.26, 0.12]),
        np.where(kind == "MAIL", NULL, "OK"),
    )
    minutes = np.select(
        [call & (outcome != "NOAN"), kind == "MEET"],
        [rng.lognormal(1.4, 0.7, n), rng.uniform(30, 90, n)],
        np.where(call, 0.0, np.nan),
    )
    subjects = np.empty(n, dtype=object)
    for table, pick in ((co.LEAD_RESPONSE_SUBJECTS, first), (co.LEAD_FOLLOW_UP_SUBJECTS, ~first)):
        for code, options in table.items():
            mask = pick & (kind == code)
            subjects[mask] = rng.choice(np.array(options, dtype=object), int(mask.sum()))
    return activity_rows(
        {
            "id": s.keys.take("activities", n),
            "type_code": kind,
            "user_id": s.staff.id[leads.assignee[lead]],
            "client_id": np.full(n, np.nan),
        },
        {"deal_id": np.full(n, np.nan), "lead_id": leads.id[lead]},
        started,
        minutes,
        {"outcome_code": outcome, "subject": subjects},
    )
