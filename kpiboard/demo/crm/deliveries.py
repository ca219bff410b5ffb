"""Deliveries of a month's invoices with goods, and the goods they take from the branch's stock.

The branch's drivers deliver on its routes a few working days after the invoice; better drivers
are less late. The goods leave the branch's warehouse two hours before the planned delivery (or,
when the client collects them, two hours after the invoice), which is the stock's demand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo.arrays import NULL, BoolArray, IntArray, choice_weighted
from kpiboard.demo.crm.invoices import Invoices
from kpiboard.demo.crm.state import BranchState
from kpiboard.demo.stock import Demand
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


def deliveries(
    s: BranchState, month: Month, rng: np.random.Generator, invoices: Invoices
) -> tuple[pd.DataFrame, BoolArray, IntArray]:
    """The deliveries table; which invoices are delivered, and when each is planned (or NAT)."""
    lines = invoices.lines
    n_inv = len(invoices.id)
    goods = s.products.is_good[lines.product].astype(float)
    has_goods = np.bincount(lines.invoice, weights=goods, minlength=n_inv) > 0
    deliver = has_goods & ~invoices.cancelled & (rng.random(n_inv) < 0.85)
    d_inv = np.flatnonzero(deliver)
    n = len(d_inv)
    drivers = s.staff.active("DR", month)
    d_pos = choice_weighted(rng, drivers, s.staff.skill[drivers], n)
    issued = invoices.issued[d_inv]
    planned = (
        workday_after(issued, rng.integers(1, 4, n)) // DAY * DAY + rng.integers(9, 17, n) * HOUR
    )
    late = (rng.exponential(1.0, n) * 3 * HOUR / s.staff.skill[d_pos]).astype(np.int64)
    failed = rng.random(n) < 0.03
    delivered = censor(np.where(failed, NAT, planned + late - HOUR))
    status = np.select([failed & (planned < END), happened(delivered)], ["FAIL", "DONE"], "PLAN")
    frame = pd.DataFrame(
        {
            "id": s.keys.take("deliveries", n),
            "invoice_id": invoices.id[d_inv],
            "driver_id": s.staff.id[d_pos],
            "route_code": rng.choice(np.array(s.branch.routes, dtype=object), n),
            "address": s.clients.address[invoices.client_pos[d_inv]],
            "planned_at": to_datetime(planned),
            "delivered_at": to_datetime(delivered),
            "status_code": status,
            "failure_reason": np.where(status == "FAIL", rng.choice(co.DELIVERY_FAILURES, n), NULL),
            "created_at": to_datetime(issued),
            "updated_at": to_datetime(
                np.maximum(issued, latest(np.where(planned < END, planned, NAT), delivered))
            ),
        }
    )
    planned_by_invoice = np.full(n_inv, NAT, dtype=np.int64)
    planned_by_invoice[d_inv] = planned
    return frame, deliver, planned_by_invoice


def add_demand(
    demand: Demand,
    s: BranchState,
    invoices: Invoices,
    deliver: BoolArray,
    planned: IntArray,
) -> None:
    """Add the goods on the month's invoices that are not cancelled to the stock's ``demand``."""
    lines = invoices.lines
    line_inv = lines.invoice
    good_line = s.products.is_good[lines.product] & ~invoices.cancelled[line_inv]
    ship_at = np.where(
        deliver[line_inv], planned[line_inv] - 2 * HOUR, invoices.issued[line_inv] + 2 * HOUR
    )
    numbers = invoices.frame["number"].to_numpy()[line_inv[good_line]]
    demand.add(
        warehouse=s.index + 2,
        product=s.products.product_id[lines.product[good_line]],
        qty=np.abs(lines.qty[good_line]),
        time=np.minimum(ship_at[good_line], END - HOUR),
        doc_ref=np.array([f"{s.branch.code}/{num}" for num in numbers], dtype=object),
    )
