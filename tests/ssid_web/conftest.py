"""Web UI fixtures: a seeded SSID store, the app mounted at /ui/ under a parent app, served over
real HTTPS (the development CA of zone.tls), and one signed-in client per user.

People (roles from conf/ssid.example.toml's [web.roles]):

========  ===============  ==========================================
stella    state_admin      every district
april     state_approver   every district
dana      district_admin   district 043802
dora      district_user    district 043802
otto      district_user    district 044000
bea       building_user    building 012345 (in 043802)
audrey    auditor          every district
ivan      itc_operator     district 043802, and 044000 by a binding
========  ===============  ==========================================

Students: Amara (043802 / 012345), her near-twin Amira (043802 / 012399), Oliver (044000).
The SLF tables, when a test asks for ``slf``, are the resolver's own (its migrations) with a
near-twin request of Amara from district 043802 decided by the real poller: 7 UNRESOLVED, then
8 as the resolver sets it after answering Ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sif_agent.resolver.migrations import migrate as slf_migrate
from ssid.audit import Actor
from ssid.config import load
from ssid.poller import SlfPoller
from ssid.store import SsidStore
from ssid.web import make_web_app
from ssid.web import config as web_config
from ssid.web.passwords import hasher, set_password
from ssid.web.scope import Binding, bind
from tests.pg import backend_url
from tests.ssid.conftest import AMARA, EXAMPLE, Clock
from tests.ssid_pipeline.conftest import AMARA_ROW, EXTRA, Slf
from zone.tls import client_context, make_dev_pki, server_context

AMIRA = {**AMARA, "LegalFirstName": "Amira", "LegalMiddleName": "Joy", "SSN": "123-45-6789"}
OLIVER = {**AMARA, "LegalFirstName": "Oliver", "LegalMiddleName": "Paul", "LegalLastName": "Lindqvist",
          "BirthDate": "2015-02-03", "Gender": "M", "BirthPlaceCity": "Toledo"}
USERS = {  # user: (roles, district, building)
    "stella": (["state_admin"], None, None),
    "april": (["state_approver"], None, None),
    "dana": (["district_admin"], "043802", None),
    "dora": (["district_user"], "043802", None),
    "otto": (["district_user"], "044000", None),
    "bea": (["building_user"], "043802", "012345"),
    "audrey": (["auditor"], None, None),
    "ivan": (["itc_operator"], "043802", None),
}
#: a cheap argon2 cost for the tests (the configured cost is exercised by test_passwords)
CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 8192}


def password(user: str) -> str:
    return f"{user.upper()[:2]}-{len(user)}: long passphrases are best"


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_dev_pki(tmp_path_factory.mktemp("web-pki"), clients=())


@dataclass
class World:
    store: SsidStore
    clock: Clock
    ids: dict[str, str]  # first name -> student ID
    web: web_config.WebSettings


async def seed(store: SsidStore, web: web_config.WebSettings) -> dict[str, str]:
    ph = hasher(web.argon2_time_cost, web.argon2_memory_kib)
    async with store.write() as conn:
        for uid, (roles, district, building) in USERS.items():
            await store.add_user(conn, uid, name=uid.title(), district_irn=district, building_irn=building,
                                 roles=roles)
            await set_password(store, conn, uid, password(uid), Actor("test"), ph)
        await bind(conn, "ivan", Binding("044000", ""), store.clock(), "test")
        ids = {}
        for values, district, building in ((AMARA, "043802", "012345"), (AMIRA, "043802", "012399"),
                                           (OLIVER, "044000", "054321")):
            s = await store.create_student(conn, values, Actor("seed", district), district_irn=district,
                                           building_irn=building)
            ids[values["LegalFirstName"]] = s.student_id
    return ids


@pytest.fixture(params=["sqlite"])
def backend(request) -> str:
    return request.param


@pytest.fixture
async def world(backend, tmp_path):
    settings = load(EXAMPLE)
    web = replace(web_config.load(settings), **CHEAP)
    clock = Clock()
    async with backend_url(backend, tmp_path / "ssid.db", "ssid_web_test") as url:
        store = SsidStore.from_url(url, settings, clock=clock)
        await store.migrate()
        try:
            yield World(store, clock, await seed(store, web), web)
        finally:
            await store.close()


@pytest.fixture
async def slf(tmp_path):
    s = Slf(f"sqlite+aiosqlite:///{tmp_path}/slf.db")
    await slf_migrate(s.engine, EXTRA)
    yield s
    await s.engine.dispose()


@pytest.fixture
async def poller(world, slf):
    p = SlfPoller(world.store, slf.url)
    yield p
    await p.close()


async def ambiguous(slf: Slf, poller: SlfPoller, **columns) -> str:
    """A near-twin request of Amara decided by the poller (7), then told to the district (8)."""
    txn = await slf.request({**AMARA_ROW, "LEGAL_FIRST_NAME": "Amera", "LEGAL_MIDDLE_NAME": "Rose", **columns})
    await poller.poll_once()
    assert (await slf.row(txn))["N_SLF_STATUS"] == 7, "the seeded request should give potential matches"
    await slf.set(txn, N_SLF_STATUS=8)
    return txn


def parent_app(world: World, **kw) -> web.Application:
    """The web UI mounted at /ui/ under a parent app, as `slf ssid serve` does."""
    parent = web.Application()
    async def root(_request: web.Request) -> web.Response:
        return web.Response(text="the parent app")

    parent.router.add_get("/", root)
    parent.add_subapp("/ui/", make_web_app(world.store, world.store.settings, clock=world.clock,
                                           web_settings=kw.pop("web_settings", world.web), **kw))
    return parent


CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
NONCE = re.compile(r'name="login_csrf" value="([^"]+)"')


class Browser:
    """One person's HTTPS client with its own cookie jar; knows its page's CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf: str | None = None

    async def get(self, path: str, **kw) -> tuple[aiohttp.ClientResponse, str]:
        resp = await self.client.get(path, **kw)
        text = await resp.text()
        m = CSRF.search(text)
        if m:
            self.csrf = m.group(1)
        return resp, text

    async def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kw
                   ) -> tuple[aiohttp.ClientResponse, str]:
        data = dict(data or {})
        if csrf and "csrf" not in data:
            if self.csrf is None:
                await self.get("/ui/")
            data["csrf"] = self.csrf
        resp = await self.client.post(path, data=data, **kw)
        text = await resp.text()
        m = CSRF.search(text)
        if m:
            self.csrf = m.group(1)
        return resp, text

    async def login(self, user: str, pw: str | None = None) -> tuple[aiohttp.ClientResponse, str]:
        _, page = await self.get("/ui/login")
        nonce = NONCE.search(page).group(1)
        resp, text = await self.post("/ui/login", {"login_csrf": nonce, "user_id": user,
                                                   "password": pw if pw is not None else password(user)},
                                     csrf=False)
        return resp, text

    def cookie(self, name: str) -> str | None:
        for c in self.client.session.cookie_jar:
            if c.key == name:
                return c.value
        return None


@pytest.fixture
async def serve(pki):
    """``await serve(app)`` → a factory of Browsers for that app over HTTPS on 127.0.0.1."""
    servers: list[TestServer] = []
    clients: list[TestClient] = []
    sctx = server_context(pki.server_cert, pki.server_key)
    cctx = client_context(pki.ca_cert)

    async def start(app: web.Application):
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(ssl=sctx)
        servers.append(server)

        async def browser(user: str | None = None) -> Browser:
            client = TestClient(server, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                connector=aiohttp.TCPConnector(ssl=cctx))
            await client.start_server()
            clients.append(client)
            b = Browser(client)
            if user is not None:
                resp, _ = await b.login(user)
                assert resp.status == 200 and resp.url.path == "/ui/", f"{user} could not sign in"
            return b
        return browser

    yield start
    for c in clients:
        await c.close()
    for s in servers:
        await s.close()


@pytest.fixture
async def browser(world, serve):
    """Browsers for the app without SLF tables: ``await browser("dora")``."""
    return await serve(parent_app(world))

