"""New clients of a branch — from its initial base or from converted leads — and their contacts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo import ids
from kpiboard.demo.arrays import NULL, BoolArray, IntArray, ObjArray
from kpiboard.demo.batch import Batch
from kpiboard.demo.crm.state import BranchState, Clients
from kpiboard.demo.timeline import DAY, END, HOUR, to_datetime

CHANNEL_CODES = np.array([c[0] for c in co.LEAD_CHANNELS], dtype=object)
CHANNEL_SHARES = [c[3] for c in co.LEAD_CHANNELS]

CONTACT_POSITIONS = [
    "Office manager",
    "Director",
    "Accountant",
    "IT administrator",
    "Procurement",
]


@dataclass(frozen=True)
class ConvertedLeads:
    """The leads new clients come from: a converted lead keeps its channel, phone and email."""

    id: IntArray
    channel: ObjArray
    phone: ObjArray  # None where the lead left none
    email: ObjArray


def new_clients(
    s: BranchState,
    rng: np.random.Generator,
    created: IntArray,
    leads: ConvertedLeads | None = None,
) -> Iterator[Batch]:
    """Clients created at ``created`` (in time order) and their contacts; remembered in ``s``.

    Without ``leads`` they are the branch's initial clients, and their channel is drawn.
    """
    n = len(created)
    if n == 0:
        return
    cid = s.keys.take("clients", n)
    segment = rng.choice(
        np.array([c for c, _ in co.SEGMENTS], dtype=object), n, p=[w for _, w in co.SEGMENTS]
    )
    is_company = segment != "PRV"
    form = rng.choice(co.COMPANY_FORMS, n)
    first = rng.choice(co.FIRST_NAMES, n)
    last = rng.choice(co.LAST_NAMES, n)
    names = _client_names(s, cid, is_company, form, first, last)
    slug = ids.slugs(names)
    emails = np.array(
        [
            f"info@{sl}.com" if c else f"{f.lower()}.{la.lower()}{k}@mail.com"
            for sl, c, f, la, k in zip(slug, is_company, first, last, cid, strict=True)
        ],
        dtype=object,
    )
    phones = ids.phone_numbers(s.branch.area_code, ids.CLIENT, cid, rng.integers(0, 3, n))
    if leads is not None:
        phones = np.where(pd.notna(leads.phone), leads.phone, phones)
        emails = np.where(pd.notna(leads.email) & ~is_company, leads.email, emails)
    tax = np.where(is_company, ids.tax_ids(s.index, ids.CLIENT, cid), NULL)
    owner = rng.choice(s.staff.id[s.staff.role == "SM"], n)
    address = np.array(
        [
            f"{int(k)} {st}, {s.branch.city}, {s.branch.state} {s.branch.zip_prefix}{int(z):02d}"
            for k, st, z in zip(
                rng.integers(10, 9999, n),
                rng.choice(co.STREETS, n),
                rng.integers(1, 99, n),
                strict=True,
            )
        ],
        dtype=object,
    )
    channel = rng.choice(CHANNEL_CODES, n, p=CHANNEL_SHARES) if leads is None else leads.channel
    deleted = rng.random(n) < 0.01
    updated = np.minimum(created + rng.exponential(200, n).astype(np.int64) * DAY, END - HOUR)
    updated = np.maximum(updated, created)
    clients = pd.DataFrame(
        {
            "id": cid,
            "client_type": np.where(is_company, "C", "P"),
            "name": names,
            "tax_id": tax,
            "industry": np.where(is_company, rng.choice(co.INDUSTRIES, n), NULL),
            "segment_code": segment,
            "city": s.branch.city,
            "address": address,
            "phone": phones,
            "email": emails,
            "source_code": channel,
            "lead_id": np.full(n, np.nan) if leads is None else leads.id,
            "responsible_user_id": owner,
            "notes": np.where(rng.random(n) < 0.1, "Prefers invoices by email", NULL),
            "is_deleted": deleted,
            "created_at": to_datetime(created),
            "updated_at": to_datetime(updated),
        }
    )
    s.dirt.malformed_phone(clients, "clients", 0.006)
    s.dirt.malformed_email(clients, "clients", 0.006)
    s.dirt.malformed_tax_id(clients, "clients", 0.004)
    dups = s.dirt.duplicate_clients(clients, 0.008, s.keys.peek("clients"), created)
    s.keys.take("clients", len(dups))
    yield Batch(s.database, "clients", pd.concat([clients, dups], ignore_index=True))

    s.clients.add(
        Clients(
            id=cid,
            created=created,
            segment=segment,
            owner=owner,
            address=address,
            terms=np.select([segment == "KEY", segment == "SMB"], [45, 30], 14),
            payer=np.where(rng.random(n) < 0.7, rng.uniform(-5, 5, n), rng.uniform(10, 55, n)),
            contract=np.zeros(n, np.int64),
        )
    )
    contacts = _contacts(s, rng, cid, is_company, slug, created, updated)
    if contacts is not None:
        yield Batch(s.database, "contacts", contacts)


def _client_names(
    s: BranchState,
    cid: IntArray,
    is_company: BoolArray,
    form: ObjArray,
    first: ObjArray,
    last: ObjArray,
) -> ObjArray:
    """Company names, distinct within a branch, and private clients' full names.

    A company's name is an index into all combinations of two words and a noun, scrambled; past
    all combinations the name gets a number: "Summit Dental 2 LLC".
    """
    combos = len(co.COMPANY_WORDS) ** 2 * len(co.COMPANY_NOUNS)
    pick = ids.scramble((cid + 1000 * s.index) % combos, combos, salt=11)
    edition = (cid + 1000 * s.index) // combos
    w1 = pick % len(co.COMPANY_WORDS)
    w2 = pick // len(co.COMPANY_WORDS) % len(co.COMPANY_WORDS)
    noun = pick // len(co.COMPANY_WORDS) ** 2
    names = np.empty(len(cid), dtype=object)
    for i in range(len(cid)):
        if is_company[i]:
            a, b = co.COMPANY_WORDS[w1[i]], co.COMPANY_WORDS[w2[i]]
            base = a if a == b else f"{a} {b}"
            number = f" {edition[i] + 1}" if edition[i] else ""
            names[i] = f"{base} {co.COMPANY_NOUNS[noun[i]]}{number} {form[i]}"
        else:
            names[i] = f"{first[i]} {last[i]}"
    return names


def _contacts(
    s: BranchState,
    rng: np.random.Generator,
    cid: IntArray,
    is_company: BoolArray,
    slug: ObjArray,
    created: IntArray,
    updated: IntArray,
) -> pd.DataFrame | None:
    """One to three contact people per company client (private clients have none)."""
    per = np.where(is_company, rng.integers(1, 4, len(cid)), 0)
    owner_pos = np.repeat(np.arange(len(cid)), per)
    m = len(owner_pos)
    if m == 0:
        return None
    kid = s.keys.take("contacts", m)
    f = rng.choice(co.FIRST_NAMES, m)
    la = rng.choice(co.LAST_NAMES, m)
    contacts = pd.DataFrame(
        {
            "id": kid,
            "client_id": cid[owner_pos],
            "first_name": f,
            "last_name": la,
            "position": rng.choice(CONTACT_POSITIONS, m),
            "phone": ids.phone_numbers(s.branch.area_code, ids.CONTACT, kid, rng.integers(0, 3, m)),
            "email": [
                f"{a.lower()}.{b.lower()}@{d}.com"
                for a, b, d in zip(f, la, slug[owner_pos], strict=True)
            ],
            "is_primary": np.r_[True, owner_pos[1:] != owner_pos[:-1]],
            "is_deleted": rng.random(m) < 0.02,
            "created_at": to_datetime(created[owner_pos]),
            "updated_at": to_datetime(updated[owner_pos]),
        }
    )
    s.dirt.malformed_email(contacts, "contacts", 0.003)
    return contacts
