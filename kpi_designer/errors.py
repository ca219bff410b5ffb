"""Errors of the KPI engine: definitions that cannot be used as written, and bad requests."""

from __future__ import annotations

from collections.abc import Sequence

from kpiboard.errors import Problem, UserError


class DefinitionError(UserError):
    """KPI, plan or scorecard files with problems, every one located
    (``kpis/sales.yaml:14: kpi 'avg_check': unknown column 'amout' of fact invoice — did you mean
    'amount'?``), all reported at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("a DefinitionError needs at least one problem")
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class EvaluationError(UserError):
    """A request the definitions cannot answer: an unknown KPI, a dimension its fact does not
    reach, a grain or range that makes no sense."""
