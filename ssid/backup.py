"""Online, consistent backups of the SSID database, and restoring one (Supplement Three).

Why these tools: each database already has the one that is consistent without stopping the
service. SQLite's online backup API copies a snapshot page by page while writers go on
(WAL); ``pg_dump`` reads one MVCC snapshot. Both write to a temporary file first, which is
fsynced and renamed, so a backup file is either complete or absent; a manifest beside it
records what was backed up, when, its size and SHA-256, and ``restore`` checks it before it
touches anything.

Restoring replaces the target database's contents with the backup's. For SQLite the backup is
checked (``PRAGMA integrity_check``) and copied in with the same online API, so the target
file is never half-written; for PostgreSQL ``pg_restore --clean`` runs in one transaction.
Stop the SSID services before restoring: whatever they write meanwhile is overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    kind: str  # "sqlite" | "postgresql"
    file: str
    size: int
    sha256: str
    created_utc: str
    source: str  # the database URL without password

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def manifest_path(file: Path) -> Path:
    return file.with_name(file.name + ".manifest.json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_rename(tmp: Path, final: Path) -> None:
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libpq(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+asyncpg://...``) as a libpq URI for pg_dump/pg_restore."""
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def _sqlite_file(url: str) -> Path:
    db = make_url(url).database
    if not db or db == ":memory:":
        raise BackupError(f"{url}: an in-memory database cannot be backed up or restored")
    return Path(db)


def _kind(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"the SSID database must be SQLite or PostgreSQL, not {name}")
    return name


def backup(url: str, out: Path) -> Manifest:
    """Back up the database at ``url`` to ``out`` (and ``out``.manifest.json)."""
    kind = _kind(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if kind == "sqlite":
            src_path = _sqlite_file(url)
            if not src_path.exists():
                raise BackupError(f"{src_path}: no such database (create it with `slf ssid init`)")
            src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)  # online: a consistent snapshot while writers go on
            finally:
                dst.close()
                src.close()
        else:
            done = subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={tmp}", _libpq(url)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed: {done.stderr.strip() or done.returncode}")
        _fsync_rename(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest = Manifest(kind=kind, file=out.name, size=out.stat().st_size, sha256=_sha256(out),
                        created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        source=make_url(url).render_as_string(hide_password=True))
    mtmp = manifest_path(out).with_suffix(".partial")
    mtmp.write_text(manifest.to_json(), encoding="utf-8")
    _fsync_rename(mtmp, manifest_path(out))
    return manifest


def check(file: Path) -> Manifest:
    """The backup's manifest, after checking the file is complete and unchanged."""
    if not file.exists():
        raise BackupError(f"{file}: no such backup file")
    mpath = manifest_path(file)
    if not mpath.exists():
        raise BackupError(f"{file}: its manifest {mpath.name} is missing; a backup is only restored with "
                          "the manifest `slf ssid backup` wrote beside it")
    try:
        manifest = Manifest(**json.loads(mpath.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise BackupError(f"{mpath}: not a backup manifest ({exc})") from None
    if file.stat().st_size != manifest.size or _sha256(file) != manifest.sha256:
        raise BackupError(f"{file}: size or SHA-256 differs from its manifest: the file is damaged or was "
                          "changed; use another backup")
    head = file.read_bytes()[:16]
    expected = SQLITE_MAGIC if manifest.kind == "sqlite" else PG_MAGIC
    if not head.startswith(expected):
        raise BackupError(f"{file}: not a {manifest.kind} backup")
    return manifest


def restore(file: Path, url: str) -> Manifest:
    """Replace the contents of the database at ``url`` with the backup in ``file``."""
    manifest = check(file)
    kind = _kind(url)
    if kind != manifest.kind:
        raise BackupError(f"{file} is a {manifest.kind} backup; restore it into a {manifest.kind} database "
                          f"(--db), not {kind}")
    if kind == "sqlite":
        src = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            status = src.execute("PRAGMA integrity_check").fetchone()[0]
            if status != "ok":
                raise BackupError(f"{file}: integrity check failed ({status}); use another backup")
            target = _sqlite_file(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)  # page by page under the target's own locks: never half-written
            finally:
                dst.close()
        finally:
            src.close()
    else:
        for tool in ("pg_restore", "psql"):
            if shutil.which(tool) is None:
                raise BackupError(f"{tool} is not installed (Debian: apt install postgresql-client)")
        done = subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                               f"--dbname={_libpq(url)}", str(file)], capture_output=True, text=True)
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed: {done.stderr.strip() or done.returncode}")
        # a restore brings no planner statistics and no visibility map, and lookups need both at once
        # (ssid.db.statistics): for the whole database, which is what the backup held
        done = subprocess.run(["psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={_libpq(url)}",
                               "--command", "VACUUM (ANALYZE)"], capture_output=True, text=True)
        if done.returncode != 0:
            raise BackupError(f"restored, but gathering the planner's statistics failed: "
                              f"{done.stderr.strip() or done.returncode}; run VACUUM (ANALYZE) in psql on this "
                              "database before serving lookups")
    return manifest
