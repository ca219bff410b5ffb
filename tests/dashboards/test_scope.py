"""Every page, callback, download and export reads under the viewer's scope, whatever the
browser sends: a Denver branch head asking for Austin gets Denver's numbers (the engine's, for
Denver) and none of Austin's; an employee gets their own; what a role may not open is one
sentence, and its callbacks are refused before they run."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dashboards.access import Viewer

if TYPE_CHECKING:
    import dash
    from flask.testing import FlaskClient

    from dashboards.data import Data

PERIOD = "?period=last_quarter"
DENVER_HEAD = Viewer("denver-head", "branch_head", {"branch": ["denver"]})
EXECUTIVE = Viewer("an-executive", "executive", None)
ANALYST = Viewer("an-analyst", "analyst", None)


@dataclass(frozen=True)
class People:
    denver_manager: str
    """A Denver sales manager (the employee viewer of these tests)."""
    colleague: str
    """Another Denver sales manager."""
    austin_employee: str


@pytest.fixture(scope="module")
def truth(dash_project: Path) -> Data:
    """The test project's data read apart from the app: the engine's numbers to compare with."""
    from dashboards.data import Data
    from kpiboard.config import load_settings

    return Data(load_settings(dash_project))


@pytest.fixture(scope="module")
def people(truth: Data) -> People:
    engine = truth.engine()
    start, end = period_days(truth)
    earned = engine.evaluate(
        "revenue",
        start=start,
        end=end,
        grain="range",
        by=["employee"],
        scope={"branch": ["denver"]},
    )
    earners = earned.dropna(subset=["value"]).sort_values("value", ascending=False)
    managers = [
        e for e in earners["employee"] if (engine.employee(e) or ("",))[0] == "sales_manager"
    ]
    austin = [e for e, _ in truth.runner().members("employee", {"branch": ["austin"]})]
    assert len(managers) >= 2 and austin
    return People(managers[0], managers[1], austin[0])


def employee_viewer(employee: str) -> Viewer:
    return Viewer("an-employee", "employee", {"employee": [employee]}, employee=employee)


def period_days(d: Data) -> tuple[Any, Any]:
    from dashboards.filters import parse

    f = parse(PERIOD, data_end=d.last_day())
    return f.start, f.end


def value(d: Data, kpi: str, scope: dict[str, list[str]]) -> float:
    start, end = period_days(d)
    frame = d.engine().evaluate(kpi, start=start, end=end, grain="range", scope=scope)
    return float(frame["value"].iloc[0])


def shown_forms(d: Data, kpi: str, number: float) -> list[str]:
    """How a page may show ``number``: its exact value (a tile's ``data-value``, a chart's
    JSON) and as the page formats it."""
    from dashboards.format import kpi_value

    unit = d.engine().kpis[kpi].unit
    return [repr(number), json.dumps(number), kpi_value(number, unit, d.currency)]


# -- hand-crafted callback requests ---------------------------------------------------------------


def key_of(app: dash.Dash, part: str) -> str:
    return next(k for k in app.callback_map if part in k)


def _prop(text: str) -> dict[str, Any]:
    ident, prop = text.rsplit(".", 1)
    return {"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop}


def callback_request(app: dash.Dash, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """The body the browser posts to ``/_dash-update-component`` for the callback ``key``,
    with ``values`` by ``"<id>.<property>"`` (what is not given: ``None``)."""
    entry = app.callback_map[key]
    outputs = [_prop(p) for p in key[2:-2].split("...")] if key.startswith("..") else _prop(key)

    def given(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            name = f"{item['id']}.{item['property']}"
            out.append({**item, "value": values.get(name)})
        return out

    inputs = given(entry["inputs"])
    return {
        "output": key,
        "outputs": outputs,
        "inputs": inputs,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
        "state": given(entry["state"]),
    }


def post(client: FlaskClient, app: dash.Dash, part: str, values: dict[str, Any]) -> tuple[int, str]:
    answer = client.post(
        "/_dash-update-component", json=callback_request(app, key_of(app, part), values)
    )
    return answer.status_code, answer.get_data(as_text=True)


@pytest.fixture
def client_of(
    dash_app: dash.Dash, client_viewing: Callable[[Viewer | None], FlaskClient]
) -> Iterator[Callable[[Viewer | None], FlaskClient]]:
    """A test client logged in as ``viewer`` (``None``: nobody) on an app that has served its
    first request."""

    def make(who: Viewer | None) -> FlaskClient:
        client_viewing(ANALYST).get("/")  # Dash sets its routes and callbacks up at the first
        return client_viewing(who)

    yield make


# -- a branch head sees their branch --------------------------------------------------------------


@pytest.mark.parametrize(
    "asked", ["", "&branch=austin", "&employee={austin_employee}", "&branch=austin&employee=x"]
)
def test_a_branch_heads_overview_is_denvers_whatever_the_address_asks(
    dash_app: dash.Dash,
    client_of: Callable[[Viewer | None], FlaskClient],
    truth: Data,
    people: People,
    asked: str,
) -> None:
    search = PERIOD + asked.format(austin_employee=people.austin_employee)
    status, text = post(
        client_of(DENVER_HEAD), dash_app, "overview-tiles.children", {"url.search": search}
    )
    assert status == 200
    for kpi in ("revenue", "gross_margin"):
        denver = value(truth, kpi, {"branch": ["denver"]})
        austin = value(truth, kpi, {"branch": ["austin"]})
        assert denver != austin
        assert repr(denver) in text
        for form in shown_forms(truth, kpi, austin):
            assert form not in text, (kpi, form)
    assert '"Austin"' not in text and "Portland" not in text
    if "branch=austin" in asked:
        assert "branch: 'austin' is not among your branches; showing denver" in text
        assert "no branch" not in text  # it exists; it is not theirs


def test_a_branch_heads_sales_by_branch_and_manager_are_denvers(
    in_app_as: Callable[[Viewer], Data], truth: Data, people: People
) -> None:
    from dashboards.app import filters_of
    from dashboards.pages import sales

    d = in_app_as(DENVER_HEAD)
    f = filters_of(f"{PERIOD}&branch=austin&employee={people.austin_employee}")
    assert f.scope() == {"branch": ["denver"]}
    branches, managers = sales.slices_part(d, f)
    by_branch = graph(branches, "branches").data[0]
    assert list(by_branch.y) == ["Denver"]
    assert list(by_branch.x) == pytest.approx([value(truth, "revenue", {"branch": ["denver"]})])
    start, end = period_days(truth)
    expected = truth.engine().evaluate(
        "revenue",
        start=start,
        end=end,
        grain="range",
        by=["employee"],
        filters=["role = 'sales_manager'"],
        scope={"branch": ["denver"]},
    )
    names = dict(truth.runner().members("employee"))
    bars = graph(managers, "managers").data[0]
    assert dict(zip(bars.y, bars.x, strict=True)) == pytest.approx(
        {names[e]: v for e, v in zip(expected["employee"], expected["value"], strict=True)}
    )
    austin_names = {n for _, n in truth.runner().members("employee", {"branch": ["austin"]})}
    assert not austin_names & set(bars.y) - {n for e, n in d.employees("denver")}


def test_a_branch_heads_sales_page_answers_hold_no_austin_number(
    dash_app: dash.Dash,
    client_of: Callable[[Viewer | None], FlaskClient],
    truth: Data,
) -> None:
    client = client_of(DENVER_HEAD)
    austin = value(truth, "revenue", {"branch": ["austin"]})
    for part in ("sales-tiles.children", "sales-branches.children", "sales-trend.children"):
        status, text = post(client, dash_app, part, {"url.search": f"{PERIOD}&branch=austin"})
        assert status == 200
        for form in shown_forms(truth, "revenue", austin):
            assert form not in text, (part, form)
    status, text = post(client, dash_app, "sales-tiles.children", {"url.search": PERIOD})
    assert repr(value(truth, "revenue", {"branch": ["denver"]})) in text


def test_a_branch_heads_employees_ranking_is_denvers(
    in_app_as: Callable[[Viewer], Data], truth: Data, people: People
) -> None:
    from dashboards.pages.employees import fill, names

    d = in_app_as(DENVER_HEAD)
    start, end = period_days(truth)
    scored = truth.engine().scorecard(
        "sales_manager", start=start, end=end, scope={"branch": ["denver"]}
    )
    expected = set(scored.summary["employee"])
    assert expected
    _facts, chart, _table, _ = fill(f"{PERIOD}&branch=austin&role=sales_manager")
    bars = find(chart, "employees-ranking").figure.data[0]
    assert {row[0] for row in bars.customdata} == expected
    denver = {e for e, _ in truth.runner().members("employee", {"branch": ["denver"]})}
    assert set(names(d)) == denver
    assert people.austin_employee not in names(d)


def test_the_filter_choices_are_the_viewers(
    in_app_as: Callable[[Viewer], Data], people: People
) -> None:
    from dashboards.app import shell_state

    in_app_as(DENVER_HEAD)
    branches, employees, *_ = shell_state(PERIOD, [])
    assert [o["value"] for o in branches] == ["denver"]
    assert people.denver_manager in {o["value"] for o in employees}
    assert all(o["value"].startswith("crm_denver:") for o in employees)

    in_app_as(employee_viewer(people.denver_manager))
    branches, employees, *_ = shell_state(f"{PERIOD}&employee={people.colleague}", [])
    assert branches == []
    assert [o["value"] for o in employees] == [people.denver_manager]


# -- an employee sees their own rows --------------------------------------------------------------


def test_an_employee_sees_their_own_ranking_bonus_and_sales(
    in_app_as: Callable[[Viewer], Data], truth: Data, people: People
) -> None:
    from dashboards.app import filters_of
    from dashboards.filters import with_changes
    from dashboards.kpis import headlines
    from dashboards.pages.employees import fill, peers_scope
    from reports import formats

    own = people.denver_manager
    d = in_app_as(employee_viewer(own))
    asked = f"{PERIOD}&employee={people.colleague}&branch=denver"
    f = filters_of(asked)
    assert f.employee == own and f.scope() == {"employee": [own]}
    assert with_changes(f, employee=None).scope() == {"employee": [own]}
    assert peers_scope(f) == {"employee": [own]}
    assert any("is not among the employees you may see" in m for m in f.ignored)

    start, end = period_days(truth)
    scored = truth.engine().scorecard("sales_manager", start=start, end=end, scope=f.scope())
    facts, chart, _table, _ = fill(asked)
    bars = find(chart, "employees-ranking").figure.data[0]
    assert [row[0] for row in bars.customdata] == [own]
    total = find(facts, "employees-total-bonus").children
    assert total == formats.money(float(scored.summary["bonus"].sum()), d.currency)

    mine = value(truth, "revenue", {"employee": [own]})
    theirs = value(truth, "revenue", {"employee": [people.colleague]})
    assert mine != theirs
    (revenue,) = headlines(d, ["revenue"], f)
    assert revenue.value == pytest.approx(mine)


def test_an_employees_callback_answers_hold_no_colleagues_number(
    dash_app: dash.Dash,
    client_of: Callable[[Viewer | None], FlaskClient],
    truth: Data,
    people: People,
) -> None:
    client = client_of(employee_viewer(people.denver_manager))
    theirs = value(truth, "revenue", {"employee": [people.colleague]})
    branch = value(truth, "revenue", {"branch": ["denver"]})
    search = f"{PERIOD}&employee={people.colleague}"
    status, text = post(client, dash_app, "sales-tiles.children", {"url.search": search})
    assert status == 200
    assert repr(value(truth, "revenue", {"employee": [people.denver_manager]})) in text
    for number in (theirs, branch):
        for form in shown_forms(truth, "revenue", number):
            assert form not in text


# -- what a role may not open ---------------------------------------------------------------------


def test_the_navigation_offers_only_the_pages_a_role_may_open(
    in_app_as: Callable[[Viewer], Data], people: People
) -> None:
    from dashboards.app import nav

    def pages(who: Viewer) -> set[str]:
        in_app_as(who)
        return {link.children.id["index"].rsplit(".", 1)[1] for link in nav().children}

    head = pages(DENVER_HEAD)
    assert not head & {"designer", "quality", "access"}
    assert {"overview", "sales", "employees", "reports", "stock"} <= head
    own = pages(employee_viewer(people.denver_manager))
    assert "stock" not in own and "designer" not in own and "sales" in own
    assert {"designer", "quality"} <= pages(ANALYST)


def test_a_page_a_role_may_not_open_is_one_sentence(
    dash_app: dash.Dash, in_app_as: Callable[[Viewer], Data], people: People
) -> None:
    import dash as dash_

    designer = dash_.page_registry["dashboards.pages.designer"]["layout"]
    in_app_as(DENVER_HEAD)
    shown = json.dumps(designer().to_plotly_json(), default=str)
    assert "This page is for analysts and administrators." in shown
    assert "designer-" not in shown
    in_app_as(employee_viewer(people.denver_manager))
    stock = dash_.page_registry["dashboards.pages.stock"]["layout"]()
    assert "stock-" not in json.dumps(stock.to_plotly_json(), default=str)
    in_app_as(ANALYST)
    assert "designer-save" in json.dumps(designer().to_plotly_json(), default=str)


def test_the_pages_router_renders_no_forbidden_layout(
    dash_app: dash.Dash, client_of: Callable[[Viewer | None], FlaskClient]
) -> None:
    values = {"_pages_location.pathname": "/designer", "_pages_location.search": ""}
    status, text = post(client_of(DENVER_HEAD), dash_app, "_pages_content.children", values)
    assert status == 200
    assert "This page is for analysts and administrators." in text
    assert "designer-" not in text
    status, text = post(client_of(ANALYST), dash_app, "_pages_content.children", values)
    assert status == 200 and "designer-save" in text


NEW_KPI = """\
kpis:
  - id: scope_probe
    label: Scope probe
    description: Invoices counted, to see who may save.
    unit: count
    type: simple
    fact: invoice
    agg: count
"""


def save_request(dash_app: dash.Dash) -> dict[str, Any]:
    session = {"file": "scope_probe.yaml", "new": True, "fingerprint": None, "replacing": None}
    return callback_request(
        dash_app,
        key_of(dash_app, "designer-saved.data"),
        {
            "designer-save.n_clicks": 1,
            "designer-yaml-text.value": NEW_KPI,
            "designer-session.data": session,
            "designer-saved.data": 0,
        },
    )


def test_a_forbidden_callback_is_refused_before_it_runs_and_an_allowed_one_is_logged(
    dash_app: dash.Dash, client_of: Callable[[Viewer | None], FlaskClient], dash_project: Path
) -> None:
    from kpiboard import audit
    from kpiboard.config import load_settings

    settings = load_settings(dash_project)
    written = settings.resolve(settings.kpi.definitions) / "scope_probe.yaml"
    assert not written.exists()
    answer = client_of(DENVER_HEAD).post("/_dash-update-component", json=save_request(dash_app))
    assert answer.status_code == 403
    assert answer.get_data(as_text=True) == "This page is for analysts and administrators.\n"
    assert not written.exists()
    refused = audit.entries(settings, user="denver-head", action="access_refused", limit=1)
    assert refused and refused[0]["target"] == "callback designer"

    nobody = client_of(None).post("/_dash-update-component", json=save_request(dash_app))
    assert nobody.status_code == 401 and not written.exists()

    try:
        answer = client_of(ANALYST).post("/_dash-update-component", json=save_request(dash_app))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert written.exists()
        (saved,) = audit.entries(settings, user="an-analyst", action="kpi_saved", limit=1)
        assert saved["detail"]["kpi"] == "scope_probe"
        assert "+  - id: scope_probe" in saved["detail"]["diff"]
        assert saved["detail"]["diff"].startswith("--- /dev/null")
    finally:
        written.unlink(missing_ok=True)


def test_a_save_checks_the_right_to_edit_also_inside_the_callback(
    in_app_as: Callable[[Viewer], Data], dash_project: Path
) -> None:
    from dashboards.pages import designer

    in_app_as(EXECUTIVE)  # a role without edits, reaching the function some other way
    session = {"file": "scope_probe.yaml", "new": True, "fingerprint": None}
    note, *_ = designer.save(1, NEW_KPI, session, 0)
    assert "analysts and administrators" in str(note)
    assert not (dash_project / "kpis" / "scope_probe.yaml").exists()


def server_callbacks(app: dash.Dash) -> list[tuple[str, str]]:
    """``(output key, module)`` of every callback the server runs, read from the app."""
    return [
        (key, entry["callback"].__module__)
        for key, entry in app.callback_map.items()
        if "callback" in entry
    ]


def test_every_callback_is_refused_to_nobody_and_a_forbidden_pages_to_a_branch_head(
    dash_app: dash.Dash, client_of: Callable[[Viewer | None], FlaskClient]
) -> None:
    from dashboards.access import page_of

    client_of(ANALYST)  # the app's first request: Dash registers its callbacks
    callbacks = server_callbacks(dash_app)
    assert len(callbacks) > 40
    nobody = client_of(None)
    for key, _ in callbacks:
        answer = nobody.post("/_dash-update-component", json={"output": key, "inputs": []})
        assert answer.status_code == 401, key
        assert answer.get_data(as_text=True).startswith("Log in first: ")
    head = client_of(DENVER_HEAD)
    closed = [(k, m) for k, m in callbacks if page_of(m) in ("designer", "quality", "access")]
    assert len(closed) > 8
    for key, module in closed:
        answer = head.post("/_dash-update-component", json={"output": key, "inputs": []})
        assert answer.status_code == 403, key
        assert answer.get_data(as_text=True).startswith("This page is for "), module


def test_the_scope_is_never_wider_than_the_viewers() -> None:
    import datetime as dt

    from dashboards.filters import parse, with_changes

    day = dt.date(2026, 10, 31)
    every = parse("?branch=nowhere", data_end=day, branches=["austin", "denver"])
    assert every.ignored == ("branch: no branch 'nowhere'; showing all branches",)
    assert every.scope() == {"branch": ["austin", "denver"]}  # as before: all branches
    assert with_changes(every, branch="austin").scope() == {"branch": ["austin"]}

    head = parse("?branch=austin", data_end=day, branches=["denver"], within={"branch": ["denver"]})
    assert head.ignored == ("branch: 'austin' is not among your branches; showing denver",)
    assert head.scope() == {"branch": ["denver"]}
    assert with_changes(head, branch="austin").scope() == {"branch": ["denver"]}
    granted_none = parse("", data_end=day, branches=[], within={"branch": ["\x00nobody"]})
    assert granted_none.scope() == {"branch": ["\x00nobody"]}  # nothing, never everything

    own = parse("?employee=b", data_end=day, employees=["a"], within={"employee": ["a"]})
    assert own.employee == "a"
    assert own.ignored == (
        "employee: 'b' is not among the employees you may see; showing your own numbers",
    )
    assert with_changes(own, employee=None).scope() == {"employee": ["a"]}
    assert with_changes(own, employee="b", branch="denver").scope() == {"employee": ["a"]}


def test_a_report_runs_with_no_scope_only_for_every_row_and_a_sql_report(truth: Data) -> None:
    import datetime as dt

    from dashboards.filters import parse

    catalog = truth.runner().catalog.reports
    sql = catalog["sales_by_product"]
    kpis = next(r for r in catalog.values() if r.kpis is not None and r.scope != "company")
    day = dt.date(2026, 10, 31)
    every = parse("", data_end=day, branches=["austin", "denver"])
    assert every.report_scope(sql) is None
    assert every.report_scope(kpis) == {"branch": ["austin", "denver"]}  # plans: their sum
    head = parse("", data_end=day, branches=["denver"], within={"branch": ["denver"]})
    assert head.report_scope(sql) == {"branch": ["denver"]}
    assert head.report_scope(catalog["validation_runs"]) is None  # refused before: may_run


# -- routes ---------------------------------------------------------------------------------------


def test_a_company_report_and_the_data_docs_are_refused_to_a_branch_head(
    client_of: Callable[[Viewer | None], FlaskClient],
) -> None:
    client = client_of(DENVER_HEAD)
    answer = client.get("/download/report/validation_runs.csv")
    assert answer.status_code == 403
    assert answer.get_data(as_text=True).count("\n") == 1
    assert "company-wide" in answer.get_data(as_text=True)
    docs = client.get("/data-docs/index.html")
    assert docs.status_code == 403
    assert docs.get_data(as_text=True).count("\n") == 1


def test_a_branch_heads_download_is_denvers_and_logged(
    client_of: Callable[[Viewer | None], FlaskClient], truth: Data, dash_project: Path
) -> None:
    from kpiboard import audit
    from kpiboard.config import load_settings

    given = {"period": "last_quarter"}
    denver = truth.runner().run("sales_by_product", given, scope={"branch": ["denver"]})
    austin = truth.runner().run("sales_by_product", given, scope={"branch": ["austin"]})
    client = client_of(DENVER_HEAD)
    answer = client.get("/download/report/sales_by_product.csv?period=last_quarter")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    revenue = next(c for c in rows[0] if "revenue" in c.lower())
    shown = sorted(round(float(r[revenue]), 2) for r in rows)
    column = next(c for c in denver.frame.columns if "revenue" in c)
    assert shown == sorted(round(float(v), 2) for v in denver.frame[column])
    assert shown != sorted(round(float(v), 2) for v in austin.frame[column])
    (entry,) = audit.entries(
        load_settings(dash_project), user="denver-head", action="download", limit=1
    )
    assert entry["detail"]["report"] == "sales_by_product"
    assert entry["detail"]["format"] == "csv"
    assert entry["detail"]["scope"] == {"branch": ["denver"]}
    assert entry["detail"]["parameters"] == {"period": "last_quarter"}

    # the report's own branch parameter names Austin: refused in one line, nothing of it
    asked = client.get("/download/report/sales_by_product.csv?period=last_quarter&branch=austin")
    assert asked.status_code == 400
    assert asked.get_data(as_text=True) == "parameter 'branch': no branch 'austin'\n"


def test_a_branch_heads_export_is_denvers_and_logged(
    client_of: Callable[[Viewer | None], FlaskClient],
    truth: Data,
    people: People,
    dash_project: Path,
) -> None:
    from kpiboard import audit
    from kpiboard.config import load_settings

    start, end = period_days(truth)
    base = f"/export/rows.csv?kpi=revenue&start={start}&end={end}"
    client = client_of(DENVER_HEAD)
    answer = client.get(base + "&branch=austin")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    expected = truth.engine().rows(
        "revenue", period=(start, end), grain="range", scope={"branch": ["denver"]}
    )
    assert len(rows) == len(expected) > 0
    assert {r["branch"] for r in rows} == {"Denver"}
    (entry,) = audit.entries(
        load_settings(dash_project), user="denver-head", action="export", limit=1
    )
    assert entry["detail"]["kpi"] == "revenue"
    assert entry["detail"]["scope"] == {"branch": ["denver"]}
    assert entry["detail"]["period"] == f"{start}..{end}"

    sliced = client.get(base + "&slice.branch=austin")
    assert sliced.status_code == 400
    theirs = client.get(base + f"&slice.employee={people.austin_employee}")
    assert theirs.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(theirs.get_data(as_text=True))))) == 0


# -- reports --------------------------------------------------------------------------------------


def test_a_branch_heads_catalog_holds_no_company_report_and_runs_under_denver(
    in_app_as: Callable[[Viewer], Data], truth: Data
) -> None:
    from dashboards.app import filters_of
    from dashboards.pages import reports

    d = in_app_as(DENVER_HEAD)
    listed = reports.runnable(d)
    catalog = truth.runner().catalog.reports.values()
    assert {r.id for r in listed} == {r.id for r in catalog if r.scope != "company"}
    head, *_ = reports.choose("?report=validation_runs")
    assert "company-wide" in str(head)
    result, error = reports.preview(d, "validation_runs", {}, filters_of(""))
    assert result is None and "company-wide" in str(error)

    result, _ = reports.preview(d, "sales_by_product", {"period": "last_quarter"}, filters_of(""))
    assert "Scope: branch denver" in str(result)

    in_app_as(ANALYST)
    result, _ = reports.preview(d, "sales_by_product", {"period": "last_quarter"}, filters_of(""))
    assert "Scope:" not in str(result)  # every row: the header lists no branch
    result, _ = reports.preview(
        d, "sales_by_product", {"period": "last_quarter"}, filters_of("?branch=austin")
    )
    assert "Scope: branch austin" in str(result)


# -- caches ---------------------------------------------------------------------------------------


def test_an_answer_kept_for_one_scope_is_not_served_to_another(
    dash_app: dash.Dash, client_of: Callable[[Viewer | None], FlaskClient], truth: Data
) -> None:
    values = {"url.search": "?period=last_month"}
    _, company = post(client_of(EXECUTIVE), dash_app, "overview-tiles.children", values)
    _, denver = post(client_of(DENVER_HEAD), dash_app, "overview-tiles.children", values)
    from dashboards.filters import parse

    f = parse("?period=last_month", data_end=truth.last_day())
    whole = truth.engine().evaluate("revenue", start=f.start, end=f.end, grain="range")
    assert repr(float(whole["value"].iloc[0])) in company
    assert repr(float(whole["value"].iloc[0])) not in denver
    assert company != denver


def test_the_quality_badge_is_only_for_who_may_open_the_quality_page(
    in_app_as: Callable[[Viewer], Data],
) -> None:
    from dashboards.app import shell_state

    in_app_as(DENVER_HEAD)
    *_, badge, _hrefs = shell_state("", [])
    assert "kb-quality-badge" not in json.dumps([b.to_plotly_json() for b in badge], default=str)
    assert "Data as of" in str(badge)
    in_app_as(ANALYST)
    *_, badge, _hrefs = shell_state("", [])
    assert "kb-quality-badge" in json.dumps([b.to_plotly_json() for b in badge], default=str)


# -- helpers --------------------------------------------------------------------------------------


def find(component: Any, ident: Any) -> Any:
    if isinstance(component, list | tuple):
        return next((f for c in component if (f := find(c, ident)) is not None), None)
    if getattr(component, "id", None) == ident:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = find(child, ident)
            if found is not None:
                return found
    return None


def graph(part: Any, kind: str) -> Any:
    found = find(part, {"type": "sales-chart", "index": kind})
    assert found is not None, part
    return found.figure


def test_no_branch_chosen_reads_as_what_the_viewer_sees(
    in_app_as: Callable[[Viewer], Data],
) -> None:
    from dashboards.app import filter_bar

    def placeholder(who: Viewer) -> str:
        in_app_as(who)
        found = [c for c in _walk(filter_bar("?")) if getattr(c, "id", None) == "kb-branch"]
        return str(found[0].placeholder)

    assert placeholder(EXECUTIVE) == "All branches"
    assert placeholder(DENVER_HEAD) == "Denver"
    two = Viewer("two-branches", "branch_head", {"branch": ["denver", "austin"]})
    assert placeholder(two) == "All your branches"
    assert placeholder(employee_viewer("crm_denver:5")) == "Your own rows"


def _walk(component: Any) -> Iterator[Any]:
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            yield from _walk(child)
