"""Passwords as an operator sets them (`slf ssid user set-password`, a real process) and as the web
keeps them: argon2id at the configured cost, upgraded at sign-in when the cost grows."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from slf.cli import main
from ssid.audit import Actor
from ssid.config import load
from ssid.store import SsidStore
from ssid.web.passwords import hasher, set_password
from ssid.web.tables import passwords_t

from .conftest import parent_app, password

SLF = str(Path(sys.executable).with_name("slf"))
EXAMPLE = str(Path(__file__).parents[2] / "conf" / "ssid.example.toml")


def _slf(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SLF, "ssid", *args], input=stdin, capture_output=True, text=True, timeout=60)


async def _hash(url: str, user: str) -> str:
    store = SsidStore.from_url(url, load(EXAMPLE))
    try:
        async with store.read() as conn:
            return (await conn.execute(select(passwords_t.c.hash).where(passwords_t.c.user_id == user))).scalar()
    finally:
        await store.close()


def test_an_operator_adds_a_user_and_sets_its_password_from_the_command_line(tmp_path):
    db = str(tmp_path / "ssid.db")
    common = ("--config", EXAMPLE, "--db", db)
    cli = CliRunner()
    assert cli.invoke(main, ["ssid", "init", *common]).exit_code == 0
    out = cli.invoke(main, ["ssid", "user", "add", "dora", "--district", "043802", "--building", "012345", "--role",
                            "district_user", *common])
    assert out.exit_code == 0, out.output
    out = cli.invoke(main, ["ssid", "user", "set-password", "dora", "--password-stdin", *common], input="short\n")
    assert out.exit_code == 1 and "use at least 12 characters" in out.output
    out = cli.invoke(main, ["ssid", "user", "set-password", "nobody", "--password-stdin", *common],
                     input="a quiet afternoon by the river\n")
    assert out.exit_code == 1 and "no user 'nobody'" in out.output
    # as a script runs it: a real process, the password on standard input
    done = _slf("user", "set-password", "dora", "--password-stdin", *common, stdin="a quiet afternoon by the river\n")
    assert done.returncode == 0 and "password of dora set" in done.stdout, done.stderr
    stored = asyncio.run(_hash(f"sqlite+aiosqlite:///{db}", "dora"))
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,") and "quiet" not in stored
    # asked twice on a terminal; two different answers are asked again
    res = cli.invoke(main, ["ssid", "user", "set-password", "dora", *common],
                     input="a quiet afternoon by the river\nsomething else entirely\n"
                           "a loud morning by the sea\na loud morning by the sea\n")
    assert res.exit_code == 0 and "do not match" in res.output.lower()
    assert asyncio.run(_hash(f"sqlite+aiosqlite:///{db}", "dora")) != stored


async def test_the_password_set_works_for_signing_in_and_ends_older_sessions(world, serve):
    ui = await serve(parent_app(world))
    dora = await ui("dora")
    async with world.store.write() as conn:
        await set_password(world.store, conn, "dora", "a quiet afternoon by the river", Actor("stella"),
                           hasher(1, 8192))
    resp, _ = await dora.get("/ui/")
    assert resp.url.path == "/ui/login"  # the old session ended with the old password
    resp, _ = await dora.login("dora")
    assert resp.status == 401
    resp, _ = await dora.login("dora", "a quiet afternoon by the river")
    assert resp.status == 200 and resp.url.path == "/ui/"
    rows = await world.store.audit(change_type="USER", user_id="stella")
    assert [r.detail for r in rows] == [{"user_id": "dora", "action": "set-password"}]


async def test_a_hash_made_at_a_lower_cost_is_upgraded_at_the_next_sign_in(world, serve):
    stronger = replace(world.web, argon2_time_cost=2, argon2_memory_kib=16384)
    ui = await serve(parent_app(world, web_settings=stronger))
    before = await _hash_of(world, "dora")
    assert ",t=1," in before
    await ui("dora")
    after = await _hash_of(world, "dora")
    assert after != before and "m=16384,t=2," in after
    resp, _ = await (await ui()).login("dora", password("dora"))  # still the same password
    assert resp.status == 200


async def _hash_of(world, user: str) -> str:
    async with world.store.read() as conn:
        return (await conn.execute(select(passwords_t.c.hash).where(passwords_t.c.user_id == user))).scalar()
