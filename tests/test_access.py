"""Users, passwords, lockout, sessions and the audit log (kpiboard.access, kpiboard.audit), on a
real SQLite app database in a fresh project. Time is moved by replacing ``kpiboard.access.now``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpiboard import access, appdb, audit
from kpiboard.config import Settings, load_settings
from kpiboard.project import init_project

PASSWORD = "correct horse battery"
START = dt.datetime(2026, 12, 1, 9, 0, 0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    init_project(tmp_path / "p", name="access")
    with (tmp_path / "p" / "kpiboard.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            "\n[security]\nlockout_after = 3\nlockout_seconds = 30\n"
            "session_idle_minutes = 30\nsession_max_hours = 12\n"
        )
    return load_settings(tmp_path / "p")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[..., dt.datetime]:
    """Set the time access sees: ``clock(minutes=5)`` moves it on and returns it."""
    current = [START]

    def move(**delta: float) -> dt.datetime:
        current[0] += dt.timedelta(**delta)
        return current[0]

    monkeypatch.setattr(access, "now", lambda: current[0])
    return move


def _rows(settings: Settings, table: sa.Table) -> list[dict[str, object]]:
    with appdb.shared_engine(settings).connect() as db:
        return [dict(r._mapping) for r in db.execute(sa.select(table))]


# -- users and passwords --------------------------------------------------------------------


def test_an_argon2_hash_is_stored_not_the_password(settings: Settings) -> None:
    access.add_user(settings, "alice", "analyst", PASSWORD)

    [row] = _rows(settings, appdb.users)
    stored = str(row["password_hash"])
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert access.log_in(settings, "alice", PASSWORD, "10.0.0.1").name == "alice"


def test_a_wrong_password_and_an_unknown_user_get_the_same_words(settings: Settings) -> None:
    access.add_user(settings, "alice", "analyst", PASSWORD)

    with pytest.raises(access.LoginRefused) as wrong:
        access.log_in(settings, "alice", "not the password", "10.0.0.1")
    with pytest.raises(access.LoginRefused) as unknown:
        access.log_in(settings, "nobody", PASSWORD, "10.0.0.2")

    assert str(wrong.value) == str(unknown.value)
    assert wrong.value.retry_after is None


def test_a_disabled_user_cannot_log_in_until_enabled(settings: Settings) -> None:
    access.add_user(settings, "alice", "analyst", PASSWORD)
    access.set_disabled(settings, "alice", True)

    with pytest.raises(access.LoginRefused, match="wrong, or the user is disabled"):
        access.log_in(settings, "alice", PASSWORD, "10.0.0.1")
    access.set_disabled(settings, "alice", False)
    assert access.log_in(settings, "alice", PASSWORD, "10.0.0.1").disabled is False


@pytest.mark.parametrize(
    "name",
    [
        "x'; DROP TABLE users;--",
        "admin' OR '1'='1",
        "\u0430dmin",  # Cyrillic a
        "admin\u200b",  # zero-width space
        "ａdmin",  # fullwidth a
        "a" * 10_000,
        "../x",
        "..",
        "ad\x00min",
        "admin\n",
        "Admin",
        "a",
        "",
        "-admin",
    ],
    ids=lambda n: repr(n[:20]),
)
def test_hostile_names_are_refused_with_a_clear_message(settings: Settings, name: str) -> None:
    with pytest.raises(access.AccessError, match=r"^user name .*: use 2-64 lower-case letters"):
        access.add_user(settings, name, "analyst", PASSWORD)
    assert _rows(settings, appdb.users) == []
    with pytest.raises(access.LoginRefused, match="wrong"):  # a login attempt is only a failure
        access.log_in(settings, name, PASSWORD, "10.0.0.1")


def test_a_long_password_is_refused_before_it_is_hashed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[int] = []
    real = access._hasher

    class Spy:
        def hash(self, password: str) -> str:
            hashed.append(len(password))
            return real.hash(password)

    monkeypatch.setattr(access, "_hasher", Spy())

    with pytest.raises(access.AccessError, match="too long: at most 1024 characters"):
        access.add_user(settings, "alice", "analyst", "x" * 1_000_000)
    with pytest.raises(access.AccessError, match="too short: at least 10 characters"):
        access.add_user(settings, "alice", "analyst", "short")
    with pytest.raises(access.AccessError, match="may not be the user name"):
        access.add_user(settings, "alice-smith", "analyst", "Alice-Smith")
    assert hashed == []
    assert _rows(settings, appdb.users) == []


@pytest.mark.parametrize(
    ("role", "employee", "branches", "message"),
    [
        ("boss", None, (), "no role 'boss'; roles: admin, executive, analyst"),
        ("branch_head", None, (), "a branch head needs at least one branch"),
        ("employee", None, (), "an employee needs their employee id"),
        ("analyst", None, ("denver",), "only a branch head is granted branches, not a analyst"),
    ],
)
def test_grants_that_do_not_fit_the_role_are_refused(
    settings: Settings, role: str, employee: str | None, branches: tuple[str, ...], message: str
) -> None:
    with pytest.raises(access.AccessError, match=message):
        access.add_user(settings, "alice", role, PASSWORD, employee=employee, branches=branches)


def test_scope_of_each_role(settings: Settings) -> None:
    made = {
        "admin": access.add_user(settings, "ann", "admin", PASSWORD),
        "executive": access.add_user(settings, "eve", "executive", PASSWORD),
        "analyst": access.add_user(settings, "al", "analyst", PASSWORD),
        "branch_head": access.add_user(
            settings, "bob", "branch_head", PASSWORD, branches=["denver", "austin", "denver"]
        ),
        "employee": access.add_user(settings, "em", "employee", PASSWORD, employee="crm:7"),
    }

    assert {role: access.scope_of(u) for role, u in made.items()} == {
        "admin": None,
        "executive": None,
        "analyst": None,
        "branch_head": {"branch": ["austin", "denver"]},
        "employee": {"employee": ["crm:7"]},
    }
    assert [made[r].rights.manages_users for r in made] == [True, False, False, False, False]
    assert [made[r].rights.edits for r in made] == [True, False, True, False, False]


def test_grant_changes_the_scope_the_next_request_reads(settings: Settings) -> None:
    user = access.add_user(settings, "bob", "analyst", PASSWORD)
    token = access.open_session(settings, user, "10.0.0.1")

    access.grant(settings, "bob", role="branch_head", branches=["denver"])
    seen = access.session_user(settings, token)
    assert seen is not None
    assert access.scope_of(seen) == {"branch": ["denver"]}

    access.grant(settings, "bob", role="employee", employee="crm:2")
    after = access.get_user(settings, "bob")
    assert (after.branches, access.scope_of(after)) == ((), {"employee": ["crm:2"]})


# -- lockout --------------------------------------------------------------------------------


def _fail(settings: Settings, name: str, address: str) -> access.LoginRefused:
    with pytest.raises(access.LoginRefused) as refused:
        access.log_in(settings, name, "not the password", address)
    return refused.value


def test_lockout_after_failures_with_a_doubling_delay(
    settings: Settings, clock: Callable[..., dt.datetime]
) -> None:
    access.add_user(settings, "alice", "analyst", PASSWORD)
    for n in range(3):  # lockout_after = 3
        _fail(settings, "alice", f"10.0.0.{n}")

    locked = _fail(settings, "alice", "10.0.1.1")
    assert locked.retry_after == 30
    assert str(locked) == "Too many failed logins. Try again in 30 seconds."
    with pytest.raises(access.LoginRefused) as even_right:  # the right password waits too
        access.log_in(settings, "alice", PASSWORD, "10.0.1.2")
    assert even_right.value.retry_after == 30

    clock(seconds=31)
    assert _fail(settings, "alice", "10.0.1.3").retry_after is None  # tried, wrong: 4 failures
    assert _fail(settings, "alice", "10.0.1.4").retry_after == 60
    clock(seconds=61)
    _fail(settings, "alice", "10.0.1.5")
    assert _fail(settings, "alice", "10.0.1.6").retry_after == 120
    assert access.failures(settings, "user", "alice") == 5


def test_the_delay_stops_growing_at_an_hour(
    settings: Settings, clock: Callable[..., dt.datetime]
) -> None:
    with appdb.shared_engine(settings).begin() as db:
        db.execute(
            appdb.login_throttle.insert().values(
                kind="user", key="alice", failures=40, last_failure_at=START, locked_until=None
            )
        )
    _fail(settings, "alice", "10.0.0.1")

    refused = _fail(settings, "alice", "10.0.0.2")
    assert refused.retry_after == 3600
    assert str(refused) == "Too many failed logins. Try again in 60 minutes."
    clock(hours=1, seconds=1)
    access.add_user(settings, "alice", "analyst", PASSWORD)
    assert access.log_in(settings, "alice", PASSWORD, "10.0.0.3").name == "alice"


def test_old_failures_are_forgotten(settings: Settings, clock: Callable[..., dt.datetime]) -> None:
    for _ in range(2):
        _fail(settings, "alice", "10.0.0.1")
    clock(hours=25)
    _fail(settings, "alice", "10.0.0.1")
    assert access.failures(settings, "user", "alice") == 1


def test_an_addresss_failures_are_forgotten_after_an_hour_without_one(
    settings: Settings, clock: Callable[..., dt.datetime]
) -> None:
    for name in ("bob", "carol", "dave"):
        _fail(settings, name, "10.0.0.1")
        clock(minutes=50)
    assert access.failures(settings, "address", "10.0.0.1") == 3
    clock(minutes=11)  # an hour and a minute since the last
    _fail(settings, "erin", "10.0.0.1")
    assert access.failures(settings, "address", "10.0.0.1") == 1
    assert access.failures(settings, "user", "erin") == 1


def test_an_address_is_locked_out_whatever_names_it_tries(
    settings: Settings, clock: Callable[..., dt.datetime]
) -> None:
    access.add_user(settings, "alice", "analyst", PASSWORD)
    names = [f"guess{n}" for n in range(3 * access.ADDRESS_FACTOR)]  # lockout_after = 3
    for name in names[:-1]:
        _fail(settings, name, "203.0.113.9")
    assert access.log_in(settings, "alice", PASSWORD, "203.0.113.9").name == "alice"
    _fail(settings, names[-1], "203.0.113.9")

    with pytest.raises(access.LoginRefused, match="Too many failed logins"):
        access.log_in(settings, "alice", PASSWORD, "203.0.113.9")
    assert access.log_in(settings, "alice", PASSWORD, "198.51.100.1").name == "alice"
    assert access.failures(settings, "address", "203.0.113.9") == 12
    assert access.failures(settings, "user", "guess0") == 1


def test_a_name_is_locked_out_from_every_address(
    settings: Settings, clock: Callable[..., dt.datetime]
) -> None:
    access.add_user(settings, "alice", "analyst", PASSWORD)
    for n in range(3):
        _fail(settings, "alice", f"10.0.0.{n}")

    with pytest.raises(access.LoginRefused, match="Too many failed logins"):
        access.log_in(settings, "alice", PASSWORD, "192.0.2.200")


def test_a_success_clears_the_names_failures(settings: Settings) -> None:
    access.add_user(settings, "alice", "analyst", PASSWORD)
    for _ in range(2):
        _fail(settings, "alice", "10.0.0.1")
    assert access.failures(settings, "user", "alice") == 2

    access.log_in(settings, "alice", PASSWORD, "10.0.0.1")
    assert access.failures(settings, "user", "alice") == 0
    # the address's count stays: one good account must not reset the guessing of others
    assert access.failures(settings, "address", "10.0.0.1") == 2
    _fail(settings, "alice", "10.0.0.2")
    _fail(settings, "alice", "10.0.0.3")
    assert access.failures(settings, "user", "alice") == 2  # counted from zero: not locked
    assert access.log_in(settings, "alice", PASSWORD, "10.0.0.4").name == "alice"


def test_a_new_password_lifts_the_names_lockout(settings: Settings) -> None:
    access.add_user(settings, "alice", "analyst", PASSWORD)
    for _ in range(4):
        _fail(settings, "alice", "10.0.0.1")

    access.set_password(settings, "alice", "a new long password")
    assert access.failures(settings, "user", "alice") == 0
    assert access.log_in(settings, "alice", "a new long password", "10.0.0.2").name == "alice"


# -- sessions -------------------------------------------------------------------------------


def _session(settings: Settings) -> tuple[access.User, str]:
    user = access.add_user(settings, "alice", "analyst", PASSWORD)
    return user, access.open_session(settings, user, "10.0.0.1")


def _end_reason(settings: Settings) -> list[object]:
    return [r["end_reason"] for r in _rows(settings, appdb.sessions)]


def test_a_session_keeps_its_user_and_stores_only_a_hash(settings: Settings) -> None:
    _, token = _session(settings)

    seen = access.session_user(settings, token)
    assert seen is not None and seen.name == "alice"
    [row] = _rows(settings, appdb.sessions)
    assert row["token_hash"] != token and token not in str(row)
    assert access.session_user(settings, token + "x") is None
    assert access.session_user(settings, "") is None
    assert access.session_user(settings, "t" * 10_000) is None
    assert access.live_sessions(settings, "alice") == 1


def test_an_idle_session_ends(settings: Settings, clock: Callable[..., dt.datetime]) -> None:
    _, token = _session(settings)
    clock(minutes=29)
    assert access.session_user(settings, token) is not None  # and touched
    clock(minutes=29)
    assert access.session_user(settings, token) is not None
    clock(minutes=31)

    assert access.session_user(settings, token) is None
    assert _end_reason(settings) == ["idle"]
    clock(seconds=1)
    assert access.session_user(settings, token) is None
    assert access.live_sessions(settings, "alice") == 0


def test_a_busy_session_ends_after_the_longest_it_may_last(
    settings: Settings, clock: Callable[..., dt.datetime]
) -> None:
    _, token = _session(settings)
    for _ in range(12 * 3):  # a request every 20 minutes: never idle
        clock(minutes=20)
        assert access.session_user(settings, token) is not None

    clock(minutes=1)
    assert access.session_user(settings, token) is None
    assert _end_reason(settings) == ["expired"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: access.set_password(s, "alice", "another long password"), "password"),
        (lambda s: access.set_disabled(s, "alice", True), "disabled"),
    ],
    ids=["password", "disabled"],
)
def test_a_new_password_or_disabling_ends_the_sessions(
    settings: Settings, change: Callable[[Settings], object], reason: str
) -> None:
    user, token = _session(settings)
    other = access.open_session(settings, user, "10.0.0.2")

    change(settings)
    assert access.session_user(settings, token) is None
    assert access.session_user(settings, other) is None
    assert _end_reason(settings) == [reason, reason]
    assert access.live_sessions(settings, "alice") == 0


def test_logout_ends_one_session(settings: Settings) -> None:
    user, token = _session(settings)
    other = access.open_session(settings, user, "10.0.0.2")

    access.end_session(settings, token)
    assert access.session_user(settings, token) is None
    assert access.session_user(settings, other) is not None
    assert sorted(map(str, _end_reason(settings))) == ["None", "logout"]


def test_the_secret_key_is_made_once_and_shared(settings: Settings) -> None:
    first = access.secret_key(settings)
    assert len(first) >= 40
    assert access.secret_key(settings) == first
    appdb._shared.clear()  # as another process: a new engine on the same database
    assert access.secret_key(load_settings(settings.project_dir)) == first
    assert [r["name"] for r in _rows(settings, appdb.secrets)] == ["session"]


def test_a_configured_secret_key_is_used_as_it_is(tmp_path: Path) -> None:
    init_project(tmp_path / "p", name="keyed")
    with (tmp_path / "p" / "kpiboard.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'\n[security]\nsecret_key = "{"k" * 48}"\n')
    assert access.secret_key(load_settings(tmp_path / "p")) == "k" * 48


# -- the audit log --------------------------------------------------------------------------


def test_audit_entries_newest_first_filtered_with_detail_decoded(settings: Settings) -> None:
    audit.record(settings, "login", user="alice", address="10.0.0.1")
    audit.record(settings, "user_added", user="cli:ops", target="bob", detail={"role": "analyst"})
    audit.record(settings, "login", user="bob", address="10.0.0.2")

    every = audit.entries(settings)
    assert [(e["action"], e["user_name"]) for e in every] == [
        ("login", "bob"),
        ("user_added", "cli:ops"),
        ("login", "alice"),
    ]
    assert every[1]["detail"] == {"role": "analyst"} and every[1]["target"] == "bob"
    assert [e["user_name"] for e in audit.entries(settings, action="login")] == ["bob", "alice"]
    assert [e["action"] for e in audit.entries(settings, user="alice")] == ["login"]
    assert len(audit.entries(settings, limit=1)) == 1
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=1)
    assert audit.entries(settings, since=later) == []
    assert set(audit.latest(settings, "login")) == {"alice", "bob"}


def test_audit_refuses_an_unknown_action(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown audit action 'drop'"):
        audit.record(settings, "drop", user="x")


def test_audit_diff_is_a_unified_diff() -> None:
    text = audit.diff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "kpis/x.yaml")
    assert text.splitlines() == [
        "--- a/kpis/x.yaml",
        "+++ b/kpis/x.yaml",
        "@@ -1,2 +1,2 @@",
        " a: 1",
        "-b: 2",
        "+b: 3",
    ]


def test_set_up_user_adds_or_changes_a_user_to_be_as_asked(settings: Settings) -> None:
    made = access.set_up_user(settings, "bench", "analyst", PASSWORD)
    token = access.open_session(settings, made, "10.0.0.1")
    access.set_disabled(settings, "bench")

    again = access.set_up_user(
        settings, "bench", "branch_head", "another long password", branches=["denver"]
    )
    assert (again.role, again.branches, again.disabled) == ("branch_head", ("denver",), False)
    assert access.session_user(settings, token) is None  # the old password's session ended
    assert access.log_in(settings, "bench", "another long password", "10.0.0.2").name == "bench"
    with pytest.raises(access.AccessError, match="needs at least one branch"):
        access.set_up_user(settings, "bench", "branch_head", PASSWORD)
