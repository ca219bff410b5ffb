"""A branch's invoices for one month, their lines, and the payments they get.

Invoices come from three places: won deals that closed this month, repeat orders of existing
clients (key accounts order most), and finished repairs outside warranty. Most clients pay in full
around the due date (each client is late by its own habit), some in two parts, a few never — so
some invoices are unpaid at the end of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpiboard.demo.arrays import NULL, BoolArray, FloatArray, IntArray, choice_weighted, money
from kpiboard.demo.crm.service import ServiceRequests
from kpiboard.demo.crm.state import BranchState
from kpiboard.demo.dirt import ORPHAN_BASE
from kpiboard.demo.stock import price_factor
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

REPEAT_ORDERS_PER_MONTH = 1_500
"""Company-wide at scale 1, before seasonality and growth."""

DEAL, REPEAT, REPAIR = 0, 1, 2
"""Where an invoice comes from."""

PAYMENT_METHODS = np.array(["BANK", "CARD", "CASH"], dtype=object)


@dataclass(frozen=True)
class Sources:
    """What a month's invoices bill, one position per invoice.

    Won deals come first, then repeat orders, then repairs (see :data:`DEAL`).
    """

    client_pos: IntArray
    issued: IntArray
    origin: IntArray
    deal_id: FloatArray  # NaN unless the invoice bills a won deal


@dataclass(frozen=True)
class Lines:
    """A month's invoice lines, one position per line."""

    invoice: IntArray  # invoice position
    product: IntArray  # product position
    qty: FloatArray  # as sold (before any typing error)
    line_total: FloatArray  # as stored (a typed-in minus sign included)


@dataclass(frozen=True)
class Payments:
    """A month's payments in time order, one position per payment."""

    invoice: IntArray  # invoice position
    time: IntArray
    amount: FloatArray


@dataclass(frozen=True)
class Invoices:
    """A month's invoices: their three tables, and what deliveries and the stock need."""

    frame: pd.DataFrame
    items: pd.DataFrame
    payments: pd.DataFrame
    id: IntArray
    client_pos: IntArray
    issued: IntArray
    cancelled: BoolArray
    lines: Lines


def issue_invoices(
    s: BranchState, month: Month, rng: np.random.Generator, requests: ServiceRequests
) -> Invoices:
    """The month's invoices, lines and payments; billed repairs get their invoice id."""
    sources = _sources(s, month, rng, requests)
    n = len(sources.client_pos)
    inv_id = s.keys.take("invoices", n)
    repair_inv = np.flatnonzero(sources.origin == REPAIR)  # invoice positions, in the order of ...
    repair_sr = np.flatnonzero(requests.billable)  # ... the service requests they bill
    requests.invoice_id[repair_sr] = inv_id[repair_inv]
    lines, items = _lines(s, rng, sources, inv_id, requests, repair_inv, repair_sr)
    total = money(np.bincount(lines.invoice, weights=lines.line_total, minlength=n).astype(float))

    clients = s.clients
    client_pos, issued = sources.client_pos, sources.issued
    cancelled = (rng.random(n) < 0.02) & (sources.origin != REPAIR)
    terms = clients.terms[client_pos]
    due = issued // DAY * DAY + terms * DAY
    paid = _payments(rng, total, issued, due, terms, clients.payer[client_pos], cancelled)
    paid_sum = np.bincount(paid.invoice, weights=paid.amount, minlength=n)
    last_paid = np.full(n, NAT, dtype=np.int64)
    np.maximum.at(last_paid, paid.invoice, paid.time)
    status = np.select(
        [cancelled, paid_sum >= total - 0.005, paid_sum > 0], ["CANC", "PAID", "PART"], "ISS"
    )
    creator = clients.owner[client_pos].copy()
    creator[repair_inv] = s.staff.id[requests.engineer_pos[repair_sr]]
    contract = clients.contract[client_pos]
    issued_month = pd.to_datetime(issued, unit="s").strftime("%Y%m").to_numpy()
    cancelled_at = np.where(cancelled, np.minimum(issued + 2 * DAY, END - HOUR), NAT)
    invoices = pd.DataFrame(
        {
            "id": inv_id,
            "number": [
                f"{s.prefix}-{ym}-{k:06d}" for ym, k in zip(issued_month, inv_id, strict=True)
            ],
            "client_id": clients.id[client_pos],
            "deal_id": sources.deal_id,
            "contract_id": np.where(contract > 0, contract, np.nan),
            "issued_on": to_date(issued),
            "due_on": to_date(due),
            "status_code": status,
            "total_amount": total,
            "comment": np.where(sources.origin == REPAIR, "Repair, see service request", NULL),
            "created_by": creator,
            "is_deleted": np.zeros(n, bool),
            "created_at": to_datetime(issued),
            "updated_at": to_datetime(latest(issued, last_paid, cancelled_at)),
        }
    )
    s.dirt.orphan_reference(invoices, "invoices", "client_id", 0.002, ORPHAN_BASE)

    n_pay = len(paid.invoice)
    payments = pd.DataFrame(
        {
            "id": s.keys.take("payments", n_pay),
            "invoice_id": inv_id[paid.invoice],
            "paid_at": to_datetime(paid.time),
            "amount": paid.amount,
            "method_code": rng.choice(PAYMENT_METHODS, n_pay, p=[0.75, 0.2, 0.05]),
            "reference": [
                f"TX{int(t) % 10_000_000:07d}{k % 100:02d}"
                for t, k in zip(paid.time, paid.invoice, strict=True)
            ],
            "created_at": to_datetime(paid.time),
            "updated_at": to_datetime(paid.time),
        }
    )
    s.dirt.percent_as_amount(payments, "payments", 0.003, total[paid.invoice])
    return Invoices(invoices, items, payments, inv_id, client_pos, issued, cancelled, lines)


def _sources(
    s: BranchState, month: Month, rng: np.random.Generator, requests: ServiceRequests
) -> Sources:
    """Won deals that closed this month, repeat orders, and billable repairs."""
    won, s.won_waiting = s.won_waiting.closing_before(month.end)
    won_issue = censor(won.closed + rng.integers(0, 3, len(won.id)) * DAY)
    keep = happened(won_issue)
    n_rep = int(rng.poisson(s.volume(month, REPEAT_ORDERS_PER_MONTH)))
    active = s.clients.created_before(month.start)
    weights = np.select(
        [s.clients.segment[active] == "KEY", s.clients.segment[active] == "SMB"], [12.0, 3.0], 1.0
    )
    rep_pos = choice_weighted(rng, active, weights, n_rep) if len(active) else np.zeros(0, np.int64)
    billable = requests.billable
    n_won, n_repairs = int(keep.sum()), int(billable.sum())
    return Sources(
        client_pos=np.concatenate(
            [s.clients.position(won.client[keep]), rep_pos, requests.client_pos[billable]]
        ),
        issued=np.concatenate(
            [won_issue[keep], month.random_times(rng, n_rep), requests.returned[billable]]
        ),
        origin=np.concatenate(
            [np.full(n_won, DEAL), np.full(n_rep, REPEAT), np.full(n_repairs, REPAIR)]
        ),
        deal_id=np.concatenate([won.id[keep].astype(float), np.full(n_rep + n_repairs, np.nan)]),
    )


def _lines(
    s: BranchState,
    rng: np.random.Generator,
    sources: Sources,
    inv_id: IntArray,
    requests: ServiceRequests,
    repair_inv: IntArray,
    repair_sr: IntArray,
) -> tuple[Lines, pd.DataFrame]:
    """One to five lines of popular products per invoice, and their table.

    A repair's invoice bills its labour and, where one was fitted, the part.
    """
    p = s.products
    n_inv = len(inv_id)
    sold = np.flatnonzero(p.is_good | np.isin(p.category, ["Cartridge refill", "Delivery"]))
    n_lines = rng.integers(1, 6, n_inv)
    n_lines[repair_inv] = 1 + requests.part_fitted[repair_sr]
    line_inv = np.repeat(np.arange(n_inv), n_lines)
    line_no = np.arange(len(line_inv)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
    product = choice_weighted(rng, sold, p.demand[sold], len(line_inv))
    n = len(product)

    labour_sku = np.flatnonzero(p.name == "Repair labour, standard rate")[0]
    repair_lines = sources.origin[line_inv] == REPAIR
    sr_of_inv = np.full(n_inv, -1)
    sr_of_inv[repair_inv] = repair_sr
    sr_of_line = sr_of_inv[line_inv[repair_lines]]
    is_labour = line_no[repair_lines] == 1
    product[repair_lines] = np.where(is_labour, labour_sku, requests.part[sr_of_line])

    cat = p.category[product]
    qty = np.select(
        [
            cat == "Paper",
            np.isin(cat, ["Toner cartridges", "Ink cartridges", "Cartridge refill"]),
            np.isin(cat, ["Laser printers", "Inkjet printers", "Multifunction printers"]),
        ],
        [rng.integers(2, 60, n), rng.integers(1, 12, n), rng.integers(1, 3, n)],
        rng.integers(1, 4, n),
    ).astype(float)
    qty[repair_lines] = np.where(is_labour, requests.labour_hours[sr_of_line], 1.0)
    segment = s.clients.segment[sources.client_pos][line_inv]
    discount = np.select(
        [segment == "KEY", segment == "SMB"],
        [rng.choice([5.0, 10.0, 12.5, 15.0], n), rng.choice([0.0, 0.0, 3.0, 5.0], n)],
        0.0,
    )
    issued = sources.issued[line_inv]
    unit_price = money(p.list_price[product] * price_factor(issued))
    items = pd.DataFrame(
        {
            "id": s.keys.take("invoice_items", n),
            "invoice_id": inv_id[line_inv],
            "line_no": line_no,
            "sku": p.sku[product],
            "description": p.name[product],
            "qty": qty,
            "unit_price": unit_price,
            "discount_pct": discount,
            "line_total": money(qty * unit_price * (1 - discount / 100)),
            "created_at": to_datetime(issued),
            "updated_at": to_datetime(issued),
        }
    )
    s.dirt.negative_quantity(
        items, "invoice_items", 0.0012, eligible=~repair_lines, total="line_total"
    )
    lines = Lines(line_inv, product, qty, items["line_total"].to_numpy())
    return lines, items


def _payments(
    rng: np.random.Generator,
    total: FloatArray,
    issued: IntArray,
    due: IntArray,
    terms: IntArray,
    payer: FloatArray,
    cancelled: BoolArray,
) -> Payments:
    """Payments seen by the end of the data: most in full, some in two parts, a few never."""
    n = len(total)
    never = (rng.random(n) < 0.035) | cancelled
    split = ~never & (rng.random(n) < 0.12)
    first_paid = due + ((payer + rng.normal(0, 4, n)) * DAY).astype(np.int64) - terms * DAY // 2
    first_paid = np.maximum(first_paid, issued + HOUR)
    second_paid = first_paid + rng.integers(7, 45, n) * DAY
    first_part = money(total * np.round(rng.uniform(0.3, 0.7, n), 2))
    invoice = np.concatenate([np.flatnonzero(~never), np.flatnonzero(split)])
    time = censor(np.concatenate([first_paid[~never], second_paid[split]]))
    amount = np.concatenate(
        [np.where(split, first_part, total)[~never], total[split] - first_part[split]]
    )
    seen = happened(time) & (amount > 0)
    invoice, time, amount = invoice[seen], time[seen], money(amount[seen])
    order = np.argsort(time, kind="stable")
    return Payments(invoice[order], time[order], amount[order])
