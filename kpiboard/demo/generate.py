"""The demo company's operational data, generated month by month.

:func:`generate` yields :class:`Batch` es — a frame of rows for one table of one database — in an
order that a writer can stream: first the stock catalog, then each branch's CRM set-up (users,
reference tables, the clients it already had), then, for each of the 24 months, every branch's CRM
activity followed by the month's stock movements. Only small state crosses months (clients, open
stock, the employees), so memory stays bounded by one month's rows whatever the scale.

This module only sets that order; the rows come from :mod:`kpiboard.demo.stock` (the catalog and
the :class:`~kpiboard.demo.stock.StockLedger`) and :mod:`kpiboard.demo.crm` (each branch).
Everything is drawn from ``numpy`` generators seeded by ``(seed, stream, ...)`` — see
:class:`Streams` — so a seed gives the same rows on every run and every database engine.

What the data shows, on purpose: seasonality and growth; employees of uneven skill (more calls,
better win rates, faster repairs); leads converting into clients and deals moving through the
pipeline; overdue tasks and unpaid invoices at the reference date; stock-outs of products whose
reorder point is set too low; and the dirt of :mod:`kpiboard.demo.dirt`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from kpiboard.demo import company as co
from kpiboard.demo.arrays import seeded_rng
from kpiboard.demo.batch import Batch
from kpiboard.demo.crm import BranchState, branch_month, set_up_branch
from kpiboard.demo.dirt import Defect, Dirt
from kpiboard.demo.stock import Demand, StockLedger, draw_catalog
from kpiboard.demo.timeline import Month, months

__all__ = ["Batch", "DemoGenerator", "generate"]


class Streams:
    """The generators one run draws from, each seeded by the run's seed and a fixed key.

    A stream per stage, branch and month keeps tables independent: changing how one month of one
    branch is drawn leaves every other month and branch as it was.
    """

    CATALOG = 1
    STOCK = 2  # + month index
    BRANCH = 100  # + branch index; + 0 for the set-up, + 1 + month index for each month
    LEAD_ANSWERS = 300  # + branch index; + month index
    BRANCH_DIRT = 9_000  # + branch index
    STOCK_DIRT = 9_999

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def catalog(self) -> np.random.Generator:
        return seeded_rng(self.seed, self.CATALOG)

    def stock_month(self, month: Month) -> np.random.Generator:
        return seeded_rng(self.seed, self.STOCK, month.index)

    def branch_setup(self, branch: int) -> np.random.Generator:
        return seeded_rng(self.seed, self.BRANCH + branch, 0)

    def branch_month(self, branch: int, month: Month) -> np.random.Generator:
        return seeded_rng(self.seed, self.BRANCH + branch, month.index + 1)

    def lead_answers(self, branch: int, month: Month) -> np.random.Generator:
        return seeded_rng(self.seed, self.LEAD_ANSWERS + branch, month.index)

    def branch_dirt(self, branch: int) -> np.random.Generator:
        return seeded_rng(self.seed, self.BRANCH_DIRT + branch)

    def stock_dirt(self) -> np.random.Generator:
        return seeded_rng(self.seed, self.STOCK_DIRT)


class DemoGenerator:
    """Generates the demo company for one seed and scale; iterate :meth:`batches`.

    After the iteration, :attr:`defects` lists every defect injected into the rows.
    """

    def __init__(self, seed: int = 42, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.seed = seed
        self.scale = scale
        self.months = months()
        self.defects: list[Defect] = []

    def batches(self) -> Iterator[Batch]:
        """Every table's rows in writing order: catalog, branch set-ups, then month by month."""
        streams = Streams(self.seed)
        catalog = draw_catalog(streams.catalog())
        yield from catalog.tables

        branches = [
            BranchState(
                i,
                branch,
                self.scale,
                catalog.products,
                Dirt(branch.database, streams.branch_dirt(i)),
            )
            for i, branch in enumerate(co.BRANCHES)
        ]
        for s in branches:
            yield from set_up_branch(s, streams.branch_setup(s.index), self.months[0].start)

        keepers = [s.warehouse_keeper() for s in branches]
        keeper_login = np.array([keepers[0], *keepers], dtype=object)  # Denver runs central
        stock_dirt = Dirt(co.STOCK_DATABASE, streams.stock_dirt())
        ledger = StockLedger(catalog, keeper_login, self.scale, stock_dirt)
        for month in self.months:
            demand = Demand()
            for s in branches:
                yield from branch_month(
                    s,
                    month,
                    streams.branch_month(s.index, month),
                    streams.lead_answers(s.index, month),
                    demand,
                )
            yield from ledger.month(month, streams.stock_month(month), demand)

        self.defects = [
            d for dirt in (*(s.dirt for s in branches), stock_dirt) for d in dirt.defects
        ]


def generate(seed: int = 42, scale: float = 1.0) -> Iterator[Batch]:
    """All batches of the demo company for ``seed`` and ``scale`` (see :class:`DemoGenerator`)."""
    yield from DemoGenerator(seed, scale).batches()
