"""``kpiboard validate`` and ``kpiboard validate quarantine`` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from etl import pipeline
from kpiboard.config import load_settings
from kpiboard.demo import build_sources, demo_sources, install_demo_models, install_demo_suites
from kpiboard.project import init_project

CliRunner = Callable[..., subprocess.CompletedProcess[str]]  # the `kpiboard` fixture


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    build_sources(f"sqlite:///{folder}/sources/{{db}}.sqlite", seed=6, scale=0.02)
    init_project(folder, name="demo", sources=demo_sources())
    install_demo_models(folder / "models")
    install_demo_suites(folder / "suites")
    assert pipeline.run(load_settings(folder)).status == pipeline.SUCCESS
    return folder


def test_quarantine_lists_every_held_row(kpiboard: CliRunner, demo: Path) -> None:
    result = kpiboard(demo, "validate", "quarantine", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows, "the demo's dirt should be in quarantine"
    assert set(rows[0]) == {
        "table",
        "source",
        "primary_key",
        "expectation",
        "severity",
        "hold",
        "offending",
    }
    with (demo / "sources" / "dirt_manifest.csv").open() as fh:
        manifest = {
            (r["database"], r["table"], r["primary_key"])
            for r in csv.DictReader(fh)
            if r["kind"] != "duplicate_client"  # linked to their original, not held
        }
    own = [r for r in rows if not r["expectation"].endswith(":held_with_document")]
    assert {(r["source"], r["table"], r["primary_key"]) for r in own} == manifest
    # the other rows are held with their document: an invoice, its items and payments
    assert {r["table"] for r in rows if r not in own} == {"invoices", "invoice_items", "payments"}
    phones = [r for r in rows if r["expectation"] == "crm.clients:regex_phone"]
    assert phones and all(r["offending"].startswith('{"phone":') for r in phones)
    assert {r["hold"] for r in phones} == {"value"}  # the client is in core, its phone null

    one = kpiboard(demo, "validate", "quarantine", "--table", "payments", "--format", "csv")
    assert {r["table"] for r in csv.DictReader(io.StringIO(one.stdout))} <= {"payments"}
    bad = kpiboard(demo, "validate", "quarantine", "--table", "paymnts")
    assert bad.returncode == 2 and "no quarantine for table 'paymnts'" in bad.stderr


def test_validate_one_suite_again(kpiboard: CliRunner, demo: Path) -> None:
    result = kpiboard(demo, "validate", "--suite", "crm.clients")
    assert result.returncode == 0, result.stderr
    assert "│ crm.clients │" in result.stdout
    typo = kpiboard(demo, "validate", "--suite", "crm.clents")
    assert typo.returncode == 2
    assert typo.stderr == "error: no suite for 'crm.clents' — did you mean 'crm.clients'?\n"


def test_a_malformed_suite_file_is_named_with_its_line(kpiboard: CliRunner, demo: Path) -> None:
    broken = demo / "suites" / "raw" / "crm" / "zz_broken.yaml"
    broken.write_text("table: crm.tasks\nexpectations:\n  - regx: title\n")
    try:
        result = kpiboard(demo, "validate")
    finally:
        broken.unlink()
    assert result.returncode == 2
    assert "zz_broken.yaml:3:" in result.stderr and "did you mean 'regex'?" in result.stderr


def test_validate_before_anything_is_published(kpiboard: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "kpiboard.toml").write_text("")
    result = kpiboard(tmp_path, "validate")
    assert result.returncode == 2
    assert "nothing published yet" in result.stderr


def _manifest_duplicates(demo: Path) -> dict[str, str]:
    with (demo / "sources" / "dirt_manifest.csv").open() as fh:
        return {
            f"{r['database']}:{r['primary_key']}": f"{r['database']}:{r['detail'].split()[-1]}"
            for r in csv.DictReader(fh)
            if r["kind"] == "duplicate_client"
        }


def test_duplicates_lists_every_group_with_its_rules(kpiboard: CliRunner, demo: Path) -> None:
    result = kpiboard(demo, "validate", "duplicates", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    expected = _manifest_duplicates(demo)
    assert expected, "the demo injected no duplicate clients"
    linked = {r["other_client_id"]: r["master"] for r in rows}
    assert linked == expected  # every link is a manifest pair, under the original as master
    assert {r["client_id"] for r in rows} == set(expected.values())
    assert {r["rule"] for r in rows} == {"tax_id", "phone", "email", "name_city"}
    assert all(r["decision"] == "" for r in rows)
    one = next(r for r in rows if r["rule"] == "phone")
    assert one["value"].startswith("+1") and one["client_name"] and one["other_name"]

    table = kpiboard(demo, "validate", "duplicates")
    assert table.returncode == 0 and table.stdout.startswith("Duplicate clients")
    as_json = kpiboard(demo, "validate", "duplicates", "--format", "json")
    assert len(json.loads(as_json.stdout)) == len(rows)
    helped = kpiboard(demo, "validate", "duplicates", "--help")
    assert "duplicates.csv" in helped.stdout and "different" in helped.stdout


def test_a_decision_splits_a_pair_at_the_next_validation(kpiboard: CliRunner, demo: Path) -> None:
    duplicate, original = sorted(_manifest_duplicates(demo).items())[0]
    decisions = demo / "duplicates.csv"
    decisions.write_text(
        f"client_id,other_client_id,decision,note\n{original},{duplicate},different,checked\n",
        encoding="utf-8",
    )
    try:
        assert kpiboard(demo, "validate").returncode == 0
        listed = kpiboard(demo, "validate", "duplicates", "--format", "json")
        rows = json.loads(listed.stdout)
        split = [r for r in rows if r["other_client_id"] == duplicate]
        assert split and {r["decision"] for r in split} == {"different"}
        assert {r["master"] for r in split} == {None}
        con = load_settings(demo).open_warehouse().connect()
        try:
            masters = con.execute(
                "SELECT client_id, master_client_id FROM core.dim_client WHERE client_id IN (?, ?)",
                [duplicate, original],
            ).fetchall()
        finally:
            con.close()
        assert sorted(masters) == sorted([(duplicate, None), (original, None)])

        decisions.write_text(
            f"client_id,other_client_id,decision\n{original},{duplicate},maybe\n",
            encoding="utf-8",
        )
        broken = kpiboard(demo, "validate", "duplicates")
        assert broken.returncode == 2
        assert broken.stderr == ("error: duplicates.csv:2: decision 'maybe' (same or different)\n")
        rerun = kpiboard(demo, "validate")
        assert rerun.returncode == 2 and "duplicates.csv:2: decision 'maybe'" in rerun.stderr
    finally:
        decisions.unlink()
        assert kpiboard(demo, "validate").returncode == 0
