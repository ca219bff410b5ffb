"""A branch's sales pipeline for one month: leads, the clients they become, and deals.

Better sales managers get more leads, convert more of them and move deals faster. Most converted
leads open a deal; existing clients open more. A deal passes the open stages one by one and ends
won or lost; won deals wait in the state for the month they close in, to be invoiced then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo import ids
from kpiboard.demo.arrays import NULL, FloatArray, IntArray, choice_weighted, money
from kpiboard.demo.batch import Batch
from kpiboard.demo.crm.clients import CHANNEL_CODES, CHANNEL_SHARES, ConvertedLeads, new_clients
from kpiboard.demo.crm.state import BranchState, MonthLeads, WonDeals
from kpiboard.demo.timeline import (
    DAY,
    END,
    HOUR,
    NAT,
    Month,
    censor,
    happened,
    latest,
    to_date,
    to_datetime,
)

# company-wide per month at scale 1, before seasonality and growth
LEADS_PER_MONTH = 1_450
DEALS_FROM_CLIENTS_PER_MONTH = 700

WON, LOST = 5, 6
"""Stage ids of the final stages; 1..4 are the open ones, from NEW on."""

DEAL_TITLES = [
    "Managed print contract",
    "Printer fleet upgrade",
    "Cartridge supply",
    "Repair and maintenance",
    "New MFP purchase",
    "Paper supply for the year",
]


def leads_and_deals(s: BranchState, month: Month, rng: np.random.Generator) -> Iterator[Batch]:
    """The month's leads, the clients converted from them, and the deals opened."""
    n = int(rng.poisson(s.volume(month, LEADS_PER_MONTH)))
    lid = s.keys.take("leads", n)
    created = month.random_times(rng, n, workday_share=0.85)
    channel = rng.choice(CHANNEL_CODES, n, p=CHANNEL_SHARES)
    sales = s.staff.active("SM", month)
    assignee_pos = choice_weighted(rng, sales, s.staff.skill[sales], n)
    skill = s.staff.skill[assignee_pos]
    p_convert = np.clip(0.22 * skill**0.8 * np.where(channel == "REF", 1.6, 1.0), 0.02, 0.75)
    junk = rng.random(n) < 0.12
    converts = ~junk & (rng.random(n) < p_convert)
    converted_at = censor(
        np.where(converts, created + (rng.exponential(6, n) * DAY).astype(np.int64) + HOUR, NAT)
    )
    converted = happened(converted_at)
    is_company = rng.random(n) < 0.78
    first = rng.choice(co.FIRST_NAMES, n)
    last = rng.choice(co.LAST_NAMES, n)
    typed_name = (
        rng.choice(co.COMPANY_WORDS, n).astype(object)
        + " "
        + rng.choice(co.COMPANY_NOUNS, n).astype(object)
    )
    company_name = np.where(is_company, typed_name, NULL)
    phones = ids.phone_numbers(s.branch.area_code, ids.LEAD, lid, rng.integers(0, 3, n))
    phone = np.where(rng.random(n) < 0.9, phones, NULL)
    emails = np.array(
        [f"{a.lower()}.{b.lower()}{k}@mail.com" for a, b, k in zip(first, last, lid, strict=True)],
        dtype=object,
    )
    email = np.where((channel == "WEB") | (rng.random(n) < 0.6), emails, NULL)
    payload = np.full(n, None, dtype=object)
    callback = np.zeros(n, bool)
    for i in np.flatnonzero(channel == "WEB"):
        payload[i], callback[i] = _web_form(rng)
    status = np.select(
        [converted, junk, created < END - 14 * DAY],
        ["CNV", "JNK", np.where(rng.random(n) < 0.7, "REJ", "WRK")],
        "NEW",
    )
    updated = latest(
        created,
        converted_at,
        np.where(status == "REJ", np.minimum(created + 10 * DAY, END - HOUR), NAT),
    )
    leads = pd.DataFrame(
        {
            "id": lid,
            "channel_code": channel,
            "contact_name": [f"{a} {b}" for a, b in zip(first, last, strict=True)],
            "company_name": company_name,
            "phone": phone,
            "email": email,
            "form_payload": payload,
            "status_code": status,
            "assigned_user_id": s.staff.id[assignee_pos],
            "converted_client_id": np.full(n, np.nan),
            "converted_at": to_datetime(converted_at),
            "is_deleted": junk & (rng.random(n) < 0.3),
            "created_at": to_datetime(created),
            "updated_at": to_datetime(updated),
        }
    )
    # converted leads become clients, in the order they converted (their ids are known only now)
    conv = np.flatnonzero(converted)
    order = conv[np.argsort(converted_at[conv], kind="stable")]
    first_client = s.keys.peek("clients")
    converted_leads = ConvertedLeads(lid[order], channel[order], phone[order], email[order])
    client_batches = list(new_clients(s, rng, converted_at[order], converted_leads))
    leads.loc[order, "converted_client_id"] = np.arange(first_client, first_client + len(order))
    s.month_leads = MonthLeads(lid, created, channel, assignee_pos, junk, converted_at, callback)
    s.dirt.malformed_phone(leads, "leads", 0.008)
    s.dirt.malformed_email(leads, "leads", 0.008)
    yield Batch(s.database, "leads", leads)
    yield from client_batches

    # deals: from most converted leads, and from existing clients
    with_deal = np.flatnonzero(rng.random(len(order)) < 0.8)  # positions in ``order``
    from_leads = order[with_deal]
    lead_client = first_client + with_deal
    n_more = int(rng.poisson(s.volume(month, DEALS_FROM_CLIENTS_PER_MONTH)))
    known = s.clients.created_before(month.start)
    more_client = s.clients.id[rng.choice(known, n_more)] if len(known) else np.zeros(0, np.int64)
    client = np.concatenate([lead_client, more_client])
    opened = np.concatenate([converted_at[from_leads] + HOUR, month.random_times(rng, n_more)])
    lead_ref = np.concatenate([lid[from_leads].astype(float), np.full(n_more, np.nan)])
    owner_pos = np.concatenate(
        [assignee_pos[from_leads], choice_weighted(rng, sales, s.staff.skill[sales], n_more)]
    )
    yield from _deals(s, rng, client, opened, lead_ref, owner_pos)


def _web_form(rng: np.random.Generator) -> tuple[str, bool]:
    """What a lead typed into the website's questionnaire, as JSON, and whether it asked to be
    called back."""
    form = {
        "printers": int(rng.integers(1, 40)),
        "interest": str(
            rng.choice(["cartridges", "refill", "repair", "new printer", "managed print"])
        ),
        "employees": str(rng.choice(["1-10", "11-50", "51-200", "200+"])),
        "callback": bool(rng.random() < 0.6),
    }
    return json.dumps(form, sort_keys=True), bool(form["callback"])


def _deals(
    s: BranchState,
    rng: np.random.Generator,
    client: IntArray,
    opened: IntArray,
    lead_ref: FloatArray,
    owner_pos: IntArray,
) -> Iterator[Batch]:
    """Deals of ``client`` ids opened at ``opened``, and every stage change they went through."""
    n = len(client)
    did = s.keys.take("deals", n)
    skill = s.staff.skill[owner_pos]
    wins = rng.random(n) < np.clip(0.33 * skill, 0.05, 0.8)
    # open stages passed: a won deal passes all four; a lost one drops out after 1..4
    passed = np.where(wins, 4, rng.integers(1, 5, n))
    steps = passed + 1  # the entries into NEW .. the last open stage, then WON/LOST
    deal_pos = np.repeat(np.arange(n), steps)
    first_step = np.repeat(np.cumsum(steps) - steps, steps)
    step = np.arange(len(deal_pos)) - first_step
    wait = (
        rng.exponential(1.0, len(deal_pos)) * 6 * DAY / np.repeat(np.sqrt(skill), steps)
    ).astype(np.int64)
    wait[step == 0] = 0
    elapsed = np.cumsum(wait)
    elapsed -= elapsed[first_step]  # restart at each deal
    changed = opened[deal_pos] + elapsed
    last = step == np.repeat(steps - 1, steps)
    to_stage = np.where(last, np.where(np.repeat(wins, steps), WON, LOST), step + 1)
    from_stage = np.where(
        step == 0, np.nan, np.where(last, np.repeat(passed, steps), step).astype(float)
    )
    seen = changed < END
    history = pd.DataFrame(
        {
            "id": s.keys.take("deal_stage_history", int(seen.sum())),
            "deal_id": did[deal_pos[seen]],
            "from_stage_id": from_stage[seen],
            "to_stage_id": to_stage[seen],
            "changed_at": to_datetime(changed[seen]),
            "changed_by": s.staff.id[owner_pos][deal_pos[seen]],
        }
    )
    # the state of each deal at the end of the data: its last seen transition
    last_seen = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_seen, deal_pos[seen], np.flatnonzero(seen))
    stage = to_stage[last_seen]
    closed_at = np.where(stage >= WON, changed[last_seen], NAT)
    status = np.select([stage == WON, stage == LOST], ["W", "L"], "O")
    segment = s.clients.segment[s.clients.position(client)]
    base = np.select([segment == "KEY", segment == "SMB", segment == "MIC"], [6000, 1800, 600], 250)
    amount = money(base * np.exp(rng.normal(0, 0.6, n)))
    titles = rng.choice(DEAL_TITLES, n)
    won = status == "W"
    s.won_waiting = s.won_waiting.then(WonDeals(did[won], client[won], closed_at[won]))
    deals = pd.DataFrame(
        {
            "id": did,
            "client_id": client,
            "title": titles,
            "stage_id": stage,
            "status_code": status,
            "lost_reason": np.where(status == "L", rng.choice(co.LOST_REASONS, n), NULL),
            "amount": amount,
            "owner_user_id": s.staff.id[owner_pos],
            "lead_id": lead_ref,
            "opened_at": to_datetime(opened),
            "expected_close_on": to_date(opened + rng.integers(14, 60, n) * DAY),
            "closed_at": to_datetime(closed_at),
            "is_deleted": rng.random(n) < 0.005,
            "created_at": to_datetime(opened),
            "updated_at": to_datetime(changed[last_seen]),
        }
    )
    if n:
        s.last_deal_id = int(did[-1])
    yield Batch(s.database, "deals", deals)
    yield Batch(s.database, "deal_stage_history", history)
