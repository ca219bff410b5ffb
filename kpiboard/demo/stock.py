"""The stock database: the catalog, drawn once, and the stock it holds, simulated month by month.

:func:`draw_catalog` draws the categories, suppliers, products and warehouses. The catalog's
:class:`Products` are what every branch's invoices sell; the goods those invoices take from a
warehouse arrive as :class:`Demand`, and :class:`StockLedger` turns each month's demand into stock
moves: opening balances, receipts of purchase orders, transfers from the central warehouse to the
branches, shipments (what the shelf cannot cover waits for next month: a stock-out), write-offs,
quarterly inventory counts, and new purchase orders where stock fell below its reorder point.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kpiboard.demo import company as co
from kpiboard.demo import ids
from kpiboard.demo.arrays import BoolArray, FloatArray, IntArray, ObjArray, money
from kpiboard.demo.batch import Batch
from kpiboard.demo.dirt import ORPHAN_BASE, Dirt
from kpiboard.demo.timeline import (
    DAY,
    END,
    HOUR,
    NAT,
    Month,
    epoch,
    latest,
    to_date,
    to_datetime,
)

CENTRAL = 0
"""Position of the central warehouse; branch ``i``'s is ``i + 1``. Ids are positions + 1."""

WAREHOUSES = 1 + len(co.BRANCHES)

PRICE_RISE_ON = epoch(co.REFERENCE_DATE.replace(month=1, day=1))
"""List and purchase prices rise by 4 % from the first of January of the last year."""


def price_factor(times: IntArray | int) -> FloatArray:
    """What the catalog's prices are multiplied by at ``times``."""
    return np.where(np.asarray(times) >= PRICE_RISE_ON, 1.04, 1.0)


# -- the catalog -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Products:
    """The products of the stock catalog as arrays, which every branch's invoices sell.

    Position ``i`` is product id ``i + 1``.
    """

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
        """Positions of the products of ``category``."""
        return np.flatnonzero(self.category == category)

    def in_categories(self, *categories: str) -> IntArray:
        """Positions of the products of each of ``categories``, category by category."""
        return np.concatenate([self.by_category(c) for c in categories])


@dataclass(frozen=True)
class Catalog:
    """What the company sells and who supplies it, with the four tables that describe it."""

    products: Products
    supplier_lead_days: IntArray  # by supplier position
    tables: tuple[Batch, ...]


def draw_catalog(rng: np.random.Generator) -> Catalog:
    """Draw the stock catalog: categories, suppliers, products and warehouses."""
    start = epoch(co.REFERENCE_DATE.replace(year=co.REFERENCE_DATE.year - 6))
    category_id = {c: i + 1 for i, (c, _) in enumerate(co.CATEGORY_TREE)}
    suppliers, lead_days = _suppliers(rng, start)
    products, products_frame = _products(rng, start, category_id)
    tables = (
        Batch(co.STOCK_DATABASE, "categories", _categories(category_id)),
        Batch(co.STOCK_DATABASE, "suppliers", suppliers),
        Batch(co.STOCK_DATABASE, "products", products_frame),
        Batch(co.STOCK_DATABASE, "warehouses", _warehouses()),
    )
    return Catalog(products, lead_days, tables)


def _categories(category_id: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.arange(1, len(co.CATEGORY_TREE) + 1),
            "parent_id": [category_id[p] if p else None for _, p in co.CATEGORY_TREE],
            "name": [c for c, _ in co.CATEGORY_TREE],
        }
    )


def _suppliers(rng: np.random.Generator, start: int) -> tuple[pd.DataFrame, IntArray]:
    """The suppliers' table and each supplier's lead time in days."""
    n = len(co.SUPPLIERS)
    seq = np.arange(n, dtype=np.int64)
    created = start + rng.integers(0, 400, n) * DAY
    lead_days = rng.integers(4, 22, n)
    slug = ids.slugs(np.array(co.SUPPLIERS, dtype=object))
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "name": co.SUPPLIERS,
            "tax_id": ids.tax_ids(7, ids.SUPPLIER, seq),
            "city": rng.choice(
                ["Denver", "Dallas", "Phoenix", "Seattle", "Chicago", "Salt Lake City"], n
            ),
            "phone": ids.phone_numbers("800", ids.SUPPLIER, seq, np.zeros(n, np.int64)),
            "email": [f"orders@{s}.com" for s in slug],
            "lead_time_days": lead_days,
            "is_active": np.ones(n, bool),
            "created_at": to_datetime(created),
            "updated_at": to_datetime(created + rng.integers(0, 900, n) * DAY),
        }
    )
    return frame, lead_days


def _item_names(line: co.ProductLine) -> list[str]:
    """A product line's items: its plain ones, then ``per_brand`` models of every brand."""
    items = list(line.plain)
    for brand in co.PRINTER_BRANDS:
        for k in range(line.per_brand):
            model = f"{brand[:2].upper()}{100 + 37 * k + len(brand) * 11}"
            items.append(f"{line.category.rstrip('s')} {brand} {model}")
    return items


def _products(
    rng: np.random.Generator, start: int, category_id: dict[str, int]
) -> tuple[Products, pd.DataFrame]:
    names: list[str] = []
    lines: list[co.ProductLine] = []
    list_price: list[float] = []
    purchase_price: list[float] = []
    demand: list[float] = []
    for line in co.PRODUCT_LINES:
        for item in _item_names(line):
            lo, hi = line.price
            price = round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 0) - 0.01
            share = rng.uniform(*line.margin)
            popularity = float(rng.pareto(1.6) + 0.2)
            names.append(item)
            lines.append(line)
            list_price.append(price)
            purchase_price.append(round(price * share, 2))
            demand.append(line.demand * popularity)
    n = len(names)
    category = [line.category for line in lines]
    kind = np.array([line.kind for line in lines], dtype=object)
    is_good = kind == "G"
    supplier_index = rng.integers(0, len(co.SUPPLIERS), n)
    prefix = {c: "".join(w[0] for w in c.split()).upper()[:3] for c, _ in co.CATEGORY_TREE}
    sku = np.array([f"{prefix[c]}-{1000 + i:04d}" for i, c in enumerate(category)], dtype=object)
    reorder = np.where(rng.random(n) < 0.12, rng.uniform(0.15, 0.5, n), rng.uniform(1.1, 1.6, n))
    products = Products(
        product_id=np.arange(1, n + 1, dtype=np.int64),
        sku=sku,
        name=np.array(names, dtype=object),
        category=np.array(category, dtype=object),
        is_good=is_good,
        list_price=np.array(list_price),
        purchase_price=np.array(purchase_price),
        demand=np.array(demand),
        supplier_index=supplier_index,
        reorder_factor=reorder,
    )
    created = start + rng.integers(0, 800, n) * DAY
    frame = pd.DataFrame(
        {
            "id": products.product_id,
            "sku": sku,
            "name": products.name,
            "category_id": [category_id[c] for c in category],
            "kind": kind,
            "unit": [line.unit for line in lines],
            "purchase_price": np.where(
                products.purchase_price > 0, products.purchase_price, np.nan
            ),
            "list_price": products.list_price,
            "supplier_id": np.where(is_good, supplier_index + 1, np.nan),
            "min_stock": np.where(is_good, rng.integers(2, 40, n), np.nan),
            "is_archived": rng.random(n) < 0.03,
            "created_at": to_datetime(created),
            "updated_at": to_datetime(
                np.minimum(created + rng.integers(0, 1500, n) * DAY, END - DAY)
            ),
        }
    )
    return products, frame


def _warehouses() -> pd.DataFrame:
    codes = ["CEN", *[b.code[:3].upper() for b in co.BRANCHES]]
    return pd.DataFrame(
        {
            "id": np.arange(1, len(codes) + 1),
            "code": codes,
            "name": ["Central warehouse", *[f"{b.city} branch stock" for b in co.BRANCHES]],
            "branch_code": [None, *[b.code for b in co.BRANCHES]],
            "city": ["Denver", *[b.city for b in co.BRANCHES]],
            "is_active": np.ones(len(codes), bool),
        }
    )


# -- what the branches need from stock ------------------------------------------------------------


@dataclass(frozen=True)
class Orders:
    """Goods to ship, one row per invoice line, as arrays."""

    warehouse: IntArray  # warehouse id
    product: IntArray  # product id
    qty: FloatArray
    time: IntArray  # when the goods should leave the shelf
    doc_ref: ObjArray  # the invoice they go out on

    @classmethod
    def none(cls) -> Orders:
        """No orders at all."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0),
            np.zeros(0, np.int64),
            np.zeros(0, object),
        )

    def __len__(self) -> int:
        return len(self.warehouse)

    def then(self, later: Orders) -> Orders:
        """These orders followed by ``later``."""
        return Orders(
            np.concatenate([self.warehouse, later.warehouse]),
            np.concatenate([self.product, later.product]),
            np.concatenate([self.qty, later.qty]),
            np.concatenate([self.time, later.time]),
            np.concatenate([self.doc_ref, later.doc_ref]),
        )

    def take(self, rows: IntArray | BoolArray) -> Orders:
        """The orders at ``rows`` (positions or a mask)."""
        return Orders(
            self.warehouse[rows],
            self.product[rows],
            self.qty[rows],
            self.time[rows],
            self.doc_ref[rows],
        )


@dataclass
class Demand:
    """Goods a month's invoices need from the warehouses, collected branch by branch."""

    parts: list[Orders] = field(default_factory=list)

    def add(
        self, warehouse: int, product: IntArray, qty: FloatArray, time: IntArray, doc_ref: ObjArray
    ) -> None:
        """Add one branch's goods lines, all from its ``warehouse`` (an id), in time order."""
        where = np.full(len(product), warehouse, dtype=np.int64)
        self.parts.append(Orders(where, product, qty, time, doc_ref))

    def orders(self) -> Orders:
        """All of the month's goods lines, branch after branch."""
        total = Orders.none()
        for part in self.parts:
            total = total.then(part)
        return total


# -- the ledger ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseOrder:
    """An order for the central warehouse from one supplier, until its goods arrive."""

    id: int
    number: str
    supplier: int  # position
    ordered: int
    expected: int
    arrives: int
    product: IntArray  # positions
    qty: FloatArray
    unit_cost: FloatArray

    @property
    def received(self) -> bool:
        """Whether the goods arrive before the end of the data."""
        return self.arrives < END

    @property
    def total_cost(self) -> float:
        return float(np.round(np.sum(self.qty * self.unit_cost), 2))


class StockLedger:
    """The company's stock, month by month: what is on hand where, and every move that changes it.

    The ledger estimates each warehouse's monthly need from the demand it has seen, keeps the
    branch warehouses stocked from the central one, and reorders from suppliers for the central
    warehouse. Products whose reorder factor is set too low run out now and then.
    """

    def __init__(self, catalog: Catalog, keeper_login: ObjArray, scale: float, dirt: Dirt) -> None:
        self.products = catalog.products
        self.supplier_lead_days = catalog.supplier_lead_days
        self.keeper_login = keeper_login  # by warehouse position
        self.scale = scale
        self.dirt = dirt
        self.keys = ids.KeySequences()
        shape = (WAREHOUSES, len(self.products.product_id))
        self.on_hand = np.zeros(shape)
        self.expected = np.zeros(shape)  # monthly demand estimate per warehouse and product
        self.in_transit: list[PurchaseOrder] = []
        self.backlog = Orders.none()  # orders the shelf could not cover, oldest first
        self.opened = False

    def month(self, month: Month, rng: np.random.Generator, demand: Demand) -> Iterator[Batch]:
        """The month's purchase orders and stock moves."""
        new = demand.orders()
        first = not self.opened
        self._estimate(new, first)
        moves = self._open(month) if first else []
        moves += self._receive(month)
        moves += self._transfer(month)
        moves += self._ship(month, new)
        moves += self._write_off_and_count(month, rng)
        yield from self._reorder(month, rng)
        moves = [m for m in moves if len(m)]
        if moves:
            yield Batch(co.STOCK_DATABASE, "stock_moves", self._moves_frame(moves))

    def _estimate(self, new: Orders, first: bool) -> None:
        """Update each warehouse's monthly need with the month's ``new`` orders."""
        this_month = np.zeros_like(self.expected)
        np.add.at(this_month, (new.warehouse - 1, new.product - 1), new.qty)
        this_month[CENTRAL] = this_month[1:].sum(axis=0)  # the central warehouse feeds them all
        self.expected = this_month if first else 0.6 * self.expected + 0.4 * this_month

    def _open(self, month: Month) -> list[pd.DataFrame]:
        """Opening balances, counted the day before the data starts: a little over the need."""
        self.opened = True
        p = self.products
        cover = np.array([2.0, *[1.5] * len(co.BRANCHES)])[:, None]
        opening = np.ceil(np.where(p.is_good, self.expected * cover * p.reorder_factor, 0))
        w_i, p_i = np.nonzero(opening)
        self.on_hand += opening
        at = month.start - DAY + 9 * HOUR
        doc, note = "OPENING", "Opening balance"
        return [self._move("ADJ", p_i, w_i, opening[w_i, p_i], at, doc=doc, note=note)]

    def _receive(self, month: Month) -> list[pd.DataFrame]:
        """Receipts at the central warehouse of purchase orders that arrive this month."""
        moves = []
        waiting = []
        for po in self.in_transit:
            if po.arrives < month.end:
                at = min(po.arrives, END - HOUR)
                moves.append(
                    self._move(
                        "RCPT", po.product, CENTRAL, po.qty, at, doc=po.number, cost=po.unit_cost
                    )
                )
                self.on_hand[CENTRAL, po.product] += po.qty
            else:
                waiting.append(po)
        self.in_transit = waiting
        return moves

    def _transfer(self, month: Month) -> list[pd.DataFrame]:
        """Transfers to the branch warehouses at the start of the month, up to 1.5 months' need."""
        p = self.products
        moves = []
        for w in range(1, WAREHOUSES):
            want = np.ceil(
                np.where(p.is_good, 1.5 * self.expected[w] * p.reorder_factor - self.on_hand[w], 0)
            )
            give = np.minimum(np.maximum(want, 0), self.on_hand[CENTRAL])
            p_i = np.flatnonzero(give >= 1)
            if len(p_i):
                at = int(month.workdays[0]) + 8 * HOUR + w * 600
                moves.append(
                    self._move(
                        "TRNS", p_i, CENTRAL, give[p_i], at, doc=f"TR-{month.label}-{w}", to=w
                    )
                )
                self.on_hand[CENTRAL, p_i] -= give[p_i]
                self.on_hand[w, p_i] += give[p_i]
        return moves

    def _ship(self, month: Month, new: Orders) -> list[pd.DataFrame]:
        """Shipments: last month's backlog first, then the new orders in time order.

        What the shelf cannot cover waits for next month (a stock-out); waiting orders go out at
        10:00 on the month's first workday.
        """
        is_backlog = np.arange(len(self.backlog) + len(new)) < len(self.backlog)
        orders = self.backlog.then(new)
        order = np.lexsort((orders.time, ~is_backlog))
        orders, is_backlog = orders.take(order), is_backlog[order]
        time = np.where(is_backlog, int(month.workdays[0]) + 10 * HOUR, orders.time)
        orders = Orders(orders.warehouse, orders.product, orders.qty, time, orders.doc_ref)
        w_i, p_i = orders.warehouse - 1, orders.product - 1
        shipped = np.zeros(len(orders), bool)
        moves = []
        if len(orders):
            # an order ships if, with the earlier orders for the same shelf, it fits on the shelf
            key = w_i * len(self.products.product_id) + p_i
            by_key = np.argsort(key, kind="stable")
            k_sorted = key[by_key]
            csum = np.cumsum(orders.qty[by_key])
            group_start = np.r_[0, np.flatnonzero(np.diff(k_sorted)) + 1]
            offset = np.repeat(
                csum[group_start] - orders.qty[by_key][group_start],
                np.diff(np.r_[group_start, len(k_sorted)]),
            )
            need = csum - offset
            avail = self.on_hand.reshape(-1)[k_sorted]
            shipped[by_key] = need <= avail + 1e-9
            out = shipped & (time < END)
            qty = orders.qty[out]
            moves.append(
                self._move("SHIP", p_i[out], w_i[out], qty, time[out], refs=orders.doc_ref[out])
            )
            np.add.at(self.on_hand, (w_i[out], p_i[out]), -qty)
        self.backlog = orders.take(~shipped)
        return moves

    def _write_off_and_count(self, month: Month, rng: np.random.Generator) -> list[pd.DataFrame]:
        """Write-offs of damaged goods, and a quarterly inventory count, warehouse by warehouse."""
        moves = []
        for w in range(WAREHOUSES):
            moves += self._write_off(month, rng, w)
            if month.calendar_month in (3, 6, 9, 12):
                moves += self._count(month, rng, w)
        return moves

    def _write_off(self, month: Month, rng: np.random.Generator, w: int) -> list[pd.DataFrame]:
        """A few damaged items of products in stock at warehouse position ``w``."""
        stocked = np.flatnonzero(self.products.is_good & (self.on_hand[w] >= 3))
        k = min(len(stocked), int(rng.poisson(6 * self.scale**0.5)))
        if k == 0:
            return []
        p_i = rng.choice(stocked, k, replace=False)
        q = rng.integers(1, 3, k).astype(float)
        at = np.sort(rng.choice(month.workdays, k)) + 15 * HOUR
        self.on_hand[w, p_i] -= q
        return [self._move("WOFF", p_i, np.full(k, w), q, at, note="Damaged")]

    def _count(self, month: Month, rng: np.random.Generator, w: int) -> list[pd.DataFrame]:
        """An inventory count on the month's last workday: small corrections of 12 products."""
        counted = np.flatnonzero(self.products.is_good & (self.on_hand[w] >= 5))
        k = min(len(counted), 12)
        if k == 0:
            return []
        p_i = rng.choice(counted, k, replace=False)
        q = rng.choice([-3.0, -2.0, -1.0, 1.0, 2.0], k)
        at = int(month.workdays[-1]) + 17 * HOUR
        self.on_hand[w, p_i] += q
        doc = f"INV-{month.label}"
        return [self._move("ADJ", p_i, np.full(k, w), q, at, doc=doc, note="Inventory count")]

    def _reorder(self, month: Month, rng: np.random.Generator) -> Iterator[Batch]:
        """Purchase orders for the central warehouse where stock fell below the reorder point.

        A product already on order is not ordered again; each supplier gets one order.
        """
        p = self.products
        on_order = np.zeros(len(p.is_good), bool)
        for po in self.in_transit:
            on_order[po.product] = True
        reorder_point = self.expected[CENTRAL] * p.reorder_factor
        below = p.is_good & (self.on_hand[CENTRAL] < reorder_point) & ~on_order
        placed = []
        for sup in np.unique(p.supplier_index[below]):
            p_i = np.flatnonzero(below & (p.supplier_index == sup))
            q = np.ceil(
                np.maximum(
                    2.5 * self.expected[CENTRAL, p_i] * p.reorder_factor[p_i]
                    - self.on_hand[CENTRAL, p_i],
                    1,
                )
            )
            cost = money(p.purchase_price[p_i] * price_factor(month.start))
            po_id = int(self.keys.take("purchase_orders", 1)[0])
            third_workday = int(month.workdays[min(2, len(month.workdays) - 1)])
            ordered = third_workday + 11 * HOUR + int(sup) * 300
            lead = int(self.supplier_lead_days[sup])
            po = PurchaseOrder(
                id=po_id,
                number=f"PO-{month.label.replace('-', '')}-{po_id:05d}",
                supplier=int(sup),
                ordered=ordered,
                expected=ordered + lead * DAY,
                arrives=ordered + int(lead + rng.integers(-2, 6)) * DAY,
                product=p_i,
                qty=q,
                unit_cost=cost,
            )
            if ordered < END:
                placed.append(po)
                self.in_transit.append(po)
        if placed:
            yield Batch(co.STOCK_DATABASE, "purchase_orders", _purchase_orders_frame(placed))
            yield Batch(co.STOCK_DATABASE, "purchase_order_lines", self._lines_frame(placed))

    def _lines_frame(self, placed: list[PurchaseOrder]) -> pd.DataFrame:
        order_id = np.concatenate([np.full(len(po.product), po.id) for po in placed])
        return pd.DataFrame(
            {
                "id": self.keys.take("purchase_order_lines", len(order_id)),
                "purchase_order_id": order_id,
                "product_id": self.products.product_id[
                    np.concatenate([po.product for po in placed])
                ],
                "qty": np.concatenate([po.qty for po in placed]),
                "unit_cost": np.concatenate([po.unit_cost for po in placed]),
            }
        )

    def _move(
        self,
        kind: str,
        product: IntArray,
        warehouse: IntArray | int,
        qty: FloatArray,
        at: IntArray | int,
        *,
        doc: str | None = None,
        refs: ObjArray | None = None,
        note: str | None = None,
        to: int | None = None,
        cost: FloatArray | None = None,
    ) -> pd.DataFrame:
        """Stock moves of ``product`` positions at ``warehouse`` positions (``to``: the target).

        ``doc`` is one document for all moves, ``refs`` one per move; ``cost`` defaults to the
        catalog's purchase price. The ids are given when the month's moves are put in time order.
        """
        n = len(product)
        p = self.products
        warehouse_id = np.broadcast_to(np.asarray(warehouse, dtype=np.int64) + 1, (n,)).copy()
        return pd.DataFrame(
            {
                "id": np.zeros(n, np.int64),
                "move_type": np.full(n, kind, dtype=object),
                "product_id": p.product_id[product],
                "warehouse_id": warehouse_id,
                "to_warehouse_id": np.full(n, np.nan if to is None else float(to + 1)),
                "qty": np.asarray(qty, dtype=float),
                "unit_cost": cost if cost is not None else p.purchase_price[product],
                "moved_at": np.broadcast_to(np.asarray(at, dtype=np.int64), (n,)).copy(),
                "doc_ref": refs if refs is not None else np.full(n, doc, dtype=object),
                "user_login": self.keeper_login[warehouse_id - 1],
                "note": np.full(n, note, dtype=object),
            }
        )

    def _moves_frame(self, moves: list[pd.DataFrame]) -> pd.DataFrame:
        """The month's moves in time order, with their ids and the stock database's dirt."""
        frame = (
            pd.concat(moves, ignore_index=True)
            .sort_values("moved_at", kind="stable")
            .reset_index(drop=True)
        )
        frame["id"] = self.keys.take("stock_moves", len(frame))
        frame["moved_at"] = to_datetime(frame["moved_at"].to_numpy())
        frame["created_at"] = frame["moved_at"]
        frame["updated_at"] = frame["moved_at"]
        directional = frame["move_type"].isin(["RCPT", "SHIP"]).to_numpy()
        self.dirt.negative_quantity(frame, "stock_moves", 0.0008, eligible=directional)
        # a shipment of a product the catalog does not know (typed by hand at the counter)
        shipments = (frame["move_type"] == "SHIP").to_numpy()
        self.dirt.orphan_reference(
            frame, "stock_moves", "product_id", 0.0005, ORPHAN_BASE, eligible=shipments
        )
        self.dirt.future_date(frame, "stock_moves", "moved_at", 0.0002)
        return frame


def _purchase_orders_frame(placed: list[PurchaseOrder]) -> pd.DataFrame:
    ordered = np.array([po.ordered for po in placed], dtype=np.int64)
    received = np.array(
        [min(po.arrives, END - HOUR) if po.received else NAT for po in placed], dtype=np.int64
    )
    return pd.DataFrame(
        {
            "id": np.array([po.id for po in placed], dtype=np.int64),
            "number": [po.number for po in placed],
            "supplier_id": np.array([po.supplier + 1 for po in placed], dtype=np.int64),
            "warehouse_id": np.full(len(placed), CENTRAL + 1, dtype=np.int64),
            "status_code": ["RCVD" if po.received else "SENT" for po in placed],
            "ordered_at": to_datetime(ordered),
            "expected_on": to_date(np.array([po.expected for po in placed], dtype=np.int64)),
            "received_at": to_datetime(received),
            "total_cost": [po.total_cost for po in placed],
            "created_at": to_datetime(ordered - HOUR),
            "updated_at": to_datetime(latest(ordered, received)),
        }
    )
