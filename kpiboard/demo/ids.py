"""Deterministic, collision-free identifiers for the demo's people and companies.

Phones, emails and tax ids must be unique where a real business would have them unique (two
clients never share a tax id by accident), so that every duplicate the validation stage finds is
one the generator injected and listed in the manifest. An affine map ``n -> (a*n + c) mod m`` with
``a`` coprime to ``m`` is a bijection on ``[0, m)``: distinct sequence numbers give distinct,
random-looking numbers without keeping a set of used ones.
"""

from __future__ import annotations

import math

import numpy as np

from kpiboard.demo.arrays import IntArray, ObjArray

# number spaces per kind of entity, so a client's and a contact's numbers never meet
CLIENT, CONTACT, LEAD, USER, SUPPLIER = 0, 1, 2, 3, 4
_KIND_SPAN = 1_000_000


def scramble(n: IntArray, modulus: int, salt: int) -> IntArray:
    """A bijection of ``[0, modulus)`` that looks random; ``salt`` picks one of many."""
    a = 7_919 * (2 * salt + 1) + 2
    while math.gcd(a, modulus) != 1:  # a multiplier coprime to the modulus makes it a bijection
        a += 1
    return (a * n.astype(np.int64) + 1_234_567 * salt) % modulus


def phone_numbers(area_code: str, kind: int, seq: IntArray, style: IntArray) -> ObjArray:
    """US phone numbers in the three ways people type them; unique for distinct (kind, seq)."""
    local = scramble(kind * _KIND_SPAN + seq, 8_000_000, salt=int(area_code))
    exchange = 200 + local // 10_000  # 200-999: exchanges never start with 0 or 1
    line = local % 10_000
    out = np.empty(len(seq), dtype=object)
    for i, (ex, ln, st) in enumerate(
        zip(exchange.tolist(), line.tolist(), style.tolist(), strict=True)
    ):
        if st == 0:
            out[i] = f"({area_code}) {ex:03d}-{ln:04d}"
        elif st == 1:
            out[i] = f"{area_code}-{ex:03d}-{ln:04d}"
        else:
            out[i] = f"+1 {area_code} {ex:03d} {ln:04d}"
    return out


def tax_ids(branch_index: int, kind: int, seq: IntArray) -> ObjArray:
    """Employer identification numbers ``NN-NNNNNNN``, unique across branches and kinds."""
    space = (branch_index * 8 + kind) * _KIND_SPAN + seq
    number = scramble(space, 1_000_000_000, salt=97)
    prefix = 10 + number // 10_000_000 % 89
    rest = number % 10_000_000
    return np.array(
        [f"{p:02d}-{r:07d}" for p, r in zip(prefix.tolist(), rest.tolist(), strict=True)],
        dtype=object,
    )


def slugs(names: ObjArray) -> ObjArray:
    """Lower-case alphanumeric slugs of company names, for email domains."""
    return np.array(
        ["".join(ch for ch in str(name).lower() if ch.isalnum()) for name in names],
        dtype=object,
    )


class KeySequences:
    """Primary keys of one database's tables, handed out in blocks like a database's sequences.

    Keys start at 1 and have no gaps, so a row's key says how many rows came before it.
    """

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def peek(self, table: str) -> int:
        """The key the next row of ``table`` will get."""
        return self._next.get(table, 1)

    def take(self, table: str, n: int) -> IntArray:
        """The keys of the next ``n`` rows of ``table``."""
        start = self.peek(table)
        self._next[table] = start + n
        return np.arange(start, start + n, dtype=np.int64)
