"""A failing callback shows a short message, never a stack trace, and keeps what was shown."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import dash

    from tests.dashboards.conftest import ClientAs


def shell_state_request(dash_app: dash.Dash) -> dict[str, Any]:
    """The request the browser sends for the shell's state callback (filters' choices …)."""
    key = next(k for k in dash_app.callback_map if "kb-branch.options" in k)
    return {
        "output": key,
        "outputs": [
            {"id": "kb-branch", "property": "options"},
            {"id": "kb-employee", "property": "options"},
            {"id": "kb-range-box", "property": "hidden"},
            {"id": "kb-freshness", "property": "children"},
            [],
        ],
        "inputs": [{"id": "url", "property": "search", "value": ""}],
        "changedPropIds": ["url.search"],
        "state": [[]],
    }


def test_a_failing_callback_says_so_in_words(
    client_as: ClientAs,
    dash_app: dash.Dash,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dashboards.app import EXTENSION

    data = dash_app.server.extensions[EXTENSION]
    client = client_as()
    client.get("/")  # Dash sets its routes up on the first request
    good = client.post("/_dash-update-component", json=shell_state_request(dash_app))
    assert good.status_code == 200
    assert "Denver" in good.get_data(as_text=True)

    def broken(*_args: object) -> list[tuple[str, str]]:
        raise RuntimeError("the warehouse file is gone: /secret/path/warehouse.duckdb")

    monkeypatch.setattr(data, "branches", broken)
    with caplog.at_level("ERROR", logger="kpiboard.dashboards"):
        bad = client.post("/_dash-update-component", json=shell_state_request(dash_app))
    text = bad.get_data(as_text=True)
    assert bad.status_code in (200, 204)
    assert "Traceback" not in text and "/secret/path" not in text
    body = json.loads(text) if text else {}
    shown = body.get("sideUpdate", {}).get("kb-error", {})
    assert shown.get("is_open") is True
    assert "could not be updated" in shown.get("children", "")
    assert "the warehouse file is gone" in caplog.text  # the details are in the server's log


def test_a_view_asked_again_is_served_from_memory_unless_a_part_failed(in_app: object) -> None:
    from dashboards.app import remembered
    from dashboards.components.states import failed

    calls: list[str] = []

    @remembered
    def fill(search: str | None) -> str:
        calls.append(search or "")
        if search == "?broken":
            try:
                raise RuntimeError("the warehouse is gone")
            except RuntimeError:
                return str(failed("tiles", page="test"))
        return f"filled {search}"

    assert fill("?branch=denver") == "filled ?branch=denver"
    assert fill("?branch=denver") == "filled ?branch=denver"
    assert calls == ["?branch=denver"]  # the second answer came from memory
    fill("?broken")
    fill("?broken")
    assert calls == ["?branch=denver", "?broken", "?broken"]  # a failed part is asked again
