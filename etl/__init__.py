"""Extraction of operational databases into DuckDB, the transform models and publishing.

The stage after the foundation: sources declared in ``kpiboard.toml`` are copied into
``raw_<source>.<table>`` and turned into the canonical ``core`` model (see ``docs/model.md``).
"""
