"""Duplicate clients on a small real ``core.dim_client``: the rules, the groups and their masters,
the decisions file, and its broken inputs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from kpiboard.core_model import create_core_schema
from validation.duplicates import DecisionsError, link_clients, read_decisions

T0 = dt.datetime(2024, 1, 1)
# client_id | name | kind (Company, Person) | city | tax_id | email | phone | days after T0 it
# was created; the branch is the source's without its 'crm_'
CLIENTS = """
# the same company: tax id and name (case, spacing, punctuation, legal suffix)
crm_denver:1   | Summit Dental LLC   | C | Denver | 123456789 |                |              | 0
crm_denver:9   | SUMMIT  DENTAL, LLC | C | Denver | 123456789 |                |              | 40
# a different company: one digit apart is not one typo
crm_denver:2   | Summit Dental 2 LLC | C | Denver | 223456789 |                |              | 1
# the same name but for its number, nothing else shared: two shops
crm_denver:40  | Harbor Print 2 Inc  | C | Denver |           |                |              | 1
crm_denver:41  | Harbor Print 3 Inc  | C | Denver |           |                |              | 1
# two people of one name: a name is no identity for a person
crm_denver:3   | Bo Smith            | P | Denver |           |                | +13035550101 | 2
crm_denver:4   | Bo Smith            | P | Denver |           |                | +13035550102 | 3
# swapped letters, same city, nothing else shared
crm_denver:5   | Northstar Foods PC  | C | Denver |           |                |              | 4
crm_denver:6   | Notrhstar Foods PC  | C | Denver |           |                |              | 50
# one company in two branches, found by its tax id
crm_denver:7   | Lakeside Print Co.  | C | Denver | 712345678 | info@lake.com  |              | 5
crm_austin:7   | Lakeside Print      | C | Austin | 712345678 | info@lake.com  |              | 6
# across branches an e-mail alone is no identity: one tax id withheld (null) lifts no veto
crm_denver:50  | Peak Copiers LLC    | C | Denver | 501234567 | info@peak.com  |              | 12
crm_austin:50  | Peak Copiers Inc    | C | Austin |           | info@peak.com  |              | 13
# two tax ids are two companies, though they share an e-mail and a name
crm_denver:30  | Vista Realty LLC    | C | Denver | 301234567 | info@vista.com |              | 10
crm_austin:30  | Vista Realty LLC    | C | Denver | 302234567 | info@vista.com |              | 11
# placeholders never match
crm_denver:10  | Alpha Beta Labs     | C | Denver | 000000000 |                | n/a          | 7
crm_denver:11  | Gamma Delta Labs    | C | Denver | 000000000 |                | n/a          | 8
# a chain: 20-21 by e-mail, 21-22 by phone; 22 is the oldest
crm_denver:20  | Ann Lee             | P | Denver |           | ann@mail.com   |              | 20
crm_denver:21  | Ann  Lee            | P | Denver |           | ann@mail.com   | +13035550120 | 21
crm_denver:22  | A. Lee              | P | Denver |           |                | +13035550120 | 9
# created at the same instant: the smaller id is the master (99 < 100, not as text)
crm_denver:100 | Cy Young            | P | Denver |           | cy@mail.com    |              | 30
crm_denver:99  | Cy  Young           | P | Denver |           | cy@mail.com    |              | 30
"""
MASTERS = {
    "crm_denver:9": "crm_denver:1",
    "crm_denver:6": "crm_denver:5",
    "crm_austin:7": "crm_denver:7",
    "crm_denver:20": "crm_denver:22",
    "crm_denver:21": "crm_denver:22",
    "crm_denver:100": "crm_denver:99",
}


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    create_core_schema(con)
    for line in CLIENTS.strip().splitlines():
        if line.startswith("#"):
            continue
        cells = [c.strip() or None for c in line.split("|")]
        cid, name, kind, city, tax, email, phone, days = cells
        branch = str(cid).split(":")[0].removeprefix("crm_")
        kind = {"C": "company", "P": "person"}[str(kind)]
        con.execute(
            "INSERT INTO core.dim_client (client_id, branch_id, name, kind, city, tax_id, email, "
            "phone, created_at, _source, _loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [cid, branch, name, kind, city, tax, email, phone,
             T0 + dt.timedelta(days=int(str(days))), str(cid).split(":")[0], T0],
        )  # fmt: skip
    yield con
    con.close()


def _masters(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute(
        "SELECT client_id, master_client_id FROM core.dim_client WHERE master_client_id NOTNULL"
    ).fetchall()
    return dict(rows)


def test_rules_group_duplicates_under_the_oldest_record(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    linked = link_clients(con, tmp_path / "duplicates.csv")
    assert _masters(con) == MASTERS
    assert (linked.groups, linked.duplicates, linked.warnings) == (5, 6, [])
    links = con.execute(
        "SELECT master_client_id, client_id, other_client_id, rule, value, decision "
        "FROM validation.client_duplicates ORDER BY ALL"
    ).fetchall()
    assert links == [
        ("crm_denver:1", "crm_denver:1", "crm_denver:9", "name_city", "summit dental, denver", None),  # noqa: E501
        ("crm_denver:1", "crm_denver:1", "crm_denver:9", "tax_id", "123456789", None),
        ("crm_denver:22", "crm_denver:20", "crm_denver:21", "email", "ann@mail.com", None),
        ("crm_denver:22", "crm_denver:21", "crm_denver:22", "phone", "+13035550120", None),
        ("crm_denver:5", "crm_denver:5", "crm_denver:6", "name_city", "northstar foods, denver", None),  # noqa: E501
        ("crm_denver:7", "crm_austin:7", "crm_denver:7", "tax_id", "712345678", None),
        ("crm_denver:99", "crm_denver:100", "crm_denver:99", "email", "cy@mail.com", None),
    ]  # fmt: skip


def test_matching_may_stay_inside_a_branch(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    link_clients(con, tmp_path / "duplicates.csv", across_branches=False)
    assert _masters(con) == {k: v for k, v in MASTERS.items() if k != "crm_austin:7"}


def test_decisions_split_a_link_and_join_two_clients(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    decisions = tmp_path / "duplicates.csv"
    decisions.write_text(
        "# checked by the Denver office\n"
        "client_id,other_client_id,decision,note\n"
        "crm_denver:9,crm_denver:1,different,two practices\n"  # both its links break
        "crm_denver:21,crm_denver:22,DIFFERENT,\n"
        "crm_denver:3,crm_denver:4,same,one person with two phones\n"
        "crm_denver:20,crm_denver:21,same\n",  # confirms a link a rule made
        encoding="utf-8",
    )
    linked = link_clients(con, decisions)
    expected = {k: v for k, v in MASTERS.items() if k not in {"crm_denver:9", "crm_denver:21"}}
    del expected["crm_denver:20"]
    expected |= {"crm_denver:4": "crm_denver:3", "crm_denver:21": "crm_denver:20"}
    assert _masters(con) == expected
    assert linked.warnings == []
    decided = con.execute(
        "SELECT client_id, other_client_id, rule, decision FROM validation.client_duplicates "
        "WHERE decision NOTNULL ORDER BY ALL"
    ).fetchall()
    assert decided == [
        ("crm_denver:1", "crm_denver:9", "name_city", "different"),
        ("crm_denver:1", "crm_denver:9", "tax_id", "different"),
        ("crm_denver:20", "crm_denver:21", "email", "same"),
        ("crm_denver:21", "crm_denver:22", "phone", "different"),
        ("crm_denver:3", "crm_denver:4", "decision", "same"),
    ]


def test_a_split_pair_still_grouped_through_a_third_client_is_a_warning(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    decisions = tmp_path / "duplicates.csv"
    decisions.write_text(
        "client_id,other_client_id,decision\n"
        "crm_denver:20,crm_denver:22,different\n"
        "crm_denver:5,crm_denver:77777,same\n",
        encoding="utf-8",
    )
    linked = link_clients(con, decisions)
    assert _masters(con) == MASTERS
    assert linked.warnings == [
        "duplicates.csv:3: unknown client 'crm_denver:77777' (deleted at its source?); "
        "the decision is left out",
        "duplicates.csv:2: 'crm_denver:20' and 'crm_denver:22' are different but still grouped "
        "through another client; split that link too (kpiboard validate duplicates)",
    ]


def test_a_master_from_an_earlier_model_is_replaced(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    con.execute(
        "UPDATE core.dim_client SET master_client_id = 'crm_denver:3' "
        "WHERE client_id = 'crm_denver:2'"
    )
    link_clients(con, tmp_path / "duplicates.csv")
    assert _masters(con) == MASTERS


HEADER = "client_id,other_client_id,decision\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "client,other_client_id,decision\n",
            "duplicates.csv:1: unknown column 'client' — did you mean 'client_id'?; "
            "the header is 'client_id,other_client_id,decision,note'",
        ),
        (
            "client_id,decision\n",
            "duplicates.csv:1: missing column 'other_client_id'; "
            "the header is 'client_id,other_client_id,decision,note'",
        ),
        (
            "client_id,other_client_id,decision,notes\n",
            "duplicates.csv:1: unknown column 'notes' — did you mean 'note'?; "
            "the header is 'client_id,other_client_id,decision,note'",
        ),
        (
            HEADER + "crm_denver:1,crm_denver:9,sme\n",
            "duplicates.csv:2: decision 'sme' — did you mean 'same'? (same or different)",
        ),
        (
            HEADER + "\n# a comment\ncrm_denver:1,,same\n",
            "duplicates.csv:4: other_client_id is empty",
        ),
        (
            HEADER + "crm_denver:1,9,same\n",
            "duplicates.csv:2: other_client_id '9' is not a client id like 'crm_denver:17'",
        ),
        (
            HEADER + "crm_denver:1,crm_denver:1,same\n",
            "duplicates.csv:2: a client is compared with itself: 'crm_denver:1'",
        ),
        (
            HEADER + "crm_denver:1,crm_denver:9,same,x\n",
            "duplicates.csv:2: 4 values for 3 columns",
        ),
        (
            HEADER + "crm_denver:1,crm_denver:9,same\ncrm_denver:9,crm_denver:1,different\n",
            "duplicates.csv:3: 'crm_denver:9' and 'crm_denver:1' are 'different' here but "
            "'same' on line 2",
        ),
    ],
    ids=[
        "misspelt_column",
        "missing_column",
        "unknown_column",
        "unknown_decision",
        "empty_id",
        "bare_number",
        "same_client",
        "extra_value",
        "contradiction",
    ],
)
def test_a_malformed_decisions_file_is_located(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "duplicates.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DecisionsError) as caught:
        read_decisions(path)
    assert str(caught.value) == message


def test_a_client_of_an_unknown_source_is_an_error(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    decisions = tmp_path / "duplicates.csv"
    decisions.write_text(HEADER + "crm_denvr:1,crm_denver:9,same\n", encoding="utf-8")
    with pytest.raises(DecisionsError) as caught:
        link_clients(con, decisions)
    assert str(caught.value) == (
        "duplicates.csv:2: unknown client 'crm_denvr:1': no source 'crm_denvr' — "
        "did you mean 'crm_denver'?"
    )
    assert caught.value.exit_code == 2


def test_no_decisions_file_and_an_empty_one_decide_nothing(tmp_path: Path) -> None:
    assert read_decisions(tmp_path / "absent.csv") == []
    (tmp_path / "empty.csv").write_text("# nothing yet\n\n", encoding="utf-8")
    assert read_decisions(tmp_path / "empty.csv") == []
