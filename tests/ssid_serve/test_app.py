"""The server's HTTP side in process: /healthz, and the API and UI mounted beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ssid.db.engine import make_engine
from ssid.server import Health, ServerConfigError, is_loopback, make_app, server_from_config
from ssid.store import SsidStore


def answer(body):
    async def handler(_request):
        return web.json_response(body) if isinstance(body, dict) else web.Response(text=body)
    return handler


def stub_api() -> web.Application:
    """An API whose middleware refuses every request without a token (as a real API would)."""

    @web.middleware
    async def bearer_only(request, handler):
        if request.headers.get("Authorization") != "Bearer t":
            return web.json_response({"title": "token required"}, status=401)
        return await handler(request)

    app = web.Application(middlewares=[bearer_only])
    app.router.add_get("/", answer({"api": "discovery"}))
    app.router.add_post("/api/v1/ssid-lookups", answer({"status": "not_found"}))
    return app


def stub_ui() -> web.Application:
    app = web.Application()
    app.router.add_get("/", answer("ui home"))
    app.router.add_get("/students", answer("ui students"))
    return app


@pytest.fixture
async def client(store):
    c = TestClient(TestServer(make_app(store, None, Health(parts={"api": "mounted"}), api=stub_api(), ui=stub_ui())))
    await c.start_server()
    yield c
    await c.close()


async def test_healthz_checks_the_database_and_is_not_behind_the_apis_middleware(client):
    r = await client.get("/healthz")
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    body = await r.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["api"] == "mounted"


async def test_the_api_answers_at_the_root_and_the_ui_under_ui(client):
    assert (await client.get("/")).status == 401  # the API's own middleware
    ok = await client.get("/", headers={"Authorization": "Bearer t"})
    assert (await ok.json()) == {"api": "discovery"}
    assert (await client.post("/api/v1/ssid-lookups", headers={"Authorization": "Bearer t"})).status == 200
    assert await (await client.get("/ui/")).text() == "ui home"  # no token needed: not the API's path
    assert await (await client.get("/ui/students")).text() == "ui students"
    r = await client.get("/ui", allow_redirects=False)
    assert r.status == 308 and r.headers["Location"] == "/ui/"
    assert (await client.get("/nothing-here", headers={"Authorization": "Bearer t"})).status == 404


async def test_healthz_says_unavailable_when_the_database_does_not_answer():
    store = SsidStore(make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))  # nothing listens on port 1
    c = TestClient(TestServer(make_app(store, None, Health())))
    await c.start_server()
    try:
        r = await c.get("/healthz")
        assert r.status == 503 and (await r.json()) | {"uptime_seconds": 0} == {
            "status": "unavailable", "database": "unreachable", "uptime_seconds": 0, "extracts": {}}
        assert (await c.get("/")).status == 404  # no API mounted
    finally:
        await c.close()
        await store.close()


def test_server_settings(tmp_path):
    s = server_from_config({"port": 0, "tls_cert": "pki/s.pem", "tls_key": "/abs/k.pem", "slf_database": "slf.db",
                            "heartbeat_interval": 5}, tmp_path)
    assert (s.tls_cert, s.tls_key) == (tmp_path / "pki/s.pem", Path("/abs/k.pem"))
    assert s.slf_database == f"sqlite+aiosqlite:///{tmp_path}/slf.db" and s.heartbeat_interval == 5.0 and s.port == 0
    with pytest.raises(ServerConfigError) as err:
        server_from_config({"port": 70000, "tls_cert": "c.pem", "poll_interval": "fast", "proxy": 1})
    for part in ("unknown keys proxy", "port must be a whole number", "tls_cert and tls_key go together",
                 "poll_interval must be a number of seconds"):
        assert part in str(err.value)
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.0.0.2", "0.0.0.0", "10.0.0.1")] == [
        True, True, True, True, False, False]
