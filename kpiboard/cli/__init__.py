"""The ``kpiboard`` command line.

User errors (:class:`~kpiboard.errors.UserError`) print one line and exit with code 2; a database
that cannot be reached exits with 3; 4 is partial: a pipeline run that published with a failed
source or table (``etl run``), or KPIs of which some were evaluated and some, broken, were not
(``kpi eval``); a bug keeps its traceback. Every command runs in the project folder, the current
one or ``--project DIR``.
"""

from __future__ import annotations

# each module registers its commands on the app when imported
from kpiboard.cli import (  # noqa: F401
    alert,
    etl,
    kpi,
    project,
    report,
    schedule,
    serve,
    source,
    user,
    validate,
)
from kpiboard.cli.app import app, main

__all__ = ["app", "main"]
