"""Great Expectations' Data Docs of the validation runs: a static HTML site in the project.

    index = build_data_docs(project / "data_docs", run_id, [raw_report, core_report])

The checks have already run, pushed down into DuckDB; nothing is validated again. Each suite in
the reports becomes one GX ``ExpectationSuiteValidationResult`` made from its outcomes, stored
in a results store inside the folder next to the earlier runs' results, and GX renders the run's
pages and an index listing every stored run, newest first: the quality of each table over time.
Everything GX writes stays in the folder::

    index.html                                      every suite and every run's results
    validations/<suite>/<run id>/<time>/<layer>.html  one page per suite and run
    expectations/<suite>.html                       each suite's rules as last validated
    static/                                         GX's styles and scripts
    gx/validations/…json, gx/expectations/…json     the stores the pages are built from

A validation page shows, per column, each rule as GX words it, the rows checked, how many
failed, a sample of the failing values and the DuckDB query returning every failing row. One
small extension of GX's renderers heads each rule with our name, severity, description and
file location: GX alone shows a description *instead of* the rule, and never the name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.expectations import Expectation as GxExpectation
from great_expectations.expectations import UnexpectedRowsExpectation
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.render import (
    CollapseContent,
    RenderedStringTemplateContent,
    RenderedTableContent,
)
from great_expectations.render.renderer.content_block import (
    ExpectationSuiteBulletListContentBlockRenderer,
    ValidationResultsTableContentBlockRenderer,
)

from kpiboard.errors import KpiboardError
from validation.run import Outcome, Report, resolve
from validation.suite import Expectation, Suite

STORES = Path("gx")
"""Where, under the site folder, GX keeps the JSON its pages are built from."""

KEEP_RUNS = 20
"""How many runs the site keeps by default. Building the index reads every kept result, so its
time grows with the runs kept, as does the folder: for the demo's 42 suites a first run takes
0.7 s, each run kept adds about 0.08 s and 2.3 MB."""

SITE = "kpiboard"
OURS = "kpiboard"
"""The key of our own metadata in GX's results and suites."""


class DataDocsError(KpiboardError):
    """The Data Docs of a run could not be built, or only in part. Validation itself is not
    affected: the caller decides what this stops."""

    def __init__(self, folder: Path, run_id: str, problems: Sequence[str]) -> None:
        super().__init__(
            "\n".join([f"{folder}: the data docs of run {run_id} are incomplete:", *problems])
        )
        self.folder = folder
        self.run_id = run_id
        self.problems = tuple(problems)


def build_data_docs(
    folder: Path,
    run_id: str,
    reports: Sequence[Report],
    *,
    now: dt.datetime | None = None,
    source_rows: Mapping[str, Mapping[str, int]] | None = None,
    keep_runs: int | None = KEEP_RUNS,
) -> Path:
    """Render GX's Data Docs of run ``run_id`` into ``folder``; the path of its ``index.html``.

    Every suite in ``reports`` (the run's raw and core reports) gets a page for this run; the
    index lists it with the earlier runs' pages, kept in ``folder``. ``now`` is the run's time
    (naive means UTC; default: now): it names the pages and dates the ``fresh`` rules.
    ``source_rows`` gives, by layer and then table reference, the row counts
    ``rows_match_source`` compared with (what :func:`validation.run.run_layer` was given);
    without a count such a rule is still listed, by name and outcome, but not worded by GX.
    ``keep_runs`` is how many runs, this one included, stay in the site (``None``: all); the
    pages of older runs, and of suites none of the kept runs validated, are removed.

    Raises :class:`DataDocsError`, listing every problem, when GX fails or leaves something
    out; whatever could be written stays written.
    """
    moment = _utc(now)
    suites = _suites(reports)
    index = folder / "index.html"
    if not suites and index.is_file():
        return index  # nothing was validated; GX, given no page to build, would rebuild all
    try:
        # GX logs what it cannot render and goes on, and prints reminders to stdout (which
        # would corrupt a command's --format json output): the first are collected, the
        # second go nowhere
        with _gx_errors() as problems, contextlib.redirect_stdout(io.StringIO()):
            context = _context(folder)
            built: list[ExpectationSuiteIdentifier | ValidationResultIdentifier] = []
            for validated in suites:
                counts = (source_rows or {}).get(validated.layer, {})
                forms = _gx_forms(validated.suite, moment, counts)
                context.suites.add_or_update(_gx_suite(validated.suite, forms))
                key = _key(validated, run_id, moment)
                context.validation_results_store.set(key, _result(validated, forms, key))
                built += [key.expectation_suite_identifier, key]
            forgotten = _forget_older_runs(context, keep_runs) if keep_runs is not None else []
            # GX's annotation asks for one kind of key; its site builder takes both
            context.build_data_docs(site_names=[SITE], resource_identifiers=built)  # type: ignore[arg-type]
        for key in forgotten:
            _remove_empty_folders(_page(folder, key).parent, folder / "validations")
            _remove_empty_folders(_stored(folder, key).parent, folder / STORES / "validations")
    except Exception as exc:  # GX raises many types (its own, OSError, pydantic): one here
        raise DataDocsError(folder, run_id, [f"{type(exc).__name__}: {exc}"]) from exc
    pages = [index, *(_page(folder, key) for key in built)]
    problems += [f"not written: {p.relative_to(folder)}" for p in pages if not p.is_file()]
    if problems:
        raise DataDocsError(folder, run_id, problems)
    return index


# ---------------------------------------------------------------------------------------------
# The GX context: stores and one site, all in the folder


def _context(folder: Path) -> AbstractDataContext:
    """An ephemeral GX context whose stores and Data Docs site are in ``folder``: no
    ``great_expectations.yml`` and no scaffolding anywhere."""
    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores or {})
    for name, store, subfolder in [
        (defaults.expectations_store_name, "ExpectationsStore", "expectations"),
        (defaults.validation_results_store_name, "ValidationResultsStore", "validations"),
    ]:
        stores[name] = {"class_name": store, "store_backend": _files(folder / STORES / subfolder)}
    named = {"module_name": __name__}
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": _files(folder),
        "site_section_builders": {
            "expectations": {
                "renderer": {
                    "class_name": "ExpectationSuitePageRenderer",
                    "column_section_renderer": {
                        "class_name": "ExpectationSuiteColumnSectionRenderer",
                        "bullet_list_renderer": {**named, "class_name": _NamedRules.__name__},
                    },
                },
            },
            "validations": {
                "renderer": {
                    "class_name": "ValidationResultsPageRenderer",
                    "column_section_renderer": {
                        "class_name": "ValidationResultsColumnSectionRenderer",
                        "table_renderer": {**named, "class_name": _NamedResults.__name__},
                    },
                },
            },
            "profiling": "None",
        },
    }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        data_docs_sites={SITE: site},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _forget_older_runs(context: AbstractDataContext, keep: int) -> list[ValidationResultIdentifier]:
    """Remove the results of all but the newest ``keep`` runs, and the suites no kept run
    validated (building the site then removes their pages); the results removed."""
    results = context.validation_results_store
    keys = [k for k in results.list_keys() if isinstance(k, ValidationResultIdentifier)]
    runs = sorted({(k.run_id.run_time, k.run_id.run_name) for k in keys}, reverse=True)
    kept = set(runs[: max(keep, 1)])
    forgotten = [k for k in keys if (k.run_id.run_time, k.run_id.run_name) not in kept]
    for k in forgotten:
        results.remove_key(k)
    validated = {k.expectation_suite_identifier.name for k in keys if k not in forgotten}
    for suite in context.expectations_store.list_keys():
        if isinstance(suite, ExpectationSuiteIdentifier) and suite.name not in validated:
            context.suites.delete(suite.name)
    return forgotten


def _remove_empty_folders(folder: Path, root: Path) -> None:
    """``folder`` and its parents up to ``root``, as long as they are empty: GX removes a page
    or a result but leaves its folders (its ``rrmdir`` tests a generator, never empty)."""
    while folder != root and folder.is_relative_to(root) and folder.is_dir():
        if any(folder.iterdir()):
            return
        folder.rmdir()
        folder = folder.parent


def _files(folder: Path) -> dict[str, str]:
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)}


def _page(folder: Path, key: ExpectationSuiteIdentifier | ValidationResultIdentifier) -> Path:
    """Where GX writes the page of ``key``."""
    section = "validations" if isinstance(key, ValidationResultIdentifier) else "expectations"
    return folder.joinpath(section, *key.to_tuple()).with_suffix(".html")


def _stored(folder: Path, key: ValidationResultIdentifier) -> Path:
    """Where GX's results store keeps the result ``key``."""
    return folder.joinpath(STORES, "validations", *key.to_tuple()).with_suffix(".json")


@contextlib.contextmanager
def _gx_errors() -> Iterator[list[str]]:
    """What GX logs as errors while it renders: a page or cell it could not render, which it
    leaves out (or empty) rather than raise. One line each, without GX's preamble."""
    problems: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            detail = message.partition("Detailed information follows:")[2] or message
            problems.append(" ".join(detail.partition("Traceback:")[0].split()))

    handler = Collect(logging.ERROR)
    gx_logger = logging.getLogger("great_expectations")
    gx_logger.addHandler(handler)
    try:
        yield problems
    finally:
        gx_logger.removeHandler(handler)


# ---------------------------------------------------------------------------------------------
# Outcomes as GX suites and validation results


@dataclass
class _Validated:
    """One suite of the run, the layer it ran in and its outcomes, in file order."""

    suite: Suite
    layer: str
    outcomes: list[Outcome]


def _suites(reports: Sequence[Report]) -> list[_Validated]:
    found: dict[str, _Validated] = {}
    for report in reports:
        for outcome in report.outcomes:
            suite = outcome.planned.suite
            found.setdefault(suite.table, _Validated(suite, report.layer, [])).outcomes.append(
                outcome
            )
    return list(found.values())


def _gx_forms(
    suite: Suite, moment: dt.datetime, source_rows: Mapping[str, int]
) -> dict[str, GxExpectation | None]:
    """Each expectation's GX form by name; ``None`` for one that has none without a value this
    run did not pass on (``rows_match_source`` without the count it compared with)."""

    def count(reference: str) -> int:
        if reference not in source_rows:
            raise ValueError(f"no row count of {reference}")
        return source_rows[reference]

    forms: dict[str, GxExpectation | None] = {}
    for expectation in suite.expectations:
        try:
            forms[expectation.name] = expectation.to_gx(
                resolve, now=moment.replace(tzinfo=None), source_rows=count
            )
        except ValueError:
            forms[expectation.name] = None
    return forms


def _gx_suite(suite: Suite, forms: Mapping[str, GxExpectation | None]) -> gx.ExpectationSuite:
    """The suite as GX holds it, for its page: the rules GX can word (see :func:`_gx_forms`)."""
    return gx.ExpectationSuite(
        name=suite.table,
        expectations=[form for form in forms.values() if form is not None],
        meta={OURS: {"table": suite.table, "location": str(suite.location)}},
        notes=suite.description,
    )


def _result(
    validated: _Validated,
    forms: Mapping[str, GxExpectation | None],
    key: ValidationResultIdentifier,
) -> ExpectationSuiteValidationResult:
    suite, layer = validated.suite, validated.layer
    results = [
        _expectation_result(o, forms[o.planned.expectation.name]) for o in validated.outcomes
    ]
    passed = sum(1 for r in results if r.success)
    relation = resolve(suite.table).replace('"', "")
    run_time = key.run_id.run_time.isoformat()
    return ExpectationSuiteValidationResult(
        success=passed == len(results),
        results=results,
        suite_name=suite.table,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else None,
        },
        meta={
            "great_expectations_version": gx.__version__,
            "run_id": key.run_id.to_json_dict(),
            "validation_time": run_time,
            "active_batch_definition": {
                "datasource_name": "warehouse",
                "data_asset_name": relation,
                "batch_definition_name": layer,
            },
            # GX shows batch_spec in the page's "Show more info"
            "batch_spec": {
                "data_asset_name": relation,
                "layer": layer,
                "suite": str(suite.location),
            },
            OURS: {
                "run_id": key.run_id.run_name.removeprefix("run-"),
                "layer": layer,
                "validated_at": run_time,
            },
        },
    )


def _expectation_result(
    outcome: Outcome, form: GxExpectation | None
) -> ExpectationValidationResult:
    expectation, check = outcome.planned.expectation, outcome.result
    custom = isinstance(form, UnexpectedRowsExpectation)
    row_level = custom or isinstance(form, ColumnMapExpectation | MulticolumnMapExpectation)
    sample = json.loads(json.dumps(check.sample, default=str))
    result: dict[str, Any] = {}
    if check.error is None and row_level:
        result = {
            "element_count": check.checked,
            "unexpected_count": check.unexpected,
            "unexpected_percent": 100.0 * check.unexpected / check.checked
            if check.checked
            else 0.0,
            "partial_unexpected_list": sample,
        }
        if custom:
            result["observed_value"] = check.unexpected
        if check.unexpected and check.failing_keys_sql:
            result["unexpected_index_query"] = check.failing_keys_sql
    elif check.error is None and sample:  # table-level: the sample is the observed value
        result = {"observed_value": sample[0]}
    return ExpectationValidationResult(
        success=check.success and check.error is None,
        expectation_config=form.configuration if form is not None else _unworded(expectation),
        result=result,
        meta={
            OURS: {
                "name": expectation.name,
                "kind": expectation.KIND,
                "severity": expectation.severity,
                "description": expectation.description,
                "location": str(expectation.location),
                "checked": check.checked,
                "unexpected": check.unexpected,
                "quarantined": outcome.quarantined,
            }
        },
        exception_info=(
            {
                "raised_exception": True,
                "exception_message": check.error,
                "exception_traceback": None,
            }
            if check.error is not None
            else None
        ),
    )


def _unworded(expectation: Expectation) -> ExpectationConfiguration:
    """A stand-in configuration for an expectation without a GX form: GX lists it by its kind
    (a type GX does not know), our heading gives its name."""
    return ExpectationConfiguration(
        type=expectation.KIND, kwargs={}, description=expectation.description
    )


def _key(validated: _Validated, run_id: str, moment: dt.datetime) -> ValidationResultIdentifier:
    # GX titles a page by parsing the run name as a time: our id '20261127T160632Z-5601' parses,
    # with an offset of -56 hours that datetime refuses, and the page is silently not written.
    # Named 'run-…', it is not taken for a time.
    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(validated.suite.table),
        run_id=RunIdentifier(run_name=f"run-{run_id}", run_time=moment),
        batch_identifier=validated.layer,
    )


def _utc(moment: dt.datetime | None) -> dt.datetime:
    """``moment`` as an aware UTC time: GX would take a naive one for local time."""
    if moment is None:
        return dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


# ---------------------------------------------------------------------------------------------
# The renderer extension: each rule headed by its name


class _NamedResults(ValidationResultsTableContentBlockRenderer):
    """GX's table of results, each rule's cell headed by :func:`_heading`, the failing values
    and queries in it escaped (:func:`_as_text`)."""

    @classmethod
    def _get_content_block_fn(
        cls, expectation_type: str, expectation_config: ExpectationConfiguration | None = None
    ) -> Callable[..., Any] | None:
        # given no configuration, GX words the rule even when it has a description
        rows_of = super()._get_content_block_fn(expectation_type, None)
        if rows_of is None:
            return None

        def named(**kwargs: Any) -> Any:
            rows = [[row[0], *(_as_text(cell) for cell in row[1:])] for row in rows_of(**kwargs)]
            result = kwargs.get("result")
            ours = (result.meta or {}).get(OURS) if result is not None else None
            if ours:
                heading = _heading(
                    ours["name"],
                    ours["severity"],
                    ours.get("description"),
                    ours["location"],
                    quarantined=ours.get("quarantined", 0),
                )
                for row in rows:
                    cell = row[1]
                    row[1] = [heading, *(cell if isinstance(cell, list) else [cell])]
            return rows

        return named


class _NamedRules(ExpectationSuiteBulletListContentBlockRenderer):
    """GX's list of a suite's rules, each headed by :func:`_heading`."""

    @classmethod
    def _get_content_block_fn(
        cls, expectation_type: str, expectation_config: ExpectationConfiguration | None = None
    ) -> Callable[..., Any] | None:
        rule_of = super()._get_content_block_fn(expectation_type, None)
        if rule_of is None:
            return None

        def named(**kwargs: Any) -> Any:
            content = rule_of(**kwargs)
            configuration = kwargs.get("configuration")
            ours = (configuration.meta or {}).get(OURS) if configuration is not None else None
            if configuration is None or not ours:
                return content
            heading = _heading(
                ours["name"], ours["severity"], configuration.description, ours["location"]
            )
            return [heading, *content]

        return named


def _as_text(content: Any) -> Any:
    """``content`` with what GX puts into its HTML as it is (a failing value, a whole failing
    row, a query) escaped: data holding markup must show as text, not become part of the page.
    Templates with parameters are left alone: GX escapes those itself."""
    if isinstance(content, list):
        return [_as_text(item) for item in content]
    if isinstance(content, RenderedTableContent):
        content.table = [_as_text(row) for row in content.table]
    elif isinstance(content, CollapseContent):
        content.collapse = _as_text(content.collapse)
    elif isinstance(content, RenderedStringTemplateContent):
        template = content.string_template
        if not template.get("params"):
            template["template"] = html.escape(str(template.get("template", "")), quote=False)
    elif isinstance(content, str) or (
        isinstance(content, dict) and "content_block_type" not in content  # a row, not a block
    ):
        return html.escape(str(content), quote=False)
    return content


def _heading(
    name: str, severity: str, description: str | None, location: str, *, quarantined: int = 0
) -> RenderedStringTemplateContent:
    """``name (severity) — description · N rows quarantined · file:line``."""
    template = "$name ($severity)"
    params = {"name": name, "severity": severity, "location": location}
    if description:
        template += " — $description"
        params["description"] = description
    if quarantined:
        template += " · $quarantined rows quarantined"
        params["quarantined"] = f"{quarantined:,}"
    return RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={
            "template": template + " · $location",
            "params": params,  # GX escapes them: descriptions and names are shown as written
            "styling": {
                "default": {"classes": []},
                "params": {"name": {"tag": "strong"}, "location": {"classes": ["text-muted"]}},
            },
        },
        styling={"parent": {"classes": ["mb-1"]}},
    )
