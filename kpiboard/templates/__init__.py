"""The files ``kpiboard init`` writes into a new project (see :mod:`kpiboard.scaffold`)."""
