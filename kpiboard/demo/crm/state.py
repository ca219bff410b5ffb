"""What one branch's CRM is, and what it remembers from month to month.

Only this small state crosses months — the staff, the clients, the won deals still to be invoiced —
so memory stays bounded by one month's rows whatever the scale. Within a month, the month's leads
wait here for the activities that answer them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kpiboard.demo import company as co
from kpiboard.demo.arrays import BoolArray, FloatArray, IntArray, ObjArray
from kpiboard.demo.dirt import Dirt
from kpiboard.demo.ids import KeySequences
from kpiboard.demo.stock import Products
from kpiboard.demo.timeline import NAT, Month


@dataclass(frozen=True)
class Staff:
    """A branch's employees, one position per person."""

    id: IntArray
    role: ObjArray
    login: ObjArray
    skill: FloatArray  # around 1: more calls, better win rates, faster repairs above it
    hired: IntArray
    left: IntArray  # NAT while still employed

    @classmethod
    def none(cls) -> Staff:
        """No one yet (before the branch is set up)."""
        no_ints = np.zeros(0, np.int64)
        no_text = np.zeros(0, object)
        return cls(no_ints, no_text, no_text, np.zeros(0), no_ints, no_ints)

    def active(self, role: str, month: Month) -> IntArray:
        """Positions of the people of ``role`` employed during ``month``."""
        return np.flatnonzero(
            (self.role == role)
            & (self.hired < month.end)
            & ((self.left == NAT) | (self.left >= month.start))
        )


@dataclass
class Clients:
    """A branch's clients, one position per client, in id order, with what later months need."""

    id: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    created: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    segment: ObjArray = field(default_factory=lambda: np.zeros(0, object))
    owner: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # a user id
    address: ObjArray = field(default_factory=lambda: np.zeros(0, object))
    terms: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # days to pay
    payer: FloatArray = field(default_factory=lambda: np.zeros(0))  # mean days late
    contract: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # 0: none

    def add(self, new: Clients) -> None:
        """Append ``new`` clients (their ids follow the existing ones)."""
        self.id = np.concatenate([self.id, new.id])
        self.created = np.concatenate([self.created, new.created])
        self.segment = np.concatenate([self.segment, new.segment])
        self.owner = np.concatenate([self.owner, new.owner])
        self.address = np.concatenate([self.address, new.address])
        self.terms = np.concatenate([self.terms, new.terms])
        self.payer = np.concatenate([self.payer, new.payer])
        self.contract = np.concatenate([self.contract, new.contract])

    def created_before(self, time: int) -> IntArray:
        """Positions of the clients that existed before ``time``."""
        return np.flatnonzero(self.created < time)

    def position(self, client_id: IntArray) -> IntArray:
        """Positions of the clients with ids ``client_id``."""
        return np.searchsorted(self.id, client_id)


@dataclass(frozen=True)
class WonDeals:
    """Won deals waiting for the month they close in, to be invoiced then."""

    id: IntArray
    client: IntArray  # client id
    closed: IntArray

    @classmethod
    def none(cls) -> WonDeals:
        """No deals."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def then(self, later: WonDeals) -> WonDeals:
        """These deals followed by ``later``."""
        return WonDeals(
            np.concatenate([self.id, later.id]),
            np.concatenate([self.client, later.client]),
            np.concatenate([self.closed, later.closed]),
        )

    def closing_before(self, time: int) -> tuple[WonDeals, WonDeals]:
        """The deals that close before ``time``, and those still waiting."""
        now = self.closed < time
        return (
            WonDeals(self.id[now], self.client[now], self.closed[now]),
            WonDeals(self.id[~now], self.client[~now], self.closed[~now]),
        )


@dataclass(frozen=True)
class MonthLeads:
    """The leads that arrived in one month, with what their answers depend on."""

    id: IntArray
    created: IntArray
    channel: ObjArray  # lead_channels.code
    assignee: IntArray  # the sales manager's position in the staff
    junk: BoolArray
    converted: IntArray  # when the lead became a client; NAT if it has not
    callback: BoolArray  # a website questionnaire that asks to be called back

    @classmethod
    def none(cls) -> MonthLeads:
        """No leads."""
        no_ints = np.zeros(0, np.int64)
        no_flags = np.zeros(0, bool)
        return cls(no_ints, no_ints, np.zeros(0, object), no_ints, no_flags, no_ints, no_flags)


@dataclass
class BranchState:
    """One branch's CRM while it is generated: what it is, and what it remembers.

    Every step of a branch's month takes this state, reads the staff and clients it needs, and
    updates what later months depend on.
    """

    index: int
    branch: co.Branch
    scale: float
    products: Products  # the company's catalog, which every branch sells
    dirt: Dirt  # the defects of this branch's database
    keys: KeySequences = field(default_factory=KeySequences)
    staff: Staff = field(default_factory=Staff.none)
    clients: Clients = field(default_factory=Clients)
    won_waiting: WonDeals = field(default_factory=WonDeals.none)
    month_leads: MonthLeads = field(default_factory=MonthLeads.none)  # this month's, to answer
    last_deal_id: int = 0

    @property
    def database(self) -> str:
        return self.branch.database

    @property
    def prefix(self) -> str:
        """The branch's code in document numbers: ``DEN``, ``AUS``, ``POR``."""
        return self.branch.code[:3].upper()

    def volume(self, month: Month, per_month: float) -> float:
        """This branch's expected count of something the company does ``per_month`` at scale 1."""
        season = co.SEASONALITY[month.calendar_month - 1]
        growth = (1 + co.MONTHLY_GROWTH) ** month.index
        return per_month * self.branch.weight * self.scale * season * growth

    def recent_deals(
        self, rng: np.random.Generator, n: int, share: float, window: int
    ) -> FloatArray:
        """For ``share`` of ``n`` rows, one of the last ``window`` deals; NaN for the rest."""
        if self.last_deal_id == 0:
            return np.full(n, np.nan)
        deal = rng.integers(max(1, self.last_deal_id - window), self.last_deal_id + 1, n)
        return np.where(rng.random(n) < share, deal, np.nan)

    def warehouse_keeper(self) -> str:
        """The login of the branch's (first) warehouse keeper."""
        return str(self.staff.login[self.staff.role == "WK"][0])
