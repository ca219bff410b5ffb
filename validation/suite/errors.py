"""Errors of the suite language: every problem located by file and line, all reported at once."""

from __future__ import annotations

from collections.abc import Sequence

from kpiboard.errors import Problem, UserError

SuiteProblem = Problem
"""One problem in a suite file: where (file and line, when known) and what."""


class SuiteError(UserError):
    """Suite files that cannot be used as written.

    It carries every problem found, one located line each
    (``suites/raw/crm/clients.yaml:14: expectation 3: unknown kind 'regx' — did you mean
    'regex'?``), so that a user fixes them all in one pass. ``path`` and ``line`` are those of the
    first problem.
    """

    def __init__(self, problems: Sequence[SuiteProblem]) -> None:
        if not problems:
            raise ValueError("a SuiteError needs at least one problem")
        self.problems = tuple(problems)
        self.path = self.problems[0].path
        self.line = self.problems[0].line
        super().__init__("\n".join(str(problem) for problem in self.problems))
