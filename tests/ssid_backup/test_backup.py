"""`ssid.backup`: an online backup, then a restore, gives back exactly the database as it was
when the backup was taken (SQLite and PostgreSQL); damaged or mismatched backups are refused
before anything is touched."""

from __future__ import annotations

import asyncio
import secrets
import subprocess

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from ssid.backup import BackupError, backup, check, manifest_path, restore
from tests.pg import analyzed_tables
from tests.zone.conftest import pg_available, skip_reason

meta = MetaData()
students = Table("students", meta, Column("id", String, primary_key=True), Column("name", String),
                 Column("n", Integer))
audit = Table("audit", meta, Column("seq", Integer, primary_key=True), Column("what", String))


async def fill(url: str, n: int) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(students.insert(), [{"id": f"OH{i:07d}", "name": f"Student {i}", "n": i} for i in range(n)])
        await conn.execute(audit.insert(), [{"seq": i, "what": f"create OH{i:07d}"} for i in range(n)])
    await engine.dispose()


async def snapshot(url: str) -> dict:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        out = {t.name: [tuple(r) for r in await conn.execute(select(t).order_by(*t.primary_key.columns))]
               for t in (students, audit)}
    await engine.dispose()
    return out


async def change(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit WHERE seq < 10"))
        await conn.execute(text("UPDATE students SET name = 'changed'"))
        await conn.execute(students.insert(), [{"id": "XX0000001", "name": "after the backup", "n": -1}])
    await engine.dispose()


@pytest.fixture
def pg_url():
    if not pg_available():
        pytest.skip(skip_reason())
    name = f"ssid_bk_{secrets.token_hex(4)}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    yield f"postgresql+asyncpg://postgres@127.0.0.1/{name}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_backup_then_restore_equals_the_original(tmp_path, backend, request):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/ssid.db"
    asyncio.run(fill(url, 2000))
    before = asyncio.run(snapshot(url))
    manifest = backup(url, tmp_path / "out" / "ssid.backup")
    assert manifest.kind == backend and manifest.size == (tmp_path / "out" / "ssid.backup").stat().st_size
    assert not list((tmp_path / "out").glob("*.partial"))  # written atomically
    asyncio.run(change(url))
    assert asyncio.run(snapshot(url)) != before
    restore(tmp_path / "out" / "ssid.backup", url)
    assert asyncio.run(snapshot(url)) == before
    if backend == "postgresql":  # a restore brings no statistics: lookups would scan whole tables until autovacuum
        assert asyncio.run(analyzed_tables(url, ("students", "audit"))) == {"students", "audit"}


def test_backup_is_consistent_while_a_writer_goes_on(tmp_path):
    """SQLite online backup while another connection keeps writing: the copy holds whole
    transactions only (students and their audit rows always come in pairs)."""
    import sqlite3
    import threading

    url = f"sqlite+aiosqlite:///{tmp_path}/ssid.db"
    asyncio.run(fill(url, 100))
    stop = threading.Event()

    def writer():
        con = sqlite3.connect(tmp_path / "ssid.db", isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        i = 100
        while not stop.is_set():
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO students VALUES (?, ?, ?)", (f"OH{i:07d}", "x", i))
            con.execute("INSERT INTO audit VALUES (?, ?)", (i, f"create OH{i:07d}"))
            con.execute("COMMIT")
            i += 1
        con.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        backup(url, tmp_path / "b1")
    finally:
        stop.set()
        t.join()
    copy = sqlite3.connect(tmp_path / "b1")
    n_students = copy.execute("SELECT count(*) FROM students").fetchone()[0]
    n_audit = copy.execute("SELECT count(*) FROM audit").fetchone()[0]
    assert n_students == n_audit >= 100


def test_a_damaged_or_foreign_backup_is_refused_before_anything_changes(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/ssid.db"
    asyncio.run(fill(url, 50))
    backup(url, tmp_path / "good")
    before = asyncio.run(snapshot(url))

    damaged = tmp_path / "damaged"
    damaged.write_bytes((tmp_path / "good").read_bytes())
    manifest_path(damaged).write_text(manifest_path(tmp_path / "good").read_text())
    with damaged.open("r+b") as f:
        f.seek(200)
        f.write(b"\xff\xff")
    with pytest.raises(BackupError, match="SHA-256 differs"):
        restore(damaged, url)

    (tmp_path / "nomanifest").write_bytes((tmp_path / "good").read_bytes())
    with pytest.raises(BackupError, match="manifest"):
        check(tmp_path / "nomanifest")

    with pytest.raises(BackupError, match="sqlite backup; restore it into a sqlite database"):
        restore(tmp_path / "good", "postgresql+asyncpg://postgres@127.0.0.1/none")
    assert asyncio.run(snapshot(url)) == before
