"""Deliveries of a month's invoices with goods, and the goods they take from the branch's stock.

The branch's drivers deliver on its routes a few working days after the invoice; better drivers are
less late. Each delivery records its driving distance from the branch's stock room (a few drivers
leave it empty now and then) and when the van left. The goods leave the branch's warehouse two
hours before the planned delivery (or, when the client collects them, two hours after the invoice),
which is the stock's demand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo import ids
from kpiboard.demo.arrays import NULL, BoolArray, FloatArray, IntArray, choice_weighted
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
    arrival = planned + late - HOUR
    delivered = censor(np.where(failed, NAT, arrival))
    status = np.select([failed & (planned < END), happened(delivered)], ["FAIL", "DONE"], "PLAN")
    route = rng.choice(np.arange(len(s.branch.routes)), n)
    failure = np.where(status == "FAIL", rng.choice(co.DELIVERY_FAILURES, n), NULL)
    client_pos = invoices.client_pos[d_inv]
    # drawn after everything else, so that the other columns are what they were without them
    km = _distances(s, rng, route, s.clients.id[client_pos])
    departed = _departures(rng, planned, arrival, km)
    typed = rng.random(n) >= 0.03 / s.staff.skill[d_pos]  # some drivers leave it empty
    frame = pd.DataFrame(
        {
            "id": s.keys.take("deliveries", n),
            "invoice_id": invoices.id[d_inv],
            "driver_id": s.staff.id[d_pos],
            "route_code": np.array(s.branch.routes, dtype=object)[route],
            "address": s.clients.address[client_pos],
            "planned_at": to_datetime(planned),
            "distance_km": np.where(typed, km, np.nan),
            "departed_at": to_datetime(departed),
            "delivered_at": to_datetime(delivered),
            "status_code": status,
            "failure_reason": failure,
            "created_at": to_datetime(issued),
            "updated_at": to_datetime(
                np.maximum(
                    issued, latest(np.where(planned < END, planned, NAT), departed, delivered)
                )
            ),
        }
    )
    planned_by_invoice = np.full(n_inv, NAT, dtype=np.int64)
    planned_by_invoice[d_inv] = planned
    return frame, deliver, planned_by_invoice


def _distances(
    s: BranchState, rng: np.random.Generator, route: IntArray, client_id: IntArray
) -> FloatArray:
    """Driving kilometres from the branch's stock room to each client, on its route.

    A route has a typical distance (:attr:`kpiboard.demo.company.Branch.route_km`); each client
    sits nearer or farther than that, the same every time, and the day's detours add a little.
    """
    typical = np.array(s.branch.route_km)[route]
    where = 0.35 + 1.3 * ids.scramble(client_id, 1_000, salt=41 + s.index) / 1_000
    detour = rng.lognormal(0.0, 0.08, len(route))
    return np.asarray(np.round(np.clip(typical * where * detour, 1.5, 80), 1), dtype=np.float64)


def _departures(
    rng: np.random.Generator, planned: IntArray, arrival: IntArray, km: FloatArray
) -> IntArray:
    """When the van left with each delivery: the drive before its arrival (at 30-55 km/h), never
    before the goods left the stock two hours before the planned time. Failed deliveries left
    too; a delivery still planned at the end of the data has not, unless it is on its way.
    """
    drive = (km / rng.uniform(30, 55, len(km)) * HOUR).astype(np.int64)
    return censor(np.maximum(arrival - drive, planned - 2 * HOUR + 10 * 60))


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
