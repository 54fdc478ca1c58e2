"""The ResolverAgent on the runtime, against an in-process zone and scripted requesters:
immediate answers, redelivery, a crash between answering and completing, several requesters,
prompt wake-ups (co-located signal; PostgreSQL NOTIFY) with a long polling interval."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from messages import Query, Response, SIFError
from messages.objects import Name
from sif_agent.resolver.agent import ResolverAgent
from sif_agent.resolver.config import from_mapping
from tests.agent.support import ZisTransport, make_agent
from tests.zone.harness import Harness

from . import ssid_standin as db
from .conftest import locator
from .world import RESOLVER, resolver_config, until

ZONE = "test-zone"


def query(**kw) -> Query:
    return Query(object_name="StudentLocator", example=locator(**kw))


async def setup(stack: AsyncExitStack, tmp_path, database: str | None = None, poll_interval: float = 0.5,
                co_located: bool = True):
    zone = await Harness.start(tmp_path)
    stack.push_async_callback(zone.close)
    database = database or f"sqlite+aiosqlite:///{tmp_path}/slf.db"
    cfg = resolver_config(database, poll_interval=poll_interval)
    cfg["zones"][0]["id"] = ZONE
    cfg["agent"]["outbox"] = f"sqlite+aiosqlite:///{tmp_path}/resolver-outbox.db"
    settings = from_mapping(cfg, tmp_path)
    transport = ZisTransport(zone, RESOLVER)
    res = ResolverAgent(settings, transports={ZONE: transport})
    stack.push_async_callback(res.close)
    ssid = db.ScriptedSsid(settings.database, on_change=res.wake if co_located else (lambda: None),
                           extra=settings.extra_columns)
    stack.push_async_callback(ssid.close)
    return zone, res, transport, ssid


def responses(transport: ZisTransport) -> list[Response]:
    return [m for m in transport.messages() if isinstance(m, Response)]


async def test_unreadable_requests_get_a_sif_error_and_bad_values_an_error_locator(tmp_path):
    async with AsyncExitStack() as stack:
        zone, res, _, _ = await setup(stack, tmp_path)
        loc, _ = make_agent(zone, tmp_path, "ITC01-StudentLocator", request=("StudentLocator",))
        await stack.enter_async_context(res.running())
        await stack.enter_async_context(loc.running())
        with pytest.raises(SIFError) as info:
            await loc.request(ZONE, query(id_status="Valid"), timeout=5)
        assert (info.value.category, info.value.code) == (8, 9) and "is an answer" in info.value.desc
        reply = await loc.request(ZONE, query(names=(Name(type="04", last_name="X" * 70, first_name="A"),)),
                                  timeout=5)
        [obj] = [o.typed() for o in reply.objects]
        assert obj.id_status == "Error" and "at most 60 (LEGAL_LAST_NAME)" in obj.error.desc
        reply = await loc.request(ZONE, query(id_status="Cancel", txn="F" * 32), timeout=5)
        assert "no open transaction" in reply.objects[0].typed().error.desc
        assert await res.store.rows() == []


async def test_a_redelivered_request_makes_one_row_and_gets_one_answer(tmp_path):
    async with AsyncExitStack() as stack:
        zone, res, transport, ssid = await setup(stack, tmp_path)
        loc, _ = make_agent(zone, tmp_path, "ITC01-StudentLocator", request=("StudentLocator",))
        await stack.enter_async_context(loc.running())
        await res.open()
        await res.agent.connect(ZONE)  # registered and provider of StudentLocator
        msg_id = await loc.send_request(ZONE, query())
        # the resolver records the request, then its SIF_Ack is lost: the zone delivers it again
        transport.refuse_next = lambda body: b"SIF_Ack" in body and msg_id.encode() in body
        await stack.enter_async_context(res.running())
        await until(lambda: len([a for a in transport.acks() if a.original_msg_id == msg_id]) == 1, "acknowledged")
        delivered = [m for m in transport.replies if msg_id.encode() in m and b"SIF_Request" in m]
        assert len(delivered) == 2  # handled twice ...
        assert len(await res.store.rows()) == 1 and len(await res.store.requests()) == 1  # ... recorded once
        await ssid.step()
        await until(lambda: responses(transport), "answered")
        await asyncio.sleep(0.3)
        [answer] = responses(transport)
        assert answer.request_msg_id == msg_id and answer.objects[0].typed().state_province_id == "AB1234567"


async def test_a_crash_between_answer_and_completion_sends_no_second_answer(tmp_path, monkeypatch):
    async with AsyncExitStack() as stack:
        zone, res, transport, ssid = await setup(stack, tmp_path)
        loc, _ = make_agent(zone, tmp_path, "ITC01-StudentLocator", request=("StudentLocator",))
        await stack.enter_async_context(loc.running())
        await res.open()
        await res.agent.connect(ZONE)
        msg_id = await loc.send_request(ZONE, query())
        while not await res.agent.step(ZONE):  # pull and record the request (no poller running)
            await asyncio.sleep(0.01)
        await ssid.step()
        real_finish = res.store.finish

        async def crash(*a, **kw):
            raise RuntimeError("killed between respond and finish")

        monkeypatch.setattr(res.store, "finish", crash)
        with pytest.raises(RuntimeError):
            await res.answer_due()
        assert len(responses(transport)) == 1
        monkeypatch.setattr(res.store, "finish", real_finish)
        assert await res.answer_due() == 0  # the claim is still held (until its lease runs out)
        assert await res.store.release_claims() == 1  # what a restart of this worker does
        assert await res.answer_due() == 1
        assert len(responses(transport)) == 1  # the outbox already had it: nothing sent twice
        assert await res.store.rows() == [] and await res.store.requests(pending=True) == []
        entries = await res.agent.outbox.entries()
        assert [e.kind for e in entries] == ["SIF_Response StudentLocator"] and msg_id


async def test_requesters_from_several_agents_and_zones_are_kept_apart(tmp_path):
    async with AsyncExitStack() as stack:
        zone, res, _, ssid = await setup(stack, tmp_path)
        ssid.decide = lambda row: db.match("AB" + row["LOCAL_ID"][-7:].rjust(7, "0"))
        one, _ = make_agent(zone, tmp_path, "ITC01-StudentLocator", request=("StudentLocator",))
        two, _ = make_agent(zone, tmp_path, "ITC02-StudentLocator", request=("StudentLocator",))
        for a in (res, one, two):
            await stack.enter_async_context(a.running())
        task = asyncio.create_task(ssid.run(res.store.new_work, interval=0.05))
        try:
            r1, r2 = await asyncio.gather(
                one.request(ZONE, query(txn="1" * 32, local_id="1111111"), timeout=10),
                two.request(ZONE, query(txn="2" * 32, local_id="2222222"), timeout=10))
        finally:
            task.cancel()
            # awaited here: a task left to the loop's teardown is cancelled a second time there, and
            # a second cancellation while SQLAlchemy closes its aiosqlite connection deadlocks the
            # teardown (aiosqlite 0.22: close() then waits on a worker thread that has stopped)
            await asyncio.gather(task, return_exceptions=True)
        assert r1.objects[0].typed().state_province_id == "AB1111111"
        assert r2.objects[0].typed().state_province_id == "AB2222222"
        log = {r["SLF_TRANSACTION_GUID"]: r["SIF_SOURCE_ID"] for r in await res.store.requests()}
        assert log == {"1" * 32: "ITC01-StudentLocator", "2" * 32: "ITC02-StudentLocator"}


async def _latency(stack, tmp_path, database, co_located: bool) -> float:
    zone, res, transport, ssid = await setup(stack, tmp_path, database, poll_interval=30.0, co_located=co_located)
    loc, _ = make_agent(zone, tmp_path, "ITC01-StudentLocator", request=("StudentLocator",))
    for a in (res, loc):
        await stack.enter_async_context(a.running())
    if not co_located:
        await until(lambda: res.listening.is_set(), "LISTEN connected")
    asking = asyncio.create_task(loc.request(ZONE, query(), timeout=20))
    await until(lambda: res.store.rows(), "recorded")
    await asyncio.sleep(0.6)  # the poller has found nothing and sleeps (30 s)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await ssid.step()  # the database decides; nobody calls the resolver directly
    reply = await asking
    assert reply.objects[0].typed().state_province_id == "AB1234567"
    return loop.time() - start


async def test_a_co_located_database_wakes_the_poller(tmp_path):
    async with AsyncExitStack() as stack:
        assert await _latency(stack, tmp_path, None, co_located=True) < 5


async def test_postgresql_notify_wakes_the_poller(tmp_path, pg_databases):
    url = await pg_databases.create()
    async with AsyncExitStack() as stack:
        assert await _latency(stack, tmp_path, url, co_located=False) < 5
