"""Contracts a branch signs in one month with its key and small-business clients."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from kpiboard.demo.arrays import money
from kpiboard.demo.batch import Batch
from kpiboard.demo.crm.state import BranchState
from kpiboard.demo.timeline import DAY, Month, to_date, to_datetime

CONTRACTS_PER_MONTH = 110
"""Company-wide at scale 1, before seasonality and growth."""

CONTRACT_KINDS = np.array(["SUP", "MNT", "SRV"], dtype=object)


def contracts(s: BranchState, month: Month, rng: np.random.Generator) -> Iterator[Batch]:
    """The month's contracts: each with a client that had none, for a year.

    The client's later invoices refer to the contract.
    """
    n = int(rng.poisson(s.volume(month, CONTRACTS_PER_MONTH)))
    clients = s.clients
    eligible = np.flatnonzero(
        np.isin(clients.segment, ["KEY", "SMB"])
        & (clients.contract == 0)
        & (clients.created < month.start)
    )
    n = min(n, len(eligible))
    if n == 0:
        return
    pos = rng.choice(eligible, n, replace=False)
    kid = s.keys.take("contracts", n)
    clients.contract[pos] = kid
    signed = month.random_times(rng, n)
    kind = rng.choice(CONTRACT_KINDS, n, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame(
        {
            "id": kid,
            "number": [f"{s.prefix}-C{k:05d}" for k in kid],
            "client_id": clients.id[pos],
            "kind_code": kind,
            "signed_on": to_date(signed),
            "valid_until": to_date(signed + 365 * DAY),
            "amount": np.where(kind == "SUP", np.nan, money(rng.uniform(1200, 24000, n))),
            "payment_terms_days": clients.terms[pos],
            "is_deleted": np.zeros(n, bool),
            "created_at": to_datetime(signed),
            "updated_at": to_datetime(signed + rng.integers(0, 5, n) * DAY),
        }
    )
    yield Batch(s.database, "contracts", frame)
