"""Database settings as operators write them (``dburl``): every process runs on the async
drivers, whatever spelling of SQLite or PostgreSQL the setting uses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from dburl import DatabaseUrlError, async_url
from slf.cli import main

from .pg import database


@pytest.mark.parametrize(("given", "expected"), [
    ("postgresql://slf@db.example:5433/ssid", "postgresql+asyncpg://slf@db.example:5433/ssid"),
    ("postgres://slf@db.example/ssid", "postgresql+asyncpg://slf@db.example/ssid"),
    ("postgresql+psycopg2://slf@db.example/ssid", "postgresql+asyncpg://slf@db.example/ssid"),
    ("postgresql+asyncpg://slf@db.example/ssid", "postgresql+asyncpg://slf@db.example/ssid"),
    ("sqlite:///var/ssid.db", "sqlite+aiosqlite:///var/ssid.db"),
    ("sqlite:////srv/ssid.db", "sqlite+aiosqlite:////srv/ssid.db"),
    ("sqlite+aiosqlite:////srv/ssid.db", "sqlite+aiosqlite:////srv/ssid.db"),
    ("sqlite+pysqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ("/srv/ssid.db", "sqlite+aiosqlite:////srv/ssid.db"),
])
def test_urls_as_written_become_async_urls(given, expected):
    assert async_url(given) == expected
    assert async_url(expected) == expected  # already async: unchanged


def test_a_file_path_is_taken_from_the_base_folder_when_relative():
    assert async_url("var/ssid.db", Path("/srv/slf")) == "sqlite+aiosqlite:////srv/slf/var/ssid.db"
    assert async_url("/data/ssid.db", Path("/srv/slf")) == "sqlite+aiosqlite:////data/ssid.db"


@pytest.mark.parametrize(("given", "says"), [
    ("mysql://root@localhost/ssid", "unsupported database 'mysql' in mysql://root@localhost/ssid: SQLite and "
                                    "PostgreSQL are supported; give a SQLite file path, sqlite:///FILE, or "
                                    "postgresql://USER@HOST:PORT/DATABASE"),
    ("postgresql+psycopg9://u@h/d", "unknown driver 'psycopg9' for postgresql in postgresql+psycopg9://u@h/d: leave "
                                    "it out (postgresql://...) or name asyncpg"),
    ("  ", "the database setting is empty: give a SQLite file path"),
])
def test_other_databases_are_refused_saying_what_to_write(given, says):
    with pytest.raises(DatabaseUrlError) as caught:
        async_url(given)
    assert says in str(caught.value)


def test_a_password_is_not_repeated_in_the_message():
    with pytest.raises(DatabaseUrlError) as caught:
        async_url("oracle://scott:tiger@db/orcl")
    assert "tiger" not in str(caught.value) and "scott:***@db/orcl" in str(caught.value)


def test_slf_ssid_init_takes_a_plain_sqlite_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["ssid", "init", "--db", "sqlite:///data/ssid.db"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "data" / "ssid.db").exists() and "migration 1" in out.output


async def test_slf_ssid_init_takes_a_plain_postgresql_url():
    async with database("dburl_test") as url:
        plain = url.replace("postgresql+asyncpg://", "postgresql://")
        out = await asyncio.to_thread(CliRunner().invoke, main, ["ssid", "init", "--db", plain])
        assert out.exit_code == 0, out.output
        assert "migration 1" in out.output and "0 active" in out.output


def test_an_unsupported_database_is_a_usage_error_not_a_traceback():
    out = CliRunner().invoke(main, ["ssid", "init", "--db", "mysql://root@127.0.0.1/test"])
    assert out.exit_code == 2 and "unsupported database 'mysql'" in out.output
    assert isinstance(out.exception, SystemExit)  # click's usage error, not an exception from the engine


def test_configuration_files_take_plain_urls_and_refuse_others(tmp_path):
    from zone.config import ConfigError, from_mapping

    server = {"server": {"database": "postgresql://zis@db.example/zone"}, "zones": [{"id": "z", "source_id": "Z"}]}
    assert from_mapping(server, base=tmp_path).database == "postgresql+asyncpg://zis@db.example/zone"
    server["server"]["database"] = "var/zone.db"
    assert from_mapping(server, base=tmp_path).database == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'zone.db'}"
    server["server"]["database"] = "mssql://sa@db/zone"
    with pytest.raises(ConfigError, match=r"\[server\] database: unsupported database 'mssql'"):
        from_mapping(server, base=tmp_path)
