"""One branch's CRM month: the order of its steps, and of the tables they write.

Every step draws from the branch's generator for the month, in this order — but the answers to the
month's leads (:mod:`.answers`), which have a generator of their own; the sales at the end also add
what the month's invoices take from the branch's warehouse to the stock's demand.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from kpiboard.demo.batch import Batch
from kpiboard.demo.crm.activity import activities_and_tasks
from kpiboard.demo.crm.answers import lead_answers
from kpiboard.demo.crm.contracts import contracts
from kpiboard.demo.crm.deliveries import add_demand, deliveries
from kpiboard.demo.crm.invoices import issue_invoices
from kpiboard.demo.crm.pipeline import leads_and_deals
from kpiboard.demo.crm.service import receive_requests, service_requests_frame
from kpiboard.demo.crm.state import BranchState
from kpiboard.demo.stock import Demand
from kpiboard.demo.timeline import Month


def branch_month(
    s: BranchState,
    month: Month,
    rng: np.random.Generator,
    answers_rng: np.random.Generator,
    demand: Demand,
) -> Iterator[Batch]:
    """All of one branch's CRM activity in ``month``; the answers to its leads are drawn from
    ``answers_rng``, everything else from ``rng``."""
    yield from leads_and_deals(s, month, rng)
    yield from activities_and_tasks(s, month, rng)
    yield lead_answers(s, answers_rng)
    yield from contracts(s, month, rng)
    yield from _sales(s, month, rng, demand)


def _sales(
    s: BranchState, month: Month, rng: np.random.Generator, demand: Demand
) -> Iterator[Batch]:
    """Service requests, invoices and payments, deliveries, and the stock's demand.

    Requests are drawn before the invoices (finished repairs are invoiced), but their table is
    written after them, once the invoice ids are known.
    """
    requests = receive_requests(s, month, rng)
    invoices = issue_invoices(s, month, rng, requests)
    yield Batch(s.database, "invoices", invoices.frame)
    yield Batch(s.database, "invoice_items", invoices.items)
    yield Batch(s.database, "payments", invoices.payments)
    yield Batch(s.database, "service_requests", service_requests_frame(s, requests, rng))
    delivered, deliver, planned = deliveries(s, month, rng, invoices)
    yield Batch(s.database, "deliveries", delivered)
    add_demand(demand, s, invoices, deliver, planned)
