"""Push mode against a real agent endpoint: aiohttp over HTTPS on 127.0.0.1, no mocks.

The zone (a Zis over SQLite, and over PostgreSQL: see conftest.py) queues events
for an agent registered in push mode; ``PushDelivery`` POSTs them to the
agent's SIF_URL. The endpoint answers as a SIF agent would (SIF_Ack status 1),
or as a broken one (down, HTTP 500, garbage, an ack for another message), or
uses the protocol's levers (status 2: Selective Message Blocking; status 8:
asleep). Tests drive ``sweep()`` one round at a time, or ``run()`` for a time
window to see the backoff schedule.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest
from aiohttp import web

from messages import Ack, Event, Header, Message, Request, Status, build, parse
from messages.errors import Error
from messages.objects import Name, StudentPersonal
from tests.zone.harness import Harness, code
from tests.zone.process import free_port
from zone.push import PushDelivery
from zone.tls import DevPKI, client_context, make_dev_pki, server_context

PUSH_ID = "PushAgent"


def student(local: str) -> StudentPersonal:
    return StudentPersonal(ref_id=f"{int(local):032X}", local_id=local,
                           name=Name(last_name="Okafor", first_name="Amara"))


def local_id(message: Message) -> str:
    return message.objects[0].typed().local_id


def ack_for(message: Message, status: int = 1) -> bytes:
    return build(Ack(header=Header.new(PUSH_ID), version=message.version, original_source_id=message.source_id,
                     original_msg_id=message.msg_id, status=Status(code=status)))


@dataclass
class Endpoint:
    """A push agent's HTTPS endpoint. ``answer(message) -> (http status, body)`` decides each reply."""

    pki: DevPKI
    port: int = field(default_factory=free_port)
    answer: Callable[[Message], tuple[int, bytes]] = lambda m: (200, ack_for(m))
    delay: float = 0.0  # seconds to think before answering
    received: list[tuple[float, Message]] = field(default_factory=list)
    acked: list[Message] = field(default_factory=list)  # answered with status 1
    in_flight: int = 0
    max_in_flight: int = 0
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/sif"

    async def start(self) -> "Endpoint":
        app = web.Application()
        app.router.add_post("/sif", self._post)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True,
                           ssl_context=server_context(self.pki.server_cert, self.pki.server_key))
        await site.start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _post(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            assert request.headers["Content-Type"].startswith("application/xml")
            message = parse(await request.read())
            self.received.append((time.monotonic(), message))
            if self.delay:
                await asyncio.sleep(self.delay)
            status, body = self.answer(message)
            if status == 200 and is_ack_1(message, body):
                self.acked.append(message)
            return web.Response(status=status, body=body, content_type="application/xml")
        finally:
            self.in_flight -= 1


def is_ack_1(message: Message, body: bytes) -> bool:
    """Is ``body`` a status-1 SIF_Ack for ``message`` (the agent took it)?"""
    try:
        ack = parse(body)
    except Exception:  # noqa: BLE001 - garbage is not an ack
        return False
    return (isinstance(ack, Ack) and ack.original_msg_id == message.msg_id
            and ack.status is not None and ack.status.code == 1)


@pytest.fixture
def pki(tmp_path) -> DevPKI:
    return make_dev_pki(tmp_path / "pki", clients=(PUSH_ID,))


@pytest.fixture
async def endpoint(pki):
    ep = await Endpoint(pki).start()
    yield ep
    await ep.stop()


@pytest.fixture
async def zone(tmp_path, zone_backend):
    h = await Harness.start(tmp_path)
    yield h
    await h.close()


def pusher(h: Harness, pki: DevPKI, **kw) -> PushDelivery:
    kw.setdefault("rng", random.Random(1234))
    kw.setdefault("base_delay", 0.02)
    kw.setdefault("max_delay", 0.4)
    kw.setdefault("timeout", 5.0)
    return PushDelivery(h.zis, ssl_context=client_context(pki.ca_cert), **kw)


async def setup_agents(h: Harness, endpoint: Endpoint):
    """A publishing SIS (pull) and the push agent subscribed to StudentPersonal."""
    sis, agent = h.agent("SIS"), h.agent(PUSH_ID)
    assert code(await sis.register()) == 0
    assert code(await agent.register(mode="Push", url=endpoint.url)) == 0
    assert code(await agent.subscribe("StudentPersonal")) == 0
    return sis, agent


async def publish(sis, *locals_: str) -> list[str]:
    ids = []
    for local in locals_:
        m = sis.event_message(student(local))
        assert code(await sis.send(m)) == 0
        ids.append(m.msg_id)
    return ids


async def depth(h: Harness, receiver: str = PUSH_ID) -> int:
    async with h.store.engine.connect() as conn:
        return await h.store.queue_depth(conn, h.zone_id, receiver)


async def agent_row(h: Harness, source_id: str = PUSH_ID):
    async with h.store.engine.connect() as conn:
        return await h.store.agent(conn, h.zone_id, source_id)


async def drain(push: PushDelivery, rounds: int = 50) -> int:
    total = 0
    for _ in range(rounds):
        n = await push.sweep()
        if n == 0:
            return total
        total += n
    raise AssertionError("the queue did not drain")


async def run_for(push: PushDelivery, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(push.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, 10)


async def run_until(push: PushDelivery, done: Callable[[], bool], timeout: float = 10.0) -> float:
    """Run the push loop until ``done()``; returns how long it took."""
    stop = asyncio.Event()
    task = asyncio.create_task(push.run(stop))
    start = time.monotonic()
    try:
        while not done():
            assert time.monotonic() - start < timeout, "push delivery did not finish in time"
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return time.monotonic() - start


# ---------------------------------------------------------------- the happy path

async def test_events_are_pushed_in_order_and_the_agents_ack_removes_each(zone, endpoint, pki):
    sis, _ = await setup_agents(zone, endpoint)
    ids = await publish(sis, "1", "2", "3", "4", "5")
    async with pusher(zone, pki) as push:
        assert await push.sweep() == 1  # one message per agent per round: the next waits for this ack
        assert [m.msg_id for _, m in endpoint.received] == ids[:1]
        assert await depth(zone) == 4
        assert await drain(push) == 4
        assert await push.sweep() == 0  # nothing left; nothing re-sent
    assert [m.msg_id for _, m in endpoint.received] == ids
    assert [local_id(m) for m in endpoint.acked] == ["1", "2", "3", "4", "5"]
    assert all(isinstance(m, Event) and m.version == "2.1" for _, m in endpoint.received)
    assert await depth(zone) == 0


async def test_run_loop_delivers_as_soon_as_something_is_queued(zone, endpoint, pki):
    sis, _ = await setup_agents(zone, endpoint)
    push = pusher(zone, pki, idle_poll=30.0)  # a wake-up, not the poll, must start delivery
    zone.zis.on_enqueue = push.wake
    stop = asyncio.Event()
    task = asyncio.create_task(push.run(stop))
    try:
        await asyncio.sleep(0.1)
        ids = await publish(sis, "1", "2")
        start = time.monotonic()
        while len(endpoint.acked) < 2:
            assert time.monotonic() - start < 5, "not delivered promptly"
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [m.msg_id for m in endpoint.acked] == ids


async def test_an_error_ack_from_the_agent_discards_the_message(zone, endpoint, pki):
    sis, _ = await setup_agents(zone, endpoint)
    await publish(sis, "1", "2")

    def refuse_first(m):
        if local_id(m) == "1":
            return 200, build(Ack(header=Header.new(PUSH_ID), version=m.version, original_source_id=m.source_id,
                                  original_msg_id=m.msg_id, error=Error(category=9, code=1, desc="cannot store")))
        return 200, ack_for(m)

    endpoint.answer = refuse_first
    async with pusher(zone, pki) as push:
        assert await drain(push) == 2
    assert [local_id(m) for _, m in endpoint.received] == ["1", "2"]  # not retried: the agent has decided
    assert await depth(zone) == 0


# ---------------------------------------------------------------- failures, backoff, recovery

def garbage(m):
    return 200, b"<html>this is not SIF</html>"


def http_500(m):
    return 500, b"Internal Server Error"


def wrong_ack(m):
    other = Event(header=Header.new("SIS"), version=m.version, object_name="StudentPersonal", action="Add",
                  objects=m.objects)
    return 200, ack_for(other)  # a well-formed SIF_Ack, for some other message


@pytest.mark.parametrize("failure", ["down", "500", "garbage", "wrong-ack"])
async def test_failed_push_keeps_the_message_and_backs_off_with_jitter_until_the_agent_recovers(
        zone, endpoint, pki, failure):
    sis, _ = await setup_agents(zone, endpoint)
    ids = await publish(sis, "1", "2", "3")
    if failure == "down":
        await endpoint.stop()
    else:
        endpoint.answer = {"500": http_500, "garbage": garbage, "wrong-ack": wrong_ack}[failure]
    seed, base, cap = 99, 0.02, 0.4
    push = pusher(zone, pki, rng=random.Random(seed), base_delay=base, max_delay=cap)

    window = 1.5
    await run_for(push, window)
    failed = [a for a in push.attempts if a.outcome == "failed"]
    # no busy loop: a handful of attempts in the window, each after the previous backoff
    assert 4 <= len(failed) <= 14, [round(a.delay, 3) for a in failed]
    assert all(a.msg_id == ids[0] for a in failed)  # always the head; nothing skipped ahead
    delays = [a.delay for a in failed]
    ceilings = [min(cap, base * 2 ** i) for i in range(len(delays))]
    rng = random.Random(seed)
    assert delays == [c * rng.uniform(0.5, 1.0) for c in ceilings]  # the injected rng decides the jitter
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings))
    # they grow (never shorter than the previous one until the cap) ...
    assert all(d2 >= d1 for d1, d2, c1, c2 in zip(delays, delays[1:], ceilings, ceilings[1:]) if c2 == 2 * c1)
    assert delays[-1] > 4 * delays[0] and max(delays) <= cap
    assert len({round(d / c, 6) for d, c in zip(delays, ceilings)}) == len(delays)  # ... and are jittered
    gaps = [b.at - a.at for a, b in zip(failed, failed[1:])]
    assert all(g >= d * 0.9 for g, d in zip(gaps, delays))  # each retry waited out its delay
    if failure != "down":
        assert len(endpoint.received) == len(failed)  # the agent saw exactly the attempts counted
    async with zone.store.engine.connect() as conn:
        state = await zone.store.push_state_of(conn, zone.zone_id, PUSH_ID)
        head = await zone.store.head(conn, zone.zone_id, PUSH_ID, skip_events=False)
    assert state["failures"] == len(failed) and state["last_error"]
    assert head["msg_id"] == ids[0] and head["deliveries"] == len(failed)
    assert await depth(zone) == 3  # nothing was lost

    # the agent recovers: everything arrives, in order, each acknowledged exactly once
    before = len(endpoint.received)
    if failure == "down":
        await endpoint.start()
    else:
        endpoint.answer = lambda m: (200, ack_for(m))
    took = await run_until(push, lambda: len(endpoint.acked) == 3)
    assert took < cap + 3.0  # at most one (capped) backoff away, not a fresh schedule
    assert [m.msg_id for m in endpoint.acked] == ids
    assert [m.msg_id for _, m in endpoint.received[before:]] == ids  # no duplicates after recovery
    assert await depth(zone) == 0
    async with zone.store.engine.connect() as conn:
        state = await zone.store.push_state_of(conn, zone.zone_id, PUSH_ID)
    assert state["failures"] == 0 and state["owner"] is None


async def test_a_slow_agent_times_out_and_is_retried(zone, endpoint, pki):
    sis, _ = await setup_agents(zone, endpoint)
    ids = await publish(sis, "1")
    endpoint.delay = 1.0
    async with pusher(zone, pki, timeout=0.3) as push:
        assert await push.sweep() == 0
        assert push.attempts[-1].outcome == "failed" and "Timeout" in push.attempts[-1].error
        endpoint.delay = 0.0
        await asyncio.sleep(push.attempts[-1].delay)
        assert await push.sweep() == 1
    assert [m.msg_id for m in endpoint.acked] == ids
    assert await depth(zone) == 0


async def test_reregistering_with_a_mended_url_ends_the_backoff(zone, endpoint, pki):
    sis, agent = await setup_agents(zone, endpoint)
    ids = await publish(sis, "1")
    good_url = endpoint.url
    assert code(await agent.register(mode="Push", url=good_url.replace("/sif", "/nowhere"))) == 0  # 404
    async with pusher(zone, pki, base_delay=30.0, max_delay=60.0) as push:
        assert await push.sweep() == 0
        assert "HTTP 404" in push.attempts[-1].error and push.attempts[-1].delay >= 15
        assert await push.sweep() == 0 and len(push.attempts) == 1  # backing off
        assert code(await agent.register(mode="Push", url=good_url)) == 0
        assert await push.sweep() == 1
    assert [m.msg_id for m in endpoint.acked] == ids


# ---------------------------------------------------------------- SMB and sleep

async def test_intermediate_ack_freezes_events_until_the_agent_posts_a_final_ack(zone, endpoint, pki):
    sis, agent = await setup_agents(zone, endpoint)
    requester = zone.agent("LOC")
    assert code(await requester.register()) == 0
    assert code(await agent.provide("StudentLocator")) == 0
    await publish(sis, "1", "2")

    endpoint.answer = lambda m: (200, ack_for(m, 2 if isinstance(m, Event) else 1))
    async with pusher(zone, pki) as push:
        assert await push.sweep() == 1
        held = endpoint.received[-1][1]
        assert local_id(held) == "1" and (await agent_row(zone)).smb_msg_id == held.msg_id
        assert await push.sweep() == 0  # event 2 is frozen behind the held event
        assert len(endpoint.received) == 1

        req, ack = await requester.request("StudentLocator")  # requests still get through
        assert code(ack) == 0
        assert await push.sweep() == 1
        assert isinstance(endpoint.received[-1][1], Request) and endpoint.received[-1][1].msg_id == req.msg_id
        assert await push.sweep() == 0

        endpoint.answer = lambda m: (200, ack_for(m))
        assert code(await agent.ack(held, code=3)) == 0  # Final ack, POSTed by the agent to the zone
        assert (await agent_row(zone)).smb_msg_id is None
        assert await push.sweep() == 1
        assert local_id(endpoint.received[-1][1]) == "2"
        assert await push.sweep() == 0
    assert [local_id(m) if isinstance(m, Event) else "req" for _, m in endpoint.received] == ["1", "req", "2"]
    assert await depth(zone) == 0


async def test_status_8_marks_the_agent_sleeping_until_it_sends_wakeup(zone, endpoint, pki):
    sis, agent = await setup_agents(zone, endpoint)
    ids = await publish(sis, "1", "2")
    endpoint.answer = lambda m: (200, ack_for(m, 8))
    async with pusher(zone, pki) as push:
        assert await push.sweep() == 0
        assert (await agent_row(zone)).sleeping
        status = (await agent.zone_status()).status.data
        assert next(n for n in status.nodes if n.source_id == PUSH_ID).sleeping
        for _ in range(3):
            assert await push.sweep() == 0  # not even tried while asleep
        assert len(endpoint.received) == 1
        assert await depth(zone) == 2  # the refused message is still queued

        endpoint.answer = lambda m: (200, ack_for(m))
        assert code(await agent.wakeup()) == 0
        assert await drain(push) == 2
    assert [m.msg_id for _, m in endpoint.received] == [ids[0], ids[0], ids[1]]  # the head was redelivered
    assert [m.msg_id for m in endpoint.acked] == ids
    assert push.attempts[0].outcome == "sleeping"


# ---------------------------------------------------------------- several push workers

async def test_two_push_workers_never_push_to_one_agent_at_once(zone, endpoint, pki):
    sis, _ = await setup_agents(zone, endpoint)
    ids = await publish(sis, *[str(i) for i in range(1, 13)])
    endpoint.delay = 0.03  # long enough for the workers' sweeps to overlap
    a, b = pusher(zone, pki, worker_id="worker-a"), pusher(zone, pki, worker_id="worker-b")
    async with a, b:
        for _ in range(40):
            if len(endpoint.acked) == len(ids):
                break
            await asyncio.gather(a.sweep(), b.sweep(), a.sweep(), b.sweep())
    assert endpoint.max_in_flight == 1
    assert [m.msg_id for m in endpoint.acked] == ids
    assert [m.msg_id for _, m in endpoint.received] == ids  # claimed, so never sent twice
    assert {x.outcome for x in a.attempts} | {x.outcome for x in b.attempts} == {"acked"}


async def test_messages_for_pull_agents_do_not_wake_the_push_loop(zone, endpoint, pki):
    """A sweep per queued message for pull agents would cost more than the messages; messages
    for push agents (or agents not yet known) still wake it at once."""
    push = pusher(zone, pki, idle_poll=0.05)
    zone.zis.on_enqueue, zone.zis.on_register = push.wake, push.forget
    sis, agent = await setup_agents(zone, endpoint)
    puller = zone.agent("Puller")
    assert code(await puller.register()) == 0
    assert code(await puller.subscribe("StudentPersonal")) == 0
    stop = asyncio.Event()
    await push._idle(stop)  # one idle pass learns who pulls
    assert ("test-zone", "Puller") in push._pull and ("test-zone", PUSH_ID) not in push._pull
    push._wake.clear()
    push.wake("test-zone", "Puller")
    assert not push._wake.is_set()
    push.wake("test-zone", PUSH_ID)
    assert push._wake.is_set()
    push._wake.clear()
    assert code(await puller.register(mode="Push", url=endpoint.url)) == 0  # switches to push
    assert push._wake.is_set() and ("test-zone", "Puller") not in push._pull
    await publish(sis, "1")
    assert await drain(push) == 2  # both push agents got the event
