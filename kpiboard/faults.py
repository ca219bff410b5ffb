"""Crash points for the crash-safety tests: ``KPIBOARD_CRASH_AT=<point>`` makes the process
``SIGKILL`` itself when it reaches that point, the way a power cut or the OOM killer would.
Unset (always, outside tests) it costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

ENV = "KPIBOARD_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, at once and without cleanup, if the environment asks for it."""
    wanted = os.environ.get(ENV)
    if wanted and wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)
