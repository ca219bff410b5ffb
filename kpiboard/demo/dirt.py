"""Dirt injected into the demo data on purpose, and the manifest that lists every defect.

Real operational databases are dirty: people type a client in twice, phone numbers lose digits,
a percent ends up where money belongs. The demo reproduces that so validation has something real to
catch — and, because every defect is listed here with its table and primary key, validation is
measured against this manifest (recall and precision, not impressions).

Each injector takes a table's frame (a :class:`pandas.DataFrame` about to be written), changes a
small random share of its rows in place and returns the manifest entries for exactly those rows.
Clean rows are never touched, and the generator keeps clean rows clear of every defect kind.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from kpiboard.demo.timeline import DAY, END

ORPHAN_BASE = 900_000
"""Ids from here up never exist: orphan references injected as dirt point there."""

KINDS = (
    "duplicate_client",
    "malformed_phone",
    "malformed_email",
    "malformed_tax_id",
    "percent_as_amount",
    "negative_quantity",
    "orphan_reference",
    "future_date",
    "closed_before_opened",
)


@dataclass(frozen=True)
class Defect:
    """One injected defect: which row of which table, what kind, in which column."""

    database: str
    table: str
    primary_key: int
    kind: str
    column: str
    detail: str


MANIFEST_COLUMNS = tuple(f.name for f in fields(Defect))


def write_manifest(path: Path, defects: Iterable[Defect]) -> int:
    """Write the manifest as CSV (sorted, so the same seed gives the same file); return its size."""
    rows = sorted(defects, key=lambda d: (d.database, d.table, d.primary_key, d.kind, d.column))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(astuple(d) for d in rows)
    return len(rows)


def read_manifest(path: Path) -> list[Defect]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            Defect(
                r["database"],
                r["table"],
                int(r["primary_key"]),
                r["kind"],
                r["column"],
                r["detail"],
            )
            for r in csv.DictReader(fh)
        ]


class Dirt:
    """Injects defects into one database's frames at fixed rates, recording each one."""

    def __init__(self, database: str, rng: np.random.Generator) -> None:
        self.database = database
        self.rng = rng
        self.defects: list[Defect] = []

    def _pick(
        self, frame: pd.DataFrame, rate: float, eligible: npt.NDArray[np.bool_] | None = None
    ) -> npt.NDArray[np.intp]:
        """Positions of the rows to spoil: each eligible row with probability ``rate``."""
        mask = self.rng.random(len(frame)) < rate
        if eligible is not None:
            mask &= eligible
        return np.flatnonzero(mask)

    def _record(
        self,
        frame: pd.DataFrame,
        table: str,
        rows: npt.NDArray[np.intp],
        kind: str,
        column: str,
        details: list[str],
    ) -> None:
        ids = frame["id"].to_numpy()[rows]
        self.defects.extend(
            Defect(self.database, table, int(pk), kind, column, detail)
            for pk, detail in zip(ids.tolist(), details, strict=True)
        )

    def malformed_phone(self, frame: pd.DataFrame, table: str, rate: float) -> None:
        has = frame["phone"].notna().to_numpy()
        rows = self._pick(frame, rate, has)
        col = frame.columns.get_loc("phone")
        details = []
        for r in rows:
            phone = str(frame.iat[r, col])
            digits = "".join(ch for ch in phone if ch.isdigit())
            variant = self.rng.integers(0, 3)
            if variant == 0:
                bad = digits[-7:-1]  # lost the area code and a digit
            elif variant == 1:
                bad = phone.replace("5", "S", 1) if "5" in phone else phone[:-2] + "OO"
            else:
                bad = digits + digits[-2:]  # two digits typed twice: 12 digits
            frame.iat[r, col] = bad
            details.append(f"{phone!r} typed as {bad!r}")
        self._record(frame, table, rows, "malformed_phone", "phone", details)

    def malformed_email(self, frame: pd.DataFrame, table: str, rate: float) -> None:
        has = frame["email"].notna().to_numpy()
        rows = self._pick(frame, rate, has)
        col = frame.columns.get_loc("email")
        details = []
        for r in rows:
            email = str(frame.iat[r, col])
            variant = self.rng.integers(0, 4)
            if variant == 0:
                bad = email.replace("@", "", 1)
            elif variant == 1:
                bad = email.replace("@", "@@", 1)
            elif variant == 2:
                bad = email.rsplit(".", 1)[0]  # lost the top-level domain
            else:
                bad = email.replace("@", " @ ", 1)
            frame.iat[r, col] = bad
            details.append(f"{email!r} typed as {bad!r}")
        self._record(frame, table, rows, "malformed_email", "email", details)

    def malformed_tax_id(self, frame: pd.DataFrame, table: str, rate: float) -> None:
        has = frame["tax_id"].notna().to_numpy()
        rows = self._pick(frame, rate, has)
        col = frame.columns.get_loc("tax_id")
        details = []
        for r in rows:
            tax_id = str(frame.iat[r, col])
            variant = self.rng.integers(0, 3)
            if variant == 0:
                bad = tax_id[:-1]  # a digit short
            elif variant == 1:
                bad = tax_id.replace("-", "") + "0"  # no dash, a digit too many
            else:
                bad = tax_id[:3] + "O" + tax_id[4:]  # letter O for zero
            frame.iat[r, col] = bad
            details.append(f"{tax_id!r} typed as {bad!r}")
        self._record(frame, table, rows, "malformed_tax_id", "tax_id", details)

    def orphan_reference(
        self,
        frame: pd.DataFrame,
        table: str,
        column: str,
        rate: float,
        missing_from: int,
        eligible: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """Point a reference at a missing id (ids from ``missing_from`` up never exist)."""
        has = frame[column].notna().to_numpy()
        if eligible is not None:
            has = has & eligible
        rows = self._pick(frame, rate, has)
        col = frame.columns.get_loc(column)
        details = []
        for r in rows:
            old = frame.iat[r, col]
            bad = missing_from + int(self.rng.integers(0, 90_000))
            frame.iat[r, col] = bad
            details.append(f"{column} {int(old)} replaced by non-existent {bad}")
        self._record(frame, table, rows, "orphan_reference", column, details)

    def future_date(
        self,
        frame: pd.DataFrame,
        table: str,
        column: str,
        rate: float,
        eligible: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """A date typed with the wrong year: it lies after the end of the data."""
        has = frame[column].notna().to_numpy()
        if eligible is not None:
            has = has & eligible
        rows = self._pick(frame, rate, has)
        col = frame.columns.get_loc(column)
        details = []
        for r in rows:
            old = pd.Timestamp(frame.iat[r, col])
            years = int(self.rng.choice([1, 10, 36]))
            bad = old + pd.DateOffset(years=years)
            if bad.timestamp() < END + DAY:  # must be truly in the future
                bad = pd.Timestamp(END + 400 * DAY, unit="s")
            frame.iat[r, col] = bad.to_datetime64().astype("datetime64[s]")
            details.append(f"{old:%Y-%m-%d %H:%M} typed as {bad:%Y-%m-%d %H:%M}")
        self._record(frame, table, rows, "future_date", column, details)

    def negative_quantity(
        self,
        frame: pd.DataFrame,
        table: str,
        rate: float,
        eligible: npt.NDArray[np.bool_] | None = None,
        total: str | None = None,
    ) -> None:
        """A quantity typed with a minus sign; ``total`` (computed by the system) follows it."""
        rows = self._pick(frame, rate, eligible)
        col = frame.columns.get_loc("qty")
        details = []
        for r in rows:
            qty = frame.iat[r, col]
            frame.iat[r, col] = -qty
            if total is not None:
                tcol = frame.columns.get_loc(total)
                frame.iat[r, tcol] = -frame.iat[r, tcol]
            details.append(f"qty {qty} typed as {-qty}")
        self._record(frame, table, rows, "negative_quantity", "qty", details)

    def percent_as_amount(
        self, frame: pd.DataFrame, table: str, rate: float, invoice_totals: npt.NDArray[np.float64]
    ) -> None:
        """A payment of 30 % typed as the amount 30.00 (only on invoices of 1,000 or more)."""
        rows = self._pick(frame, rate, invoice_totals >= 1000)
        col = frame.columns.get_loc("amount")
        details = []
        for r in rows:
            amount = float(frame.iat[r, col])
            share = round(amount / invoice_totals[r] * 100)
            percent = float(min(max(share, 5), 100))
            frame.iat[r, col] = percent
            details.append(f"amount {amount:.2f} ({share}% of the invoice) typed as {percent:.2f}")
        self._record(frame, table, rows, "percent_as_amount", "amount", details)

    def closed_before_opened(
        self, frame: pd.DataFrame, table: str, opened: str, closed: str, rate: float
    ) -> None:
        """A closing time typed a few days before the opening time."""
        rows = self._pick(frame, rate, frame[closed].notna().to_numpy())
        col = frame.columns.get_loc(closed)
        ocol = frame.columns.get_loc(opened)
        details = []
        for r in rows:
            old = pd.Timestamp(frame.iat[r, col])
            bad = pd.Timestamp(frame.iat[r, ocol]) - pd.Timedelta(days=int(self.rng.integers(1, 8)))
            frame.iat[r, col] = bad.to_datetime64().astype("datetime64[s]")
            details.append(
                f"{closed} {old:%Y-%m-%d %H:%M} typed as {bad:%Y-%m-%d %H:%M}, before {opened}"
            )
        self._record(frame, table, rows, "closed_before_opened", closed, details)

    def duplicate_clients(
        self, frame: pd.DataFrame, rate: float, next_id: int, created_after: npt.NDArray[np.int64]
    ) -> pd.DataFrame:
        """Clients typed in a second time, spelled differently; returns the duplicate rows.

        The duplicate keeps the original's tax id, phone or email (that is how a person would find
        it is the same client) and is created some weeks after the original. Only clean rows are
        copied, so a duplicate carries no other defect.
        """
        spoiled = {d.primary_key for d in self.defects if d.table == "clients"}
        rows = self._pick(frame, rate, ~frame["id"].isin(spoiled).to_numpy())
        dups = frame.iloc[rows].copy()
        dups["id"] = np.arange(next_id, next_id + len(rows))
        names = []
        for name in dups["name"].tolist():
            variant = self.rng.integers(0, 4)
            if variant == 0:
                names.append(name.upper())
            elif variant == 1:
                names.append(name.replace(" ", "  ", 1))
            elif variant == 2:
                names.append(
                    name.replace(" LLC", ", LLC").replace(" Inc.", ", Inc")
                    if ("LLC" in name or "Inc." in name)
                    else name.lower()
                )
            else:
                i = int(self.rng.integers(1, max(2, len(name) - 2)))
                names.append(
                    name[:i] + name[i + 1] + name[i] + name[i + 2 :]
                    if len(name) > 3
                    else name + "s"
                )
        dups["name"] = names
        lag = self.rng.integers(3, 60, size=len(rows)) * DAY
        created = np.minimum(created_after[rows] + lag, END - DAY)
        dups["created_at"] = created.astype("datetime64[s]")
        dups["updated_at"] = dups["created_at"]
        dups["lead_id"] = np.nan
        details = [f"duplicate of client {orig}" for orig in frame["id"].to_numpy()[rows].tolist()]
        self._record(dups, "clients", np.arange(len(dups)), "duplicate_client", "name", details)
        return dups
