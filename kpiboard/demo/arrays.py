"""The array vocabulary the demo generator's stages share.

Rows are generated a column at a time as ``numpy`` arrays; these are their types, the ``None`` that
nullable text columns use, and the few drawing helpers every stage needs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

NULL = np.array(None, dtype=object)
"""``None`` as an array, for ``np.where`` on nullable text columns."""


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    """A generator for one stream of draws, seeded by the run's seed and the stream's key.

    Each stage and month draws from its own stream, so the rows of one table never depend on how
    many draws another table happened to take.
    """
    return np.random.default_rng([seed, *key])


def choice_weighted(
    rng: np.random.Generator, options: IntArray, weights: FloatArray, n: int
) -> IntArray:
    """``n`` of ``options``, each picked with a chance proportional to its weight."""
    p = weights / weights.sum()
    return rng.choice(options, size=n, p=p)


def money(x: FloatArray) -> FloatArray:
    """Amounts rounded to cents."""
    return np.round(x, 2)
