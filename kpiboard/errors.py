"""Errors of the shell. A :class:`UserError` is the user's to fix: the command line prints its
message as one line and exits with code 2. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

from dataclasses import dataclass


class KpiboardError(Exception):
    """Base of every error kpiboard raises on purpose."""


class UserError(KpiboardError):
    """Bad input — a configuration file, a URL, an option — described in one located line."""

    exit_code = 2


class ConfigError(UserError):
    """``kpiboard.toml`` is malformed or holds a wrong value."""


class UrlError(UserError):
    """A database URL cannot be parsed or names a database kpiboard cannot use."""


class SourceUnavailable(KpiboardError):
    """A database could not be reached or refused us; the message says which and why."""

    exit_code = 3


@dataclass(frozen=True)
class Problem:
    """One problem in a file the user wrote: where (file and line, when known) and what.

    Loaders collect these and raise them together, one ``path:line: message`` line each
    (``path:line:column:`` where the column tells more, as in a syntax error).
    """

    path: str | None
    line: int | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        if self.line is not None and self.column is not None:
            where += f":{self.column}"
        return f"{where}: {self.message}"
