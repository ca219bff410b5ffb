"""The branches' CRMs: each branch's set-up, then its activity month by month.

A branch starts with :func:`set_up_branch` (:mod:`.setup`: users, reference tables, the clients it
already had) and then, for each month, :func:`branch_month` (:mod:`.branch`) runs its steps in
order: :mod:`.pipeline` (leads, new :mod:`.clients`, deals), :mod:`.activity` (activities and
tasks), :mod:`.answers` (the calls and e-mails that answer the leads), :mod:`.contracts`, and the
sales — :mod:`.service` requests, :mod:`.invoices` with their lines and payments, and
:mod:`.deliveries`, which also tell the stock what goods leave the branch's warehouse. What a
branch remembers between months is its :class:`BranchState` (:mod:`.state`).
"""

from __future__ import annotations

from kpiboard.demo.crm.branch import branch_month
from kpiboard.demo.crm.setup import set_up_branch
from kpiboard.demo.crm.state import BranchState

__all__ = ["BranchState", "branch_month", "set_up_branch"]
