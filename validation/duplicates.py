"""Duplicate clients: matched, grouped under one master, never dropped.

People type a client in twice, spelled a little differently. Dropping the second record would
orphan its invoices, deals and activities, so the pipeline keeps both and links them instead:
after the models have built ``core`` and before the core suites run, :func:`link_clients`

1. finds pairs of clients that share a **rule**: the same tax id (``tax_id``), phone
   (``phone``) or e-mail (``email``) as ``core.dim_client`` normalised them (null, empty and
   placeholder values never match), or, for companies, a near-identical name in the same city
   (``name_city``: case, punctuation, spacing and legal suffixes ignored, then at most one typed
   letter or one pair of swapped letters apart; digits must be equal, so "Summit Dental 2" is not
   "Summit Dental 3"). Private persons are not matched by name: two people may share one. Across
   branches only the tax id links;
2. applies the person's decisions of the **decisions file** (``duplicates.csv`` beside
   ``kpiboard.toml``): ``different`` breaks the links between two clients, ``same`` links two
   clients no rule matched;
3. groups the links transitively (union-find) and makes the oldest record of each group its
   master (earliest ``created_at``, then the smallest id);
4. writes ``core.dim_client.master_client_id`` on every other member (null on the master and on
   clients without duplicates) and replaces ``validation.client_duplicates``, one row per link
   with the rule and the value that matched and the decision, if any.

KPIs count a client as ``coalesce(master_client_id, client_id)`` (the KPI compiler does it
wherever a fact's ``client_id`` is read), so a duplicate's facts count for its master.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kpiboard.config import Settings
from kpiboard.errors import Problem, UserError

TABLE = "validation.client_duplicates"
RULES = ("tax_id", "phone", "email", "name_city", "decision")
DECISIONS = ("same", "different")
COLUMNS = ("client_id", "other_client_id", "decision")
HEADER = "client_id,other_client_id,decision,note"

LEGAL_SUFFIXES = (
    "llc", "inc", "ltd", "co", "corp", "corporation", "company", "incorporated", "limited",
    "plc", "lp", "llp", "pllc", "pc", "gmbh", "ag", "sa", "bv", "srl",
)  # fmt: skip
"""Words a company's name may end with or not, lower-case, without punctuation."""


class DecisionsError(UserError):
    """The decisions file cannot be used as written; every problem, one located line each
    (``duplicates.csv:7: decision 'sme' — did you mean 'same'?``)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Decision:
    """One line of the decisions file: two clients are the ``same`` or ``different``."""

    client_id: str
    other_client_id: str
    decision: str
    line: int
    note: str = ""

    @property
    def pair(self) -> tuple[str, str]:
        """The two clients in a fixed order, so that ``a,b`` and ``b,a`` are one pair."""
        a, b = sorted((self.client_id, self.other_client_id))
        return a, b


@dataclass
class Linked:
    """What :func:`link_clients` did: how many groups and duplicates, and what to warn about."""

    groups: int = 0
    duplicates: int = 0
    links: int = 0
    warnings: list[str] = field(default_factory=list)


def read_decisions(path: Path, shown: str | None = None) -> list[Decision]:
    """The decisions in ``path`` (none when there is no such file).

    The file is CSV with the header ``client_id,other_client_id,decision`` and an optional
    ``note`` column; lines starting with ``#`` and blank lines are skipped. Raises
    :class:`DecisionsError` naming every malformed line; ``shown`` is the name used in messages.
    """
    if not path.is_file():
        return []
    name = shown or path.name
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    numbered = [(n, text) for n, text in enumerate(lines, 1) if text.strip()]
    numbered = [(n, text) for n, text in numbered if not text.lstrip().startswith("#")]
    if not numbered:
        return []
    problems: list[Problem] = []
    header_line, header_text = numbered[0]
    header = [h.strip().lower() for h in next(csv.reader([header_text]))]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in (*COLUMNS, "note")]
    if missing or unknown:
        what = f"unknown column {unknown[0]!r}" if unknown else f"missing column {missing[0]!r}"
        hint = _hint(unknown[0], (*COLUMNS, "note")) if unknown else ""
        raise DecisionsError(
            [Problem(name, header_line, f"{what}{hint}; the header is {HEADER!r}")]
        )
    decisions: list[Decision] = []
    seen: dict[tuple[str, str], Decision] = {}
    for number, text in numbered[1:]:
        cells = [c.strip() for c in next(csv.reader(io.StringIO(text)))]
        if len(cells) > len(header):
            problems.append(Problem(name, number, f"{len(cells)} values for {len(header)} columns"))
            continue
        row = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
        problem = _check_row(row)
        if problem:
            problems.append(Problem(name, number, problem))
            continue
        decision = Decision(
            row["client_id"], row["other_client_id"], row["decision"].lower(), number,
            row.get("note", ""),
        )  # fmt: skip
        earlier = seen.get(decision.pair)
        if earlier is not None and earlier.decision != decision.decision:
            problems.append(
                Problem(
                    name,
                    number,
                    f"{decision.client_id!r} and {decision.other_client_id!r} are "
                    f"{decision.decision!r} here but {earlier.decision!r} on line {earlier.line}",
                )
            )
            continue
        seen[decision.pair] = decision
        decisions.append(decision)
    if problems:
        raise DecisionsError(problems)
    return decisions


def _check_row(row: Mapping[str, str]) -> str | None:
    """What is wrong with one row of the decisions file, or ``None``."""
    for column in ("client_id", "other_client_id"):
        value = row[column]
        if not value:
            return f"{column} is empty"
        if ":" not in value:
            return f"{column} {value!r} is not a client id like 'crm_denver:17'"
    if row["client_id"] == row["other_client_id"]:
        return f"a client is compared with itself: {row['client_id']!r}"
    decision = row["decision"].lower()
    if decision not in DECISIONS:
        return f"decision {row['decision']!r}{_hint(decision, DECISIONS)} (same or different)"
    return None


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" — did you mean {close[0]!r}?" if close else ""


def check_decisions(
    con: duckdb.DuckDBPyConnection, decisions: Sequence[Decision], shown: str
) -> tuple[list[Decision], list[str]]:
    """The decisions whose two clients are both in ``core.dim_client``, and a warning for each
    other one.

    A client id of a source the warehouse does not have is a typo and raises
    :class:`DecisionsError`; an unknown id of a known source is only a warning (the decision is
    left out), because the client may have been deleted at its source since it was decided.
    """
    ids = {d.client_id for d in decisions} | {d.other_client_id for d in decisions}
    if not ids:
        return [], []
    known = {
        r[0]
        for r in con.execute(
            "SELECT client_id FROM core.dim_client WHERE client_id IN (SELECT unnest(?))",
            [sorted(ids)],
        ).fetchall()
    }
    sources = [r[0] for r in con.execute("SELECT DISTINCT _source FROM core.dim_client").fetchall()]
    problems: list[Problem] = []
    warnings: list[str] = []
    kept: list[Decision] = []
    for d in decisions:
        absent = [c for c in (d.client_id, d.other_client_id) if c not in known]
        for client in absent:
            source = client.rpartition(":")[0]
            if source in sources:
                warnings.append(
                    f"{shown}:{d.line}: unknown client {client!r} (deleted at its source?); "
                    "the decision is left out"
                )
            else:
                hint = _hint(source, sources)
                problems.append(
                    Problem(shown, d.line, f"unknown client {client!r}: no source {source!r}{hint}")
                )
        if not absent:
            kept.append(d)
    if problems:
        raise DecisionsError(problems)
    return kept, warnings


_KEYS_SQL = r"""
CREATE OR REPLACE TEMP TABLE dedup_keys AS
WITH named AS (
    SELECT
        *,
        trim(regexp_replace(strip_accents(lower(name)), '[^a-z0-9]+', ' ', 'g')) AS name_full
    FROM core.dim_client
)
SELECT
    client_id,
    branch_id,
    -- a tax id of one repeated character (000000000) is a placeholder, not an identity
    CASE WHEN length(tax_id) >= 5 AND replace(tax_id, left(tax_id, 1), '') <> ''
        THEN tax_id END AS tax_id,
    CASE WHEN regexp_full_match(phone, '\+[1-9][0-9]{7,14}') THEN phone END AS phone,
    CASE WHEN regexp_full_match(lower(trim(email)), '[^@\s]+@[^@\s]+\.[^@\s]+')
        THEN lower(trim(email)) END AS email,
    CASE WHEN kind IS DISTINCT FROM 'person' AND name_full <> '' THEN name_full END AS name_full,
    CASE WHEN kind IS DISTINCT FROM 'person' AND name_full <> ''
        THEN trim(regexp_replace(name_full, '( ({suffixes}))+$', '')) END AS name_key,
    regexp_replace(name_full, '[^0-9]', '', 'g') AS name_digits,
    nullif(lower(trim(city)), '') AS city
FROM named
"""

_SAME_VALUE_SQL = """
SELECT a.client_id, b.client_id, '{rule}', a.{rule}
FROM dedup_keys AS a JOIN dedup_keys AS b
    ON a.{rule} = b.{rule} AND a.client_id < b.client_id {branch}
WHERE {distinct_tax_ids}
"""

# two different tax ids are two legal entities, whatever else they share (a franchise's
# e-mail, a name used in two cities)
_NO_OTHER_TAX_ID = "(a.tax_id IS NULL OR b.tax_id IS NULL OR a.tax_id = b.tax_id)"

# one typed letter or one pair of swapped letters apart, with or without the legal suffix;
# the first letter and the city block the comparison, so that it stays near linear
_NAME_SQL = """
SELECT a.client_id, b.client_id, 'name_city', a.name_key || ', ' || a.city
FROM dedup_keys AS a JOIN dedup_keys AS b
    ON a.city = b.city
    AND left(a.name_key, 1) = left(b.name_key, 1)
    AND a.name_digits = b.name_digits
    AND a.client_id < b.client_id {branch}
WHERE {distinct_tax_ids} AND ((a.name_key = b.name_key AND a.name_key <> '')
    OR (length(a.name_key) >= 6 AND abs(length(a.name_key) - length(b.name_key)) <= 1
        AND damerau_levenshtein(a.name_key, b.name_key) <= 1)
    OR (length(a.name_full) >= 6 AND abs(length(a.name_full) - length(b.name_full)) <= 1
        AND damerau_levenshtein(a.name_full, b.name_full) <= 1))
"""


def candidate_links(
    con: duckdb.DuckDBPyConnection, *, across_branches: bool = True
) -> list[tuple[str, str, str, str]]:
    """Pairs of clients a rule matches: ``(client_id, other_client_id, rule, value)`` with
    ``client_id < other_client_id``; a pair appears once per rule that matched it."""
    con.execute(_KEYS_SQL.replace("{suffixes}", "|".join(LEGAL_SUFFIXES)))
    # across branches only the tax id links: a phone, an e-mail or a name is shared by different
    # companies of two cities (a franchise's mailbox, a chain's name), and a tax id withheld as
    # malformed (null) would lift the veto below
    same_branch = "AND a.branch_id = b.branch_id"
    parts = [
        _SAME_VALUE_SQL.format(
            rule="tax_id",
            branch="" if across_branches else same_branch,
            distinct_tax_ids=_NO_OTHER_TAX_ID,
        ),
        *(
            _SAME_VALUE_SQL.format(rule=r, branch=same_branch, distinct_tax_ids=_NO_OTHER_TAX_ID)
            for r in ("phone", "email")
        ),
        _NAME_SQL.format(branch=same_branch, distinct_tax_ids=_NO_OTHER_TAX_ID),
    ]
    rows = con.execute(" UNION ALL ".join(parts) + " ORDER BY 1, 2, 3").fetchall()
    con.execute("DROP TABLE dedup_keys")
    return [(str(a), str(b), str(rule), str(value)) for a, b, rule, value in rows]


def _groups(links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Client → a representative of its group, for every client in a link (union-find)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in parent}


def link_clients(
    con: duckdb.DuckDBPyConnection,
    decisions_file: Path,
    *,
    across_branches: bool = True,
    shown: str | None = None,
) -> Linked:
    """Match, group and link the duplicate clients of ``core.dim_client``; see the module
    docstring. Does nothing when the warehouse has no ``core.dim_client``."""
    outcome = Linked()
    if not _has_dim_client(con):
        return outcome
    name = shown or decisions_file.name
    decisions, outcome.warnings = check_decisions(con, read_decisions(decisions_file, name), name)
    verdict = {d.pair: d.decision for d in decisions}
    rows: list[tuple[str, str, str, str | None, str | None]] = [
        (a, b, rule, value, verdict.get((a, b)))
        for a, b, rule, value in candidate_links(con, across_branches=across_branches)
    ]
    matched = {(a, b) for a, b, *_ in rows}
    rows += [
        (*d.pair, "decision", None, "same")
        for d in decisions
        if d.decision == "same" and d.pair not in matched
    ]
    members = _groups((a, b) for a, b, _, _, decision in rows if decision != "different")
    for d in decisions:
        a, b = d.pair
        if d.decision == "different" and a in members and members.get(a) == members.get(b):
            outcome.warnings.append(
                f"{name}:{d.line}: {a!r} and {b!r} are different but still grouped through "
                "another client; split that link too (kpiboard validate duplicates)"
            )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE dedup_members AS "
        "SELECT unnest(?) AS client_id, unnest(?) AS grp",
        [list(members), list(members.values())],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE dedup_masters AS
        SELECT m.client_id, first(m.client_id ORDER BY d.created_at NULLS LAST,
            regexp_extract(m.client_id, '^(.*):', 1),
            try_cast(regexp_extract(m.client_id, ':([0-9]+)$', 1) AS BIGINT) NULLS LAST,
            m.client_id) OVER (PARTITION BY m.grp) AS master_client_id
        FROM dedup_members AS m JOIN core.dim_client AS d USING (client_id)
        """
    )
    con.execute(
        """
        UPDATE core.dim_client AS d
        SET master_client_id = if(m.master_client_id = d.client_id, NULL, m.master_client_id)
        FROM (SELECT * FROM dedup_masters UNION ALL
              SELECT client_id, NULL FROM core.dim_client
              WHERE client_id NOT IN (SELECT client_id FROM dedup_masters)
                AND master_client_id IS NOT NULL) AS m
        WHERE d.client_id = m.client_id
        """
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS validation")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {TABLE} (
            master_client_id VARCHAR, client_id VARCHAR, other_client_id VARCHAR,
            rule VARCHAR, value VARCHAR, decision VARCHAR
        )
        """
    )
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        con.execute(
            f"""
            INSERT INTO {TABLE}
            SELECT m.master_client_id, l.client_id, l.other_client_id, l.rule, l.value,
                l.decision
            FROM (SELECT unnest(?) AS client_id, unnest(?) AS other_client_id,
                         unnest(?) AS rule, unnest(?::VARCHAR[]) AS value,
                         unnest(?::VARCHAR[]) AS decision) AS l
            LEFT JOIN dedup_masters AS m USING (client_id)
            ORDER BY 1, 2, 3, 4
            """,
            columns,
        )
    outcome.links = len(rows)
    outcome.groups = len(set(members.values()))
    outcome.duplicates = len(members) - outcome.groups
    con.execute("DROP TABLE dedup_members")
    con.execute("DROP TABLE dedup_masters")
    return outcome


def link_project_clients(settings: Settings, con: duckdb.DuckDBPyConnection) -> Linked:
    """:func:`link_clients` with the project's decisions file and ``[validation]`` settings:
    the pipeline's step."""
    return link_clients(
        con,
        settings.resolve(settings.validation.duplicates),
        across_branches=settings.validation.duplicates_across_branches,
        shown=str(settings.validation.duplicates),
    )


def _has_dim_client(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'core' "
        "AND table_name = 'dim_client' AND column_name = 'master_client_id'"
    ).fetchone()
    return bool(found and found[0])


def list_groups(con: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    """The links of the published warehouse for a person to review, group by group: master,
    each client and the client it is linked to (with their names and branches), the rule and
    value that matched, and the decision if one was recorded."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'validation' AND table_name = 'client_duplicates'"
    ).fetchone()
    if not (found and found[0]):
        return []
    cursor = con.execute(
        f"""
        SELECT l.master_client_id AS master, m.name AS master_name,
            l.client_id, c.name AS client_name, c.branch_id AS client_branch,
            l.other_client_id, o.name AS other_name, o.branch_id AS other_branch,
            l.rule, l.value, coalesce(l.decision, '') AS decision
        FROM {TABLE} AS l
        LEFT JOIN core.dim_client AS m ON m.client_id = l.master_client_id
        LEFT JOIN core.dim_client AS c ON c.client_id = l.client_id
        LEFT JOIN core.dim_client AS o ON o.client_id = l.other_client_id
        ORDER BY l.master_client_id NULLS LAST, l.client_id, l.other_client_id, l.rule
        """
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
