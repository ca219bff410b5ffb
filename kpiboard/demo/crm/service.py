"""A branch's repair service for one month: printers received, diagnosed, repaired and returned.

Requests are drawn first (:func:`receive_requests`), because finished non-warranty repairs are
invoiced; their table is built once the invoices are known (:func:`service_requests_frame`).
Better engineers diagnose and repair faster; a repair waiting for parts takes days longer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo.arrays import NULL, BoolArray, FloatArray, IntArray, ObjArray, choice_weighted
from kpiboard.demo.crm.state import BranchState
from kpiboard.demo.timeline import (
    DAY,
    HOUR,
    NAT,
    Month,
    censor,
    happened,
    latest,
    to_datetime,
)

SERVICE_REQUESTS_PER_MONTH = 780
"""Company-wide at scale 1, before seasonality and growth."""

SPARE_PARTS = ("Rollers and pads", "Boards and sensors", "Drums and fusers")
PRINTERS = ("Laser printers", "Inkjet printers", "Multifunction printers")


@dataclass
class ServiceRequests:
    """A month's service requests, one position per request."""

    id: IntArray
    client_pos: IntArray
    engineer_pos: IntArray
    warranty: BoolArray
    sla_hours: IntArray
    received: IntArray
    diagnosed: IntArray
    repaired: IntArray
    returned: IntArray
    status: ObjArray
    labour_hours: FloatArray  # NaN until repaired
    part_fitted: BoolArray
    part: IntArray  # product position of the part, where one is fitted
    parts_cost: FloatArray  # NaN where no part is fitted
    invoice_id: FloatArray  # NaN until a repair is invoiced

    @property
    def billable(self) -> BoolArray:
        """Returned repairs outside warranty: the client pays for them."""
        return happened(self.returned) & ~self.warranty


def receive_requests(s: BranchState, month: Month, rng: np.random.Generator) -> ServiceRequests:
    """The month's requests, with how far each got by the end of the data."""
    n = int(rng.poisson(s.volume(month, SERVICE_REQUESTS_PER_MONTH)))
    sr_id = s.keys.take("service_requests", n)
    received = month.random_times(rng, n)
    engineers = s.staff.active("SE", month)
    eng_pos = choice_weighted(rng, engineers, s.staff.skill[engineers], n)
    skill = s.staff.skill[eng_pos]
    warranty = rng.random(n) < 0.22
    sla = np.where(warranty, 72, np.where(rng.random(n) < 0.3, 24, 48))
    diagnosed = censor(received + (rng.exponential(10, n) * HOUR / skill).astype(np.int64) + HOUR)
    waits_parts = rng.random(n) < 0.18
    repair_hours = rng.gamma(2.0, 10, n) / skill + np.where(waits_parts, rng.uniform(48, 240, n), 0)
    cancelled = rng.random(n) < 0.03
    repaired = censor(
        np.where(
            happened(diagnosed) & ~cancelled,
            diagnosed + (repair_hours * HOUR).astype(np.int64),
            NAT,
        )
    )
    returned = censor(
        np.where(
            happened(repaired),
            repaired + (rng.exponential(1.5, n) * DAY).astype(np.int64) + HOUR,
            NAT,
        )
    )
    status = np.select(
        [
            cancelled & happened(diagnosed),
            happened(returned),
            happened(repaired),
            happened(diagnosed) & waits_parts,
            happened(diagnosed),
        ],
        ["CANC", "RET", "DONE", "WAIT", "REP"],
        np.where(diagnosed == NAT, "NEW", "DIAG"),
    )
    labour = np.where(happened(repaired), np.round(rng.gamma(2.0, 0.8, n) + 0.25, 2), np.nan)
    part_fitted = happened(repaired) & (rng.random(n) < 0.55)
    part = rng.choice(s.products.in_categories(*SPARE_PARTS), n)
    client_pos = rng.choice(s.clients.created_before(month.end), n)
    return ServiceRequests(
        id=sr_id,
        client_pos=client_pos,
        engineer_pos=eng_pos,
        warranty=warranty,
        sla_hours=sla,
        received=received,
        diagnosed=diagnosed,
        repaired=repaired,
        returned=returned,
        status=status,
        labour_hours=labour,
        part_fitted=part_fitted,
        part=part,
        parts_cost=np.where(part_fitted, s.products.list_price[part], np.nan),
        invoice_id=np.full(n, np.nan),
    )


def service_requests_frame(
    s: BranchState, requests: ServiceRequests, rng: np.random.Generator
) -> pd.DataFrame:
    """The requests' table: the printer, its problem and diagnosis, and the dates."""
    r = requests
    n = len(r.id)
    model_pos = rng.choice(s.products.in_categories(*PRINTERS), n)
    problem = rng.choice(co.EQUIPMENT_PROBLEMS, n)
    diagnosis = np.where(happened(r.diagnosed), rng.choice(co.DIAGNOSES, n), NULL)
    frame = pd.DataFrame(
        {
            "id": r.id,
            "number": [f"SR-{s.prefix}-{k:06d}" for k in r.id],
            "client_id": s.clients.id[r.client_pos],
            "equipment_model": s.products.name[model_pos],
            "serial_no": [f"SN{int(x):010d}" for x in rng.integers(0, 10**10, n)],
            "problem": problem,
            "diagnosis": diagnosis,
            "engineer_id": s.staff.id[r.engineer_pos],
            "status_code": r.status,
            "is_warranty": r.warranty,
            "sla_hours": r.sla_hours,
            "received_at": to_datetime(r.received),
            "diagnosed_at": to_datetime(r.diagnosed),
            "repaired_at": to_datetime(r.repaired),
            "returned_at": to_datetime(r.returned),
            "labour_hours": r.labour_hours,
            "parts_cost": r.parts_cost,
            "invoice_id": r.invoice_id,
            "is_deleted": np.zeros(n, bool),
            "created_at": to_datetime(r.received),
            "updated_at": to_datetime(latest(r.received, r.diagnosed, r.repaired, r.returned)),
        }
    )
    s.dirt.closed_before_opened(frame, "service_requests", "received_at", "returned_at", 0.002)
    # only requests still open: a returned one would also look closed before it was opened
    open_requests = frame["returned_at"].isna().to_numpy()
    s.dirt.future_date(frame, "service_requests", "received_at", 0.05, eligible=open_requests)
    return frame
