"""``kpiboard serve`` refuses what it cannot do with one line, and serves what it can."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.dashboards.conftest import Login, opener_as


def kpiboard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kpiboard", *args], capture_output=True, text=True, timeout=120
    )


def test_nothing_published_is_said_not_served(tmp_path: Path) -> None:
    made = kpiboard("init", str(tmp_path / "empty"))
    assert made.returncode == 0, made.stderr
    result = kpiboard("serve", "-p", str(tmp_path / "empty"), "--port", "1")
    assert result.returncode == 2
    assert "nothing published yet; run `kpiboard etl run" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_said(dash_project: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kpiboard("serve", "-p", str(dash_project), "--port", str(port))
    assert result.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_the_served_app_answers_on_loopback(served: str, dash_users: dict[str, Login]) -> None:
    assert served.startswith("http://127.0.0.1:")
    opener = opener_as(served, dash_users["analyst"])
    with opener.open(served + "_dash-layout", timeout=10) as response:
        assert response.status == 200
        assert b"kb-period" in response.read()
