"""Every way into the data, enumerated from the app itself — every callback Dash lists at
``/_dash-dependencies`` and every route of the Flask server — so one added later is covered
without anyone remembering to:

- nobody logged in gets none of it;
- a Denver branch head's hand-crafted requests for Austin (the address's filters, Austin's
  branch id and an Austin employee's id in every input, a drawer asked for Austin's slice) get
  none of Austin's numbers or names — compared against the engine's numbers for Austin and
  the warehouse's names of people and clients who are not Denver's;
- an employee's get none of a colleague's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.dashboards.conftest import errors_of, log_in, settle

if TYPE_CHECKING:
    import dash
    from flask.testing import FlaskClient
    from playwright.sync_api import Page

    from dashboards.data import Data
    from tests.dashboards.conftest import Login

PERIOD = "last_quarter"
PUBLIC = ("/login", "/logout", "/assets/", "/favicon.ico", "/_favicon.ico")


@dataclass(frozen=True)
class Secrets:
    """What one viewer must never be sent: names and numbers of rows outside their scope."""

    names: frozenset[str]
    numbers: frozenset[str]

    def found_in(self, text: str) -> list[str]:
        return sorted(s for s in self.names | self.numbers if s in text)


@pytest.fixture(scope="module")
def truth(dash_project: Path) -> Data:
    from dashboards.data import Data
    from kpiboard.config import load_settings

    return Data(load_settings(dash_project))


def _names(truth: Data, sql: str, *params: Any) -> set[str]:
    from kpiboard import sandbox

    with sandbox.connect(truth.settings.open_warehouse()) as db:
        return {str(r[0]) for r in db.execute(sql, list(params)).fetchall() if r[0]}


def _numbers(truth: Data, scope: dict[str, list[str]], kpis: tuple[str, ...]) -> set[str]:
    """How the pages may show each KPI's value under ``scope`` over the test period: its exact
    value (a tile's data, a chart's JSON) and as the page formats it."""
    from dashboards.filters import parse
    from dashboards.format import kpi_value

    f = parse(f"?period={PERIOD}", data_end=truth.last_day())
    engine = truth.engine()
    shown: set[str] = set()
    for kpi in kpis:
        frame = engine.evaluate(kpi, start=f.start, end=f.end, grain="range", scope=scope)
        number = float(frame["value"].iloc[0])
        if abs(number) >= 1000:  # a small number is too likely to appear by chance
            shown |= {
                repr(number),
                json.dumps(number),
                kpi_value(number, engine.kpis[kpi].unit, truth.currency),
            }
    return shown


@pytest.fixture(scope="module")
def austin_secrets(truth: Data) -> Secrets:
    """Austin's and Portland's: people and clients who are not Denver's (a name Denver also
    has is left out), and Austin's revenue and margin."""
    denver = "SELECT {col} FROM core.{table} WHERE branch_id = 'denver'"
    others = "SELECT {col} FROM core.{table} WHERE branch_id <> 'denver'"
    names: set[str] = set()
    theirs: set[str] = set()
    for table, col in (("dim_employee", "full_name"), ("dim_client", "name")):
        names |= _names(truth, others.format(col=col, table=table))
        theirs |= _names(truth, denver.format(col=col, table=table))
    names -= theirs  # a Denver employee may share a name with an Austin client
    numbers = _numbers(truth, {"branch": ["austin"]}, ("revenue", "gross_margin"))
    assert len(names) > 20 and numbers
    return Secrets(frozenset(names), frozenset(numbers))


@pytest.fixture(scope="module")
def colleague_secrets(truth: Data, dash_users: dict[str, Login]) -> Secrets:
    """What the test employee may not see: every other employee's name (but their own), and
    the revenue of their branch and of a colleague."""
    own = dash_users["employee"].employee
    assert own is not None
    mine = _names(truth, "SELECT full_name FROM core.dim_employee WHERE employee_id = ?", own)
    names = _names(truth, "SELECT full_name FROM core.dim_employee") - mine
    colleague = sorted(
        _names(
            truth,
            "SELECT employee_id FROM core.dim_employee WHERE branch_id = 'denver'"
            " AND role = 'sales_manager' AND employee_id <> ?",
            own,
        )
    )[0]
    numbers = _numbers(truth, {"branch": ["denver"]}, ("revenue",))
    numbers |= _numbers(truth, {"employee": [colleague]}, ("revenue",))
    return Secrets(frozenset(names), frozenset(numbers))


@pytest.fixture(scope="module")
def austin_ids(truth: Data) -> dict[str, str]:
    employee = sorted(
        _names(
            truth,
            "SELECT employee_id FROM core.dim_employee WHERE branch_id = 'austin'"
            " AND role = 'sales_manager'",
        )
    )[0]
    return {"branch": "austin", "employee": employee}


# -- the app's callbacks, as the browser sends them -------------------------------------------


@dataclass(frozen=True)
class Callback:
    output: str
    outputs: Any
    inputs: list[dict[str, Any]]
    state: list[dict[str, Any]]

    def body(self, value: Callable[[str, str], Any]) -> dict[str, Any]:
        """The request's body, each input's and state's value ``value(id, property)``; a
        pattern (``ALL``) input matches no component."""

        def given(items: list[dict[str, Any]]) -> list[Any]:
            out: list[Any] = []
            for item in items:
                if item["id"].startswith("{"):
                    out.append([])
                else:
                    out.append({**item, "value": value(item["id"], item["property"])})
            return out

        inputs = given(self.inputs)
        first = self.inputs[0]
        return {
            "output": self.output,
            "outputs": self.outputs,
            "inputs": inputs,
            "state": given(self.state),
            "changedPropIds": [f"{first['id']}.{first['property']}"],
        }


def _output(text: str) -> dict[str, Any]:
    ident, prop = text.rsplit(".", 1)
    return {"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop}


def server_callbacks(client: FlaskClient) -> list[Callback]:
    """Every callback the server runs, as ``/_dash-dependencies`` lists them to the browser."""
    listed = client.get("/_dash-dependencies").get_json()
    found = []
    for d in listed:
        if d.get("clientside_function") is not None:
            continue
        key = d["output"]
        outputs: Any
        if key.startswith(".."):
            outputs = [_output(p) for p in key[2:-2].split("...")]
        else:
            outputs = _output(key)
        found.append(Callback(key, outputs, d["inputs"], d["state"]))
    return found


def hostile_values(ids: dict[str, str], path: str, search: str) -> Callable[[str, str], Any]:
    """Every input asks for Austin: the address's filters, a control naming an employee or a
    branch gets Austin's ids, the explanation drawer Austin's slice."""

    def value(ident: str, prop: str) -> Any:
        if prop == "search":
            return search
        if prop == "pathname":
            return path
        if ident == "kb-explain-request":
            return {"kpi": "revenue", "slice": {"branch": ids["branch"]}}
        if "employee" in ident or "person" in ident:
            return ids["employee"]
        if "branch" in ident:
            return ids["branch"]
        return None

    return value


def page_paths(dash_app: dash.Dash) -> list[str]:
    import dash as dash_module

    return [p["relative_path"] for p in dash_module.page_registry.values()]


def _sent(answer: Any) -> str:
    return answer.get_data(as_text=True)


@pytest.fixture(scope="module")
def callbacks(client_as: Callable[..., FlaskClient]) -> list[Callback]:
    client = client_as("analyst")
    client.get("/")  # Dash sets its callbacks up at its first request
    found = server_callbacks(client)
    assert len(found) > 40
    return found


def _searches(ids: dict[str, str]) -> list[str]:
    return [
        f"?period={PERIOD}&branch={ids['branch']}",
        f"?period={PERIOD}&employee={ids['employee']}",
        f"?period={PERIOD}&branch={ids['branch']}&employee={ids['employee']}&role=sales_manager",
    ]


def _exchange(
    client: FlaskClient, callbacks: list[Callback], values: Iterator[Callable[[str, str], Any]]
) -> Iterator[tuple[str, int, str]]:
    for value in values:
        for cb in callbacks:
            answer = client.post("/_dash-update-component", json=cb.body(value))
            yield cb.output, answer.status_code, _sent(answer)


# -- nobody -------------------------------------------------------------------------------------


def test_nobody_gets_any_callback_or_route(
    dash_app: dash.Dash, callbacks: list[Callback], austin_ids: dict[str, str]
) -> None:
    anonymous = dash_app.server.test_client()
    value = hostile_values(austin_ids, "/", _searches(austin_ids)[0])
    for cb in callbacks:
        answer = anonymous.post("/_dash-update-component", json=cb.body(value))
        assert answer.status_code == 401, cb.output
        assert _sent(answer).startswith("Log in first"), cb.output
    rules = [r for r in dash_app.server.url_map.iter_rules() if r.endpoint != "static"]
    assert {"/export/rows.csv", "/download/report/<name>"} <= {r.rule for r in rules}
    urls = dash_app.server.url_map.bind("localhost")
    for rule in rules:
        path = urls.build(rule.endpoint, dict.fromkeys(rule.arguments, "x.csv"))
        if path.startswith(PUBLIC):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            answer = anonymous.open(path, method=method)
            assert answer.status_code in (302, 401), (method, path, answer.status_code)
            if answer.status_code == 302:
                assert answer.headers["Location"].startswith("/login"), path
            else:
                assert _sent(answer).startswith("Log in first"), path


def test_a_callback_the_app_does_not_have_is_refused_in_one_line(
    client_as: Callable[..., FlaskClient],
) -> None:
    answer = client_as("branch_head").post(
        "/_dash-update-component",
        json={"output": "overview-tiles.children", "inputs": [], "changedPropIds": []},
    )
    assert (answer.status_code, _sent(answer)) == (400, "no such callback; reload the page\n")


# -- a branch head asking for another branch ---------------------------------------------------


def test_a_branch_heads_every_callback_holds_nothing_of_austin(
    dash_app: dash.Dash,
    client_as: Callable[..., FlaskClient],
    callbacks: list[Callback],
    austin_ids: dict[str, str],
    austin_secrets: Secrets,
) -> None:
    head = client_as("branch_head")
    values = (
        hostile_values(austin_ids, path, search)
        for path in page_paths(dash_app)
        for search in _searches(austin_ids)[:1]
    )
    answered = 0
    for output, status, text in _exchange(head, callbacks, values):
        assert status in (200, 204, 403), (output, status, text[:300])
        answered += status == 200
        assert austin_secrets.found_in(text) == [], output
    assert answered > 100
    more = (hostile_values(austin_ids, "/", s) for s in _searches(austin_ids)[1:])
    for output, _, text in _exchange(head, callbacks, more):
        assert austin_secrets.found_in(text) == [], output


def test_a_branch_heads_downloads_and_exports_hold_nothing_of_austin(
    client_as: Callable[..., FlaskClient],
    truth: Data,
    austin_ids: dict[str, str],
    austin_secrets: Secrets,
) -> None:
    head = client_as("branch_head")
    asked = f"period={PERIOD}&branch=austin&employee={austin_ids['employee']}"
    export = head.get(f"/export/rows.csv?kpi=revenue&slice.branch=austin&{asked}")
    if export.status_code == 200:
        rows = list(csv.DictReader(io.StringIO(_sent(export))))
        assert {r.get("branch_id", "denver") for r in rows} <= {"denver"}
    assert austin_secrets.found_in(_sent(export)) == []

    reports = [r for r in truth.runner().catalog.reports.values() if r.scope != "company"]
    assert len(reports) > 100
    ran = 0
    for report in reports:
        # asked for Austin: refused ("no branch 'austin'") or run on Denver's rows
        answer = head.get(f"/download/report/{report.id}.csv?{asked}")
        assert answer.status_code in (200, 400), (report.id, answer.status_code)
        assert austin_secrets.found_in(_sent(answer)) == [], report.id
        # asked for nothing in particular: run, on Denver's rows only
        answer = head.get(f"/download/report/{report.id}.csv?period={PERIOD}")
        assert answer.status_code in (200, 400), (report.id, answer.status_code)
        ran += answer.status_code == 200
        assert austin_secrets.found_in(_sent(answer)) == [], report.id
    assert ran > len(reports) * 0.8


# -- an employee asking for a colleague ---------------------------------------------------------


def test_an_employees_every_callback_holds_nothing_of_a_colleague(
    dash_app: dash.Dash,
    client_as: Callable[..., FlaskClient],
    callbacks: list[Callback],
    dash_users: dict[str, Login],
    truth: Data,
    colleague_secrets: Secrets,
) -> None:
    own = dash_users["employee"].employee
    assert own is not None
    colleague = sorted(
        _names(
            truth,
            "SELECT employee_id FROM core.dim_employee WHERE branch_id = 'denver'"
            " AND employee_id <> ?",
            own,
        )
    )[0]
    ids = {"branch": "denver", "employee": colleague}
    employee = client_as("employee")
    values = (
        hostile_values(ids, path, search)
        for path in page_paths(dash_app)
        for search in _searches(ids)[1:2]
    )
    answered = 0
    for output, status, text in _exchange(employee, callbacks, values):
        assert status in (200, 204, 403), (output, status, text[:300])
        answered += status == 200
        assert colleague_secrets.found_in(text) == [], output
    assert answered > 100


# -- in a real browser ---------------------------------------------------------------------------


def _visible_pages(page: Page) -> list[str]:
    return page.locator(".kb-nav a").evaluate_all("links => links.map(a => a.pathname)")


def _open(page: Page, served: str, path: str, ready: str = "#kb-main h1") -> None:
    """Go to ``path`` and wait until ``ready`` is there and no callback is in flight."""
    page.goto(served.rstrip("/") + path)
    page.wait_for_selector(ready)
    settle(page)


def _revenue_tile(page: Page) -> float:
    return float(page.locator("#tile-revenue .kb-tile-value").get_attribute("data-value") or "nan")


def _every_page_holds_none_of(page: Page, served: str, secrets: Secrets) -> list[str]:
    """Open each page the navigation offers: none may log an error or show a secret; the
    paths opened."""
    paths = _visible_pages(page)
    for path in paths:
        _open(page, served, path + f"?period={PERIOD}")
        assert errors_of(page) == [], path
        assert secrets.found_in(page.content()) == [], path
    return paths


def _engine_revenue(truth: Data, scope: dict[str, list[str]]) -> float:
    from dashboards.filters import parse

    f = parse(None, data_end=truth.last_day())  # the default period, as the page opens
    frame = truth.engine().evaluate("revenue", start=f.start, end=f.end, grain="range", scope=scope)
    return float(frame["value"].iloc[0])


def test_a_branch_head_in_the_browser_sees_only_denver_on_every_page(
    served: str,
    anonymous_page: Page,
    dash_users: dict[str, Login],
    truth: Data,
    austin_secrets: Secrets,
) -> None:
    page = anonymous_page
    log_in(page.context, served, dash_users["branch_head"])
    _open(page, served, "/", "#tile-revenue .kb-tile-value")
    shown = _revenue_tile(page)
    assert shown == pytest.approx(_engine_revenue(truth, {"branch": ["denver"]}))
    assert shown != pytest.approx(_engine_revenue(truth, {"branch": ["austin"]}))
    page.locator("#kb-branch").click()
    assert page.locator(".Select-menu-outer, [role='listbox']").inner_text().split() == ["Denver"]
    paths = _every_page_holds_none_of(page, served, austin_secrets)
    assert "/designer" not in paths and "/quality" not in paths and "/access" not in paths
    assert {"/", "/sales", "/clients", "/service", "/stock", "/employees", "/reports"} <= set(paths)
    _open(page, served, "/designer", "#kb-forbidden")
    assert page.locator("#kb-forbidden").inner_text().startswith("This page is for ")
    assert page.locator("#designer-list, #designer-form").count() == 0


def test_an_employee_in_the_browser_sees_their_own_scorecard_not_a_colleagues(
    served: str,
    anonymous_page: Page,
    dash_users: dict[str, Login],
    truth: Data,
    colleague_secrets: Secrets,
) -> None:
    page = anonymous_page
    me = dash_users["employee"]
    assert me.employee is not None
    log_in(page.context, served, me)
    _open(page, served, f"/employees?period={PERIOD}")
    my_name = sorted(
        _names(truth, "SELECT full_name FROM core.dim_employee WHERE employee_id = ?", me.employee)
    )[0]
    assert my_name in page.locator("#kb-main").inner_text()
    paths = _every_page_holds_none_of(page, served, colleague_secrets)
    assert "/stock" not in paths and "/designer" not in paths and "/quality" not in paths
    assert "/employees" in paths
    _open(page, served, "/", "#tile-revenue .kb-tile-value")
    assert _revenue_tile(page) == pytest.approx(_engine_revenue(truth, {"employee": [me.employee]}))
