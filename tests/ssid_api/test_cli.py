"""`slf ssid api-client add | list | rotate | revoke`: the secret is printed once and stored only
hashed; list never shows it; rotation and revocation take effect for authentication."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from slf.cli import main
from ssid.api.clients import authenticate
from ssid.config import load
from ssid.store import SsidStore

from .conftest import EXAMPLE


def run(*args: str):
    r = CliRunner().invoke(main, ["ssid", *args])
    return r


def check_secret(db: str, client_id: str, secret: str) -> bool:
    async def go() -> bool:
        store = SsidStore.from_url(f"sqlite+aiosqlite:///{db}", load(EXAMPLE))
        try:
            async with store.read() as conn:
                return await authenticate(conn, client_id, secret) is not None
        finally:
            await store.close()
    return asyncio.run(go())


def test_api_client_commands(tmp_path, monkeypatch):
    db = str(tmp_path / "ssid.db")
    common = ["--config", EXAMPLE, "--db", db]
    assert run("init", *common).exit_code == 0
    r = run("api-client", "add", "CCCApply", "--scope", "ssid-lookup", "--scope", "enrollment-verification",
            "--org", "*", "--hourly-limit", "15000", "--json", *common)
    assert r.exit_code == 0, r.output
    added = json.loads(r.stdout)
    cid, secret = added["client_id"], added["client_secret"]
    assert len(secret) >= 43 and check_secret(db, cid, secret)

    r = run("api-client", "add", "County 19", "--scope", "ssid-lookup", "--org", "19", "--id", "county-19", *common)
    assert r.exit_code == 0 and "client_id:     county-19" in r.stdout

    r = run("api-client", "list", *common)
    assert r.exit_code == 0 and cid in r.output and "county-19" in r.output
    assert "15000/h" in r.output and "5000/h (default)" in r.output
    assert secret not in r.output
    listed = json.loads(run("api-client", "list", "--json", *common).stdout)
    assert [c["client_id"] for c in listed] == [cid, "county-19"]
    assert secret not in json.dumps(listed) and "argon2" not in json.dumps(listed)

    for bad, says in ((["--scope", "admin", "--org", "*"], "unknown scope"),
                      (["--scope", "ssid-lookup", "--org", "19-64"], "CDS code prefix"),
                      (["--scope", "ssid-lookup", "--org", "*", "--id", "county-19"], "exists already")):
        r = run("api-client", "add", "Bad", *bad, *common)
        assert r.exit_code == 1 and says in r.output, r.output

    r = run("api-client", "rotate", cid, "--json", *common)
    assert r.exit_code == 0
    new_secret = json.loads(r.stdout)["client_secret"]
    assert new_secret != secret and check_secret(db, cid, new_secret) and not check_secret(db, cid, secret)

    r = run("api-client", "revoke", cid, *common)
    assert r.exit_code == 0 and f"client {cid} revoked" in r.output
    assert not check_secret(db, cid, new_secret)
    assert run("api-client", "revoke", cid, *common).exit_code == 1
    assert run("api-client", "rotate", "nobody", *common).exit_code == 1
