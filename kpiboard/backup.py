"""Backup and restore: the published snapshot, the project's files and the app database in one
archive, every file with its SHA-256 in a manifest that restore checks before it writes anything.

    backup.tar.gz
      MANIFEST.json                      what is inside, with sizes and checksums
      project/kpiboard.toml, project/models/…   the definition files (no data, no warehouse)
      warehouse/<run id>.duckdb          the published snapshot
      app/app.sqlite                     the app database (when it is a SQLite file)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypedDict

from kpiboard import __version__, urls
from kpiboard.config import CONFIG_FILE, Settings, load_settings
from kpiboard.errors import UserError
from kpiboard.warehouse import POINTER

MANIFEST = "MANIFEST.json"
# the files of a project that are definitions (reviewable text), not data
DEFINITION_SUFFIXES = {".toml", ".sql", ".yaml", ".yml", ".csv", ".md", ".json", ".txt"}
PRIVATE_FILES = {"demo-logins.txt"}
"""Files never backed up: the demo's passwords in plain text (the users are in the app database)."""
CHUNK = 1 << 20


class FileEntry(TypedDict):
    sha256: str
    bytes: int


class Manifest(TypedDict):
    kpiboard: str
    created_at: str
    snapshot: str
    files: dict[str, FileEntry]


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    files: int
    bytes: int
    snapshot: str
    app_database: bool


def backup(settings: Settings, archive: Path) -> BackupResult:
    """Write ``archive`` (``.tar.gz``) from the project's current state."""
    warehouse = settings.open_warehouse()
    snapshot = warehouse.published()
    if snapshot is None:
        raise UserError(f"{warehouse.folder}: nothing published yet; nothing to back up")
    members: list[tuple[str, Path]] = [
        (f"project/{p.relative_to(settings.project_dir).as_posix()}", p)
        for p in _definition_files(settings)
    ]
    members.append((f"warehouse/{snapshot.name}", snapshot))
    with tempfile.TemporaryDirectory(prefix="kpiboard-backup-") as scratch:
        app_copy = _copy_app_database(settings, Path(scratch))
        if app_copy is not None:
            members.append(("app/app.sqlite", app_copy))
        files: dict[str, FileEntry] = {
            name: {"sha256": _sha256(path), "bytes": path.stat().st_size} for name, path in members
        }
        manifest: Manifest = {
            "kpiboard": __version__,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "snapshot": snapshot.name,
            "files": files,
        }
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            for name, path in members:
                tar.add(path, arcname=name, recursive=False)
        os.replace(partial, archive)
    total = sum(f["bytes"] for f in files.values())
    return BackupResult(archive, len(members), total, snapshot.name, app_copy is not None)


def restore(archive: Path, project_dir: Path, *, force: bool = False) -> Manifest:
    """Check every file of ``archive`` against its manifest, then restore it into ``project_dir``.

    Nothing is written unless every checksum matches. An existing project is only overwritten with
    ``force``; the restored snapshot becomes the published one.
    """
    if not archive.is_file():
        raise UserError(f"{archive}: no such backup file")
    try:
        tar = tarfile.open(archive, "r:gz")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"{archive}: not a kpiboard backup ({exc})") from None
    with tar:
        manifest = _read_manifest(archive, tar)
        files: dict[str, FileEntry] = manifest["files"]
        _verify(archive, tar, files)
        if (project_dir / CONFIG_FILE).exists() and not force:
            raise UserError(
                f"{project_dir / CONFIG_FILE}: exists; restore with --force to replace it"
            )
        # the project's files first: its kpiboard.toml says where the warehouse and app DB go
        names = sorted(files, key=lambda n: not n.startswith("project/"))
        settings: Settings | None = None
        for name in names:
            if settings is None and not name.startswith("project/"):
                settings = load_settings(project_dir)
            _extract(tar, name, _target(project_dir, name, settings))
    settings = settings or load_settings(project_dir)
    warehouse = settings.open_warehouse()
    pointer_tmp = warehouse.folder / f"{POINTER}.tmp"
    pointer_tmp.write_text(str(manifest["snapshot"]) + "\n", encoding="utf-8")
    os.replace(pointer_tmp, warehouse.folder / POINTER)
    return manifest


def _extract(tar: tarfile.TarFile, name: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(name)
    assert source is not None
    partial = target.with_name(target.name + ".restoring")
    with partial.open("wb") as out:
        while chunk := source.read(CHUNK):
            out.write(chunk)
    os.replace(partial, target)


def _definition_files(settings: Settings) -> Iterator[Path]:
    root = settings.project_dir
    skip = {settings.warehouse_path}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(parent in skip for parent in path.parents):
            continue
        if path.name in PRIVATE_FILES:
            continue
        if path.name == CONFIG_FILE or path.suffix.lower() in DEFINITION_SUFFIXES:
            yield path


def _copy_app_database(settings: Settings, scratch: Path) -> Path | None:
    """A consistent copy of a SQLite app database (the online backup API), else ``None``."""
    url = urls.parse_url(settings.app.database_url)
    if urls.backend(url) != "sqlite" or not url.database:
        return None
    path = settings.resolve(Path(url.database))
    if not path.exists():
        return None
    copy = scratch / "app.sqlite"
    with sqlite3.connect(path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return copy


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return _hash_stream(fh)


def _hash_stream(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _read_manifest(archive: Path, tar: tarfile.TarFile) -> Manifest:
    try:
        member = tar.extractfile(MANIFEST)
    except KeyError:
        member = None
    if member is None:
        raise UserError(f"{archive}: not a kpiboard backup (no {MANIFEST})")
    manifest: Manifest = json.loads(member.read())
    return manifest


def _verify(archive: Path, tar: tarfile.TarFile, files: dict[str, FileEntry]) -> None:
    present = {m.name for m in tar.getmembers() if m.isfile()} - {MANIFEST}
    missing = sorted(set(files) - present)
    if missing:
        raise UserError(f"{archive}: {missing[0]} is listed in the manifest but missing")
    extra = sorted(present - set(files))
    if extra:
        raise UserError(f"{archive}: {extra[0]} is not listed in the manifest")
    for name, expected in files.items():
        if ".." in Path(name).parts or name.startswith("/"):
            raise UserError(f"{archive}: unsafe path {name!r}")
        source = tar.extractfile(name)
        assert source is not None
        if _hash_stream(source) != expected["sha256"]:
            raise UserError(f"{archive}: {name} is damaged (checksum mismatch); nothing restored")


def _target(project_dir: Path, name: str, settings: Settings | None) -> Path:
    area, _, rest = name.partition("/")
    if area == "project" or settings is None:
        return project_dir / rest
    if area == "warehouse":
        return settings.warehouse_path / "snapshots" / rest
    url = urls.parse_url(settings.app.database_url)
    if urls.backend(url) == "sqlite" and url.database:
        return settings.resolve(Path(url.database))
    raise UserError(
        f"the backup holds a SQLite app database, but {CONFIG_FILE} names {urls.show(url)}"
    )
