"""Scale-out: two ZIS workers (two Zis objects, two connection pools) sharing one PostgreSQL database.

Every agent here talks to both workers (round-robin, as behind a load balancer),
many at once. The rules that a single process gets from serial execution must
hold from row locks alone: each agent gets one message at a time, oldest first,
redelivered until acknowledged and never after; a replayed SIF_MsgId is queued
once (status 7 for the rest); one object has one provider (6/4 for the rest);
a timed-out request is answered once; push workers never push to one agent at once.

Each test gets a fresh database (``CREATE DATABASE zis_test_<random>``), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter, defaultdict
from dataclasses import replace

import pytest

from messages import Ack, Event, Request, Response, build, parse
from messages.objects import Name, StudentPersonal
from tests.zone.harness import Agent, Harness, code
from tests.zone.test_push import Endpoint, ack_for
from zone.pgfast import op_args
from zone.push import PushDelivery
from zone.tls import client_context, make_dev_pki

PUBLISHERS, EVENTS_EACH, SUBSCRIBERS = 4, 30, 3


def student(publisher: int, seq: int) -> StudentPersonal:
    return StudentPersonal(ref_id=f"{publisher:08X}{seq:024X}", local_id=f"{publisher}:{seq}",
                           name=Name(last_name="Okafor", first_name="Amara"))


def origin(message: Event) -> tuple[int, int]:
    publisher, seq = message.objects[0].typed().local_id.split(":")
    return int(publisher), int(seq)


@pytest.fixture
async def workers(tmp_path, pg_databases):
    """Two zone workers on one fresh PostgreSQL database, started at the same moment."""
    url = await pg_databases.create()
    w1, w2 = await asyncio.gather(Harness.start(tmp_path / "w1", url), Harness.start(tmp_path / "w2", url))
    assert w1.store.engine.dialect.name == w2.store.engine.dialect.name == "postgresql"
    assert w1.store.engine is not w2.store.engine
    yield w1, w2
    await asyncio.gather(w1.close(), w2.close())


def balanced(workers, source_id: str, version: str = "2.1") -> Agent:
    """An agent whose POSTs alternate between the workers."""
    turn = itertools.cycle(workers)
    agent = workers[0].agent(source_id, version)

    async def post(body: bytes) -> bytes:
        w = next(turn)
        return await w.zis.handle(w.zone_id, body, agent.identity)

    agent.post = post
    return agent


def via(worker: Harness, agent: Agent) -> Agent:
    """The same agent, talking to one worker."""
    return replace(agent, post=lambda body: worker.zis.handle(worker.zone_id, body, agent.identity), sent=[])


async def depth(worker: Harness, receiver: str) -> int:
    async with worker.store.engine.connect() as conn:
        return await worker.store.queue_depth(conn, worker.zone_id, receiver)


# ---------------------------------------------------------------- delivery under load

async def test_many_publishers_and_pullers_on_two_workers_keep_order_and_exactly_once_until_ack(workers):
    w1, w2 = workers
    pubs = [balanced(workers, f"SIS{i}") for i in range(PUBLISHERS)]
    subs = [balanced(workers, f"SUB{i}") for i in range(SUBSCRIBERS)]
    await asyncio.gather(*(a.register() for a in pubs + subs))
    await asyncio.gather(*(s.subscribe("StudentPersonal") for s in subs))
    total = PUBLISHERS * EVENTS_EACH

    tick = itertools.count()  # one global order of "request sent" / "answer received" moments
    published: dict[str, tuple[int, int]] = {}
    acked_at: dict[tuple[str, str], int] = {}  # (subscriber, msg id) -> tick the successful ack returned
    ack_results: Counter = Counter()  # (subscriber, msg id, code)
    gets: list[tuple[str, int, str, int]] = []  # (subscriber, puller, msg id, tick the GetMessage was sent)
    consumed: dict[str, list[str]] = defaultdict(list)  # per subscriber, in the order acks succeeded

    async def publisher(i: int, agent: Agent) -> None:
        for seq in range(EVENTS_EACH):
            m = agent.event_message(student(i, seq))
            published[m.msg_id] = (i, seq)
            assert code(await agent.send(m)) == 0
            await asyncio.sleep(0)

    async def puller(sub: Agent, worker: Harness, n: int) -> None:
        me = via(worker, sub)
        while len(consumed[sub.source_id]) < total:
            sent = next(tick)
            reply = await me.get()
            if code(reply) == 9:
                await asyncio.sleep(0.002)
                continue
            assert code(reply) == 0, reply
            msg = reply.message
            gets.append((sub.source_id, n, msg.msg_id, sent))
            ack = await me.ack(msg)
            result = code(ack)
            ack_results[(sub.source_id, msg.msg_id, result)] += 1
            if result == 0:
                acked_at[(sub.source_id, msg.msg_id)] = next(tick)
                consumed[sub.source_id].append(msg.msg_id)
            else:
                assert result == (12, 6), ack  # the other puller acknowledged it first
            if random.random() < 0.3:
                await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(
        *(publisher(i, p) for i, p in enumerate(pubs)),
        *(puller(s, w, n) for s in subs for n, w in enumerate((w1, w2))),
    ), timeout=120)

    assert len(published) == total
    for s in subs:
        got = consumed[s.source_id]
        # exactly once: every event acknowledged successfully once, nothing else
        assert sorted(got) == sorted(published), s.source_id
        assert all(ack_results[(s.source_id, m, 0)] == 1 for m in published)
        # oldest first: each publisher's events in the order it published them
        for p in range(PUBLISHERS):
            seqs = [published[m][1] for m in got if published[m][0] == p]
            assert seqs == list(range(EVENTS_EACH)), (s.source_id, p, seqs)
        # one message at a time: every GetMessage, on either worker, saw the stream in order
        for n in (0, 1):
            seen = [published[m] for sub, pn, m, _ in gets if sub == s.source_id and pn == n]
            for p in range(PUBLISHERS):
                mine = [seq for pub, seq in seen if pub == p]
                assert mine == sorted(mine), (s.source_id, n, p)
        # never redelivered once acknowledged
        for sub, _, m, sent in gets:
            if sub == s.source_id:
                assert sent < acked_at[(sub, m)], f"{m} delivered to {sub} after its ack"
        assert await depth(w1, s.source_id) == 0
    redelivered = sum(c for (_, _, r), c in ack_results.items() if r != 0)
    print(f"{total * SUBSCRIBERS} deliveries acknowledged; {redelivered} redeliveries acked late (12/6)")


async def test_concurrent_getmessage_on_both_workers_returns_the_same_head(workers):
    w1, w2 = workers
    sis, loc = balanced(workers, "SIS"), balanced(workers, "LOC")
    await sis.register(); await loc.register(); await loc.subscribe("StudentPersonal")
    for seq in range(3):
        assert code(await sis.publish(student(0, seq))) == 0
    on1, on2 = via(w1, loc), via(w2, loc)
    replies = await asyncio.gather(*(w.get() for w in (on1, on2) * 10))
    heads = {r.message.msg_id for r in replies}
    assert len(heads) == 1  # twenty GetMessages, one message, redelivered
    head = replies[0].message
    assert origin(head) == (0, 0)
    acks = await asyncio.gather(on1.ack(head), on2.ack(head))
    assert sorted(code(a) if code(a) == 0 else 1 for a in acks) == [0, 1]
    assert sorted(map(code, acks), key=str) == sorted([0, (12, 6)], key=str)
    assert origin((await on2.get()).message) == (0, 1)


# ---------------------------------------------------------------- duplicates

async def test_a_replayed_event_is_queued_once_however_many_workers_see_it(workers):
    w1, w2 = workers
    sis = balanced(workers, "SIS")
    subs = [balanced(workers, f"SUB{i}") for i in range(3)]
    await asyncio.gather(sis.register(), *(s.register() for s in subs))
    await asyncio.gather(*(s.subscribe("StudentPersonal") for s in subs))
    for round_ in range(5):
        body = build(sis.event_message(student(0, round_)))
        replies = await asyncio.gather(*(w.zis.handle(w.zone_id, body, sis.identity) for w in (w1, w2) * 10))
        codes = Counter(code(parse(r)) for r in replies)
        assert codes == {0: 1, 7: 19}, codes
    for s in subs:
        assert await depth(w1, s.source_id) == 5
        got = [origin(await s.take()) for _ in range(5)]
        assert got == [(0, i) for i in range(5)]
        assert code(await s.get()) == 9


async def test_replayed_register_and_request_are_acted_on_once(workers):
    w1, w2 = workers
    res = balanced(workers, "RES")
    await res.register(); await res.provide("StudentLocator")
    newcomer = balanced(workers, "NEW")
    body = build(newcomer.register_message())
    replies = await asyncio.gather(*(w.zis.handle(w.zone_id, body, newcomer.identity) for w in (w1, w2) * 8))
    assert Counter(code(parse(r)) for r in replies) == {0: 1, 7: 15}

    request = newcomer.request_message("StudentLocator")
    body = build(request)
    replies = await asyncio.gather(*(w.zis.handle(w.zone_id, body, newcomer.identity) for w in (w1, w2) * 8))
    assert Counter(code(parse(r)) for r in replies) == {0: 1, 7: 15}
    assert await depth(w1, "RES") == 1
    got = await res.take()
    assert isinstance(got, Request) and got.msg_id == request.msg_id

    # two registrations of one agent under different SIF_MsgIds: both succeed, one registration
    again = [balanced(workers, "TWICE") for _ in range(6)]
    assert [code(a) for a in await asyncio.gather(*(a.register() for a in again))] == [0] * 6
    async with w2.store.engine.connect() as conn:
        names = [a.source_id for a in await w2.store.agents_in(conn, w2.zone_id)]
    assert names.count("TWICE") == 1


# ---------------------------------------------------------------- providers

async def test_concurrent_provides_of_one_object_give_one_provider_and_one_6_4(workers):
    w1, w2 = workers
    a, b = balanced(workers, "R1"), balanced(workers, "R2")
    await a.register(); await b.register()
    for round_ in range(10):
        name = "StudentLocator"
        first, second = (via(w1, a), via(w2, b)) if round_ % 2 else (via(w2, b), via(w1, a))
        acks = await asyncio.gather(first.provide(name), second.provide(name))
        codes = sorted((code(x) for x in acks), key=str)
        assert codes == sorted([0, (6, 4)], key=str), codes
        winner = first if code(acks[0]) == 0 else second
        async with w1.store.engine.connect() as conn:
            provider = await w1.store.provider(conn, w1.zone_id, name, "SIF_Default")
        assert provider["source_id"] == winner.source_id
        assert code(await winner.unprovide(name)) == 0

    # the same race through SIF_Provision
    acks = await asyncio.gather(via(w1, a).provision(provide_objects=("SchoolInfo",)),
                                via(w2, b).provision(provide_objects=("SchoolInfo",)))
    assert sorted((code(x) for x in acks), key=str) == sorted([0, (6, 4)], key=str)


# ---------------------------------------------------------------- timeouts

async def test_both_workers_expiring_requests_answer_each_request_once(workers):
    w1, w2 = workers
    loc, res = balanced(workers, "LOC"), balanced(workers, "RES")
    await loc.register(); await res.register(); await res.provide("StudentLocator")
    reqs = [(await loc.request())[0] for _ in range(20)]
    for w in workers:
        w.clock.now += 10_000
    counts = await asyncio.gather(*(w.zis.expire_requests() for w in (w1, w2, w1, w2)))
    assert sum(counts) == 20
    answers = [await loc.take() for _ in range(20)]
    assert all(isinstance(r, Response) and (r.error.category, r.error.code) == (8, 16) for r in answers)
    assert sorted(r.request_msg_id for r in answers) == sorted(r.msg_id for r in reqs)
    assert code(await loc.get()) == 9
    assert await depth(w1, "RES") == 0  # the undelivered requests went with their timeouts


# ---------------------------------------------------------------- push workers

async def test_push_workers_on_two_zis_share_agents_without_overlap(workers, tmp_path):
    w1, w2 = workers
    pki = make_dev_pki(tmp_path / "pki", clients=("agent",))
    endpoints = [await Endpoint(pki, delay=0.01).start() for _ in range(3)]
    try:
        sis = balanced(workers, "SIS")
        await sis.register()
        for i, ep in enumerate(endpoints):
            agent = balanced(workers, f"PUSH{i}")
            assert code(await agent.register(mode="Push", url=ep.url)) == 0
            assert code(await agent.subscribe("StudentPersonal")) == 0
        ids = []
        for seq in range(15):
            m = sis.event_message(student(0, seq))
            assert code(await sis.send(m)) == 0
            ids.append(m.msg_id)
        ctx = client_context(pki.ca_cert)
        pushers = [PushDelivery(w.zis, ssl_context=ctx, base_delay=0.02, max_delay=0.2, timeout=5, concurrency=1,
                                rng=random.Random(n), worker_id=f"worker-{n}")
                   for n, w in enumerate((w1, w2, w1, w2))]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(p.run(stop)) for p in pushers]
        try:
            async def all_acked():
                while any(len(ep.acked) < len(ids) for ep in endpoints):
                    await asyncio.sleep(0.01)
            await asyncio.wait_for(all_acked(), 30)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
        for ep in endpoints:
            assert ep.max_in_flight == 1  # never two POSTs to one agent at once
            assert [m.msg_id for m in ep.acked] == ids  # in order, each once
            assert [m.msg_id for _, m in ep.received] == ids  # and never pushed twice
        by_worker = Counter(p.worker_id for p in pushers for a in p.attempts if a.outcome == "acked")
        assert sum(by_worker.values()) == 3 * len(ids)
        assert len(by_worker) > 1  # the work was shared
        print(f"pushes per worker: {dict(by_worker)}")
    finally:
        for ep in endpoints:
            await ep.stop()


# ---------------------------------------------------------------- what one worker remembers, another changes

async def test_a_worker_answers_from_the_rows_as_they_are_now_not_as_it_last_saw_them(workers):
    """Each worker decides the common messages on agents, providers and requests it remembers
    (zone.pgfast); here the other worker changes each of them in between."""
    w1, w2 = workers
    loc, res1, res2 = (workers[0].agent(name) for name in ("LOC", "RES1", "RES2"))
    for a in (loc, res1, res2):
        assert code(await via(w1, a).register()) == 0
    assert code(await via(w1, res1).provide("StudentLocator")) == 0
    on1, on2 = via(w1, loc), via(w2, loc)

    # the provider changes on w2: w1 routes the next request to the new one
    first, ack = await on1.request()
    assert code(ack) == 0
    assert code(await via(w2, res1).unprovide("StudentLocator")) == 0
    assert code(await via(w2, res2).provide("StudentLocator")) == 0
    second, ack = await on1.request()
    assert code(ack) == 0
    assert (await via(w1, res1).take()).msg_id == first.msg_id
    assert code(await via(w1, res1).get()) == 9
    taken = await via(w1, res2).take()
    assert taken.msg_id == second.msg_id

    # w1 has the request in memory as pending; LOC cancels it on w2: the answer is refused on w1
    assert code(await on2.cancel(second.msg_id)) == 0
    assert code(await via(w1, res2).respond(taken)) == (8, 18)  # cancelled by the requester

    # the agent goes to sleep on w2: w1 does not deliver to it
    assert code(await on1.get()) == 9
    assert code(await via(w1, res1).respond(first)) == 0
    assert code(await on2.sleep()) == 0
    assert code(await on1.get()) == 8  # receiver sleeping
    assert code(await on2.wakeup()) == 0
    answer = await on1.take()
    assert isinstance(answer, Response) and answer.request_msg_id == first.msg_id

    # it re-registers in push mode on w2: GetMessage on w1 is refused
    assert code(await on2.register(mode="Push", url="https://127.0.0.1:9/sif")) == 0
    assert code(await on1.get()) == (5, 9)  # registered in push mode


async def test_messages_that_arrive_together_share_a_commit_and_a_failed_group_loses_none(workers):
    """Concurrent messages go to PostgreSQL as one group (one round trip, one COMMIT). If the
    group fails, nothing of it was applied and each message is handled again on its own."""
    w1, _ = workers
    pubs = [via(w1, w1.agent(f"SIS{i}")) for i in range(4)]
    sub = via(w1, w1.agent("SUB"))
    for a in pubs + [sub]:
        assert code(await a.register()) == 0
    assert code(await sub.subscribe("StudentPersonal")) == 0
    for i, p in enumerate(pubs):  # the workers now know every publisher
        assert code(await p.publish(student(i, 0))) == 0
    fast = w1.store.fast
    before = (fast.batches, fast.applied)

    events = [p.event_message(student(i, seq)) for seq in range(1, 6) for i, p in enumerate(pubs)]
    acks = await asyncio.gather(*(pubs[int(origin(e)[0])].send(e) for e in events))
    assert [code(a) for a in acks] == [0] * len(events)
    batches, applied = fast.batches - before[0], fast.applied - before[1]
    assert applied == len(events) and batches < applied, (batches, applied)

    # a group in which one call fails: every other message in it is still handled, once
    events = [p.event_message(student(i, seq)) for seq in range(6, 9) for i, p in enumerate(pubs)]
    ((version, _),) = await fast.agents(w1.zone_id, "SIS0")
    broken = fast.apply(op_args("no-such-op", w1.zone_id, "SIS0", "0" * 32, 0.0, version))
    results = await asyncio.gather(broken, *(pubs[int(origin(e)[0])].send(e) for e in events))
    assert results[0] is None  # the group failed: the caller goes the general way
    assert [code(a) for a in results[1:]] == [0] * len(events)
    got = [origin(await sub.take()) for _ in range(4 + 4 * 8)]
    # each once (sent at the same moment, one publisher's events have no order among themselves)
    assert sorted(got) == [(i, seq) for i in range(len(pubs)) for seq in range(9)]
    assert code(await sub.get()) == 9
