"""GX Data Docs of validation runs, built from the reports of a real run on small DuckDB tables.

The run validates ``crm.tasks`` (raw) and ``core.fct_task`` (core) with ``run_layer``, as the
pipeline does; the tests read the HTML GX writes: what the pages say, which pages the index
links, and that every link leads to a page.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import duckdb
import pytest

from validation import docs
from validation.docs import DataDocsError, build_data_docs
from validation.run import Report, run_layer
from validation.suite import Suite, parse_suite

CRM_TASKS_SUITE = """\
table: crm.tasks
key: [id]
expectations:
  - not_null: id
    severity: error
  - in_set: status
    values: [done, open]
    description: a task is <open> or done
  - sql: status_is_markup
    description: a status that is <b>HTML</b>
    query: SELECT t.* FROM {table} AS t WHERE t.status LIKE '<%>%'
  - rows_match_source: true
"""
CRM_TASKS = [  # _source, id, branch_id, status
    ("crm_denver", 1, "a", "done"),
    ("crm_denver", 2, "a", "open"),
    ("crm_austin", 1, "b", "dnoe"),  # a typo: in_set fails
    ("crm_austin", 2, "b", "<i>open</i>"),  # markup: in_set and status_is_markup fail
]
RUN = "20261101T120000Z-5601"  # GX once read '-5601' as a time zone 56 hours off UTC
RUN_TIME = dt.datetime(2026, 11, 1, 12, 0)


@pytest.fixture(scope="module")
def suites(fct_task_suite: Suite) -> list[Suite]:
    raw, problems = parse_suite(CRM_TASKS_SUITE, "suites/raw/crm/tasks.yaml")
    assert problems == [] and raw is not None
    return [raw, fct_task_suite]


@pytest.fixture(scope="module")
def reports(fct_task: Path, suites: list[Suite]) -> list[Report]:
    """The raw and core reports of one validation run on ``fct_task`` plus a raw ``crm.tasks``."""
    con = duckdb.connect(str(fct_task))
    con.execute("CREATE SCHEMA stg_crm")
    con.execute(
        "CREATE TABLE stg_crm.tasks "
        "(_source VARCHAR, id INTEGER, branch_id VARCHAR, status VARCHAR)"
    )
    con.executemany("INSERT INTO stg_crm.tasks VALUES (?, ?, ?, ?)", CRM_TASKS)
    keys = {"crm.tasks": ("id",)}
    con, raw = run_layer(fct_task, con, suites, layer="raw", run_id=RUN, keys=keys)
    con, core = run_layer(
        fct_task, con, suites, layer="core", run_id=RUN, keys=keys, source_rows={"crm.tasks": 4}
    )
    con.close()
    return [raw, core]


def _pages(folder: Path, suite: str) -> list[Path]:
    return sorted(folder.joinpath("validations", *suite.split(".")).rglob("*.html"))


def _text(page: Path) -> str:
    """The page's text as a reader sees it: markup dropped, entities decoded, spaces collapsed."""
    source = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(), flags=re.S)
    source = re.sub(r"<(?:/?(?:div|p|td|th|tr|li|ul|ol|table|h\d|hr)|br)\b[^>]*>", " ", source)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", source)).split())


def _index_links(index: Path) -> set[str]:
    """The pages the index links to (GX puts its table of runs in a script as data)."""
    return set(re.findall(r"(?:validations|expectations)/[^\"'\\\s]+?\.html", index.read_text()))


def test_the_index_links_a_page_per_suite_and_every_link_leads_to_a_page(
    tmp_path: Path, reports: list[Report]
) -> None:
    index = build_data_docs(tmp_path / "data_docs", RUN, reports, now=RUN_TIME)

    assert index == tmp_path / "data_docs" / "index.html" and index.is_file()
    site = index.parent
    raw_page, core_page = _pages(site, "crm.tasks"), _pages(site, "core.fct_task")
    assert [p.name for p in raw_page + core_page] == ["raw.html", "core.html"]
    assert RUN in str(raw_page[0]) and RUN in str(core_page[0])
    linked = _index_links(index)
    assert {str(p.relative_to(site)) for p in raw_page + core_page} <= linked
    assert {"expectations/crm/tasks.html", "expectations/core/fct_task.html"} <= linked
    for page in [index, *site.rglob("*.html")]:
        for href in re.findall(r'href="([^"#:]+\.html)"', page.read_text()):
            assert (page.parent / href).resolve().is_file(), f"{page}: dead link {href}"
    # everything GX writes is in the folder: no great_expectations.yml, no gx/ elsewhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data_docs"]
    assert sorted(p.name for p in site.iterdir()) == [
        "expectations",
        "gx",
        "index.html",
        "static",
        "validations",
    ]


def test_a_page_shows_each_rule_by_name_with_counts_and_failing_values(
    tmp_path: Path, reports: list[Report], suites: list[Suite]
) -> None:
    counts = {"core": {"crm.tasks": 4}}  # what run_layer compared core.fct_task's 5 rows with
    site = build_data_docs(tmp_path, RUN, reports, now=RUN_TIME, source_rows=counts).parent
    raw, core = (_text(_pages(site, s)[0]) for s in ("crm.tasks", "core.fct_task"))

    for suite, text in zip(suites, (raw, core), strict=True):
        for expectation in suite.expectations:
            assert f"{expectation.name} ({expectation.severity})" in text
            assert str(expectation.location) in text
    # in_set fails on 2 of 4 rows: GX's count and share, the values and a query for all rows
    assert "in_set_status (warn) — a task is <open> or done · 2 rows quarantined" in raw
    assert "2 unexpected values found. 50% of 4 total rows." in raw
    assert "Sampled Unexpected Values dnoe <i>open</i>" in raw
    assert "To retrieve all unexpected values... SELECT _source, id, status" in raw
    assert "Status: Failed" in raw
    # the rule is worded by GX as well as named (GX alone shows only the description)
    assert "values must belong to this set: done open." in raw
    # the custom rule: its query, its count and the failing row
    assert "status_is_markup (warn) — a status that is <b>HTML</b> · 1 rows quarantined" in raw
    assert 'Unexpected rows query: SELECT t.* FROM "stg_crm"."tasks" AS t' in raw
    assert "1 unexpected values found. 25% of 4 total rows." in raw
    assert "'status': '<i>open</i>'" in raw
    # descriptions, values, rows and queries show as text: none of them became markup
    page = _pages(site, "crm.tasks")[0].read_text()
    assert not re.search(r"<(open|i|b)>|LIKE '<%>%'", page)
    # rows_match_source: with the count it compared with, GX words it; without, it is named
    assert "Must have exactly 4 rows. 5" in core  # the rule, then the observed value
    unworded = suites[0].expectation("rows_match_source")
    assert f"rows_match_source (warn) · {unworded.location} rows_match_source(**{{}}) --" in raw
    # the where-narrowed unique fails on 2 of the 3 done rows
    assert "2 unexpected values found. ≈66.67% of 3 total rows." in core
    assert "Sampled Unexpected Values b" in core


def test_a_later_run_keeps_the_earlier_runs_listed_up_to_keep_runs(
    tmp_path: Path, reports: list[Report]
) -> None:
    moments = [RUN_TIME + dt.timedelta(hours=h) for h in range(3)]
    runs = [(f"{moment:%Y%m%dT%H%M%SZ}-000{n}", moment) for n, moment in enumerate(moments)]
    for run_id, moment in runs[:2]:
        index = build_data_docs(tmp_path, run_id, reports, now=moment)

    pages = _pages(tmp_path, "core.fct_task")
    assert [p.relative_to(tmp_path).parts[3] for p in pages] == [f"run-{r}" for r, _ in runs[:2]]
    linked = _index_links(index)
    assert {str(p.relative_to(tmp_path)) for p in pages} <= linked
    assert sum(1 for link in linked if link.startswith("validations/")) == 4  # 2 suites x 2 runs

    # a third run, keeping two: the first run's pages and results go, folders and all
    index = build_data_docs(tmp_path, runs[2][0], reports, now=runs[2][1], keep_runs=2)
    pages = _pages(tmp_path, "core.fct_task")
    assert [p.relative_to(tmp_path).parts[3] for p in pages] == [f"run-{r}" for r, _ in runs[1:]]
    assert not any(runs[0][0] in link for link in _index_links(index))
    assert not any(runs[0][0] in str(p) for p in tmp_path.rglob("*"))
    assert [d for d in tmp_path.rglob("*") if d.is_dir() and not any(d.iterdir())] == []

    # a run that validated nothing leaves the site as it is
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.html")}
    assert build_data_docs(tmp_path, "nothing", [Report("raw")], keep_runs=1) == index
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.html")} == before


# GX's fallback for the rule it failed to render warns about its own legacy API
@pytest.mark.filterwarnings("ignore:V2 API style custom rendering:DeprecationWarning")
def test_gx_prints_nothing_and_a_failure_is_one_error_type(
    tmp_path: Path,
    reports: list[Report],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_data_docs(tmp_path / "ok", RUN, reports, now=RUN_TIME)
    assert capsys.readouterr().out == ""  # GX's reminders would corrupt --format json output

    taken = tmp_path / "a_file"
    taken.write_text("not a folder")
    with pytest.raises(DataDocsError) as raised:
        build_data_docs(taken, RUN, reports, now=RUN_TIME)
    assert raised.value.folder == taken and raised.value.run_id == RUN
    assert str(raised.value).startswith(f"{taken}: the data docs of run {RUN} are incomplete:")

    # GX catches what fails while it renders a page, logs it and leaves the page out
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the heading cannot be rendered")

    monkeypatch.setattr(docs, "_heading", broken)
    with pytest.raises(DataDocsError) as raised:
        build_data_docs(tmp_path / "partly", RUN, reports, now=RUN_TIME)
    problems = raised.value.problems
    assert 'RuntimeError: "the heading cannot be rendered"' in problems[0]
    assert any(p.startswith("not written: validations/crm/tasks/") for p in problems)
    assert (tmp_path / "partly" / "index.html").is_file()  # what could be written was
