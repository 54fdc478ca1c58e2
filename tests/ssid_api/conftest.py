"""REST lookup API fixtures: the app over real HTTPS on loopback, clients, tokens, a manual clock.

The store fixtures are the SSID tests' own (tests/ssid/conftest.py): ``db_url`` runs a test on
SQLite and on a throw-away PostgreSQL database. Every response an ``ApiServer`` client receives
is checked against the OpenAPI document (openapi_check.py).
"""

from __future__ import annotations

import base64
import ssl
from typing import Any

import httpx
import pytest
from aiohttp import web

from ssid.api import ApiSettings, make_api_app
from ssid.api.clients import add_client
from ssid.api.openapi import document
from ssid.store import SsidStore
from tests.ssid.conftest import AMARA, EXAMPLE, Clock, db_url, settings, sqlite_url  # noqa: F401 (fixtures, re-exports)
from zone.tls import DevPKI, client_context, make_dev_pki, server_context

from .openapi_check import Conformance

LOOKUP = "/api/v1/ssid-lookups"
VERIFY = "/api/v1/enrollment-verifications"
TOKEN = "/oauth/token"
BOTH = ("ssid-lookup", "enrollment-verification")


class ManualClock:
    """The API's clock: stands still until a test moves it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:  # 2027-01-15 08:00 UTC, an hour boundary
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> DevPKI:
    return make_dev_pki(tmp_path_factory.mktemp("api-pki"), clients=("unused",))


@pytest.fixture(scope="session")
def conformance() -> Conformance:
    return Conformance(document("https://127.0.0.1"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class ApiServer:
    """``make_api_app`` served by aiohttp on 127.0.0.1 (HTTPS unless ``ssl_context`` is None)."""

    def __init__(self, app: web.Application, ssl_context: ssl.SSLContext | None, ca: ssl.SSLContext,
                 conformance: Conformance) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.ca = ca
        self.conformance = conformance
        self.clients: list[httpx.AsyncClient] = []

    async def start(self) -> ApiServer:
        self.runner = web.AppRunner(self.app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    def client(self) -> httpx.AsyncClient:
        """An HTTPS client trusting the development CA; every response is checked against the document."""
        async def hook(response: httpx.Response) -> None:
            await response.aread()
            self.conformance.check(response)

        c = httpx.AsyncClient(base_url=self.url, verify=self.ca, timeout=20, event_hooks={"response": [hook]})
        self.clients.append(c)
        return c

    async def stop(self) -> None:
        for c in self.clients:
            await c.aclose()
        await self.runner.cleanup()


@pytest.fixture
async def serve(pki, conformance):
    """``await serve(store, clock=..., api_settings=..., tls=True)`` → a started ApiServer."""
    servers: list[ApiServer] = []
    ca = client_context(pki.ca_cert)

    async def start(store: SsidStore, *, clock=None, api_settings: ApiSettings | None = None, tls: bool = True,
                    **kw: Any) -> ApiServer:
        app = make_api_app(store, store.settings, clock=clock or ManualClock(),
                           api_settings=api_settings or ApiSettings(), **kw)
        ctx = server_context(pki.server_cert, pki.server_key) if tls else None
        server = await ApiServer(app, ctx, ca, conformance).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        await s.stop()


async def make_store(url: str, settings) -> SsidStore:
    store = SsidStore.from_url(url, settings, clock=Clock())
    await store.migrate()
    return store


@pytest.fixture
async def store(sqlite_url, settings):
    """A migrated SQLite store (most API tests); ``any_store`` runs on both databases."""
    s = await make_store(sqlite_url, settings)
    yield s
    await s.close()


@pytest.fixture
async def any_store(db_url, settings):
    s = await make_store(db_url, settings)
    yield s
    await s.close()


async def new_client(store: SsidStore, *, scopes=BOTH, orgs=("*",), now: float = 1_800_000_000.0,
                     **kw: Any) -> tuple[str, str]:
    """Add an API client directly in the store; (client_id, secret)."""
    async with store.write() as conn:
        client, secret = await add_client(conn, "test client", scopes, orgs, now=now, **kw)
    return client.client_id, secret


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def get_token(http: httpx.AsyncClient, client_id: str, secret: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    r = await http.post(TOKEN, data=data, headers=basic(client_id, secret))
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}
