"""``kpiboard.toml``: the project's one configuration file, parsed into typed settings.

Every setting has a default that works for the demo, so a file may be nearly empty. Secrets can
stay out of the file: ``KPIBOARD_<SECTION>_<KEY>`` environment variables override a section's
setting (``KPIBOARD_SMTP_PASSWORD``, ``KPIBOARD_APP_DATABASE_URL``) and
``KPIBOARD_SOURCE_<NAME>_URL`` a source's URL.

A mistake gives one line per problem, naming the file, the line, the key and what is expected::

    kpiboard.toml:7: [dashboard] port: expected an integer, got 'eighty'
    kpiboard.toml:3: [warehouse] unknown key 'pth' — did you mean 'path'?
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kpiboard import urls
from kpiboard.currencies import CURRENCIES
from kpiboard.errors import ConfigError, UrlError, UserError
from kpiboard.warehouse import Warehouse

CONFIG_FILE = "kpiboard.toml"
ENV_PREFIX = "KPIBOARD_"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_url(value: str) -> str:
    try:
        urls.check_url(value)
    except UrlError as exc:  # pydantic reports ValueErrors with their location
        raise ValueError(str(exc)) from None
    return value


MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(%|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
"""A DuckDB memory limit: a size in decimal (``4GB``) or binary (``4GiB``) units, or a share of
the machine's memory (``80%``); DuckDB reads the units in any case."""


def _check_memory_limit(value: str) -> str:
    match = MEMORY.fullmatch(value.strip())
    if (
        match is None
        or float(match.group(1)) <= 0
        or (match.group(2) == "%" and float(match.group(1)) > 100)
    ):
        raise PydanticCustomError(
            "memory_limit",
            "expected a size like '4GB', '512MB' or '80%' (of the machine's memory), got {got}",
            {"got": repr(value)},
        )
    return value.strip()


def _check_time_zone(value: str) -> str:
    """An IANA time zone name the machine knows (``Europe/Berlin``), as ``zoneinfo`` does."""
    zones = zoneinfo.available_timezones()
    if value in zones:
        return value
    hint = suggest_time_zone(value, zones)
    raise PydanticCustomError(
        "time_zone",
        "unknown time zone {got}{hint}",
        {
            "got": repr(value),
            "hint": f" — did you mean {hint!r}?"
            if hint
            else " (an IANA name such as 'America/Denver' or 'Europe/Berlin')",
        },
    )


def suggest_time_zone(value: str, zones: set[str] | frozenset[str]) -> str | None:
    """The known zone ``value`` most likely means: the same name in another case or with
    spaces for underscores (``america/new york``), a city alone (``Denver``), or the closest
    spelling."""
    wanted = value.strip().replace(" ", "_").lower()
    by_lower = {zone.lower(): zone for zone in zones}
    if wanted in by_lower:
        return by_lower[wanted]
    cities = {zone.rsplit("/", 1)[-1].lower(): zone for zone in sorted(zones) if "/" in zone}
    if wanted in cities:
        return cities[wanted]
    close = difflib.get_close_matches(wanted, list(by_lower), n=1, cutoff=0.75)
    if close:
        return by_lower[close[0]]
    close = difflib.get_close_matches(wanted.rsplit("/", 1)[-1], list(cities), n=1, cutoff=0.8)
    return cities[close[0]] if close else None


def _check_currency(value: str) -> str:
    """An ISO 4217 currency code (``USD``, ``EUR``); a known code in lower case is suggested."""
    if value in CURRENCIES:
        return value
    wanted = value.strip().upper()
    # codes are too alike for spelling distance alone: a typo keeps the country's two letters
    # (EUX → EUR), so only codes sharing them are suggested
    same_country = sorted(c for c in CURRENCIES if c[:2] == wanted[:2] and len(wanted) == 3)
    hint = (
        wanted
        if wanted in CURRENCIES
        else same_country[0]
        if len(same_country) == 1
        else next(iter(difflib.get_close_matches(wanted, same_country, n=1)), None)
    )
    raise PydanticCustomError(
        "currency",
        "unknown currency code {got}{hint}",
        {
            "got": repr(value),
            "hint": f" — did you mean {hint!r}?"
            if hint
            else " (an ISO 4217 code such as 'USD' or 'EUR')",
        },
    )


class ProjectSettings(_Section):
    name: str = "kpiboard project"
    # calendars, schedules and "today" in reports; an IANA name
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_time_zone(value)


class CompanySettings(_Section):
    """The company as a whole: for a company without branches, the one branch every source
    without its own ``branch`` belongs to, and what ``core.dim_branch`` says of it."""

    # default: [project] name
    name: str | None = None
    # the branch code of every source without its own branch; unset: no default branch
    branch: str | None = Field(default=None, min_length=1)
    # IANA name; default: [project] timezone
    timezone: str | None = None
    # ISO 4217: the currency of the company's money (dim_branch.currency)
    currency: str = "USD"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_time_zone(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return _check_currency(value)


class WarehouseSettings(_Section):
    # the folder of DuckDB snapshots; readers use the published one (see kpiboard.warehouse)
    path: Path = Path("warehouse")
    keep_snapshots: int = Field(default=3, ge=1, le=100)


class AppSettings(_Section):
    database_url: str = "sqlite:///app.sqlite"

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


OVERVIEW_KPIS = [
    "revenue",
    "gross_margin",
    "cash_collected",
    "receivables_overdue",
    "open_pipeline_value",
    "new_clients",
    "repair_sla_rate",
    "stock_value",
]


class DashboardSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=1, le=65535)
    # the address readers open the dashboard at, for the links in mails
    # (default: http://<host>:<port>)
    public_url: str = ""
    # the Overview's tiles, in order: KPI ids (4-8 read best)
    overview: list[str] = Field(default_factory=lambda: list(OVERVIEW_KPIS), max_length=12)


class SecuritySettings(_Section):
    """Logins to the dashboard (``[security]``): how long a session lasts, when repeated
    failures lock a user or an address out, and what the session cookie requires."""

    # a session ends after this long without a request, and after this long in any case
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=30 * 24)
    # after this many failed logins in a row (per user name, and per address) each further
    # attempt waits: lockout_seconds, doubling with each failure, never more than an hour
    lockout_after: int = Field(default=5, ge=1, le=100)
    lockout_seconds: int = Field(default=30, ge=1, le=3600)
    password_min_length: int = Field(default=10, ge=8, le=128)
    # the session cookie is Secure (sent over HTTPS only) when the request came over TLS; set
    # this when a proxy in front ends TLS and the app cannot see it (or set behind_proxy)
    secure_cookies: bool = False
    # trust one proxy's X-Forwarded-For and X-Forwarded-Proto: the client's address for the
    # lockout and the audit log, and https for the cookie (docs/security.md)
    behind_proxy: bool = False
    # signs the session cookie; default: a random key kept in the app database, so every worker
    # and every restart shares it (KPIBOARD_SECURITY_SECRET_KEY overrides)
    secret_key: SecretStr | None = None


class SmtpSettings(_Section):
    """The mail server mail-outs and alerts are sent through (``[smtp]``). The password is
    never in the file: ``KPIBOARD_SMTP_PASSWORD`` gives it (:func:`parse_settings` refuses
    one written in ``kpiboard.toml``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    # STARTTLS after connecting (port 587), or TLS from the first byte (port 465); not both
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: SecretStr | None = None
    # who the mails are from: an address, or a name and address ("Reports <reports@acme.com>")
    from_address: str = "kpiboard@localhost"
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _one_tls(self) -> SmtpSettings:
        if self.starttls and self.ssl:
            raise PydanticCustomError(
                "smtp_tls",
                "starttls and ssl are both true; choose one (starttls for port 587, ssl for 465)",
            )
        return self


class SchedulerSettings(_Section):
    """The mail-out scheduler (``kpiboard scheduler``, ``[scheduler]``)."""

    # how often the scheduler looks for due slots, retries and a newly published snapshot
    tick_seconds: float = Field(default=20.0, ge=0.05, le=600)
    # a slot missed while the scheduler was down is sent late when it starts within this many
    # minutes of the slot's time; an older one is recorded as missed and not sent
    grace_minutes: int = Field(default=360, ge=0, le=7 * 24 * 60)
    # a slot sent more than this many minutes after its time is marked late
    late_after_minutes: int = Field(default=5, ge=0, le=24 * 60)
    # a mail refused for a passing reason (connection refused, 4xx) is tried again after
    # retry_seconds, doubling each time, at most max_attempts times in all
    retry_seconds: float = Field(default=60.0, ge=0, le=24 * 3600)
    max_attempts: int = Field(default=6, ge=1, le=50)
    # a recipient claimed by a scheduler that stops answering is taken over after this long
    lease_seconds: float = Field(default=300.0, ge=1, le=24 * 3600)
    # the pipeline's own schedule (`kpiboard etl run` by the scheduler): a cron expression in
    # [project] timezone, or empty for none (the pipeline is run some other way)
    pipeline_cron: str = ""
    # where failures of a schedule without an owner's address are mailed (empty: only logged)
    notify: str = ""


class SourceTableSettings(_Section):
    primary_key: list[str] | None = None
    incremental: str | None = None


class SourceSettings(_Section):
    name: str = Field(pattern=NAME_PATTERN)
    url: str
    # sources of one group (the branches' CRMs) share a schema; models read them as one,
    # through the views raw_<group>.<table>, with the source's branch in column _branch
    group: str | None = Field(default=None, pattern=NAME_PATTERN)
    branch: str | None = None
    tables: list[str] = Field(default_factory=list)  # empty: every table of the source
    table: dict[str, SourceTableSettings] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


class EtlSettings(_Section):
    # SQL models turning raw_* into core, one SELECT per file: <models>/<schema>/<table>.sql
    models: Path = Path("models")
    batch_rows: int = Field(default=100_000, ge=1_000, le=10_000_000)
    # sources extracted at the same time
    parallel: int = Field(default=2, ge=1, le=32)
    # compare keys with the source to find hard deletes every N runs (and with --check-deletes)
    delete_check_every: int = Field(default=10, ge=1)
    # DuckDB's memory while loading (it spills to disk beyond it), e.g. "512MB", "4GB", "80%"
    memory_limit: str = "512MB"

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        return _check_memory_limit(value)


class ValidationSettings(_Section):
    # expectation suites, one YAML file per table: <suites>/raw/<source or group>/<table>.yaml,
    # <suites>/core/<table>.yaml (see docs/validation.md)
    suites: Path = Path("suites")
    # GX's Data Docs (HTML) of every validation run; open <data_docs>/index.html
    data_docs: Path = Path("data_docs")
    # decisions on duplicate clients, CSV: client_id,other_client_id,decision (same|different)
    duplicates: Path = Path("duplicates.csv")
    # whether clients of two branches can be one client (the same tax id, phone or e-mail)
    duplicates_across_branches: bool = True


class KpiSettings(_Section):
    # KPI definitions, plan values and scorecards (see docs/kpis.md)
    definitions: Path = Path("kpis")
    plans: Path = Path("plans")
    scorecards: Path = Path("scorecards")


class Settings(_Section):
    """The whole configuration; paths in it are relative to :attr:`project_dir`."""

    project_dir: Path = Path(".")
    project: ProjectSettings = ProjectSettings()
    company: CompanySettings = CompanySettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    etl: EtlSettings = EtlSettings()
    validation: ValidationSettings = ValidationSettings()
    kpi: KpiSettings = KpiSettings()
    app: AppSettings = AppSettings()
    dashboard: DashboardSettings = DashboardSettings()
    smtp: SmtpSettings = SmtpSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    security: SecuritySettings = SecuritySettings()
    sources: list[SourceSettings] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, value: list[SourceSettings]) -> list[SourceSettings]:
        seen: set[str] = set()
        for index, source in enumerate(value):
            if source.name in seen:  # the index lets the message point at the second block
                raise PydanticCustomError(
                    "duplicate_source",
                    "two sources are named {name}; names must be unique",
                    {"name": repr(source.name), "index": index},
                )
            seen.add(source.name)
        return value

    def resolve(self, path: Path) -> Path:
        """``path`` from the file, made absolute against the project folder."""
        return path if path.is_absolute() else (self.project_dir / path).resolve()

    @property
    def warehouse_path(self) -> Path:
        """The warehouse folder, absolute."""
        return self.resolve(self.warehouse.path)

    def open_warehouse(self) -> Warehouse:
        """The project's warehouse (snapshots and the published pointer)."""
        return Warehouse(self.warehouse_path, keep=self.warehouse.keep_snapshots)

    def branch_of(self, source: SourceSettings) -> str | None:
        """The branch code of a source's rows: its own ``branch``, else ``[company] branch``."""
        return source.branch or self.company.branch

    def source_url(self, source: SourceSettings) -> str:
        """A source's URL, with a relative SQLite path made relative to the project folder."""
        url = urls.parse_url(source.url)
        if urls.backend(url) == "sqlite" and url.database and not Path(url.database).is_absolute():
            url = url.set(database=str(self.resolve(Path(url.database))))
        return url.render_as_string(hide_password=False)


_SECTIONS = (
    "project",
    "company",
    "warehouse",
    "etl",
    "validation",
    "app",
    "dashboard",
    "smtp",
    "scheduler",
    "security",
)


def load_settings(project_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``kpiboard.toml`` from ``project_dir`` and apply the ``KPIBOARD_*`` environment."""
    path = project_dir / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{path}: no {CONFIG_FILE} here; run `kpiboard init {project_dir}` first")
    return parse_settings(path.read_text(encoding="utf-8"), path, env=env)


def parse_settings(text: str, path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Parse the text of a configuration file; ``path`` names it in messages."""
    shown = _display_path(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_syntax_message(shown, text, exc)) from None
    lines = _key_lines(text)
    if "project_dir" in raw:  # set from where the file is, never in it
        line = lines.get(("project_dir",))
        raise ConfigError(
            f"{shown}:{line}: unknown key 'project_dir' (the file's folder is the project)"
        )
    smtp = raw.get("smtp")
    if isinstance(smtp, dict) and "password" in smtp:  # a secret in a file that gets shared
        line = lines.get(("smtp", "password"))
        raise ConfigError(
            f"{shown}:{line}: [smtp] password: keep the password out of the file; "
            "set KPIBOARD_SMTP_PASSWORD in the environment"
        )
    env_keys = _apply_environment(raw, os.environ if env is None else env)
    try:
        return Settings.model_validate({**raw, "project_dir": path.parent.resolve()})
    except ValidationError as exc:
        problems = [_describe(shown, lines, env_keys, err) for err in exc.errors()]
        raise ConfigError("\n".join(problems)) from None


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _toml_syntax_message(shown: str, source: str, exc: tomllib.TOMLDecodeError) -> str:
    text = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", text)
    if match:
        reason = text[: match.start()].strip()
        return f"{shown}:{match.group(1)}: invalid TOML: {reason} (column {match.group(2)})"
    if text.endswith("(at end of document)"):  # e.g. a last line cut short: `port =`
        reason = text.removesuffix("(at end of document)").strip()
        line = max(len(source.splitlines()), 1)
        return f"{shown}:{line}: invalid TOML: {reason} (at the end of the file)"
    return f"{shown}: invalid TOML: {text}"


def _apply_environment(raw: dict[str, Any], env: Mapping[str, str]) -> dict[tuple[Any, ...], str]:
    """Override settings from ``KPIBOARD_*`` variables; return which keys came from where."""
    used: dict[tuple[Any, ...], str] = {}
    for section in _SECTIONS:
        model = Settings.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key in model.model_fields:
            var = f"{ENV_PREFIX}{section}_{key}".upper()
            if var in env:
                target = raw.setdefault(section, {})
                if isinstance(target, dict):
                    target[key] = env[var]
                    used[(section, key)] = var
    sources = raw.get("sources")
    if isinstance(sources, list):
        for i, source in enumerate(sources):
            if isinstance(source, dict) and isinstance(source.get("name"), str):
                var = f"{ENV_PREFIX}SOURCE_{source['name']}_URL".upper()
                if var in env:
                    source["url"] = env[var]
                    used[("sources", i, "url")] = var
    return used


def _key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Line numbers of tables and keys in a TOML text, by their path (arrays by index).

    A light scanner for messages only: it understands ``[table]``, ``[[array]]``, dotted
    headers and ``key = value`` lines, which is what configuration files are made of.
    """
    found: dict[tuple[Any, ...], int] = {}
    arrays: dict[tuple[str, ...], int] = {}
    prefix: tuple[Any, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", stripped) or re.match(
            r"^\[\s*([^\]]+?)\s*\]", stripped
        )
        if header:
            parts = tuple(_split_key(header.group(1)))
            if stripped.startswith("[["):
                arrays[parts] = arrays.get(parts, -1) + 1
            prefix = _with_indexes(parts, arrays)
            found.setdefault(prefix, number)
            continue
        key = re.match(r"^([A-Za-z0-9_\-\.\"' ]+?)\s*=", stripped)
        if key:
            found.setdefault((*prefix, *_split_key(key.group(1))), number)
    return found


def _split_key(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in key.split(".")]


def _with_indexes(parts: tuple[str, ...], arrays: Mapping[tuple[str, ...], int]) -> tuple[Any, ...]:
    out: list[Any] = []
    for i, part in enumerate(parts):
        out.append(part)
        if parts[: i + 1] in arrays:
            out.append(arrays[parts[: i + 1]])
    return tuple(out)


def _describe(
    shown: str,
    lines: Mapping[tuple[Any, ...], int],
    env_keys: Mapping[tuple[Any, ...], str],
    err: Any,
) -> str:
    loc: tuple[Any, ...] = tuple(err["loc"])
    if err["type"] == "duplicate_source":
        loc = (*loc, err["ctx"]["index"], "name")
    where = _where(shown, lines, env_keys, loc)
    kind: str = err["type"]
    key = loc[-1] if loc else ""
    section = _section_name(loc[:-1])
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        hint = difflib.get_close_matches(str(key), known, n=1)
        if not section and isinstance(err.get("input"), dict):  # a whole [table] of its own
            suggestion = (
                f" — did you mean [{hint[0]}]?" if hint else f" (known: {', '.join(known)})"
            )
            return f"{where}: unknown section [{key}]{suggestion}"
        suggestion = f" — did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
        return f"{where}: {section}unknown key {key!r}{suggestion}"
    if kind == "missing":
        return f"{where}: {section}required key {key!r} is missing"
    return f"{where}: {section}{_key_name(key)}{_expected(err)}"


def _where(
    shown: str,
    lines: Mapping[tuple[Any, ...], int],
    env_keys: Mapping[tuple[Any, ...], str],
    loc: tuple[Any, ...],
) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in env_keys:
            return f"environment variable {env_keys[loc[:end]]}"
        if loc[:end] in lines:
            return f"{shown}:{lines[loc[:end]]}"
    return shown


def _section_name(loc: Sequence[Any]) -> str:
    if not loc:
        return ""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"[{text}] "


def _key_name(key: Any) -> str:
    return f"{key}: " if isinstance(key, str) else f"item {key}: "


def _expected(err: Any) -> str:
    kind: str = err["type"]
    got = err.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    expected = {
        "int_parsing": "expected an integer",
        "int_type": "expected an integer",
        "int_from_float": "expected an integer",
        "float_parsing": "expected a number",
        "bool_parsing": "expected true or false",
        "bool_type": "expected true or false",
        "string_type": "expected a string",
        "list_type": "expected a list",
        "dict_type": "expected a table",
        "model_type": "expected a table",
        "string_pattern_mismatch": "expected a lower-case name (letters, digits, underscores)",
    }.get(kind)
    if expected:
        return f"{expected}, got {shown}"
    message = str(err["msg"]).removeprefix("Value error, ")
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("more than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, name = bounds[kind]
        return f"expected {words} {err['ctx'][name]}, got {shown}"
    return message[:1].lower() + message[1:] if not message[:2].isupper() else message


def _known_keys(loc: Sequence[Any]) -> list[str]:
    model: type[BaseModel] | None = Settings
    in_dict = False
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int) or in_dict:
            # a list index, or a key of a dict field (a per-table entry): _model_of already
            # stepped into the item's model
            in_dict = False
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        in_dict = get_origin(field.annotation) is dict
        model = _model_of(field.annotation)
    if model is None:
        return []
    return [name for name in model.model_fields if name != "project_dir"]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
