"""Start fast (ARCHITECTURE.md): a command imports only what it uses. ``kpiboard --help`` and the
help of every command load no database driver, no dataframe library and no validation library;
the commands that only read definitions and settings load no pandas, DuckDB or Great
Expectations. Each check runs in a fresh interpreter, where ``sys.modules`` is what the command
imported. (How long that takes is measured by ``bench/startup.py``, not asserted here.)"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kpiboard.demo import demo_sources, install_demo_kpis, install_demo_scorecards
from kpiboard.project import init_project

ROOT = Path(__file__).resolve().parents[1]

# what the heavy commands need: validation, dataframes, the warehouse, the faces
HEAVY = (
    "great_expectations",
    "pandas",
    "numpy",
    "scipy",
    "duckdb",
    "pyarrow",
    "dash",
    "playwright",
)
# nor does a command's `--help`: SQL parsing, database URLs (the command line library parses a
# command's options with pydantic, so that comes with any command's help, never with the app's)
NOT_FOR_HELP = (*HEAVY, "sqlalchemy", "sqlglot")
NOT_FOR_THE_APPS_HELP = (*NOT_FOR_HELP, "pydantic")

PROBE = textwrap.dedent(
    """
    import json, sys
    from kpiboard.cli import app
    exits = {}
    for args in json.loads(sys.argv[1]):
        try:
            app(args, prog_name="kpiboard")
        except SystemExit as exc:
            exits[" ".join(args)] = exc.code
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps({"exits": exits, "modules": loaded}))
    """
)


def _run(*commands: list[str]) -> tuple[dict[str, int], set[str]]:
    """Run ``commands`` one after the other in one fresh interpreter: each one's exit code, and
    the top-level packages loaded by the end."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    return answer["exits"], set(answer["modules"])


def _loaded(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return {name.split(".")[0] for name in eval(out.stdout.strip().splitlines()[-1])}


def _every_command() -> list[list[str]]:
    """Every command and group of the app, as the words that name it."""
    import typer

    from kpiboard.cli import app

    found = []

    def walk(command: object, words: list[str]) -> None:
        found.append(words)
        for name, sub in getattr(command, "commands", {}).items():  # a group's commands
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the demo's sources, KPIs and scorecards and one plan file: what the
    definition commands read (no warehouse: they need none)."""
    folder = tmp_path_factory.mktemp("startup")
    init_project(folder, name="startup", sources=demo_sources())
    install_demo_kpis(folder / "kpis")
    install_demo_scorecards(folder / "scorecards")
    (folder / "plans").mkdir(exist_ok=True)
    (folder / "plans" / "branches.csv").write_text(
        "kpi,period,branch,plan\nrevenue,2025-01,austin,1000000\nrevenue,2025-02,austin,1100000\n",
        encoding="utf-8",
    )
    return folder


def test_importing_the_command_line_loads_no_heavy_package() -> None:
    loaded = _loaded("import kpiboard.cli")
    assert loaded.isdisjoint(NOT_FOR_THE_APPS_HELP), sorted(loaded & set(NOT_FOR_THE_APPS_HELP))


def test_python_m_kpiboard_help_loads_no_heavy_package() -> None:
    loaded = _loaded(
        "import runpy, sys\n"
        "sys.argv = ['kpiboard', '--help']\n"
        "try:\n"
        "    runpy.run_module('kpiboard', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code"
    )
    assert "kpiboard" in loaded and "typer" in loaded
    assert loaded.isdisjoint(NOT_FOR_THE_APPS_HELP), sorted(loaded & set(NOT_FOR_THE_APPS_HELP))


def test_the_help_of_every_command_loads_no_heavy_package() -> None:
    commands = _every_command()
    assert ["kpi", "eval"] in commands and ["etl", "run"] in commands and ["demo"] in commands
    exits, loaded = _run(*([*words, "--help"] for words in commands))
    assert exits == {" ".join([*words, "--help"]): 0 for words in commands}
    assert loaded.isdisjoint(NOT_FOR_HELP), sorted(loaded & set(NOT_FOR_HELP))


@pytest.mark.parametrize(
    "command",
    [
        ["kpi", "list"],
        ["kpi", "show", "revenue"],
        ["kpi", "check"],
        ["kpi", "compile", "revenue", "--by", "branch"],
        ["source", "list"],
    ],
    ids=lambda words: " ".join(words),
)
def test_commands_on_definitions_and_settings_load_no_heavy_package(
    project: Path, command: list[str]
) -> None:
    exits, loaded = _run([*command, "-p", str(project)])
    assert exits == {" ".join([*command, "-p", str(project)]): 0}
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    # the settings and the definitions were read: the check above is not of a command that failed
    assert "pydantic" in loaded
    if command[0] == "kpi":  # a KPI command connects to no source: their URLs are only checked
        assert "sqlalchemy" not in loaded
