"""``kpiboard.toml`` → typed settings: defaults, the init template, located error messages and the
``KPIBOARD_*`` environment.

Every broken input is paired with the exact message a user reads, so a message that loses its
line number, its key or its hint fails here.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from kpiboard.config import CONFIG_FILE, Settings, load_settings, parse_settings
from kpiboard.errors import ConfigError, UserError
from kpiboard.project import init_project


def _write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(text, encoding="utf-8")
    return directory


# --- defaults ---------------------------------------------------------------------------------


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, ""), env={})

    assert settings.project_dir == tmp_path.resolve()
    assert settings.project.name == "kpiboard project"
    assert settings.project.timezone == "UTC"
    assert settings.warehouse.path == Path("warehouse")
    assert settings.warehouse.keep_snapshots == 3
    assert settings.app.database_url == "sqlite:///app.sqlite"
    assert (settings.dashboard.host, settings.dashboard.port) == ("127.0.0.1", 8050)
    assert (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 25)
    assert settings.smtp.username is None
    assert settings.smtp.password is None
    assert settings.smtp.from_address == "kpiboard@localhost"
    assert settings.smtp.ssl is False
    assert settings.smtp.starttls is False
    assert settings.sources == []


def test_warehouse_path_is_relative_to_the_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _write(tmp_path / "proj", '[warehouse]\npath = "data/wh"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    settings = load_settings(Path("../proj"), env={})

    assert settings.warehouse_path == (tmp_path / "proj" / "data" / "wh").resolve()
    assert settings.warehouse_path.is_absolute()
    assert settings.resolve(Path("/abs/file.duckdb")) == Path("/abs/file.duckdb")
    assert project.exists()


def test_source_url_makes_relative_sqlite_paths_absolute(tmp_path: Path) -> None:
    text = (
        '[[sources]]\nname = "crm"\nurl = "sqlite:///sources/crm.sqlite"\n\n'
        '[[sources]]\nname = "archive"\nurl = "sqlite:////srv/archive.sqlite"\n\n'
        '[[sources]]\nname = "stock"\nurl = "postgres://reader:pw@db.example.com:5433/stock"\n'
    )
    settings = load_settings(_write(tmp_path, text), env={})
    crm, archive, stock = settings.sources

    assert settings.source_url(crm) == f"sqlite:///{tmp_path.resolve()}/sources/crm.sqlite"
    assert settings.source_url(archive) == "sqlite:////srv/archive.sqlite"
    # a server URL gets our driver and keeps its password: this is the URL we connect with
    assert settings.source_url(stock) == "postgresql+psycopg://reader:pw@db.example.com:5433/stock"
    # the setting itself stays as the user wrote it
    assert crm.url == "sqlite:///sources/crm.sqlite"


# --- the template `kpiboard init` writes ------------------------------------------------------


def test_init_template_without_sources_parses_to_the_defaults(tmp_path: Path) -> None:
    init_project(tmp_path / "acme")
    settings = load_settings(tmp_path / "acme", env={})
    defaults = load_settings(_write(tmp_path / "empty", ""), env={})

    assert settings.project.name == "acme"
    assert settings.sources == []
    # the template documents the defaults: every value it spells out equals the built-in one
    for section in ("company", "warehouse", "app", "dashboard", "smtp"):
        assert getattr(settings, section) == getattr(defaults, section), section
    assert settings.project.timezone == defaults.project.timezone


def test_init_template_with_sources_keeps_them(tmp_path: Path) -> None:
    sources = [
        ("crm_main", "sqlite:///sources/crm.sqlite"),
        ("stock", "postgresql://reader@db.example.com/stock"),
    ]
    name = 'Acme "West" \\ Co'  # quotes and a backslash must be escaped in TOML
    init_project(tmp_path / "acme", name=name, sources=sources)

    settings = load_settings(tmp_path / "acme", env={})

    assert settings.project.name == name
    assert [(s.name, s.url) for s in settings.sources] == sources
    assert [s.tables for s in settings.sources] == [[], []]


# --- broken files and the exact message each gives --------------------------------------------

BROKEN: list[tuple[str, str, str]] = [
    (
        "toml_syntax",
        "[dashboard]\nport = = 8050\n",
        "kpiboard.toml:2: invalid TOML: Invalid value (column 8)",
    ),
    (
        "toml_unclosed_header",
        '[project]\nname = "x"\n\n[dashboard\nport = 8050\n',
        "kpiboard.toml:4: invalid TOML: Expected ']' at the end of a table declaration (column 11)",
    ),
    (
        "toml_last_line_cut_short",
        '[project]\nname = "x"\n\n[dashboard]\nport =',
        "kpiboard.toml:5: invalid TOML: Invalid value (at the end of the file)",
    ),
    (
        "unknown_section",
        '[project]\nname = "x"\n\n[dashbord]\nport = 8051\n',
        "kpiboard.toml:4: unknown section [dashbord] — did you mean [dashboard]?",
    ),
    (
        "unknown_top_level_key_lists_known",
        '# settings\ncolour = "blue"\n',
        "kpiboard.toml:2: unknown key 'colour' (known: project, company, warehouse, etl, "
        "validation, kpi, app, dashboard, smtp, scheduler, security, sources)",
    ),
    (
        "unknown_key_did_you_mean",
        '[project]\nname = "x"\n\n[warehouse]\npth = "w.duckdb"\n',
        "kpiboard.toml:5: [warehouse] unknown key 'pth' — did you mean 'path'?",
    ),
    (
        "unknown_key_lists_known",
        '[smtp]\nhost = "mail"\nzzz = 1\n',
        "kpiboard.toml:3: [smtp] unknown key 'zzz' "
        "(known: host, port, starttls, ssl, username, password, from_address, timeout_seconds)",
    ),
    (
        "int_from_text",
        '[project]\nname = "x"\ntimezone = "UTC"\n\n'
        '[dashboard]\nhost = "0.0.0.0"\nport = "eighty"\n',
        "kpiboard.toml:7: [dashboard] port: expected an integer, got 'eighty'",
    ),
    (
        "int_from_fraction",
        "[dashboard]\nport = 80.5\n",
        "kpiboard.toml:2: [dashboard] port: expected an integer, got 80.5",
    ),
    (
        "bool_from_text",
        '[smtp]\nstarttls = "sometimes"\n',
        "kpiboard.toml:2: [smtp] starttls: expected true or false, got 'sometimes'",
    ),
    (
        "str_from_int",
        "[project]\nname = 42\n",
        "kpiboard.toml:2: [project] name: expected a string, got 42",
    ),
    (
        "section_not_a_table",
        "dashboard = 8050\n",
        "kpiboard.toml:1: dashboard: expected a table, got 8050",
    ),
    (
        "port_too_high",
        "[dashboard]\nport = 70000\n",
        "kpiboard.toml:2: [dashboard] port: expected at most 65535, got 70000",
    ),
    (
        "port_zero",
        '[smtp]\nhost = "mail"\nport = 0\n',
        "kpiboard.toml:3: [smtp] port: expected at least 1, got 0",
    ),
    (
        "app_url_sqlite_without_path",
        '[app]\ndatabase_url = "sqlite://"\n',
        "kpiboard.toml:2: [app] database_url: 'sqlite://': a SQLite URL needs a file path, "
        "e.g. sqlite:///data/crm.sqlite",
    ),
    (
        "source_url_malformed",
        '[[sources]]\nname = "crm"\nurl = "postgres//x"\n',
        "kpiboard.toml:3: [sources[0]] url: 'postgres//x' is not a database URL such as "
        "sqlite:///path/file.sqlite, postgresql://user@host/db or mysql://user@host/db "
        "(Could not parse SQLAlchemy URL from given URL string)",
    ),
    (
        "source_url_unsupported_backend",
        '[[sources]]\nname = "crm"\nurl = "oracle://reader@db.example.com/crm"\n',
        "kpiboard.toml:3: [sources[0]] url: 'oracle://reader@db.example.com/crm': "
        "unsupported database 'oracle' (supported: mariadb, mysql, postgres, postgresql, sqlite)",
    ),
    (
        "source_name_bad_characters",
        '[[sources]]\nname = "CRM-Main"\nurl = "sqlite:///crm.sqlite"\n',
        "kpiboard.toml:2: [sources[0]] name: expected a lower-case name "
        "(letters, digits, underscores), got 'CRM-Main'",
    ),
    (
        "source_names_duplicate",
        '[[sources]]\nname = "crm"\nurl = "sqlite:///a.sqlite"\n\n'
        '[[sources]]\nname = "crm"\nurl = "sqlite:///b.sqlite"\n',
        "kpiboard.toml:6: [sources[1]] name: two sources are named 'crm'; names must be unique",
    ),
    (
        "source_url_missing",
        '[project]\nname = "x"\n\n[[sources]]\nname = "crm"\n',
        "kpiboard.toml:4: [sources[0]] required key 'url' is missing",
    ),
    (
        "source_tables_not_a_list",
        '[[sources]]\nname = "crm"\nurl = "sqlite:///crm.sqlite"\ntables = "clients"\n',
        "kpiboard.toml:4: [sources[0]] tables: expected a list, got 'clients'",
    ),
    (
        "source_table_unknown_key",
        '[[sources]]\nname = "crm"\nurl = "sqlite:///crm.sqlite"\n\n'
        '[sources.table.invoices]\nprimary_key = ["id"]\nincremental_column = "updated_at"\n',
        "kpiboard.toml:7: [sources[0].table.invoices] unknown key 'incremental_column' "
        "— did you mean 'incremental'?",
    ),
    (
        "memory_limit_not_a_size",
        '[etl]\nparallel = 2\nmemory_limit = "lots"\n',
        "kpiboard.toml:3: [etl] memory_limit: expected a size like '4GB', '512MB' or '80%' "
        "(of the machine's memory), got 'lots'",
    ),
    (
        "memory_limit_without_unit",
        '[etl]\nmemory_limit = "4096"\n',
        "kpiboard.toml:2: [etl] memory_limit: expected a size like '4GB', '512MB' or '80%' "
        "(of the machine's memory), got '4096'",
    ),
    (
        "memory_limit_over_all_memory",
        '[etl]\nmemory_limit = "150%"\n',
        "kpiboard.toml:2: [etl] memory_limit: expected a size like '4GB', '512MB' or '80%' "
        "(of the machine's memory), got '150%'",
    ),
    (
        "time_zone_unknown",
        '[project]\nname = "x"\ntimezone = "Mars/Olympus"\n',
        "kpiboard.toml:3: [project] timezone: unknown time zone 'Mars/Olympus' "
        "(an IANA name such as 'America/Denver' or 'Europe/Berlin')",
    ),
    (
        "time_zone_misspelt",
        '[project]\ntimezone = "Europe/Berln"\n',
        "kpiboard.toml:2: [project] timezone: unknown time zone 'Europe/Berln' "
        "— did you mean 'Europe/Berlin'?",
    ),
    (
        "time_zone_in_lower_case",
        '[project]\ntimezone = "america/denver"\n',
        "kpiboard.toml:2: [project] timezone: unknown time zone 'america/denver' "
        "— did you mean 'America/Denver'?",
    ),
    (
        "time_zone_a_city_alone",
        '[project]\ntimezone = "Denver"\n',
        "kpiboard.toml:2: [project] timezone: unknown time zone 'Denver' "
        "— did you mean 'America/Denver'?",
    ),
    (
        "project_dir_in_file",
        '# where am I?\nproject_dir = "/srv/elsewhere"\n\n[project]\nname = "x"\n',
        "kpiboard.toml:2: unknown key 'project_dir' (the file's folder is the project)",
    ),
    (
        "project_dir_in_a_section",
        '[project]\nname = "x"\nproject_dir = "/srv/elsewhere"\n',
        "kpiboard.toml:3: [project] unknown key 'project_dir' (known: name, timezone)",
    ),
    (
        "second_source_block_bad_url",
        '[[sources]]\nname = "crm"\nurl = "sqlite:///crm.sqlite"\n\n'
        '[sources.table.invoices]\nprimary_key = ["id"]\n\n'
        '[[sources]]\nname = "stock"\nurl = "mysql://reader@/stock"\n',
        "kpiboard.toml:10: [sources[1]] url: 'mysql://reader@/stock': the URL names no host "
        "(expected …://user@HOST/database)",
    ),
    (
        "second_source_block_unknown_key",
        '[[sources]]\nname = "crm"\nurl = "sqlite:///crm.sqlite"\n\n'
        '[[sources]]\nname = "stock"\nurl = "sqlite:///stock.sqlite"\ntabels = ["items"]\n',
        "kpiboard.toml:8: [sources[1]] unknown key 'tabels' — did you mean 'tables'?",
    ),
    (
        "every_problem_reported_one_line_each",
        '[dashboard]\nport = "x"\n\n[smtp]\nport = 0\nstarttls = "maybe"\n',
        "kpiboard.toml:2: [dashboard] port: expected an integer, got 'x'\n"
        "kpiboard.toml:5: [smtp] port: expected at least 1, got 0\n"
        "kpiboard.toml:6: [smtp] starttls: expected true or false, got 'maybe'",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_file_gives_a_located_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)  # the file is then shown as plain `kpiboard.toml`
    _write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_settings(Path("."), env={})

    assert str(caught.value) == message


def test_a_file_outside_the_working_directory_is_named_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "proj" / CONFIG_FILE
    with pytest.raises(ConfigError) as caught:
        parse_settings("[dashboard]\nport = -1\n", path, env={})

    assert str(caught.value) == (f"{path}:2: [dashboard] port: expected at least 1, got -1")


# --- KPIBOARD_* environment overrides ----------------------------------------------------------

SOURCES = (
    "[dashboard]\nport = 8051\n\n"
    '[[sources]]\nname = "crm_main"\nurl = "sqlite:///crm.sqlite"\n\n'
    '[[sources]]\nname = "stock"\nurl = "sqlite:///stock.sqlite"\n'
)


def _parse(tmp_path: Path, env: dict[str, str], text: str = SOURCES) -> Settings:
    return parse_settings(text, tmp_path / CONFIG_FILE, env=env)


def test_environment_overrides_a_section_setting(tmp_path: Path) -> None:
    assert _parse(tmp_path, {}).dashboard.port == 8051
    settings = _parse(tmp_path, {"KPIBOARD_DASHBOARD_PORT": "9000"})

    assert settings.dashboard.port == 9000
    # and a setting the file does not have at all
    assert _parse(tmp_path, {"KPIBOARD_SMTP_STARTTLS": "true"}).smtp.starttls is True


def test_environment_ignores_other_variables(tmp_path: Path) -> None:
    env = {"KPIBOARD_DASHBOARD_PROT": "1", "DASHBOARD_PORT": "2", "KPIBOARD_PORT": "3"}

    assert _parse(tmp_path, env).dashboard.port == 8051


def test_smtp_password_in_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kpiboard.toml").write_text(
        '[smtp]\nhost = "mail"\npassword = "hunter2"\n', encoding="utf-8"
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})

    assert str(caught.value).endswith(
        "kpiboard.toml:3: [smtp] password: keep the password out of the file; "
        "set KPIBOARD_SMTP_PASSWORD in the environment"
    )
    assert "hunter2" not in str(caught.value)


def test_starttls_and_ssl_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "kpiboard.toml").write_text(
        "[smtp]\nstarttls = true\nssl = true\n", encoding="utf-8"
    )

    with pytest.raises(ConfigError, match="starttls and ssl are both true; choose one"):
        load_settings(tmp_path, env={})


def test_every_smtp_and_scheduler_key_is_overridable(tmp_path: Path) -> None:
    env = {
        "KPIBOARD_SMTP_FROM_ADDRESS": "Reports <reports@acme.test>",
        "KPIBOARD_SMTP_SSL": "true",
        "KPIBOARD_SCHEDULER_GRACE_MINUTES": "15",
        "KPIBOARD_SCHEDULER_PIPELINE_CRON": "0 5 * * *",
    }

    settings = _parse(tmp_path, env)

    assert settings.smtp.from_address == "Reports <reports@acme.test>"
    assert settings.smtp.ssl is True
    assert settings.scheduler.grace_minutes == 15
    assert settings.scheduler.pipeline_cron == "0 5 * * *"


def test_smtp_password_from_the_environment_is_a_secret(tmp_path: Path) -> None:
    settings = _parse(tmp_path, {"KPIBOARD_SMTP_PASSWORD": "hunter2-secret"})

    assert isinstance(settings.smtp.password, SecretStr)
    assert settings.smtp.password.get_secret_value() == "hunter2-secret"
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.smtp)
    assert "**********" in repr(settings.smtp)


def test_environment_overrides_one_source_url(tmp_path: Path) -> None:
    env = {"KPIBOARD_SOURCE_CRM_MAIN_URL": "postgresql://reader:pw@db.example.com/crm"}
    crm, stock = _parse(tmp_path, env).sources

    assert crm.url == "postgresql://reader:pw@db.example.com/crm"
    assert stock.url == "sqlite:///stock.sqlite"


BAD_ENVIRONMENT: list[tuple[str, dict[str, str], str]] = [
    (
        "port_not_an_integer",
        {"KPIBOARD_DASHBOARD_PORT": "nine"},
        "environment variable KPIBOARD_DASHBOARD_PORT: [dashboard] port: "
        "expected an integer, got 'nine'",
    ),
    (
        "port_out_of_range",
        {"KPIBOARD_SMTP_PORT": "0"},
        "environment variable KPIBOARD_SMTP_PORT: [smtp] port: expected at least 1, got '0'",
    ),
    (
        "bool_not_a_bool",
        {"KPIBOARD_SMTP_STARTTLS": "maybe"},
        "environment variable KPIBOARD_SMTP_STARTTLS: [smtp] starttls: "
        "expected true or false, got 'maybe'",
    ),
    (
        "time_zone_unknown",
        {"KPIBOARD_PROJECT_TIMEZONE": "Europe/Pariss"},
        "environment variable KPIBOARD_PROJECT_TIMEZONE: [project] timezone: "
        "unknown time zone 'Europe/Pariss' — did you mean 'Europe/Paris'?",
    ),
    (
        "source_url_malformed",
        {"KPIBOARD_SOURCE_STOCK_URL": "mysql://reader@/stock"},
        "environment variable KPIBOARD_SOURCE_STOCK_URL: [sources[1]] url: "
        "'mysql://reader@/stock': the URL names no host (expected …://user@HOST/database)",
    ),
]


@pytest.mark.parametrize(
    ("env", "message"), [c[1:] for c in BAD_ENVIRONMENT], ids=[c[0] for c in BAD_ENVIRONMENT]
)
def test_bad_environment_value_names_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse(tmp_path, env)

    assert str(caught.value) == message


# --- no file -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory_limit", "zone"),
    [("512MB", "UTC"), ("4 GB", "America/Denver"), ("1.5GiB", "Europe/Berlin"), ("80%", "UTC")],
)
def test_memory_limits_duckdb_takes_and_known_time_zones_are_accepted(
    tmp_path: Path, memory_limit: str, zone: str
) -> None:
    text = f'[project]\ntimezone = "{zone}"\n\n[etl]\nmemory_limit = "{memory_limit}"\n'
    settings = parse_settings(text, tmp_path / "kpiboard.toml")
    assert (settings.etl.memory_limit, settings.project.timezone) == (memory_limit, zone)
    con = duckdb.connect()
    try:  # what the pipeline does with it
        con.execute(f"SET memory_limit = '{settings.etl.memory_limit}'")
    finally:
        con.close()


def test_missing_file_says_to_run_init(tmp_path: Path) -> None:
    project = tmp_path / "nowhere"

    with pytest.raises(UserError) as caught:
        load_settings(project, env={})

    assert str(caught.value) == (
        f"{project / CONFIG_FILE}: no kpiboard.toml here; run `kpiboard init {project}` first"
    )
