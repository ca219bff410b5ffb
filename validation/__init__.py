"""Expectation suites run inside DuckDB, quarantine of failing rows, reconciliation, history."""
