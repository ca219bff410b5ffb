"""requirements.lock agrees with pyproject.toml, and the venv holds what the lock pins.

Every install (``make setup``, CI) comes from the lock with ``pip --require-hashes``, so a
dependency added to pyproject.toml but not relocked, or a bound moved without ``make lock``,
would go unnoticed until an install on a fresh machine. These checks read both files (no
network) and fail with what to run.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"


@dataclass(frozen=True)
class Pin:
    """One locked package: its exact version, the marker it is installed under, its hashes."""

    name: str
    line: int
    spec: str
    version: Version | None
    marker: Marker | None
    hashes: tuple[str, ...]


def read_lock(text: str) -> dict[str, list[Pin]]:
    """The lock's entries by canonical name, continuation lines joined, comments dropped.

    A name can have several entries: a universal lock may pin one version for older Pythons and
    another for newer ones, each under its marker.
    """
    pins: dict[str, list[Pin]] = {}
    entry: list[str] = []
    start = 0
    for number, raw in enumerate([*text.splitlines(), ""], start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not entry:
            start = number
        if line.endswith("\\"):
            entry.append(line[:-1].strip())
            continue
        if line:
            entry.append(line)
        if not entry:
            continue
        words = " ".join(entry).split()
        entry = []
        hashes = tuple(w.removeprefix("--hash=") for w in words if w.startswith("--hash="))
        requirement = Requirement(" ".join(w for w in words if not w.startswith("--hash=")))
        exact = [s for s in requirement.specifier if s.operator == "=="]
        version = Version(exact[0].version) if len(requirement.specifier) == 1 and exact else None
        name = canonicalize_name(requirement.name)
        pin = Pin(name, start, str(requirement.specifier), version, requirement.marker, hashes)
        pins.setdefault(name, []).append(pin)
    return pins


def declared(pyproject: dict[str, Any]) -> list[Requirement]:
    """What pyproject.toml asks for: runtime, every extra, and the build backend."""
    project = pyproject["project"]
    texts = [*project["dependencies"], *pyproject["build-system"]["requires"]]
    for extra in project.get("optional-dependencies", {}).values():
        texts.extend(extra)
    return [Requirement(text) for text in texts]


def extra_requirements(requirement: Requirement) -> list[Requirement]:
    """The packages a requirement's extras add, read from the installed package's metadata."""
    if not requirement.extras:
        return []
    found = []
    for text in metadata.requires(requirement.name) or []:
        added = Requirement(text)
        if added.marker is not None and any(
            added.marker.evaluate({"extra": extra}) for extra in requirement.extras
        ):
            added.marker = None
            found.append(added)
    return found


def disagreements(
    requirements: list[Requirement],
    pins: dict[str, list[Pin]],
    lock_name: str = "requirements.lock",
) -> list[str]:
    """One line per way the lock fails the requirements or pins a package loosely."""
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{lock_name}: {requirement} is not locked")
        for pin in pins.get(name, []):
            if pin.version is not None and not requirement.specifier.contains(
                pin.version, prereleases=True
            ):
                problems.append(
                    f"{lock_name}:{pin.line}: {name} is locked at {pin.version}, "
                    f"pyproject.toml asks {requirement}"
                )
    for pin in (pin for entries in pins.values() for pin in entries):
        if pin.version is None:
            problems.append(
                f"{lock_name}:{pin.line}: {pin.name} is not pinned with ==: {pin.spec!r}"
            )
        if not pin.hashes:
            problems.append(f"{lock_name}:{pin.line}: {pin.name} has no --hash")
    return problems


def installed_here(pins: list[Pin]) -> Version | None:
    """The version of the one entry whose marker holds in this interpreter."""
    versions = [p.version for p in pins if p.marker is None or p.marker.evaluate()]
    assert len(versions) == 1, f"{pins[0].name}: {len(versions)} entries apply here"
    return versions[0]


def test_the_lock_pins_every_declared_dependency_with_hashes() -> None:
    pyproject = tomllib.loads(PYPROJECT.read_text())
    requirements = declared(pyproject)
    for requirement in list(requirements):
        requirements.extend(extra_requirements(requirement))
    pins = read_lock(LOCK.read_text())

    problems = disagreements(requirements, pins)

    assert not problems, "\n".join([*problems, "run `make lock` and commit requirements.lock"])
    # the patched dependencies are in it, and so is what psycopg[binary] brings
    assert {"great-expectations", "duckdb", "duckdb-engine", "sqlglot", "psycopg-binary"} <= set(
        pins
    )


def test_the_bounded_dependencies_are_installed_at_their_locked_versions() -> None:
    """The guard tests prove the locked versions only if they run on them."""
    pins = read_lock(LOCK.read_text())
    bounded = [
        r
        for r in declared(tomllib.loads(PYPROJECT.read_text()))
        if any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)
    ]
    assert {canonicalize_name(r.name) for r in bounded} >= {
        "great-expectations",
        "duckdb",
        "duckdb-engine",
        "sqlalchemy",
        "sqlglot",
    }

    installed = {canonicalize_name(r.name): Version(metadata.version(r.name)) for r in bounded}
    locked = {name: installed_here(pins[name]) for name in installed}

    assert installed == locked, (
        "this environment was not installed from requirements.lock: make setup"
    )


LOCK_TEXT = """\
# This file was autogenerated by uv via the following command:
#    make lock
duckdb==2.0.1 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
    # via kpiboard (pyproject.toml)
colorama==0.4.6 ; sys_platform == 'win32' \\
    --hash=sha256:cccc
great-expectations==1.24.1
sqlglot>=30 \\
    --hash=sha256:dddd
numpy==2.4.6 ; python_full_version < '3.12' \\
    --hash=sha256:eeee
numpy==2.5.5 ; python_full_version >= '3.12' \\
    --hash=sha256:ffff
"""


def test_read_lock_joins_entries_and_keeps_markers() -> None:
    pins = read_lock(LOCK_TEXT)

    assert list(pins) == ["duckdb", "colorama", "great-expectations", "sqlglot", "numpy"]
    assert pins["duckdb"] == [
        Pin("duckdb", 3, "==2.0.1", Version("2.0.1"), None, ("sha256:aaaa", "sha256:bbbb"))
    ]
    assert str(pins["colorama"][0].marker) == 'sys_platform == "win32"'
    assert pins["colorama"][0].line == 7
    assert pins["great-expectations"][0].hashes == ()
    assert pins["sqlglot"][0].version is None
    assert [(p.line, p.version) for p in pins["numpy"]] == [
        (12, Version("2.4.6")),
        (14, Version("2.5.5")),
    ]
    assert installed_here(pins["numpy"]) == Version(
        "2.4.6" if sys.version_info < (3, 12) else "2.5.5"
    )


@pytest.mark.parametrize(
    ("declared_text", "expected"),
    [
        ("duckdb>=2.0.1,<2.1", []),
        ("duckdb>=2.1", ["3: duckdb is locked at 2.0.1, pyproject.toml asks duckdb>=2.1"]),
        ("DuckDB<2.0.1", ["3: duckdb is locked at 2.0.1, pyproject.toml asks DuckDB<2.0.1"]),
        ("dash>=2.17", [" dash>=2.17 is not locked"]),
        ("numpy>=2.5", ["12: numpy is locked at 2.4.6, pyproject.toml asks numpy>=2.5"]),
    ],
)
def test_disagreements_name_the_line_and_the_requirement(
    declared_text: str, expected: list[str]
) -> None:
    pins = read_lock(LOCK_TEXT)

    problems = disagreements([Requirement(declared_text)], pins)

    assert problems == [
        *(f"requirements.lock:{e}" for e in expected),
        "requirements.lock:9: great-expectations has no --hash",
        "requirements.lock:10: sqlglot is not pinned with ==: '>=30'",
    ]
