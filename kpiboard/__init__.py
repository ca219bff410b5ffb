"""kpiboard: analytics and KPI dashboards for small and medium businesses.

This package is the shell around the stages: configuration (:mod:`kpiboard.config`), the
warehouse connection and canonical model (:mod:`kpiboard.warehouse`, :mod:`kpiboard.core_model`),
the ``kpiboard`` command line (:mod:`kpiboard.cli`) and the demo company (:mod:`kpiboard.demo`).
"""

__version__ = "0.1.0"
