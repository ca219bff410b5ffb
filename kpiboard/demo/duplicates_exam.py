"""The duplicate clients of the demo's manifest against the links the pipeline made.

The generator lists every client it typed in a second time (kind ``duplicate_client``, detail
``duplicate of client N``). After a pipeline run each of those must point to its original
through ``core.dim_client.master_client_id`` (recall), and no other client may point anywhere
(precision): clean clients are never linked. :func:`duplicates_exam` measures both on any
warehouse built from the demo, whatever engine held the demo's databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb

from kpiboard.demo.dirt import Defect


@dataclass(frozen=True)
class DuplicatesExam:
    """Links the manifest expects (duplicate → original) against those the warehouse has."""

    expected: dict[str, str]
    linked: dict[str, str]

    @property
    def missed(self) -> list[tuple[str, str]]:
        """Manifest duplicates not linked to their original: recall's failures."""
        return sorted(
            (dup, orig) for dup, orig in self.expected.items() if self.linked.get(dup) != orig
        )

    @property
    def wrong(self) -> list[tuple[str, str]]:
        """Links the manifest does not list: precision's failures."""
        return sorted(
            (dup, master) for dup, master in self.linked.items() if self.expected.get(dup) != master
        )

    @property
    def recall(self) -> float:
        return 1.0 - len(self.missed) / len(self.expected) if self.expected else 1.0

    @property
    def precision(self) -> float:
        right = len(self.linked) - len(self.wrong)
        return right / len(self.linked) if self.linked else 1.0


def expected_links(
    defects: Iterable[Defect], sources: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Duplicate client id → its original's, from the manifest. ``sources`` maps a manifest
    database name to the source name it was loaded as (the same name when absent)."""
    names = sources or {}
    links = {}
    for d in defects:
        if d.kind == "duplicate_client":
            source = names.get(d.database, d.database)
            original = d.detail.rsplit(" ", 1)[1]
            links[f"{source}:{d.primary_key}"] = f"{source}:{original}"
    return links


def duplicates_exam(
    con: duckdb.DuckDBPyConnection,
    defects: Iterable[Defect],
    sources: Mapping[str, str] | None = None,
) -> DuplicatesExam:
    """The demo's duplicate clients (from its manifest) against ``core.dim_client`` as the
    pipeline left it. ``exam.missed == exam.wrong == []`` means every duplicate points to its
    original and nothing else is linked."""
    linked = dict(
        con.execute(
            "SELECT client_id, master_client_id FROM core.dim_client "
            "WHERE master_client_id IS NOT NULL"
        ).fetchall()
    )
    return DuplicatesExam(expected_links(defects, sources), linked)
