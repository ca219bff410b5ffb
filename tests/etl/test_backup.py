"""Backup and restore through the command line: the restored project answers the same queries,
and a damaged archive is refused before anything is written."""

from __future__ import annotations

import gzip
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from kpiboard.config import load_settings

CliRunner = Callable[..., subprocess.CompletedProcess[str]]  # the `kpiboard` fixture


def _project(kpiboard: CliRunner, tmp_path: Path) -> Path:
    source = tmp_path / "source.sqlite"
    engine = sa.create_engine(f"sqlite:///{source}")
    with engine.begin() as con:
        con.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, updated_at DATETIME)"))
        con.execute(
            sa.text(
                "INSERT INTO t VALUES "
                "(1, 'a', '2026-01-01 00:00:00'), (2, 'b', '2026-01-02 00:00:00')"
            )
        )
    engine.dispose()
    project = tmp_path / "p"
    project.mkdir()
    (project / "kpiboard.toml").write_text(f'[[sources]]\nname = "s"\nurl = "sqlite:///{source}"\n')
    (project / "models" / "core").mkdir(parents=True)
    assert kpiboard(tmp_path, "etl", "run", "-p", str(project)).returncode == 0
    return project


def _query(project: Path, sql: str) -> list[tuple[object, ...]]:
    con = load_settings(project).open_warehouse().connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_backup_then_restore_gives_the_same_answers(kpiboard: CliRunner, tmp_path: Path) -> None:
    project = _project(kpiboard, tmp_path)
    (project / "notes.txt").write_text("kept\n")
    (project / "demo-logins.txt").write_text("admin a-password-in-plain-text\n")
    archive = tmp_path / "b.tar.gz"
    made = kpiboard(tmp_path, "backup", "-p", str(project), "-o", str(archive))
    assert made.returncode == 0, made.stderr
    assert "with the app database" in made.stdout
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"MANIFEST.json", "project/kpiboard.toml", "app/app.sqlite"} <= names
    assert "project/notes.txt" in names
    assert "project/demo-logins.txt" not in names  # the demo's passwords stay where they are
    assert any(n.startswith("warehouse/") and n.endswith(".duckdb") for n in names)

    restored = tmp_path / "restored"
    done = kpiboard(tmp_path, "restore", str(archive), "-p", str(restored))
    assert done.returncode == 0, done.stderr
    sql = "SELECT id, v FROM raw_s.t ORDER BY id"
    assert _query(restored, sql) == _query(project, sql) == [(1, "a"), (2, "b")]
    status = kpiboard(tmp_path, "etl", "status", "-p", str(restored), "--format", "csv")
    assert status.returncode == 0 and ",success," in status.stdout  # the run history came along

    again = kpiboard(tmp_path, "restore", str(archive), "-p", str(restored))
    assert again.returncode == 2
    assert "exists; restore with --force" in again.stderr


def test_a_damaged_backup_is_refused_and_nothing_is_written(
    kpiboard: CliRunner, tmp_path: Path
) -> None:
    project = _project(kpiboard, tmp_path)
    archive = tmp_path / "b.tar.gz"
    assert kpiboard(tmp_path, "backup", "-p", str(project), "-o", str(archive)).returncode == 0
    raw = bytearray(gzip.decompress(archive.read_bytes()))
    marker = raw.find(b"[[sources]]")  # inside project/kpiboard.toml
    raw[marker : marker + 2] = b"##"
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(gzip.compress(bytes(raw)))

    target = tmp_path / "restored"
    result = kpiboard(tmp_path, "restore", str(damaged), "-p", str(target))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "project/kpiboard.toml is damaged (checksum mismatch); nothing restored" in result.stderr
    assert not target.exists()


def test_not_a_backup(kpiboard: CliRunner, tmp_path: Path) -> None:
    bogus = tmp_path / "x.tar.gz"
    bogus.write_bytes(b"hello")
    result = kpiboard(tmp_path, "restore", str(bogus), "-p", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "not a kpiboard backup" in result.stderr
