"""The ``kpiboard`` command line, run as a user runs it: a subprocess, its exit code and its output.

User errors must come out as exactly one ``error: …`` line on stderr with exit code 2, an
unreachable database with exit code 3; every command's ``--help`` must carry an example.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

from kpiboard import __version__, core_model
from kpiboard.cli import app
from kpiboard.cli import kpi as kpi_commands
from kpiboard.config import load_settings
from kpiboard.demo.schema import crm_metadata, stock_metadata
from kpiboard.project import config_text, init_project

DEMO_DATABASES = ("crm_denver", "crm_austin", "crm_portland", "stock")
CORE_TABLES = {table.name for table in core_model.CORE_TABLES}  # pinned by test_core_model


def _environment() -> dict[str, str]:
    """The caller's environment without anything that would change kpiboard's output."""
    drop = ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    return {k: v for k, v in os.environ.items() if not k.startswith("KPIBOARD_") and k not in drop}


def kpiboard(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kpiboard", *args],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: …`` line a user error prints (and nothing else on stderr)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


# --- every command explains itself with an example --------------------------------------------


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _command_paths(sub, (*path, name))
    return found


COMMANDS = _command_paths(typer.main.get_command(app))


# Known gaps in cli.py, strict so that the mark must go once they are fixed.
MISSING_EXAMPLE: dict[tuple[str, ...], str] = {}  # known gaps, as strict xfails


def _help_case(path: tuple[str, ...]) -> Any:
    marks = []
    if path in MISSING_EXAMPLE:
        marks.append(pytest.mark.xfail(strict=True, reason=MISSING_EXAMPLE[path]))
    return pytest.param(path, id=" ".join(("kpiboard", *path)), marks=marks)


def test_the_walk_finds_every_command() -> None:
    assert COMMANDS == [
        (),
        ("alert",),
        ("alert", "add"),
        ("alert", "check"),
        ("alert", "history"),
        ("alert", "list"),
        ("alert", "remove"),
        ("audit",),
        ("backup",),
        ("demo",),
        ("etl",),
        ("etl", "run"),
        ("etl", "status"),
        ("init",),
        ("kpi",),
        ("kpi", "check"),
        ("kpi", "compile"),
        ("kpi", "eval"),
        ("kpi", "list"),
        ("kpi", "rows"),
        ("kpi", "scorecard"),
        ("kpi", "show"),
        ("report",),
        ("report", "check"),
        ("report", "list"),
        ("report", "run"),
        ("report", "show"),
        ("restore",),
        ("schedule",),
        ("schedule", "add"),
        ("schedule", "edit"),
        ("schedule", "history"),
        ("schedule", "list"),
        ("schedule", "pause"),
        ("schedule", "remove"),
        ("schedule", "resend"),
        ("schedule", "resume"),
        ("schedule", "run-now"),
        ("schedule", "show"),
        ("scheduler",),
        ("serve",),
        ("source",),
        ("source", "generate"),
        ("source", "list"),
        ("sql",),
        ("user",),
        ("user", "add"),
        ("user", "disable"),
        ("user", "email"),
        ("user", "enable"),
        ("user", "grant"),
        ("user", "list"),
        ("user", "passwd"),
        ("validate",),
        ("validate", "duplicates"),
        ("validate", "quarantine"),
    ]


@pytest.mark.parametrize("path", [_help_case(p) for p in COMMANDS])
def test_help_has_an_example(tmp_path: Path, path: tuple[str, ...]) -> None:
    result = kpiboard(tmp_path, *path, "--help")

    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert "Example" in result.stdout


# --- init --------------------------------------------------------------------------------------


def test_init_writes_the_template(tmp_path: Path) -> None:
    result = kpiboard(tmp_path, "init", "acme")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Wrote acme/kpiboard.toml.")
    assert (tmp_path / "acme" / "kpiboard.toml").read_text(encoding="utf-8") == config_text("acme")


def test_init_tells_where_to_add_sources(tmp_path: Path) -> None:
    result = kpiboard(tmp_path, "init", "acme")

    assert "Add your [[sources]] there" in result.stdout


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    assert kpiboard(tmp_path, "init", "acme").returncode == 0
    config = tmp_path / "acme" / "kpiboard.toml"
    edited = config.read_text(encoding="utf-8") + "\n# my own edit\n"
    config.write_text(edited, encoding="utf-8")

    again = kpiboard(tmp_path, "init", "acme")

    assert again.returncode == 2
    assert _one_error_line(again) == (
        "error: acme/kpiboard.toml: already exists (use --force to overwrite it)"
    )
    assert config.read_text(encoding="utf-8") == edited

    forced = kpiboard(tmp_path, "init", "acme", "--force")

    assert forced.returncode == 0, forced.stderr
    assert config.read_text(encoding="utf-8") == config_text("acme")


# --- a broken kpiboard.toml --------------------------------------------------------------------

BROKEN = [
    pytest.param(
        '\n[dashboard]\nport = "eighty"\n',
        "error: proj/kpiboard.toml:3: [dashboard] port: expected an integer, got 'eighty'",
        id="wrong_type",
    ),
    pytest.param(
        "[dashboard]\nport = = 1\n",
        "error: proj/kpiboard.toml:2: invalid TOML: Invalid value (column 8)",
        id="toml_syntax",
    ),
    pytest.param(
        '[[sources]]\nname = "crm"\nurl = "sqlite:///crm.sqlite"\n\n'
        '[[sources]]\nname = "stock"\nurl = "mysql://reader@/stock"\n',
        "error: proj/kpiboard.toml:7: [sources[1]] url: 'mysql://reader@/stock': "
        "the URL names no host (expected …://user@HOST/database)",
        id="second_source",
    ),
]


@pytest.mark.parametrize(("text", "line"), BROKEN)
def test_broken_config_is_one_error_line(tmp_path: Path, text: str, line: str) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "kpiboard.toml").write_text(text, encoding="utf-8")

    result = kpiboard(tmp_path, "source", "list", "-p", "proj")

    assert result.returncode == 2
    assert re.search(r"kpiboard\.toml:\d+:", _one_error_line(result))
    assert _one_error_line(result) == line
    assert result.stdout == ""


def test_several_problems_give_one_error_line_each(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "kpiboard.toml").write_text(
        '[dashboard]\nport = "x"\n\n[smtp]\nstarttls = "maybe"\n', encoding="utf-8"
    )

    result = kpiboard(tmp_path, "source", "list", "-p", "proj")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: proj/kpiboard.toml:2: [dashboard] port: expected an integer, got 'x'",
        "error: proj/kpiboard.toml:5: [smtp] starttls: expected true or false, got 'maybe'",
    ]


def test_missing_config_says_to_run_init(tmp_path: Path) -> None:
    result = kpiboard(tmp_path, "source", "list", "-p", "nowhere")

    assert result.returncode == 2
    assert _one_error_line(result) == (
        "error: nowhere/kpiboard.toml: no kpiboard.toml here; run `kpiboard init nowhere` first"
    )


# --- source generate: bad and unreachable URLs -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "line"),
    [
        pytest.param(
            "postgres//x",
            "error: 'postgres//x' is not a database URL such as sqlite:///path/file.sqlite, "
            "postgresql://user@host/db or mysql://user@host/db "
            "(Could not parse SQLAlchemy URL from given URL string)",
            id="malformed",
        ),
        pytest.param(
            "sqlite:///x.sqlite",
            "error: 'sqlite:///x.sqlite': the URL must contain {db}, "
            "replaced by each database's name",
            id="no_placeholder",
        ),
    ],
)
def test_generate_with_a_bad_url_is_a_user_error(tmp_path: Path, url: str, line: str) -> None:
    result = kpiboard(tmp_path, "source", "generate", "--url", url, "--scale", "0.01")

    assert result.returncode == 2
    assert _one_error_line(result) == line
    assert list(tmp_path.iterdir()) == []  # refused before writing anything


def test_generate_against_an_unreachable_server_exits_3(tmp_path: Path) -> None:
    result = kpiboard(
        tmp_path,
        "source",
        "generate",
        "--url",
        "postgresql://postgres@127.0.0.1:1/{db}",
        "--scale",
        "0.01",
    )

    assert result.returncode == 3
    line = _one_error_line(result)
    assert line.startswith("error: cannot connect to postgresql+psycopg://postgres@127.0.0.1:1/")
    assert "crm_denver" in line  # the first database it tried
    assert list(tmp_path.iterdir()) == []  # no manifest for data never written


# --- source list -------------------------------------------------------------------------------


@pytest.fixture
def two_sources(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    init_project(
        project,
        sources=[
            ("crm_main", "sqlite:///sources/crm.sqlite"),
            ("stock", "postgresql://reader:s3cret-pw@db.example.com/stock"),
        ],
    )
    with (project / "kpiboard.toml").open("a", encoding="utf-8") as config:
        config.write('tables = ["items", "moves"]\n')  # belongs to the last block, stock
    return project


def test_source_list_csv(tmp_path: Path, two_sources: Path) -> None:
    result = kpiboard(tmp_path, "source", "list", "-p", "proj", "--format", "csv")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "name,backend,url,tables"
    assert result.stdout == (
        "name,backend,url,tables\n"
        f"crm_main,sqlite,sqlite:///{two_sources.resolve()}/sources/crm.sqlite,all\n"
        'stock,postgresql,postgresql+psycopg://reader:***@db.example.com/stock,"items, moves"\n'
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["tables"] for r in rows] == ["all", "items, moves"]


def test_source_list_json(tmp_path: Path, two_sources: Path) -> None:
    result = kpiboard(tmp_path, "source", "list", "-p", "proj", "-f", "json")

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["crm_main", "stock"]
    assert rows == [
        {
            "name": "crm_main",
            "backend": "sqlite",
            "url": f"sqlite:///{two_sources.resolve()}/sources/crm.sqlite",
            "tables": "all",
        },
        {
            "name": "stock",
            "backend": "postgresql",
            "url": "postgresql+psycopg://reader:***@db.example.com/stock",
            "tables": "items, moves",
        },
    ]
    assert "s3cret-pw" not in result.stdout


# --- demo --------------------------------------------------------------------------------------


def _sqlite_tables(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


def _core_row_counts(project: Path) -> dict[str, int]:
    """Rows per core table in the demo's published snapshot."""
    con = load_settings(project).open_warehouse().connect()
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'core'"
            ).fetchall()
        ]
        return {n: con.execute(f'SELECT count(*) FROM core."{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def _check_demo(demo: Path, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert (demo / "kpiboard.toml").is_file()
    for name in DEMO_DATABASES:
        metadata = stock_metadata if name == "stock" else crm_metadata
        assert _sqlite_tables(demo / "sources" / f"{name}.sqlite") == set(metadata.tables), name
        assert re.search(rf"^│ {name} +│", result.stdout, re.MULTILINE), name
    with (demo / "sources" / "dirt_manifest.csv").open(encoding="utf-8") as manifest:
        rows = list(csv.reader(manifest))
    assert rows[0] == ["database", "table", "primary_key", "kind", "column", "detail"]
    assert len(rows) > 1
    assert {r[0] for r in rows[1:]} <= set(DEMO_DATABASES)
    counts = _core_row_counts(demo)
    assert set(counts) == CORE_TABLES
    assert all(counts.values()), counts  # the pipeline filled every core table
    assert "19 models built," in " ".join(result.stdout.split())


def test_demo_builds_and_rebuilds(tmp_path: Path) -> None:
    args = ("demo", "--dir", "D", "--scale", "0.01", "--seed", "3", "--no-serve")
    demo = tmp_path / "D"

    first = kpiboard(tmp_path, *args)
    _check_demo(demo, first)
    assert [s.split("=")[0].strip() for s in _source_names(demo)] == list(DEMO_DATABASES)

    second = kpiboard(tmp_path, *args)  # over the existing demo
    _check_demo(demo, second)
    # the same seed draws the same company
    assert _row_total(second.stdout) == _row_total(first.stdout)


def _source_names(demo: Path) -> list[str]:
    text = (demo / "kpiboard.toml").read_text(encoding="utf-8")
    return re.findall(r'^name = "([a-z_]+)"$', text, re.MULTILINE)


def _row_total(stdout: str) -> str:
    match = re.search(r"^([\d,]+) rows in ", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def test_version(tmp_path: Path) -> None:
    result = kpiboard(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout == f"kpiboard {__version__}\n"


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026-03-15", dt.date(2026, 3, 15), dt.date(2026, 3, 15)),
        ("2026-W11", dt.date(2026, 3, 9), dt.date(2026, 3, 15)),
        ("2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        ("2026-Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("2024", dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
    ],
)
def test_from_and_to_take_the_periods_kpi_eval_prints(
    text: str, first: dt.date, last: dt.date
) -> None:
    assert kpi_commands._first_day(text) == first
    assert kpi_commands._last_day(text) == last


@pytest.mark.parametrize("text", ["2026-13", "2026-02-30", "2026-Q5", "March", ""])
def test_from_and_to_refuse_what_is_not_a_period(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="is not a day or a period"):
        kpi_commands._first_day(text)
