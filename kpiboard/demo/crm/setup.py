"""A branch's CRM as it stood before the data starts: its staff, reference tables and clients."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo import ids
from kpiboard.demo.batch import Batch
from kpiboard.demo.crm.clients import new_clients
from kpiboard.demo.crm.state import BranchState, Staff
from kpiboard.demo.timeline import DAY, HOUR, NAT, to_date, to_datetime

INITIAL_CLIENTS = 2_400
"""Clients the company already had when the data starts, at scale 1."""


def set_up_branch(s: BranchState, rng: np.random.Generator, start: int) -> Iterator[Batch]:
    """Users, lead channels, pipeline stages and the initial clients; ``start``: the first day."""
    s.staff, users = _hire_staff(s, rng, start)
    yield Batch(s.database, "users", users)
    yield Batch(s.database, "lead_channels", _lead_channels())
    yield Batch(s.database, "pipeline_stages", _pipeline_stages())

    n_clients = max(20, round(INITIAL_CLIENTS * s.branch.weight * s.scale))
    created = (
        start
        - rng.integers(1, 2500, n_clients) * DAY
        + rng.integers(9 * HOUR, 17 * HOUR, n_clients)
    )
    yield from new_clients(s, rng, np.sort(created))


def _hire_staff(s: BranchState, rng: np.random.Generator, start: int) -> tuple[Staff, pd.DataFrame]:
    """The branch's employees over the whole period, and their users table.

    About 40 people at scale 1 and below; benchmark scales grow the staff more slowly than the
    business. One sales manager leaves during the period and is replaced.
    """
    size = s.branch.weight / co.BRANCHES[0].weight * math.sqrt(max(s.scale, 1.0))
    roles: list[str] = []
    for code, count in co.ROLE_HEADCOUNT.items():
        roles += [code] * max(1, round(count * size))
    if s.index == 0:
        roles += ["EX", "AN"]
    n = len(roles)
    hired = start - rng.integers(60, 3000, n) * DAY
    left = np.full(n, NAT, dtype=np.int64)
    sales = [i for i, r in enumerate(roles) if r == "SM"]
    if len(sales) >= 2:
        quitter = sales[int(rng.integers(0, len(sales)))]
        left_at = start + int(rng.integers(150, 500)) * DAY
        left[quitter] = left_at
        roles.append("SM")
        hired = np.append(hired, left_at + int(rng.integers(10, 40)) * DAY)
        left = np.append(left, NAT)
    n = len(roles)
    uid = s.keys.take("users", n)
    first_names = rng.choice(co.FIRST_NAMES, n)
    last_names = rng.choice(co.LAST_NAMES, n)
    full = np.array(
        [f"{f} {ln}" for f, ln in zip(first_names, last_names, strict=True)], dtype=object
    )
    login = np.array(
        [
            f"{f[0].lower()}{ln.lower()}{i}"
            for f, ln, i in zip(first_names, last_names, uid, strict=True)
        ],
        dtype=object,
    )
    role = np.array(roles, dtype=object)
    staff = Staff(
        id=uid, role=role, login=login, skill=np.exp(rng.normal(0, 0.35, n)), hired=hired, left=left
    )
    # everyone reports to the branch head; the head and the executive report to no one here
    head = uid[role == "HD"][0]
    manager = np.where(np.isin(role, ["HD", "EX"]), np.nan, float(head))
    created = np.maximum(hired - 5 * DAY, start - 3000 * DAY)
    users = pd.DataFrame(
        {
            "id": uid,
            "login": login,
            "full_name": full,
            "email": [f"{lg}@brightline-office.com" for lg in login],
            "phone": ids.phone_numbers(s.branch.area_code, ids.USER, uid, np.zeros(n, np.int64)),
            "role_code": role,
            "manager_id": manager,
            "hired_on": to_date(hired),
            "fired_on": to_date(left),
            "is_active": left == NAT,
            "created_at": to_datetime(created),
            "updated_at": to_datetime(np.where(left == NAT, created, left)),
        }
    )
    return staff, users


def _lead_channels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": [c[0] for c in co.LEAD_CHANNELS],
            "name": [c[1] for c in co.LEAD_CHANNELS],
            "is_paid": [c[2] for c in co.LEAD_CHANNELS],
        }
    )


def _pipeline_stages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.arange(1, len(co.PIPELINE_STAGES) + 1),
            "code": [p[0] for p in co.PIPELINE_STAGES],
            "name": [p[1] for p in co.PIPELINE_STAGES],
            "sort_order": np.arange(1, len(co.PIPELINE_STAGES) + 1) * 10,
            "probability_pct": [p[2] for p in co.PIPELINE_STAGES],
            "is_final": [p[3] for p in co.PIPELINE_STAGES],
        }
    )
