"""The demo company's operational data, generated month by month.

:func:`generate` yields :class:`Batch` es — a frame of rows for one table of one database — in an
order that a writer can stream: first the stock catalog, then each branch's CRM set-up (users,
reference tables, the clients it already had), then, for each of the 24 months, every branch's CRM
activity followed by the month's stock movements. Only small state crosses months (clients, open
stock, the employees), so memory stays bounded by one month's rows whatever the scale.

Everything is drawn from ``numpy`` generators seeded by ``(seed, branch, month, stream)``, so a seed
gives the same rows on every run and every database engine.

What the data shows, on purpose: seasonality and growth; employees of uneven skill (more calls,
better win rates, faster repairs); leads converting into clients and deals moving through the
pipeline; overdue tasks and unpaid invoices at the reference date; stock-outs of products whose
reorder point is set too low; and the dirt of :mod:`kpiboard.demo.dirt`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo import ids
from kpiboard.demo.dirt import Defect, Dirt
from kpiboard.demo.timeline import (
    DAY,
    END,
    HOUR,
    NAT,
    Month,
    censor,
    epoch,
    happened,
    latest,
    months,
    to_date,
    to_datetime,
    workday_after,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

NULL = np.array(None, dtype=object)
"""``None`` as an array, for ``np.where`` on nullable text columns."""

ORPHAN_BASE = 900_000
"""Ids from here up never exist: orphan references injected as dirt point there."""

# Company-wide volumes per month at scale 1 (before seasonality and growth).
LEADS_PER_MONTH = 1_450
DEALS_FROM_CLIENTS_PER_MONTH = 700
REPEAT_ORDERS_PER_MONTH = 1_500
SERVICE_REQUESTS_PER_MONTH = 780
CONTRACTS_PER_MONTH = 110
INITIAL_CLIENTS = 2_400
ACTIVITIES_PER_SALES_DAY = 40.0
TASKS_PER_SALES_DAY = 6.0


@dataclass(frozen=True)
class Batch:
    """Rows for one table of one database; columns in the table's order."""

    database: str
    table: str
    frame: pd.DataFrame


@dataclass
class Products:
    """The stock catalog as arrays, shared by every branch's invoices."""

    product_id: IntArray
    sku: ObjArray
    name: ObjArray
    category: ObjArray
    is_good: BoolArray
    list_price: FloatArray
    purchase_price: FloatArray
    demand: FloatArray  # relative chance to appear on an invoice line
    supplier_index: IntArray
    reorder_factor: FloatArray  # below ~1 the product runs out now and then

    def by_category(self, category: str) -> IntArray:
        return np.flatnonzero(self.category == category)


@dataclass
class BranchState:
    """What one branch's CRM remembers from month to month."""

    index: int
    branch: co.Branch
    rng_key: int
    next_id: dict[str, int] = field(default_factory=dict)
    user_id: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    user_role: ObjArray = field(default_factory=lambda: np.zeros(0, object))
    user_login: ObjArray = field(default_factory=lambda: np.zeros(0, object))
    user_skill: FloatArray = field(default_factory=lambda: np.zeros(0))
    user_hired: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    user_left: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    client_id: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    client_created: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    client_segment: ObjArray = field(default_factory=lambda: np.zeros(0, object))
    client_owner: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    client_address: ObjArray = field(default_factory=lambda: np.zeros(0, object))
    client_terms: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    client_payer: FloatArray = field(default_factory=lambda: np.zeros(0))  # mean days late
    client_contract: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    deal_ids_seen: int = 0
    # won deals waiting for the month they close in: (deal id, client id, closed at)
    pending_won: list[tuple[IntArray, IntArray, IntArray]] = field(default_factory=list)

    def recent_deals(
        self, rng: np.random.Generator, n: int, share: float, window: int
    ) -> FloatArray:
        """For ``share`` of ``n`` rows, one of the last ``window`` deals; NaN for the rest."""
        if self.deal_ids_seen == 0:
            return np.full(n, np.nan)
        deal = rng.integers(max(1, self.deal_ids_seen - window), self.deal_ids_seen + 1, n)
        return np.where(rng.random(n) < share, deal, np.nan)

    def take_ids(self, table: str, n: int) -> IntArray:
        start = self.next_id.get(table, 1)
        self.next_id[table] = start + n
        return np.arange(start, start + n, dtype=np.int64)

    def active(self, role: str, month: Month) -> IntArray:
        """Positions of the users of ``role`` employed during ``month``."""
        return np.flatnonzero(
            (self.user_role == role)
            & (self.user_hired < month.end)
            & ((self.user_left == NAT) | (self.user_left >= month.start))
        )


@dataclass
class Demand:
    """Goods a month's invoices need from a warehouse, in time order (for stock)."""

    warehouse: list[IntArray] = field(default_factory=list)
    product: list[IntArray] = field(default_factory=list)
    qty: list[FloatArray] = field(default_factory=list)
    time: list[IntArray] = field(default_factory=list)
    doc_ref: list[ObjArray] = field(default_factory=list)

    def add(
        self, warehouse: int, product: IntArray, qty: FloatArray, time: IntArray, doc_ref: ObjArray
    ) -> None:
        self.warehouse.append(np.full(len(product), warehouse, dtype=np.int64))
        self.product.append(product)
        self.qty.append(qty)
        self.time.append(time)
        self.doc_ref.append(doc_ref)


def _frame(columns: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _choice_weighted(
    rng: np.random.Generator, options: IntArray, weights: FloatArray, n: int
) -> IntArray:
    p = weights / weights.sum()
    return rng.choice(options, size=n, p=p)


def _money(x: FloatArray) -> FloatArray:
    return np.round(x, 2)


class DemoGenerator:
    """Generates the demo company for one seed and scale; iterate :meth:`batches`."""

    def __init__(self, seed: int = 42, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.seed = seed
        self.scale = scale
        self.months = months()
        self.defects: list[Defect] = []
        self.branches = [BranchState(i, b, rng_key=100 + i) for i, b in enumerate(co.BRANCHES)]
        self.stock_next: dict[str, int] = {}
        self.stock_dirt = Dirt(co.STOCK_DATABASE, _rng(seed, 9_999))
        self.crm_dirt = [Dirt(b.database, _rng(seed, 9_000 + i)) for i, b in enumerate(co.BRANCHES)]

    # -- the whole run -------------------------------------------------------------------------

    def batches(self) -> Iterator[Batch]:
        yield from self._stock_catalog()
        for state in self.branches:
            yield from self._branch_setup(state)
        self._stock_init()
        for month in self.months:
            demand = Demand()
            for state in self.branches:
                yield from self._branch_month(state, month, demand)
            yield from self._stock_month(month, demand)
        self.defects = [d for dirt in (*self.crm_dirt, self.stock_dirt) for d in dirt.defects]

    # -- stock catalog --------------------------------------------------------------------------

    def _stock_catalog(self) -> Iterator[Batch]:
        rng = _rng(self.seed, 1)
        start = epoch(co.REFERENCE_DATE.replace(year=co.REFERENCE_DATE.year - 6))
        db = co.STOCK_DATABASE

        names = [c for c, _ in co.CATEGORY_TREE]
        cat_id = {c: i + 1 for i, c in enumerate(names)}
        yield Batch(
            db,
            "categories",
            _frame(
                {
                    "id": np.arange(1, len(names) + 1),
                    "parent_id": [cat_id[p] if p else None for _, p in co.CATEGORY_TREE],
                    "name": names,
                }
            ),
        )

        n_sup = len(co.SUPPLIERS)
        sup_seq = np.arange(n_sup, dtype=np.int64)
        sup_created = start + rng.integers(0, 400, n_sup) * DAY
        self.supplier_lead_days = rng.integers(4, 22, n_sup)
        self.supplier_ids = np.arange(1, n_sup + 1)
        sup_slug = ids.slugs(np.array(co.SUPPLIERS, dtype=object))
        yield Batch(
            db,
            "suppliers",
            _frame(
                {
                    "id": self.supplier_ids,
                    "name": co.SUPPLIERS,
                    "tax_id": ids.tax_ids(7, ids.SUPPLIER, sup_seq),
                    "city": rng.choice(
                        ["Denver", "Dallas", "Phoenix", "Seattle", "Chicago", "Salt Lake City"],
                        n_sup,
                    ),
                    "phone": ids.phone_numbers(
                        "800", ids.SUPPLIER, sup_seq, np.zeros(n_sup, np.int64)
                    ),
                    "email": [f"orders@{s}.com" for s in sup_slug],
                    "lead_time_days": self.supplier_lead_days,
                    "is_active": np.ones(n_sup, bool),
                    "created_at": to_datetime(sup_created),
                    "updated_at": to_datetime(sup_created + rng.integers(0, 900, n_sup) * DAY),
                }
            ),
        )

        rows: list[tuple[str, str, str, str, float, float, float, int]] = []
        for line in co.PRODUCT_LINES:
            items: list[str] = list(line.plain)
            for brand in co.PRINTER_BRANDS:
                for k in range(line.per_brand):
                    model = f"{brand[:2].upper()}{100 + 37 * k + len(brand) * 11}"
                    items.append(f"{line.category.rstrip('s')} {brand} {model}")
            for item in items:
                lo, hi = line.price
                price = round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 0) - 0.01
                share = rng.uniform(*line.margin)
                popularity = float(rng.pareto(1.6) + 0.2)
                rows.append(
                    (
                        item,
                        line.category,
                        line.kind,
                        line.unit,
                        price,
                        round(price * share, 2),
                        line.demand * popularity,
                        0,
                    )
                )
        n = len(rows)
        pid = np.arange(1, n + 1, dtype=np.int64)
        kind = np.array([r[2] for r in rows], dtype=object)
        is_good = kind == "G"
        supplier_index = rng.integers(0, n_sup, n)
        prefix = {c: "".join(w[0] for w in c.split()).upper()[:3] for c, _ in co.CATEGORY_TREE}
        sku = np.array([f"{prefix[r[1]]}-{1000 + i:04d}" for i, r in enumerate(rows)], dtype=object)
        reorder = np.where(
            rng.random(n) < 0.12, rng.uniform(0.15, 0.5, n), rng.uniform(1.1, 1.6, n)
        )
        self.products = Products(
            product_id=pid,
            sku=sku,
            name=np.array([r[0] for r in rows], dtype=object),
            category=np.array([r[1] for r in rows], dtype=object),
            is_good=is_good,
            list_price=np.array([r[4] for r in rows]),
            purchase_price=np.array([r[5] for r in rows]),
            demand=np.array([r[6] for r in rows]),
            supplier_index=supplier_index,
            reorder_factor=reorder,
        )
        created = start + rng.integers(0, 800, n) * DAY
        yield Batch(
            db,
            "products",
            _frame(
                {
                    "id": pid,
                    "sku": sku,
                    "name": self.products.name,
                    "category_id": [cat_id[r[1]] for r in rows],
                    "kind": kind,
                    "unit": [r[3] for r in rows],
                    "purchase_price": np.where(
                        self.products.purchase_price > 0, self.products.purchase_price, np.nan
                    ),
                    "list_price": self.products.list_price,
                    "supplier_id": np.where(is_good, self.supplier_ids[supplier_index], np.nan),
                    "min_stock": np.where(is_good, rng.integers(2, 40, n), np.nan),
                    "is_archived": rng.random(n) < 0.03,
                    "created_at": to_datetime(created),
                    "updated_at": to_datetime(
                        np.minimum(created + rng.integers(0, 1500, n) * DAY, END - DAY)
                    ),
                }
            ),
        )

        codes = ["CEN", *[b.code[:3].upper() for b in co.BRANCHES]]
        yield Batch(
            db,
            "warehouses",
            _frame(
                {
                    "id": np.arange(1, len(codes) + 1),
                    "code": codes,
                    "name": ["Central warehouse", *[f"{b.city} branch stock" for b in co.BRANCHES]],
                    "branch_code": [None, *[b.code for b in co.BRANCHES]],
                    "city": ["Denver", *[b.city for b in co.BRANCHES]],
                    "is_active": np.ones(len(codes), bool),
                }
            ),
        )

    # -- branch set-up ----------------------------------------------------------------------------

    def _branch_setup(self, s: BranchState) -> Iterator[Batch]:
        rng = _rng(self.seed, s.rng_key, 0)
        db = s.branch.database
        first = self.months[0].start
        # about 40 people at scale 1 and below; benchmark scales grow the staff more slowly
        size = s.branch.weight / co.BRANCHES[0].weight * math.sqrt(max(self.scale, 1.0))

        roles: list[str] = []
        for role, count in co.ROLE_HEADCOUNT.items():
            roles += [role] * max(1, round(count * size))
        if s.index == 0:
            roles += ["EX", "AN"]
        # turnover: one sales manager leaves during the period and is replaced
        n = len(roles)
        hired = first - rng.integers(60, 3000, n) * DAY
        left = np.full(n, NAT, dtype=np.int64)
        sm = [i for i, r in enumerate(roles) if r == "SM"]
        if len(sm) >= 2:
            quitter = sm[int(rng.integers(0, len(sm)))]
            left_at = first + int(rng.integers(150, 500)) * DAY
            left[quitter] = left_at
            roles.append("SM")
            hired = np.append(hired, left_at + int(rng.integers(10, 40)) * DAY)
            left = np.append(left, NAT)
        n = len(roles)
        uid = s.take_ids("users", n)
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
        role_arr = np.array(roles, dtype=object)
        # everyone reports to the branch head; the head and the executive report to no one here
        head = uid[role_arr == "HD"][0]
        manager = np.where(np.isin(role_arr, ["HD", "EX"]), np.nan, float(head))
        s.user_id, s.user_role, s.user_login = uid, role_arr, login
        s.user_skill = np.exp(rng.normal(0, 0.35, n))
        s.user_hired, s.user_left = hired, left
        user_created = np.maximum(hired - 5 * DAY, first - 3000 * DAY)
        yield Batch(
            db,
            "users",
            _frame(
                {
                    "id": uid,
                    "login": login,
                    "full_name": full,
                    "email": [f"{lg}@brightline-office.com" for lg in login],
                    "phone": ids.phone_numbers(
                        s.branch.area_code, ids.USER, uid, np.zeros(n, np.int64)
                    ),
                    "role_code": role_arr,
                    "manager_id": manager,
                    "hired_on": to_date(hired),
                    "fired_on": to_date(left),
                    "is_active": left == NAT,
                    "created_at": to_datetime(user_created),
                    "updated_at": to_datetime(np.where(left == NAT, user_created, left)),
                }
            ),
        )

        yield Batch(
            db,
            "lead_channels",
            _frame(
                {
                    "code": [c[0] for c in co.LEAD_CHANNELS],
                    "name": [c[1] for c in co.LEAD_CHANNELS],
                    "is_paid": [c[2] for c in co.LEAD_CHANNELS],
                }
            ),
        )
        yield Batch(
            db,
            "pipeline_stages",
            _frame(
                {
                    "id": np.arange(1, len(co.PIPELINE_STAGES) + 1),
                    "code": [p[0] for p in co.PIPELINE_STAGES],
                    "name": [p[1] for p in co.PIPELINE_STAGES],
                    "sort_order": np.arange(1, len(co.PIPELINE_STAGES) + 1) * 10,
                    "probability_pct": [p[2] for p in co.PIPELINE_STAGES],
                    "is_final": [p[3] for p in co.PIPELINE_STAGES],
                }
            ),
        )

        n_clients = max(20, round(INITIAL_CLIENTS * s.branch.weight * self.scale))
        created = (
            first
            - rng.integers(1, 2500, n_clients) * DAY
            + rng.integers(9 * HOUR, 17 * HOUR, n_clients)
        )
        yield from self._new_clients(
            s, rng, np.sort(created), channel=None, lead_id=None, leads=None
        )

    def _new_clients(
        self,
        s: BranchState,
        rng: np.random.Generator,
        created: IntArray,
        channel: ObjArray | None,
        lead_id: IntArray | None,
        leads: pd.DataFrame | None,
    ) -> Iterator[Batch]:
        """New clients (from the initial base or converted leads) and their contacts."""
        db = s.branch.database
        n = len(created)
        if n == 0:
            return
        cid = s.take_ids("clients", n)
        seg_codes = np.array([c for c, _ in co.SEGMENTS], dtype=object)
        segment = rng.choice(seg_codes, n, p=[w for _, w in co.SEGMENTS])
        is_company = segment != "PRV"
        # names: every client name in a branch is distinct (an index into all name combinations)
        combos = len(co.COMPANY_WORDS) ** 2 * len(co.COMPANY_NOUNS)
        pick = ids.scramble((cid + 1000 * s.index) % combos, combos, salt=11)
        edition = (cid + 1000 * s.index) // combos  # past all combinations: "Summit Dental 2 LLC"
        w1 = pick % len(co.COMPANY_WORDS)
        w2 = pick // len(co.COMPANY_WORDS) % len(co.COMPANY_WORDS)
        noun = pick // len(co.COMPANY_WORDS) ** 2
        form = rng.choice(co.COMPANY_FORMS, n)
        first = rng.choice(co.FIRST_NAMES, n)
        last = rng.choice(co.LAST_NAMES, n)
        names = np.empty(n, dtype=object)
        for i in range(n):
            if is_company[i]:
                a, b = co.COMPANY_WORDS[w1[i]], co.COMPANY_WORDS[w2[i]]
                base = a if a == b else f"{a} {b}"
                number = f" {edition[i] + 1}" if edition[i] else ""
                names[i] = f"{base} {co.COMPANY_NOUNS[noun[i]]}{number} {form[i]}"
            else:
                names[i] = f"{first[i]} {last[i]}"
        slug = ids.slugs(names)
        emails = np.array(
            [
                f"info@{sl}.com" if c else f"{f.lower()}.{la.lower()}{k}@mail.com"
                for sl, c, f, la, k in zip(slug, is_company, first, last, cid, strict=True)
            ],
            dtype=object,
        )
        phones = ids.phone_numbers(s.branch.area_code, ids.CLIENT, cid, rng.integers(0, 3, n))
        if leads is not None:  # a converted lead keeps the phone and email it came with
            phones = np.where(leads["phone"].notna(), leads["phone"].to_numpy(), phones)
            emails = np.where(
                leads["email"].notna() & ~is_company, leads["email"].to_numpy(), emails
            )
        tax = np.where(is_company, ids.tax_ids(s.index, ids.CLIENT, cid), NULL)
        sales = s.user_id[(s.user_role == "SM")]
        owner = rng.choice(sales, n)
        address = np.array(
            [
                f"{int(k)} {st}, {s.branch.city}, {s.branch.state} "
                f"{s.branch.zip_prefix}{int(z):02d}"
                for k, st, z in zip(
                    rng.integers(10, 9999, n),
                    rng.choice(co.STREETS, n),
                    rng.integers(1, 99, n),
                    strict=True,
                )
            ],
            dtype=object,
        )
        if channel is None:
            channel = rng.choice(
                np.array([c[0] for c in co.LEAD_CHANNELS], dtype=object),
                n,
                p=[c[3] for c in co.LEAD_CHANNELS],
            )
        deleted = rng.random(n) < 0.01
        updated = np.minimum(created + rng.exponential(200, n).astype(np.int64) * DAY, END - HOUR)
        updated = np.maximum(updated, created)
        clients = _frame(
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
                "lead_id": lead_id if lead_id is not None else np.full(n, np.nan),
                "responsible_user_id": owner,
                "notes": np.where(rng.random(n) < 0.1, "Prefers invoices by email", NULL),
                "is_deleted": deleted,
                "created_at": to_datetime(created),
                "updated_at": to_datetime(updated),
            }
        )
        dirt = self.crm_dirt[s.index]
        dirt.malformed_phone(clients, "clients", 0.006)
        dirt.malformed_email(clients, "clients", 0.006)
        dirt.malformed_tax_id(clients, "clients", 0.004)
        dups = dirt.duplicate_clients(clients, 0.008, s.next_id["clients"], created)
        s.take_ids("clients", len(dups))
        yield Batch(db, "clients", pd.concat([clients, dups], ignore_index=True))

        terms = np.select([segment == "KEY", segment == "SMB"], [45, 30], 14)
        payer = np.where(rng.random(n) < 0.7, rng.uniform(-5, 5, n), rng.uniform(10, 55, n))
        s.client_id = np.concatenate([s.client_id, cid])
        s.client_created = np.concatenate([s.client_created, created])
        s.client_segment = np.concatenate([s.client_segment, segment])
        s.client_owner = np.concatenate([s.client_owner, owner])
        s.client_address = np.concatenate([s.client_address, address])
        s.client_terms = np.concatenate([s.client_terms, terms])
        s.client_payer = np.concatenate([s.client_payer, payer])
        s.client_contract = np.concatenate([s.client_contract, np.zeros(n, np.int64)])

        per = np.where(is_company, rng.integers(1, 4, n), 0)
        owner_pos = np.repeat(np.arange(n), per)
        m = len(owner_pos)
        if m:
            kid = s.take_ids("contacts", m)
            f = rng.choice(co.FIRST_NAMES, m)
            la = rng.choice(co.LAST_NAMES, m)
            first_of = np.r_[True, owner_pos[1:] != owner_pos[:-1]]
            contacts = _frame(
                {
                    "id": kid,
                    "client_id": cid[owner_pos],
                    "first_name": f,
                    "last_name": la,
                    "position": rng.choice(
                        [
                            "Office manager",
                            "Director",
                            "Accountant",
                            "IT administrator",
                            "Procurement",
                        ],
                        m,
                    ),
                    "phone": ids.phone_numbers(
                        s.branch.area_code, ids.CONTACT, kid, rng.integers(0, 3, m)
                    ),
                    "email": [
                        f"{a.lower()}.{b.lower()}@{d}.com"
                        for a, b, d in zip(f, la, slug[owner_pos], strict=True)
                    ],
                    "is_primary": first_of,
                    "is_deleted": rng.random(m) < 0.02,
                    "created_at": to_datetime(created[owner_pos]),
                    "updated_at": to_datetime(updated[owner_pos]),
                }
            )
            dirt.malformed_email(contacts, "contacts", 0.003)
            yield Batch(db, "contacts", contacts)

    # -- one branch, one month --------------------------------------------------------------------

    def _volume(self, s: BranchState, month: Month, per_month: float) -> float:
        season = co.SEASONALITY[month.calendar_month - 1]
        growth = (1 + co.MONTHLY_GROWTH) ** month.index
        return per_month * s.branch.weight * self.scale * season * growth

    def _branch_month(self, s: BranchState, month: Month, demand: Demand) -> Iterator[Batch]:
        rng = _rng(self.seed, s.rng_key, month.index + 1)
        yield from self._leads_and_deals(s, month, rng)
        yield from self._activities_and_tasks(s, month, rng)
        yield from self._contracts(s, month, rng)
        yield from self._sales(s, month, rng, demand)

    def _leads_and_deals(
        self, s: BranchState, month: Month, rng: np.random.Generator
    ) -> Iterator[Batch]:
        db = s.branch.database
        dirt = self.crm_dirt[s.index]
        n = int(rng.poisson(self._volume(s, month, LEADS_PER_MONTH)))
        lid = s.take_ids("leads", n)
        created = month.random_times(rng, n, workday_share=0.85)
        channel = rng.choice(
            np.array([c[0] for c in co.LEAD_CHANNELS], dtype=object),
            n,
            p=[c[3] for c in co.LEAD_CHANNELS],
        )
        sales = s.active("SM", month)
        assignee_pos = _choice_weighted(rng, sales, s.user_skill[sales], n)
        skill = s.user_skill[assignee_pos]
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
        has_phone = rng.random(n) < 0.9
        emails = np.array(
            [
                f"{a.lower()}.{b.lower()}{k}@mail.com"
                for a, b, k in zip(first, last, lid, strict=True)
            ],
            dtype=object,
        )
        has_email = (channel == "WEB") | (rng.random(n) < 0.6)
        payload = np.full(n, None, dtype=object)
        for i in np.flatnonzero(channel == "WEB"):
            payload[i] = json.dumps(
                {
                    "printers": int(rng.integers(1, 40)),
                    "interest": str(
                        rng.choice(
                            ["cartridges", "refill", "repair", "new printer", "managed print"]
                        )
                    ),
                    "employees": str(rng.choice(["1-10", "11-50", "51-200", "200+"])),
                    "callback": bool(rng.random() < 0.6),
                },
                sort_keys=True,
            )
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
        leads = _frame(
            {
                "id": lid,
                "channel_code": channel,
                "contact_name": [f"{a} {b}" for a, b in zip(first, last, strict=True)],
                "company_name": company_name,
                "phone": np.where(has_phone, phones, NULL),
                "email": np.where(has_email, emails, NULL),
                "form_payload": payload,
                "status_code": status,
                "assigned_user_id": s.user_id[assignee_pos],
                "converted_client_id": np.full(n, np.nan),
                "converted_at": to_datetime(converted_at),
                "is_deleted": junk & (rng.random(n) < 0.3),
                "created_at": to_datetime(created),
                "updated_at": to_datetime(updated),
            }
        )
        # converted leads become clients (their ids are known only now)
        conv = np.flatnonzero(converted)
        order = conv[np.argsort(converted_at[conv], kind="stable")]
        first_client = s.next_id.get("clients", 1)
        client_batches = list(
            self._new_clients(
                s,
                rng,
                converted_at[order],
                channel=channel[order],
                lead_id=lid[order],
                leads=leads.iloc[order][["phone", "email"]].reset_index(drop=True),
            )
        )
        leads.loc[order, "converted_client_id"] = np.arange(first_client, first_client + len(order))
        dirt.malformed_phone(leads, "leads", 0.008)
        dirt.malformed_email(leads, "leads", 0.008)
        yield Batch(db, "leads", leads)
        yield from client_batches

        # deals: from most converted leads, and from existing clients
        with_deal = np.flatnonzero(rng.random(len(order)) < 0.8)  # positions in ``order``
        from_leads = order[with_deal]
        lead_client = first_client + with_deal
        n_more = int(rng.poisson(self._volume(s, month, DEALS_FROM_CLIENTS_PER_MONTH)))
        known = np.flatnonzero(s.client_created < month.start)
        more_client = (
            s.client_id[rng.choice(known, n_more)] if len(known) else np.zeros(0, np.int64)
        )
        client = np.concatenate([lead_client, more_client])
        opened = np.concatenate([converted_at[from_leads] + HOUR, month.random_times(rng, n_more)])
        lead_ref = np.concatenate([lid[from_leads].astype(float), np.full(n_more, np.nan)])
        owner_pos = np.concatenate(
            [assignee_pos[from_leads], _choice_weighted(rng, sales, s.user_skill[sales], n_more)]
        )
        yield from self._deals(s, month, rng, client, opened, lead_ref, owner_pos)

    def _deals(
        self,
        s: BranchState,
        month: Month,
        rng: np.random.Generator,
        client: IntArray,
        opened: IntArray,
        lead_ref: FloatArray,
        owner_pos: IntArray,
    ) -> Iterator[Batch]:
        db = s.branch.database
        n = len(client)
        did = s.take_ids("deals", n)
        skill = s.user_skill[owner_pos]
        wins = rng.random(n) < np.clip(0.33 * skill, 0.05, 0.8)
        # open stages passed: a won deal passes all four; a lost one drops out after 1..4
        passed = np.where(wins, 4, rng.integers(1, 5, n))
        steps = passed + 1  # the entries into NEW .. the last open stage, then WON/LOST
        deal_pos = np.repeat(np.arange(n), steps)
        step = np.arange(len(deal_pos)) - np.repeat(np.cumsum(steps) - steps, steps)
        wait = (
            rng.exponential(1.0, len(deal_pos)) * 6 * DAY / np.repeat(np.sqrt(skill), steps)
        ).astype(np.int64)
        wait[step == 0] = 0
        elapsed = np.cumsum(wait)
        elapsed -= np.repeat(elapsed[np.cumsum(steps) - steps], steps)  # restart at each deal
        changed = opened[deal_pos] + elapsed
        last = step == np.repeat(steps - 1, steps)
        to_stage = np.where(last, np.where(np.repeat(wins, steps), 5, 6), step + 1)
        from_stage = np.where(
            step == 0, np.nan, np.where(last, np.repeat(passed, steps), step).astype(float)
        )
        seen = changed < END
        hid = s.take_ids("deal_stage_history", int(seen.sum()))
        history = _frame(
            {
                "id": hid,
                "deal_id": did[deal_pos[seen]],
                "from_stage_id": from_stage[seen],
                "to_stage_id": to_stage[seen],
                "changed_at": to_datetime(changed[seen]),
                "changed_by": s.user_id[owner_pos][deal_pos[seen]],
            }
        )
        # the state of each deal at the end of the data: its last seen transition
        last_seen_idx = np.zeros(n, dtype=np.int64)
        np.maximum.at(last_seen_idx, deal_pos[seen], np.flatnonzero(seen))
        stage = to_stage[last_seen_idx]
        closed_at = np.where(stage >= 5, changed[last_seen_idx], NAT)
        status = np.select([stage == 5, stage == 6], ["W", "L"], "O")
        segment = s.client_segment[np.searchsorted(s.client_id, client)]
        base = np.select(
            [segment == "KEY", segment == "SMB", segment == "MIC"], [6000, 1800, 600], 250
        )
        amount = _money(base * np.exp(rng.normal(0, 0.6, n)))
        titles = rng.choice(
            [
                "Managed print contract",
                "Printer fleet upgrade",
                "Cartridge supply",
                "Repair and maintenance",
                "New MFP purchase",
                "Paper supply for the year",
            ],
            n,
        )
        won = status == "W"
        s.pending_won.append((did[won], client[won], closed_at[won]))
        deals = _frame(
            {
                "id": did,
                "client_id": client,
                "title": titles,
                "stage_id": stage,
                "status_code": status,
                "lost_reason": np.where(status == "L", rng.choice(co.LOST_REASONS, n), NULL),
                "amount": amount,
                "owner_user_id": s.user_id[owner_pos],
                "lead_id": lead_ref,
                "opened_at": to_datetime(opened),
                "expected_close_on": to_date(opened + rng.integers(14, 60, n) * DAY),
                "closed_at": to_datetime(closed_at),
                "is_deleted": rng.random(n) < 0.005,
                "created_at": to_datetime(opened),
                "updated_at": to_datetime(changed[last_seen_idx]),
            }
        )
        s.deal_ids_seen = int(did[-1]) if n else s.deal_ids_seen
        yield Batch(db, "deals", deals)
        yield Batch(db, "deal_stage_history", history)

    def _activities_and_tasks(
        self, s: BranchState, month: Month, rng: np.random.Generator
    ) -> Iterator[Batch]:
        db = s.branch.database
        dirt = self.crm_dirt[s.index]
        season = co.SEASONALITY[month.calendar_month - 1]
        per_day = math.sqrt(self.scale) * season
        people = np.concatenate(
            [s.active("SM", month), s.active("SE", month), s.active("HD", month)]
        )
        role = s.user_role[people]
        rate = (
            np.select([role == "SM", role == "SE"], [ACTIVITIES_PER_SALES_DAY, 6.0], 3.0)
            * s.user_skill[people]
            * per_day
        )
        counts = rng.poisson(rate * len(month.workdays))
        who = np.repeat(people, counts)
        n = len(who)
        aid = s.take_ids("activities", n)
        started = month.random_times(rng, n, workday_share=0.99)
        rng.shuffle(who)
        types = np.array(["COUT", "CIN", "MAIL", "MEET", "VIS"], dtype=object)
        kind = rng.choice(types, n, p=[0.40, 0.20, 0.25, 0.08, 0.07])
        minutes = np.select(
            [kind == "COUT", kind == "CIN", kind == "MEET", kind == "VIS"],
            [
                rng.lognormal(1.2, 0.8, n),
                rng.lognormal(1.4, 0.7, n),
                rng.uniform(30, 90, n),
                rng.uniform(45, 120, n),
            ],
            np.nan,
        )
        outcome = np.where(
            np.isin(kind, ["COUT", "CIN"]),
            rng.choice(
                np.array(["OK", "NOAN", "CB", "REF"], dtype=object), n, p=[0.55, 0.25, 0.14, 0.06]
            ),
            np.where(kind == "MAIL", NULL, "OK"),
        )
        no_answer = outcome == "NOAN"
        minutes = np.where(no_answer, 0.0, minutes)
        known = np.flatnonzero(s.client_created < month.end)
        client = s.client_id[rng.choice(known, n)]
        deal = s.recent_deals(rng, n, share=0.3, window=3000)
        subjects = np.empty(n, dtype=object)
        for t, options in co.ACTIVITY_SUBJECTS.items():
            mask = kind == t
            subjects[mask] = rng.choice(np.array(options, dtype=object), int(mask.sum()))
        duration = np.where(np.isnan(minutes), np.nan, np.round(minutes * 60))
        ended = started + np.nan_to_num(duration).astype(np.int64)
        activities = _frame(
            {
                "id": aid,
                "type_code": kind,
                "user_id": s.user_id[who],
                "client_id": client,
                "deal_id": deal,
                "started_at": to_datetime(started),
                "duration_sec": duration,
                "outcome_code": outcome,
                "subject": subjects,
                "created_at": to_datetime(started),
                "updated_at": to_datetime(np.minimum(ended + 60, END - 1)),
            }
        )
        dirt.orphan_reference(activities, "activities", "deal_id", 0.001, ORPHAN_BASE)
        dirt.future_date(activities, "activities", "started_at", 0.0004)
        yield Batch(db, "activities", activities)

        sales = s.active("SM", month)
        counts = rng.poisson(
            TASKS_PER_SALES_DAY * per_day * len(month.workdays) * s.user_skill[sales] ** 0.5
        )
        who = np.repeat(sales, counts)
        n = len(who)
        tid = s.take_ids("tasks", n)
        created = month.random_times(rng, n)
        due = workday_after(created, rng.integers(1, 8, n)) // DAY * DAY + 18 * HOUR
        skill = s.user_skill[who]
        done = rng.random(n) < np.clip(0.80 * skill**0.3, 0.5, 0.98)
        took = (rng.lognormal(0, 0.9, n) * 2.2 * DAY / skill).astype(np.int64) + HOUR
        done_at = censor(np.where(done, created + took, NAT))
        cancelled = ~done & (rng.random(n) < 0.15) & (created < END - 30 * DAY)
        status = np.select([happened(done_at), cancelled], ["DONE", "CANC"], "OPEN")
        cancelled_at = np.where(status == "CANC", np.minimum(due + 7 * DAY, END - HOUR), NAT)
        head = s.user_id[s.active("HD", month)]
        author = np.where(rng.random(n) < 0.3, rng.choice(head, n), s.user_id[who])
        tasks = _frame(
            {
                "id": tid,
                "title": rng.choice(co.TASK_TITLES, n),
                "assignee_id": s.user_id[who],
                "author_id": author,
                "client_id": np.where(
                    rng.random(n) < 0.8, s.client_id[rng.choice(known, n)], np.nan
                ),
                "deal_id": s.recent_deals(rng, n, share=0.25, window=2000),
                "priority": rng.choice([1, 2, 3], n, p=[0.2, 0.6, 0.2]),
                "status_code": status,
                "due_at": to_datetime(due),
                "done_at": to_datetime(done_at),
                "is_deleted": rng.random(n) < 0.005,
                "created_at": to_datetime(created),
                "updated_at": to_datetime(latest(created, done_at, cancelled_at)),
            }
        )
        yield Batch(db, "tasks", tasks)

    def _contracts(self, s: BranchState, month: Month, rng: np.random.Generator) -> Iterator[Batch]:
        n = int(rng.poisson(self._volume(s, month, CONTRACTS_PER_MONTH)))
        eligible = np.flatnonzero(
            np.isin(s.client_segment, ["KEY", "SMB"])
            & (s.client_contract == 0)
            & (s.client_created < month.start)
        )
        n = min(n, len(eligible))
        if n == 0:
            return
        pos = rng.choice(eligible, n, replace=False)
        kid = s.take_ids("contracts", n)
        s.client_contract[pos] = kid
        signed = month.random_times(rng, n)
        kind = rng.choice(np.array(["SUP", "MNT", "SRV"], dtype=object), n, p=[0.5, 0.3, 0.2])
        yield Batch(
            s.branch.database,
            "contracts",
            _frame(
                {
                    "id": kid,
                    "number": [f"{s.branch.code[:3].upper()}-C{k:05d}" for k in kid],
                    "client_id": s.client_id[pos],
                    "kind_code": kind,
                    "signed_on": to_date(signed),
                    "valid_until": to_date(signed + 365 * DAY),
                    "amount": np.where(kind == "SUP", np.nan, _money(rng.uniform(1200, 24000, n))),
                    "payment_terms_days": s.client_terms[pos],
                    "is_deleted": np.zeros(n, bool),
                    "created_at": to_datetime(signed),
                    "updated_at": to_datetime(signed + rng.integers(0, 5, n) * DAY),
                }
            ),
        )

    # -- invoices, lines, payments, deliveries, service ----------------------------------------

    def _sales(
        self, s: BranchState, month: Month, rng: np.random.Generator, demand: Demand
    ) -> Iterator[Batch]:
        db = s.branch.database
        dirt = self.crm_dirt[s.index]
        p = self.products

        # 1. service requests of the month; finished non-warranty repairs are invoiced
        n_sr = int(rng.poisson(self._volume(s, month, SERVICE_REQUESTS_PER_MONTH)))
        sr_id = s.take_ids("service_requests", n_sr)
        received = month.random_times(rng, n_sr)
        engineers = s.active("SE", month)
        eng_pos = _choice_weighted(rng, engineers, s.user_skill[engineers], n_sr)
        eskill = s.user_skill[eng_pos]
        warranty = rng.random(n_sr) < 0.22
        sla = np.where(warranty, 72, np.where(rng.random(n_sr) < 0.3, 24, 48))
        diagnosed = censor(
            received + (rng.exponential(10, n_sr) * HOUR / eskill).astype(np.int64) + HOUR
        )
        waits_parts = rng.random(n_sr) < 0.18
        repair_h = rng.gamma(2.0, 10, n_sr) / eskill + np.where(
            waits_parts, rng.uniform(48, 240, n_sr), 0
        )
        cancelled = rng.random(n_sr) < 0.03
        repaired = censor(
            np.where(
                happened(diagnosed) & ~cancelled,
                diagnosed + (repair_h * HOUR).astype(np.int64),
                NAT,
            )
        )
        returned = censor(
            np.where(
                happened(repaired),
                repaired + (rng.exponential(1.5, n_sr) * DAY).astype(np.int64) + HOUR,
                NAT,
            )
        )
        sr_status = np.select(
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
        labour = np.where(happened(repaired), np.round(rng.gamma(2.0, 0.8, n_sr) + 0.25, 2), np.nan)
        parts_needed = happened(repaired) & (rng.random(n_sr) < 0.55)
        parts = p.by_category("Rollers and pads")
        parts = np.concatenate(
            [parts, p.by_category("Boards and sensors"), p.by_category("Drums and fusers")]
        )
        part_pos = rng.choice(parts, n_sr)
        parts_cost = np.where(parts_needed, p.list_price[part_pos], np.nan)
        printers = np.concatenate(
            [
                p.by_category(c)
                for c in ("Laser printers", "Inkjet printers", "Multifunction printers")
            ]
        )
        sr_client_pos = rng.choice(np.flatnonzero(s.client_created < month.end), n_sr)
        billable = happened(returned) & ~warranty
        sr_invoice = np.full(n_sr, np.nan)

        # 2. invoices: won deals that closed this month, repeat orders, and repairs
        won_id, won_client, won_closed = (
            np.concatenate(parts) for parts in zip(*s.pending_won, strict=True)
        )
        now = won_closed < month.end
        s.pending_won = [(won_id[~now], won_client[~now], won_closed[~now])]
        won_id, won_client, won_closed = won_id[now], won_client[now], won_closed[now]
        won_issue = censor(won_closed + rng.integers(0, 3, len(won_id)) * DAY)
        keep = happened(won_issue)
        n_rep = int(rng.poisson(self._volume(s, month, REPEAT_ORDERS_PER_MONTH)))
        active_clients = np.flatnonzero(s.client_created < month.start)
        weights = np.select(
            [s.client_segment[active_clients] == "KEY", s.client_segment[active_clients] == "SMB"],
            [12.0, 3.0],
            1.0,
        )
        rep_pos = (
            _choice_weighted(rng, active_clients, weights, n_rep)
            if len(active_clients)
            else np.zeros(0, np.int64)
        )

        client_pos = np.concatenate(
            [np.searchsorted(s.client_id, won_client[keep]), rep_pos, sr_client_pos[billable]]
        )
        issued = np.concatenate(
            [won_issue[keep], month.random_times(rng, n_rep), returned[billable]]
        )
        origin = np.concatenate(
            [
                np.zeros(int(keep.sum()), np.int64),
                np.ones(n_rep, np.int64),
                np.full(int(billable.sum()), 2),
            ]
        )
        deal_ref = np.concatenate(
            [won_id[keep].astype(float), np.full(n_rep + int(billable.sum()), np.nan)]
        )
        n_inv = len(client_pos)
        inv_id = s.take_ids("invoices", n_inv)
        repair_inv = np.flatnonzero(origin == 2)  # invoice positions, in the order of ...
        repair_sr = np.flatnonzero(billable)  # ... the service requests they bill
        sr_invoice[repair_sr] = inv_id[repair_inv]

        # lines: a repair bills its labour and, where one was fitted, the part
        goods = np.flatnonzero(p.is_good | np.isin(p.category, ["Cartridge refill", "Delivery"]))
        n_lines = rng.integers(1, 6, n_inv)
        n_lines[repair_inv] = 1 + parts_needed[repair_sr]
        line_inv = np.repeat(np.arange(n_inv), n_lines)
        line_no = np.arange(len(line_inv)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
        product = _choice_weighted(rng, goods, p.demand[goods], len(line_inv))
        labour_sku = np.flatnonzero(p.name == "Repair labour, standard rate")[0]
        service_lines = origin[line_inv] == 2
        sr_of_inv = np.full(n_inv, -1)
        sr_of_inv[repair_inv] = repair_sr
        sr_of_line = sr_of_inv[line_inv[service_lines]]
        product[service_lines] = np.where(
            line_no[service_lines] == 1, labour_sku, part_pos[sr_of_line]
        )
        cat = p.category[product]
        qty = np.select(
            [
                cat == "Paper",
                np.isin(cat, ["Toner cartridges", "Ink cartridges", "Cartridge refill"]),
                np.isin(cat, ["Laser printers", "Inkjet printers", "Multifunction printers"]),
            ],
            [
                rng.integers(2, 60, len(product)),
                rng.integers(1, 12, len(product)),
                rng.integers(1, 3, len(product)),
            ],
            rng.integers(1, 4, len(product)),
        ).astype(float)
        qty[service_lines] = np.where(line_no[service_lines] == 1, labour[sr_of_line], 1.0)
        segment = s.client_segment[client_pos][line_inv]
        discount = np.select(
            [segment == "KEY", segment == "SMB"],
            [
                rng.choice([5.0, 10.0, 12.5, 15.0], len(product)),
                rng.choice([0.0, 0.0, 3.0, 5.0], len(product)),
            ],
            0.0,
        )
        price_rise = np.where(
            issued[line_inv] >= epoch(co.REFERENCE_DATE.replace(month=1, day=1)), 1.04, 1.0
        )
        unit_price = _money(p.list_price[product] * price_rise)
        line_total = _money(qty * unit_price * (1 - discount / 100))
        items = _frame(
            {
                "id": s.take_ids("invoice_items", len(product)),
                "invoice_id": inv_id[line_inv],
                "line_no": line_no,
                "sku": p.sku[product],
                "description": p.name[product],
                "qty": qty,
                "unit_price": unit_price,
                "discount_pct": discount,
                "line_total": line_total,
                "created_at": to_datetime(issued[line_inv]),
                "updated_at": to_datetime(issued[line_inv]),
            }
        )
        dirt.negative_quantity(
            items, "invoice_items", 0.0012, eligible=~service_lines, total="line_total"
        )
        line_total = items["line_total"].to_numpy()
        total = _money(np.bincount(line_inv, weights=line_total, minlength=n_inv).astype(float))

        cancelled_inv = (rng.random(n_inv) < 0.02) & (origin != 2)
        terms = s.client_terms[client_pos]
        contract = s.client_contract[client_pos]
        due = issued // DAY * DAY + terms * DAY
        # payments: most pay in full, some in two parts, a few never
        payer = s.client_payer[client_pos]
        never = (rng.random(n_inv) < 0.035) | cancelled_inv
        split = ~never & (rng.random(n_inv) < 0.12)
        first_paid = (
            due + ((payer + rng.normal(0, 4, n_inv)) * DAY).astype(np.int64) - terms * DAY // 2
        )
        first_paid = np.maximum(first_paid, issued + HOUR)
        second_paid = first_paid + rng.integers(7, 45, n_inv) * DAY
        share = np.round(rng.uniform(0.3, 0.7, n_inv), 2)
        pay_inv = np.concatenate([np.flatnonzero(~never), np.flatnonzero(split)])
        pay_time = censor(np.concatenate([first_paid[~never], second_paid[split]]))
        pay_amount = np.concatenate(
            [
                np.where(split, _money(total * share), total)[~never],
                total[split] - _money(total * share)[split],
            ]
        )
        seen = happened(pay_time) & (pay_amount > 0)
        pay_inv, pay_time, pay_amount = pay_inv[seen], pay_time[seen], _money(pay_amount[seen])
        order = np.argsort(pay_time, kind="stable")
        pay_inv, pay_time, pay_amount = pay_inv[order], pay_time[order], pay_amount[order]
        paid_sum = np.bincount(pay_inv, weights=pay_amount, minlength=n_inv)
        last_paid = np.full(n_inv, NAT, dtype=np.int64)
        np.maximum.at(last_paid, pay_inv, pay_time)
        status = np.select(
            [cancelled_inv, paid_sum >= total - 0.005, paid_sum > 0],
            ["CANC", "PAID", "PART"],
            "ISS",
        )
        creator = s.client_owner[client_pos].copy()
        creator[repair_inv] = s.user_id[eng_pos[repair_sr]]
        issued_month = pd.to_datetime(issued, unit="s").strftime("%Y%m").to_numpy()
        invoices = _frame(
            {
                "id": inv_id,
                "number": [
                    f"{s.branch.code[:3].upper()}-{ym}-{k:06d}"
                    for ym, k in zip(issued_month, inv_id, strict=True)
                ],
                "client_id": s.client_id[client_pos],
                "deal_id": deal_ref,
                "contract_id": np.where(contract > 0, contract, np.nan),
                "issued_on": to_date(issued),
                "due_on": to_date(due),
                "status_code": status,
                "total_amount": total,
                "comment": np.where(origin == 2, "Repair, see service request", NULL),
                "created_by": creator,
                "is_deleted": np.zeros(n_inv, bool),
                "created_at": to_datetime(issued),
                "updated_at": to_datetime(
                    latest(
                        issued,
                        last_paid,
                        np.where(cancelled_inv, np.minimum(issued + 2 * DAY, END - HOUR), NAT),
                    )
                ),
            }
        )
        dirt.orphan_reference(invoices, "invoices", "client_id", 0.002, ORPHAN_BASE)
        yield Batch(db, "invoices", invoices)
        yield Batch(db, "invoice_items", items)

        n_pay = len(pay_inv)
        payments = _frame(
            {
                "id": s.take_ids("payments", n_pay),
                "invoice_id": inv_id[pay_inv],
                "paid_at": to_datetime(pay_time),
                "amount": pay_amount,
                "method_code": rng.choice(
                    np.array(["BANK", "CARD", "CASH"], dtype=object), n_pay, p=[0.75, 0.2, 0.05]
                ),
                "reference": [
                    f"TX{int(t) % 10_000_000:07d}{k % 100:02d}"
                    for t, k in zip(pay_time, pay_inv, strict=True)
                ],
                "created_at": to_datetime(pay_time),
                "updated_at": to_datetime(pay_time),
            }
        )
        dirt.percent_as_amount(payments, "payments", 0.003, total[pay_inv])
        yield Batch(db, "payments", payments)

        yield Batch(
            db,
            "service_requests",
            self._service_frame(
                s,
                rng,
                sr_id,
                sr_client_pos,
                eng_pos,
                warranty,
                sla,
                received,
                diagnosed,
                repaired,
                returned,
                sr_status,
                labour,
                parts_cost,
                sr_invoice,
                printers,
            ),
        )

        # 3. deliveries of invoices with goods, by the branch's drivers on its routes
        has_goods = (
            np.bincount(line_inv, weights=p.is_good[product].astype(float), minlength=n_inv) > 0
        )
        deliver = has_goods & ~cancelled_inv & (rng.random(n_inv) < 0.85)
        d_inv = np.flatnonzero(deliver)
        n_del = len(d_inv)
        drivers = s.active("DR", month)
        d_pos = _choice_weighted(rng, drivers, s.user_skill[drivers], n_del)
        planned = (
            workday_after(issued[d_inv], rng.integers(1, 4, n_del)) // DAY * DAY
            + rng.integers(9, 17, n_del) * HOUR
        )
        late = (rng.exponential(1.0, n_del) * 3 * HOUR / s.user_skill[d_pos]).astype(np.int64)
        failed = rng.random(n_del) < 0.03
        delivered = censor(np.where(failed, NAT, planned + late - HOUR))
        d_status = np.select(
            [failed & (planned < END), happened(delivered)], ["FAIL", "DONE"], "PLAN"
        )
        deliveries = _frame(
            {
                "id": s.take_ids("deliveries", n_del),
                "invoice_id": inv_id[d_inv],
                "driver_id": s.user_id[d_pos],
                "route_code": rng.choice(np.array(s.branch.routes, dtype=object), n_del),
                "address": s.client_address[client_pos[d_inv]],
                "planned_at": to_datetime(planned),
                "delivered_at": to_datetime(delivered),
                "status_code": d_status,
                "failure_reason": np.where(
                    d_status == "FAIL", rng.choice(co.DELIVERY_FAILURES, n_del), NULL
                ),
                "created_at": to_datetime(issued[d_inv]),
                "updated_at": to_datetime(
                    np.maximum(
                        issued[d_inv], latest(np.where(planned < END, planned, NAT), delivered)
                    )
                ),
            }
        )
        yield Batch(db, "deliveries", deliveries)

        # 4. what the month's goods lines take from the branch's warehouse (for stock)
        good_line = p.is_good[product] & ~cancelled_inv[line_inv]
        planned_by_inv = np.full(n_inv, NAT, dtype=np.int64)
        planned_by_inv[d_inv] = planned
        ship_at = np.where(
            deliver[line_inv], planned_by_inv[line_inv] - 2 * HOUR, issued[line_inv] + 2 * HOUR
        )
        inv_numbers = invoices["number"].to_numpy()
        demand.add(
            warehouse=s.index + 2,
            product=p.product_id[product[good_line]],
            qty=np.abs(qty[good_line]),
            time=np.minimum(ship_at[good_line], END - HOUR),
            doc_ref=np.array(
                [f"{s.branch.code}/{num}" for num in inv_numbers[line_inv[good_line]]], dtype=object
            ),
        )

    def _service_frame(
        self,
        s: BranchState,
        rng: np.random.Generator,
        sr_id: IntArray,
        client_pos: IntArray,
        eng_pos: IntArray,
        warranty: BoolArray,
        sla: IntArray,
        received: IntArray,
        diagnosed: IntArray,
        repaired: IntArray,
        returned: IntArray,
        status: ObjArray,
        labour: FloatArray,
        parts_cost: FloatArray,
        sr_invoice: FloatArray,
        printers: IntArray,
    ) -> pd.DataFrame:
        n = len(sr_id)
        model_pos = rng.choice(printers, n)
        problem = rng.choice(co.EQUIPMENT_PROBLEMS, n)
        diagnosis = np.where(happened(diagnosed), rng.choice(co.DIAGNOSES, n), NULL)
        frame = _frame(
            {
                "id": sr_id,
                "number": [f"SR-{s.branch.code[:3].upper()}-{k:06d}" for k in sr_id],
                "client_id": s.client_id[client_pos],
                "equipment_model": self.products.name[model_pos],
                "serial_no": [f"SN{int(x):010d}" for x in rng.integers(0, 10**10, n)],
                "problem": problem,
                "diagnosis": diagnosis,
                "engineer_id": s.user_id[eng_pos],
                "status_code": status,
                "is_warranty": warranty,
                "sla_hours": sla,
                "received_at": to_datetime(received),
                "diagnosed_at": to_datetime(diagnosed),
                "repaired_at": to_datetime(repaired),
                "returned_at": to_datetime(returned),
                "labour_hours": labour,
                "parts_cost": parts_cost,
                "invoice_id": sr_invoice,
                "is_deleted": np.zeros(n, bool),
                "created_at": to_datetime(received),
                "updated_at": to_datetime(latest(received, diagnosed, repaired, returned)),
            }
        )
        dirt = self.crm_dirt[s.index]
        dirt.closed_before_opened(frame, "service_requests", "received_at", "returned_at", 0.002)
        # only requests still open: a returned one would also look closed before it was opened
        open_requests = frame["returned_at"].isna().to_numpy()
        dirt.future_date(frame, "service_requests", "received_at", 0.05, eligible=open_requests)
        return frame

    # -- stock ----------------------------------------------------------------------------------

    def _stock_init(self) -> None:
        p = self.products
        n_wh = 1 + len(co.BRANCHES)
        self.on_hand = np.zeros((n_wh, len(p.product_id)))
        self.expected = np.zeros((n_wh, len(p.product_id)))  # monthly demand estimate per warehouse
        self.pending_receipts: list[tuple[int, int, IntArray, FloatArray, FloatArray, str]] = []
        self.backlog = Demand()
        self.opening_done = False
        self.po_seq = 0
        keepers = [s.user_login[s.user_role == "WK"][0] for s in self.branches]
        self.keeper_login = np.array([keepers[0], *keepers], dtype=object)  # Denver runs central

    def _stock_month(self, month: Month, demand: Demand) -> Iterator[Batch]:
        rng = _rng(self.seed, 2, month.index)
        p = self.products
        goods = p.is_good
        moves: list[dict[str, object]] = []

        wh = (
            np.concatenate([*self.backlog.warehouse, *demand.warehouse])
            if demand.warehouse or self.backlog.warehouse
            else np.zeros(0, np.int64)
        )
        prod = (
            np.concatenate([*self.backlog.product, *demand.product])
            if len(wh)
            else np.zeros(0, np.int64)
        )
        qty = np.concatenate([*self.backlog.qty, *demand.qty]) if len(wh) else np.zeros(0)
        time = (
            np.concatenate([*self.backlog.time, *demand.time]) if len(wh) else np.zeros(0, np.int64)
        )
        ref = (
            np.concatenate([*self.backlog.doc_ref, *demand.doc_ref])
            if len(wh)
            else np.zeros(0, object)
        )
        is_backlog = np.arange(len(wh)) < sum(len(x) for x in self.backlog.warehouse)
        pidx = prod - 1
        this_month = np.zeros_like(self.expected)
        np.add.at(this_month, (wh[~is_backlog] - 1, pidx[~is_backlog]), qty[~is_backlog])
        company = this_month[1:].sum(axis=0)
        this_month[0] = company

        first_day = int(month.workdays[0])
        if not self.opening_done:
            # opening balances, counted the day before the data starts
            self.expected = this_month.copy()
            opening = np.ceil(
                np.where(
                    goods,
                    self.expected
                    * np.array([2.0, *[1.5] * len(co.BRANCHES)])[:, None]
                    * p.reorder_factor,
                    0,
                )
            )
            w_i, p_i = np.nonzero(opening)
            moves.append(
                self._moves(
                    "ADJ",
                    p_i,
                    w_i + 1,
                    None,
                    opening[w_i, p_i],
                    month.start - DAY + 9 * HOUR,
                    "OPENING",
                    "Opening balance",
                )
            )
            self.on_hand += opening
            self.opening_done = True
        else:
            self.expected = 0.6 * self.expected + 0.4 * this_month

        # receipts at the central warehouse of purchase orders that arrive this month
        still: list[tuple[int, int, IntArray, FloatArray, FloatArray, str]] = []
        for po_id, arrive, lines_p, lines_q, lines_c, number in self.pending_receipts:
            if arrive < month.end:
                at = min(arrive, END - HOUR)
                moves.append(
                    self._moves(
                        "RCPT",
                        lines_p,
                        np.zeros(len(lines_p), np.int64) + 1,
                        None,
                        lines_q,
                        at,
                        number,
                        None,
                        lines_c,
                    )
                )
                self.on_hand[0, lines_p] += lines_q
            else:
                still.append((po_id, arrive, lines_p, lines_q, lines_c, number))
        self.pending_receipts = still

        # transfers central -> branch warehouses at the start of the month, up to 1.5 months' need
        for w in range(1, self.on_hand.shape[0]):
            want = np.ceil(
                np.where(goods, 1.5 * self.expected[w] * p.reorder_factor - self.on_hand[w], 0)
            )
            give = np.minimum(np.maximum(want, 0), self.on_hand[0])
            p_i = np.flatnonzero(give >= 1)
            if len(p_i):
                moves.append(
                    self._moves(
                        "TRNS",
                        p_i,
                        np.zeros(len(p_i), np.int64) + 1,
                        w + 1,
                        give[p_i],
                        first_day + 8 * HOUR + w * 600,
                        f"TR-{month.label}-{w}",
                        None,
                    )
                )
                self.on_hand[0, p_i] -= give[p_i]
                self.on_hand[w, p_i] += give[p_i]

        # shipments in time order; what the shelf cannot cover waits for next month (a stock-out)
        order = np.lexsort((time, ~is_backlog))
        wh, pidx, qty, time, ref, is_backlog = (
            wh[order],
            pidx[order],
            qty[order],
            time[order],
            ref[order],
            is_backlog[order],
        )
        time = np.where(is_backlog, first_day + 10 * HOUR, time)
        shipped = np.zeros(len(wh), bool)
        if len(wh):
            key = (wh - 1) * len(p.product_id) + pidx
            by_key = np.argsort(key, kind="stable")
            k_sorted = key[by_key]
            csum = np.cumsum(qty[by_key])
            group_start = np.r_[0, np.flatnonzero(np.diff(k_sorted)) + 1]
            offset = np.repeat(
                csum[group_start] - qty[by_key][group_start],
                np.diff(np.r_[group_start, len(k_sorted)]),
            )
            need = csum - offset
            avail = self.on_hand.reshape(-1)[k_sorted]
            ok = need <= avail + 1e-9
            shipped[by_key] = ok
            ship_mask = shipped & (time < END)
            moves.append(
                self._moves(
                    "SHIP",
                    pidx[ship_mask],
                    wh[ship_mask] - 1,
                    None,
                    qty[ship_mask],
                    time[ship_mask],
                    None,
                    None,
                    refs=ref[ship_mask],
                    w_is_index=True,
                )
            )
            np.add.at(self.on_hand, (wh[ship_mask] - 1, pidx[ship_mask]), -qty[ship_mask])
        wait = ~shipped
        self.backlog = Demand()
        if wait.any():
            self.backlog.warehouse.append(wh[wait])
            self.backlog.product.append(pidx[wait] + 1)
            self.backlog.qty.append(qty[wait])
            self.backlog.time.append(time[wait])
            self.backlog.doc_ref.append(ref[wait])

        # write-offs of damaged goods, and a quarterly inventory count with small corrections
        for w in range(self.on_hand.shape[0]):
            stocked = np.flatnonzero(goods & (self.on_hand[w] >= 3))
            k = min(len(stocked), int(rng.poisson(6 * self.scale**0.5)))
            if k:
                p_i = rng.choice(stocked, k, replace=False)
                q = rng.integers(1, 3, k).astype(float)
                moves.append(
                    self._moves(
                        "WOFF",
                        p_i,
                        np.full(k, w),
                        None,
                        q,
                        np.sort(rng.choice(month.workdays, k)) + 15 * HOUR,
                        None,
                        "Damaged",
                        w_is_index=True,
                    )
                )
                self.on_hand[w, p_i] -= q
            if month.calendar_month in (3, 6, 9, 12):
                counted = np.flatnonzero(goods & (self.on_hand[w] >= 5))
                k = min(len(counted), 12)
                if k:
                    p_i = rng.choice(counted, k, replace=False)
                    q = rng.choice([-3.0, -2.0, -1.0, 1.0, 2.0], k)
                    moves.append(
                        self._moves(
                            "ADJ",
                            p_i,
                            np.full(k, w),
                            None,
                            q,
                            int(month.workdays[-1]) + 17 * HOUR,
                            f"INV-{month.label}",
                            "Inventory count",
                            w_is_index=True,
                        )
                    )
                    self.on_hand[w, p_i] += q

        # purchase orders for the central warehouse where stock fell below the reorder point
        below = goods & (self.on_hand[0] < self.expected[0] * p.reorder_factor)
        below &= ~np.isin(
            np.arange(len(goods)),
            np.concatenate([r[2] for r in self.pending_receipts]) if self.pending_receipts else [],
        )
        po_batches = []
        po_lines = []
        for sup in np.unique(p.supplier_index[below]):
            p_i = np.flatnonzero(below & (p.supplier_index == sup))
            q = np.ceil(
                np.maximum(
                    2.5 * self.expected[0, p_i] * p.reorder_factor[p_i] - self.on_hand[0, p_i], 1
                )
            )
            cost = _money(
                p.purchase_price[p_i]
                * (1.04 if month.start >= epoch(co.REFERENCE_DATE.replace(month=1, day=1)) else 1.0)
            )
            self.po_seq += 1
            ordered = (
                int(month.workdays[min(2, len(month.workdays) - 1)]) + 11 * HOUR + int(sup) * 300
            )
            arrive = ordered + int(self.supplier_lead_days[sup] + rng.integers(-2, 6)) * DAY
            number = f"PO-{month.label.replace('-', '')}-{self.po_seq:05d}"
            received = arrive < END
            if ordered < END:
                po_batches.append(
                    {
                        "id": self.po_seq,
                        "number": number,
                        "supplier_id": int(self.supplier_ids[sup]),
                        "warehouse_id": 1,
                        "status_code": "RCVD" if received else "SENT",
                        "ordered_at": ordered,
                        "expected_on": ordered + int(self.supplier_lead_days[sup]) * DAY,
                        "received_at": min(arrive, END - HOUR) if received else NAT,
                        "total_cost": float(_money(np.sum(q * cost))),
                    }
                )
                po_lines.append((self.po_seq, p_i, q, cost))
                self.pending_receipts.append((self.po_seq, arrive, p_i, q, cost, number))
        if po_batches:
            po = pd.DataFrame(po_batches)
            yield Batch(
                co.STOCK_DATABASE,
                "purchase_orders",
                _frame(
                    {
                        "id": po["id"],
                        "number": po["number"],
                        "supplier_id": po["supplier_id"],
                        "warehouse_id": po["warehouse_id"],
                        "status_code": po["status_code"],
                        "ordered_at": to_datetime(po["ordered_at"].to_numpy()),
                        "expected_on": to_date(po["expected_on"].to_numpy()),
                        "received_at": to_datetime(po["received_at"].to_numpy()),
                        "total_cost": po["total_cost"],
                        "created_at": to_datetime(po["ordered_at"].to_numpy() - HOUR),
                        "updated_at": to_datetime(
                            latest(po["ordered_at"].to_numpy(), po["received_at"].to_numpy())
                        ),
                    }
                ),
            )
            lp = np.concatenate([np.full(len(x[1]), x[0]) for x in po_lines])
            yield Batch(
                co.STOCK_DATABASE,
                "purchase_order_lines",
                _frame(
                    {
                        "id": self.stock_ids("purchase_order_lines", len(lp)),
                        "purchase_order_id": lp,
                        "product_id": p.product_id[np.concatenate([x[1] for x in po_lines])],
                        "qty": np.concatenate([x[2] for x in po_lines]),
                        "unit_cost": np.concatenate([x[3] for x in po_lines]),
                    }
                ),
            )

        parts = [pd.DataFrame(m) for m in moves if len(m["id"])]  # type: ignore[arg-type]
        if parts:
            frame = (
                pd.concat(parts, ignore_index=True)
                .sort_values("moved_at", kind="stable")
                .reset_index(drop=True)
            )
            frame["id"] = self.stock_ids("stock_moves", len(frame))
            frame["moved_at"] = to_datetime(frame["moved_at"].to_numpy())
            frame["created_at"] = frame["moved_at"]
            frame["updated_at"] = frame["moved_at"]
            directional = frame["move_type"].isin(["RCPT", "SHIP"]).to_numpy()
            self.stock_dirt.negative_quantity(frame, "stock_moves", 0.0008, eligible=directional)
            # a shipment of a product the catalog does not know (typed by hand at the counter)
            shipments = (frame["move_type"] == "SHIP").to_numpy()
            self.stock_dirt.orphan_reference(
                frame, "stock_moves", "product_id", 0.0005, ORPHAN_BASE, eligible=shipments
            )
            self.stock_dirt.future_date(frame, "stock_moves", "moved_at", 0.0002)
            yield Batch(co.STOCK_DATABASE, "stock_moves", frame)

    def stock_ids(self, table: str, n: int) -> IntArray:
        start = self.stock_next.get(table, 1)
        self.stock_next[table] = start + n
        return np.arange(start, start + n, dtype=np.int64)

    def _moves(
        self,
        kind: str,
        p_idx: IntArray,
        w_idx: IntArray,
        to_wh: int | None,
        qty: FloatArray,
        at: int | IntArray,
        doc: str | None,
        note: str | None,
        cost: FloatArray | None = None,
        refs: ObjArray | None = None,
        w_is_index: bool = False,
    ) -> dict[str, object]:
        n = len(p_idx)
        p = self.products
        warehouse = (w_idx + 1) if w_is_index else w_idx
        times = np.broadcast_to(np.asarray(at, dtype=np.int64), (n,)).copy()
        return {
            "id": np.zeros(n, np.int64),
            "move_type": np.full(n, kind, dtype=object),
            "product_id": p.product_id[p_idx],
            "warehouse_id": np.broadcast_to(np.asarray(warehouse, dtype=np.int64), (n,)).copy(),
            "to_warehouse_id": np.full(n, np.nan if to_wh is None else float(to_wh)),
            "qty": np.asarray(qty, dtype=float),
            "unit_cost": cost if cost is not None else p.purchase_price[p_idx],
            "moved_at": times,
            "doc_ref": refs if refs is not None else np.full(n, doc, dtype=object),
            "user_login": self.keeper_login[warehouse - 1]
            if kind != "TRNS"
            else np.full(n, self.keeper_login[0], dtype=object),
            "note": np.full(n, note, dtype=object),
        }


def generate(seed: int = 42, scale: float = 1.0) -> Iterator[Batch]:
    """All batches of the demo company for ``seed`` and ``scale`` (see :class:`DemoGenerator`)."""
    yield from DemoGenerator(seed, scale).batches()
