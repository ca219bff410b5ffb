"""Errors of the shell. A :class:`UserError` is the user's to fix: the command line prints its
message as one line and exits with code 2. Anything else is a bug and keeps its traceback."""

from __future__ import annotations


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
