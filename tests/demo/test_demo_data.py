"""The demo company's data: deterministic, 24 months, realistic shape, and dirt exactly as listed.

One demo at scale 0.1 is generated into SQLite files per test session; the checks read it back with
plain SQL, independently of the generator's code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from kpiboard.demo import BuildResult, build_sources, company
from kpiboard.demo.dirt import KINDS, Defect, read_manifest
from kpiboard.demo.generate import DemoGenerator

FIRST_DAY = "2024-11-01"
END = "2026-11-01"  # the first instant after the data
CRMS = [b.database for b in company.BRANCHES]

PHONE = r"^(\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\+1 \d{3} \d{3} \d{4})$"
EMAIL = r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
TAX_ID = r"^\d{2}-\d{7}$"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildResult, Path]:
    folder = tmp_path_factory.mktemp("demo")
    result = build_sources(f"sqlite:///{folder}/{{db}}.sqlite", seed=11, scale=0.1)
    return result, folder


def query(folder: Path, database: str, sql: str) -> pd.DataFrame:
    with closing(sqlite3.connect(folder / f"{database}.sqlite")) as con:
        return pd.read_sql_query(sql, con)


def manifest(folder: Path) -> list[Defect]:
    return read_manifest(folder / "dirt_manifest.csv")


def listed(folder: Path, database: str, table: str, kind: str) -> set[int]:
    return {
        d.primary_key
        for d in manifest(folder)
        if (d.database, d.table, d.kind) == (database, table, kind)
    }


# -- determinism and volume -------------------------------------------------------------------


def _fingerprint(seed: int, scale: float) -> list[tuple[str, str, int]]:
    return [
        (b.database, b.table, int(pd.util.hash_pandas_object(b.frame, index=False).sum()))
        for b in DemoGenerator(seed, scale).batches()
    ]


def test_same_seed_gives_the_same_rows_and_another_seed_does_not() -> None:
    first = _fingerprint(5, 0.02)
    assert first == _fingerprint(5, 0.02)
    assert first != _fingerprint(6, 0.02)


def test_scale_one_is_about_a_million_rows() -> None:
    rows = sum(len(b.frame) for b in DemoGenerator(42, 1.0).batches())
    assert 800_000 <= rows <= 1_500_000, rows


def test_every_table_of_every_database_gets_rows(demo: tuple[BuildResult, Path]) -> None:
    result, _ = demo
    from kpiboard.demo import metadata_for

    for database in company.database_names():
        empty = [t for t in metadata_for(database).tables if not result.rows.get((database, t))]
        assert not empty, f"{database}: no rows in {empty}"


# -- the shape of the business ------------------------------------------------------------------


def test_history_is_24_months_ending_at_the_reference_date(demo: tuple[BuildResult, Path]) -> None:
    _, folder = demo
    future = listed(folder, "crm_denver", "activities", "future_date")
    acts = query(folder, "crm_denver", "SELECT id, started_at FROM activities")
    acts = acts[~acts["id"].isin(future)]
    months = acts["started_at"].str[:7]
    assert months.min() == FIRST_DAY[:7]
    assert months.max() == company.REFERENCE_DATE.isoformat()[:7]
    assert months.nunique() == company.MONTHS
    assert acts["started_at"].max() < END


def test_seasonality_and_growth_show_in_invoicing(demo: tuple[BuildResult, Path]) -> None:
    _, folder = demo
    frames = [
        query(
            folder,
            db,
            "SELECT substr(issued_on, 1, 7) AS month, COUNT(*) AS n FROM invoices GROUP BY 1",
        )
        for db in CRMS
    ]
    per_month = pd.concat(frames).groupby("month")["n"].sum()
    # growth: January to October, this year against last
    this_year = per_month.loc["2026-01":"2026-10"].sum()
    last_year = per_month.loc["2025-01":"2025-10"].sum()
    assert this_year > 1.08 * last_year
    # seasonality: the year-end rush against the summer lull
    assert per_month["2025-12"] > 1.3 * per_month["2025-07"]


def test_employees_perform_unevenly(demo: tuple[BuildResult, Path]) -> None:
    _, folder = demo
    calls = query(
        folder,
        "crm_denver",
        """SELECT a.user_id, COUNT(*) AS n FROM activities a JOIN users u ON u.id = a.user_id
           WHERE u.role_code = 'SM' AND u.fired_on IS NULL AND u.hired_on < '2024-11-01'
           GROUP BY a.user_id""",
    )
    assert len(calls) >= 3
    assert calls["n"].max() > 1.4 * calls["n"].min()
    wins = query(
        folder,
        "crm_denver",
        """SELECT owner_user_id, AVG(status_code = 'W') AS win_rate FROM deals
           WHERE status_code IN ('W', 'L') GROUP BY owner_user_id HAVING COUNT(*) > 50""",
    )
    assert wins["win_rate"].max() > 1.3 * wins["win_rate"].min()


def test_there_are_overdue_tasks_and_invoices_at_the_reference_date(
    demo: tuple[BuildResult, Path],
) -> None:
    _, folder = demo
    for db in CRMS:
        tasks = query(
            folder,
            db,
            f"SELECT COUNT(*) AS n FROM tasks WHERE status_code = 'OPEN' AND due_at < '{END}'",
        )
        invoices = query(
            folder,
            db,
            "SELECT COUNT(*) AS n FROM invoices "
            f"WHERE status_code IN ('ISS', 'PART') AND due_on < '{END}'",
        )
        assert tasks["n"][0] > 0, db
        assert invoices["n"][0] > 0, db


def test_stock_outs_delay_shipments(demo: tuple[BuildResult, Path]) -> None:
    """A goods line normally ships within days; one waiting weeks waited for stock."""
    _, folder = demo
    ships = query(
        folder, "stock", "SELECT doc_ref, moved_at FROM stock_moves WHERE move_type = 'SHIP'"
    )
    invoices = pd.concat(
        query(
            folder,
            db,
            f"SELECT '{db.removeprefix('crm_')}/' || number AS doc_ref, issued_on FROM invoices",
        )
        for db in CRMS
    )
    joined = ships.merge(invoices, on="doc_ref")
    assert len(joined) > 0.95 * len(ships)
    wait = pd.to_datetime(joined["moved_at"]) - pd.to_datetime(joined["issued_on"])
    late = (wait > pd.Timedelta(days=20)).sum()
    assert 0 < late < 0.2 * len(joined)


# each lead with its first answer: the earliest activity naming it, and who gave it
FIRST_ANSWERS = """
    SELECT l.id, l.channel_code, l.status_code, l.assigned_user_id, l.created_at,
           l.converted_at, a.started_at AS answered_at, a.user_id, a.type_code
    FROM leads AS l
    LEFT JOIN activities AS a ON a.id = (
        SELECT a2.id FROM activities AS a2 WHERE a2.lead_id = l.id
        ORDER BY a2.started_at, a2.id LIMIT 1
    )
"""


def first_answers(folder: Path) -> pd.DataFrame:
    frame = pd.concat(query(folder, db, FIRST_ANSWERS).assign(db=db) for db in CRMS)
    for column in ("created_at", "converted_at", "answered_at"):
        frame[column] = pd.to_datetime(frame[column])
    frame["hours"] = (frame["answered_at"] - frame["created_at"]).dt.total_seconds() / 3600
    return frame


def test_leads_are_answered_by_their_manager_in_working_hours(
    demo: tuple[BuildResult, Path],
) -> None:
    _, folder = demo
    leads = first_answers(folder)
    answered = leads[leads["answered_at"].notna()]
    junk = leads["status_code"] == "JNK"
    assert 0.88 < leads.loc[~junk, "answered_at"].notna().mean() < 0.995  # a few never
    assert leads.loc[junk, "answered_at"].notna().mean() < 0.25  # spam mostly not
    assert (answered["user_id"] == answered["assigned_user_id"]).all()
    assert (answered["hours"] > 0).all()
    converted = answered["converted_at"].notna()
    assert (answered.loc[converted, "answered_at"] < answered.loc[converted, "converted_at"]).all()
    # a call-in is called back, an e-mail lead gets an e-mail
    kinds = answered.groupby("channel_code")["type_code"].agg(lambda t: t.mode()[0])
    assert kinds["CALL"] == "COUT" and kinds["MAIL"] == "MAIL"
    # in working hours, Monday to Friday 08:00-18:00 (but a lead that converted sooner)
    at = answered.loc[~converted, "answered_at"]
    hour = at.dt.hour + at.dt.minute / 60
    assert ((at.dt.day_of_week < 5) & (hour >= 8) & (hour <= 18)).all()
    # a lead that arrives at the weekend waits for Monday
    weekend = answered[~converted & (answered["created_at"].dt.day_of_week >= 5)]
    assert len(weekend) > 10
    assert (weekend["answered_at"].dt.day_of_week == 0).mean() > 0.8
    # minutes for a call-in, the next day or so for a trade-show contact
    median = answered.groupby("channel_code")["hours"].median()
    assert median["CALL"] < 1 < median["EXPO"]


def test_some_managers_answer_leads_visibly_slower(demo: tuple[BuildResult, Path]) -> None:
    _, folder = demo
    leads = first_answers(folder)
    genuine = leads[leads["answered_at"].notna() & leads["converted_at"].isna()]
    per_manager = genuine.groupby(["db", "assigned_user_id"])["hours"].agg(["mean", "size"])
    per_manager = per_manager[per_manager["size"] >= 30]["mean"]
    assert len(per_manager) >= 6
    assert per_manager.max() > 2 * per_manager.min()


def test_deliveries_record_a_distance_by_route_and_a_departure(
    demo: tuple[BuildResult, Path],
) -> None:
    _, folder = demo
    frames = [query(folder, db, "SELECT * FROM deliveries") for db in CRMS]
    deliveries = pd.concat(frames)
    km = deliveries["distance_km"]
    assert 0.005 < km.isna().mean() < 0.08  # a few drivers did not type it in
    assert km.min() >= 1 and km.max() <= 80
    by_route = deliveries.groupby("route_code")["distance_km"].mean()
    assert by_route["DEN-W"] > 2 * by_route["AUS-C"]  # the foothills against downtown
    # the van leaves after the goods leave the stock (two hours before the planned time)
    # and before it hands them over
    departed = pd.to_datetime(deliveries["departed_at"])
    planned = pd.to_datetime(deliveries["planned_at"])
    delivered = pd.to_datetime(deliveries["delivered_at"])
    made = deliveries["status_code"].isin(["DONE", "FAIL"])
    assert departed[made].notna().all()
    assert (departed[made] > planned[made] - pd.Timedelta(hours=2)).all()
    done = deliveries["status_code"] == "DONE"
    assert (departed[done] <= delivered[done]).all()


def test_stock_on_hand_never_goes_negative_from_clean_moves(
    demo: tuple[BuildResult, Path],
) -> None:
    _, folder = demo
    orphans = listed(folder, "stock", "stock_moves", "orphan_reference")
    assert orphans
    moves = query(folder, "stock", "SELECT * FROM stock_moves ORDER BY moved_at, id")
    moves = moves[~moves["id"].isin(orphans)]  # shipments of unknown products
    moves["qty"] = moves["qty"].abs()  # a quantity typed negative was meant positive
    sign = moves["move_type"].map({"RCPT": 1, "ADJ": 1, "SHIP": -1, "WOFF": -1, "TRNS": -1})
    out = pd.DataFrame(
        {"w": moves["warehouse_id"], "p": moves["product_id"], "q": sign * moves["qty"]}
    )
    transfers = moves[moves["move_type"] == "TRNS"]
    into = pd.DataFrame(
        {
            "w": transfers["to_warehouse_id"].astype(int),
            "p": transfers["product_id"],
            "q": transfers["qty"],
        }
    )
    balance = pd.concat([out, into]).groupby(["w", "p"])["q"].sum()
    assert balance.min() >= -1e-9


# -- the dirt manifest is exact -------------------------------------------------------------------


def _by_regex(folder: Path, database: str, table: str, column: str, pattern: str) -> set[int]:
    rows = query(folder, database, f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
    bad = ~rows[column].astype(str).str.fullmatch(pattern)
    return set(rows.loc[bad, "id"].tolist())


DETECTORS = {
    # (table, kind): SQL selecting the ids of every row that shows the defect
    ("activities", "future_date"): f"SELECT id FROM activities WHERE started_at >= '{END}'",
    ("service_requests", "future_date"): (
        f"SELECT id FROM service_requests WHERE received_at >= '{END}'"
    ),
    ("stock_moves", "future_date"): f"SELECT id FROM stock_moves WHERE moved_at >= '{END}'",
    ("invoice_items", "negative_quantity"): "SELECT id FROM invoice_items WHERE qty < 0",
    ("stock_moves", "negative_quantity"): """
        SELECT id FROM stock_moves WHERE qty < 0 AND move_type IN ('RCPT', 'SHIP')""",
    ("activities", "orphan_reference"): """
        SELECT a.id FROM activities a LEFT JOIN deals d ON d.id = a.deal_id
        WHERE a.deal_id IS NOT NULL AND d.id IS NULL""",
    ("invoices", "orphan_reference"): """
        SELECT i.id FROM invoices i LEFT JOIN clients c ON c.id = i.client_id
        WHERE c.id IS NULL""",
    ("stock_moves", "orphan_reference"): """
        SELECT m.id FROM stock_moves m LEFT JOIN products p ON p.id = m.product_id
        WHERE p.id IS NULL""",
    ("payments", "percent_as_amount"): """
        SELECT p.id FROM payments p JOIN invoices i ON i.id = p.invoice_id
        WHERE p.amount < 0.15 * i.total_amount""",
    ("service_requests", "closed_before_opened"): """
        SELECT id FROM service_requests WHERE returned_at < received_at""",
    ("clients", "duplicate_client"): """
        SELECT DISTINCT later.id FROM clients later JOIN clients earlier
        ON earlier.id < later.id AND (earlier.tax_id = later.tax_id
        OR earlier.phone = later.phone OR earlier.email = later.email)""",
}
REGEX_DETECTORS = {
    ("clients", "malformed_phone"): ("phone", PHONE),
    ("leads", "malformed_phone"): ("phone", PHONE),
    ("contacts", "malformed_phone"): ("phone", PHONE),
    ("clients", "malformed_email"): ("email", EMAIL),
    ("leads", "malformed_email"): ("email", EMAIL),
    ("contacts", "malformed_email"): ("email", EMAIL),
    ("clients", "malformed_tax_id"): ("tax_id", TAX_ID),
}
STOCK_TABLES = {"stock_moves"}


def _cases() -> Iterator[tuple[str, str, str]]:
    for table, kind in [*DETECTORS, *REGEX_DETECTORS]:
        for database in [company.STOCK_DATABASE] if table in STOCK_TABLES else CRMS:
            yield database, table, kind


@pytest.mark.parametrize(("database", "table", "kind"), list(_cases()))
def test_every_defect_is_listed_and_every_listed_defect_is_there(
    demo: tuple[BuildResult, Path], database: str, table: str, kind: str
) -> None:
    """Recall and precision of the manifest itself: found by an independent check == listed."""
    _, folder = demo
    if (table, kind) in REGEX_DETECTORS:
        column, pattern = REGEX_DETECTORS[(table, kind)]
        found = _by_regex(folder, database, table, column, pattern)
    else:
        found = set(query(folder, database, DETECTORS[(table, kind)])["id"].tolist())
    expected = listed(folder, database, table, kind)
    assert found == expected, (
        f"{database}.{table} {kind}: unlisted {sorted(found - expected)[:10]}, "
        f"listed but absent {sorted(expected - found)[:10]}"
    )


def test_manifest_covers_every_kind_of_dirt(demo: tuple[BuildResult, Path]) -> None:
    result, folder = demo
    defects = manifest(folder)
    assert {d.kind for d in defects} == set(KINDS)
    assert len(defects) == result.defects
    assert all(d.detail for d in defects)
    covered = {(d.table, d.kind) for d in defects}
    assert covered <= set(DETECTORS) | set(REGEX_DETECTORS)


def test_duplicates_are_spelled_differently_but_share_an_identifier(
    demo: tuple[BuildResult, Path],
) -> None:
    _, folder = demo
    dups = [d for d in manifest(folder) if d.kind == "duplicate_client"]
    assert dups
    for d in dups[:20]:
        original = int(d.detail.rsplit(" ", 1)[1])
        pair = query(
            folder,
            d.database,
            f"SELECT * FROM clients WHERE id IN ({original}, {d.primary_key}) ORDER BY id",
        )
        assert len(pair) == 2
        a, b = pair.iloc[0], pair.iloc[1]
        assert a["name"].lower().split() == b["name"].lower().split() or a["name"] != b["name"]
        assert a["tax_id"] == b["tax_id"] and a["phone"] == b["phone"] and a["email"] == b["email"]
        assert b["created_at"] > a["created_at"]
