"""Crash safety of a real zone process: SIGKILL it, restart it on the same database.

The rule under test (SIF 2.x §2.6, zone/store.py): a queued message leaves its
receiver's queue only in the transaction that records the receiver's SIF_Ack, and a
message is accepted (status 0) only after the transaction that queued it committed.
So after ``kill -9`` and a restart:

* every message that was queued and not acknowledged is delivered again — the one
  that was delivered but not acknowledged comes first, then the rest in order;
* nothing acknowledged comes back; nothing is lost; nothing is duplicated;
* a POST whose SIF_Ack (status 0) reached the sender survives; a POST cut off by the
  kill either exists once or not at all, and re-sending it with the same SIF_MsgId
  makes it exist exactly once (status 0 if it was lost, status 7 if it had committed).

The agents keep their HTTPS clients across the kill, as real agents would when only
the zone crashes. The first two scenarios run on PostgreSQL too, where the common
messages are group-committed (zone.pgfast): an answer must still wait for its COMMIT.
"""

from __future__ import annotations

import asyncio
import itertools

import httpx

from messages import Ack, Event, Message, Ping, Request, Response, Status, SystemControl, build, parse
from messages.objects import IdStatus, Name, StudentLocator, StudentPersonal
from tests.zone.harness import Agent, code
from tests.zone.process import ZoneProcess

PUB, LOC, RES, SIS4, REQ = ("District043802-SIS", "ITC01-StudentLocator", "State-StudentResolver",
                            "Agent-4", "Agent-5")
XML = {"Content-Type": 'application/xml;charset="utf-8"'}
LOST = 9999  # sequence number of the publish whose SIF_Ack is lost on the way back


def student(i: int) -> StudentPersonal:
    """Event payload number i: LocalId is the sequence number."""
    return StudentPersonal(ref_id=f"{i + 1:032X}", local_id=str(i),
                           name=Name(last_name="Crash", first_name=f"Number{i}"))


def seq(m: Message) -> int:
    assert isinstance(m, Event) and m.object_name == "StudentPersonal", m
    obj = m.objects[0].typed()
    assert obj.ref_id == f"{int(obj.local_id) + 1:032X}"  # the payload came back intact
    return int(obj.local_id)


def query(j: int) -> StudentLocator:
    return StudentLocator(id_status=IdStatus.REQUEST, transaction_id=f"{j + 1:032X}", local_id=f"Q-{j}")


def answer(j: int) -> StudentLocator:
    return StudentLocator(id_status=IdStatus.VALID, transaction_id=f"{j + 1:032X}",
                          state_province_id=f"AB{j:07d}")


async def held(agent: Agent) -> Message:
    """Pull the head of the queue and do NOT acknowledge it."""
    reply = await agent.get()
    assert reply.status is not None and reply.status.code == 0, reply
    return reply.message


async def drain(agent: Agent, limit: int = 1000) -> list[Message]:
    """Pull and acknowledge until the zone answers 9 (no messages)."""
    out: list[Message] = []
    while True:
        reply = await agent.get()
        assert reply.status is not None, reply
        if reply.status.code == 9:
            return out
        assert reply.status.code == 0, reply
        out.append(reply.message)
        assert code(await agent.ack(reply.message)) == 0
        assert len(out) <= limit, "queue never ran dry"


def labels(ids: list[str], names: dict[str, str]) -> list[str]:
    return [names.get(i, i) for i in ids]


async def setup_agents(zone: ZoneProcess, clients: dict[str, httpx.AsyncClient], subscribers, *,
                       responder: str | None = None, requester: str | None = None) -> dict[str, Agent]:
    agents = {name: zone.agent(c, name) for name, c in clients.items()}
    for a in agents.values():
        assert code(await a.register()) == 0
    for s in subscribers:
        assert code(await agents[s].subscribe("StudentPersonal")) == 0
    if responder:
        assert code(await agents[responder].provide("StudentLocator")) == 0
    return agents


class AckEater:
    """A TCP relay in front of the zone that can stop passing the zone's answers back.

    TLS runs end to end through it (it only moves bytes). Once ``eat`` is set, what the
    zone sends is dropped: a POST relayed then has been handled and committed by the zone
    (its answer was written after the commit) but the sender never sees the SIF_Ack — an
    acknowledgement lost in transit, made deterministic.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.eat = False
        self.eaten = asyncio.Event()
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> "AckEater":
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        zone_r, zone_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src, dst, dropping: bool) -> None:
            try:
                while data := await src.read(65536):
                    if dropping and self.eat:
                        self.eaten.set()
                        continue
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(client_r, zone_w, False), pump(zone_r, client_w, True))

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


class Clients:
    """One HTTPS client (with its own certificate) per agent, kept across zone restarts."""

    def __init__(self, zone: ZoneProcess, names) -> None:
        self.zone, self.names, self.clients = zone, names, {}

    async def __aenter__(self) -> dict[str, httpx.AsyncClient]:
        for n in self.names:
            self.clients[n] = await self.zone.client(n).__aenter__()
        return self.clients

    async def __aexit__(self, *exc) -> None:
        for c in self.clients.values():
            await c.aclose()


# ---------------------------------------------------------------------------------------------

async def test_sigkill_keeps_every_unacknowledged_message_and_drops_every_acknowledged_one(tmp_path):
    await acked_and_held(tmp_path)


async def test_on_postgresql_sigkill_keeps_every_unacknowledged_message_and_drops_every_acknowledged_one(
        tmp_path, pg_databases):
    await acked_and_held(tmp_path, await pg_databases.create())


async def acked_and_held(tmp_path, database: str | None = None) -> None:
    """60 events to 3 subscribers and 6 requests, acked to different depths, then kill -9."""
    zone = ZoneProcess.create(tmp_path, database).start()
    try:
        async with Clients(zone, (PUB, LOC, RES, SIS4, REQ)) as clients:
            a = await setup_agents(zone, clients, (LOC, RES, SIS4), responder=RES)
            pub, req = a[PUB], a[REQ]
            expected: dict[str, list[str]] = {LOC: [], RES: [], SIS4: [], REQ: []}
            names: dict[str, str] = {}
            requests: dict[str, Request] = {}
            events: dict[int, bytes] = {}

            # RES both subscribes and responds: its queue interleaves events and requests
            for i in range(60):
                ev = pub.event_message(student(i))
                assert code(await pub.send(ev)) == 0
                names[ev.msg_id] = f"E{i}"
                events[i] = build(ev)
                for s in (LOC, RES, SIS4):
                    expected[s].append(ev.msg_id)
                if i % 10 == 4:
                    j = len(requests)
                    m, ack = await req.request(example=query(j))
                    assert code(ack) == 0
                    names[m.msg_id], requests[m.msg_id] = f"R{j}", m
                    expected[RES].append(m.msg_id)
            assert labels(expected[RES][:7], names) == ["E0", "E1", "E2", "E3", "E4", "R0", "E5"]

            # each receiver acknowledges a different prefix, then pulls one more and does not ack it
            prefix = {LOC: 0, RES: 27, SIS4: 41}
            acked: dict[str, list[str]] = {s: [] for s in expected}
            pending: dict[str, Message] = {}
            for s, n in prefix.items():
                for _ in range(n):
                    m = await a[s].take()
                    acked[s].append(m.msg_id)
                    if isinstance(m, Request):  # answer what it took: the answers queue for REQ
                        j = int(names[m.msg_id][1:])
                        assert code(await a[s].respond(m, [answer(j)])) == 0
                        resp = a[s].sent[-1]
                        names[resp.msg_id] = f"A{j}"
                        expected[REQ].append(resp.msg_id)
                assert acked[s] == expected[s][:n]
                pending[s] = await held(a[s])
                # delivered twice without an ack: still the same head (one message at a time)
                assert (await held(a[s])).msg_id == pending[s].msg_id == expected[s][n]
            assert names[pending[RES].msg_id] == "R2"  # RES is holding a request, not an event
            assert labels(expected[REQ], names) == ["A0", "A1"]
            acked[REQ].append((await req.take()).msg_id)
            pending[REQ] = await held(req)
            assert names[pending[REQ].msg_id] == "A1"

            zone.kill()
            zone.start()

            for s in (LOC, RES, SIS4, REQ):
                agent = a[s]
                first = await held(agent)
                assert first.msg_id == pending[s].msg_id, (s, names.get(first.msg_id))  # redelivered first
                assert code(await agent.ack(first)) == 0
                rest = await drain(agent)
                got = acked[s] + [first.msg_id] + [m.msg_id for m in rest]
                # exactly the published set, in order: nothing lost, nothing acked came back, no duplicate
                assert labels(got, names) == labels(expected[s], names), s
                assert len(set(got)) == len(got)
                if s != REQ:
                    evs = [m for m in [first] + rest if isinstance(m, Event)]
                    assert [seq(m) for m in evs] == sorted(seq(m) for m in evs)
                else:  # REQ acked the answer to R0 and was holding the answer to R1
                    assert [names[m.request_msg_id] for m in [first] + rest] == ["R1"]
                # acknowledging something already acknowledged before the crash: there is nothing to ack
                if acked[s]:
                    stale = Ack(header=agent.header(), version=agent.version, original_source_id=PUB,
                                original_msg_id=acked[s][0], status=Status(code=1))
                    assert code(await agent.send(stale)) == (12, 6)

            # the request RES held across the crash, and those it pulled only after, are still answerable
            later = [m for m in requests.values() if names[m.msg_id] in ("R2", "R3", "R4", "R5")]
            for m in later:
                assert code(await a[RES].respond(m, [answer(int(names[m.msg_id][1:]))])) == 0
            answers = await drain(req)
            assert [r.request_msg_id for r in answers] == [m.msg_id for m in later]
            assert all(isinstance(r, Response) and r.objects[0].typed().state_province_id.startswith("AB")
                       for r in answers)
            # SIF_MsgIds seen before the crash are still remembered: a replay is 7 and not delivered again
            assert code(await pub.send_bytes(events[5])) == 7
            for s in (LOC, RES, SIS4):
                assert code(await a[s].get()) == 9
            status = (await pub.zone_status()).status.data
            assert {n.source_id for n in status.nodes} == {PUB, LOC, RES, SIS4, REQ}
    finally:
        zone.stop()


async def test_sigkill_during_a_burst_of_publishes_loses_no_acknowledged_event_and_duplicates_none(tmp_path):
    await burst_of_publishes(tmp_path)


async def test_on_postgresql_sigkill_during_a_burst_loses_no_acknowledged_event_and_duplicates_none(
        tmp_path, pg_databases):
    await burst_of_publishes(tmp_path, await pg_databases.create())


async def burst_of_publishes(tmp_path, database: str | None = None) -> None:
    """Three concurrent publish streams plus one POST whose ack is lost; kill -9 mid-burst; retry."""
    zone = ZoneProcess.create(tmp_path, database).start()
    subs = (LOC, RES, SIS4)
    try:
        async with Clients(zone, (PUB,) + subs) as clients:
            a = await setup_agents(zone, clients, subs)
            pub = a[PUB]
            number: dict[str, int] = {}  # SIF_MsgId -> sequence number
            before = []
            for i in range(10):
                ev = pub.event_message(student(i))
                assert code(await pub.send(ev)) == 0
                number[ev.msg_id] = i
                before.append(i)
            # LOC acks 3 and holds the 4th, RES holds the 1st, SIS4 acks all 10 and holds nothing
            taken = {LOC: 3, RES: 0, SIS4: 10}
            pending: dict[str, str] = {}
            for s, n in taken.items():
                assert [seq(await a[s].take()) for _ in range(n)] == before[:n]
                if n < len(before):
                    pending[s] = (await held(a[s])).msg_id
                    assert number[pending[s]] == n

            # a second connection for the publisher, through a relay that will lose one answer
            eater = await AckEater(zone.port).start()
            relayed = zone.client(PUB)
            relay_url = f"https://127.0.0.1:{eater.port}/zones/state-zone"
            warm = await relayed.post(relay_url, content=build(SystemControl(
                header=pub.header(), version=pub.version, command=Ping())), headers=XML)
            assert code(parse(warm.content)) == 0  # TLS is up end to end through the relay

            streams, sent, answered, cut = 3, {}, set(), []
            enough = asyncio.Event()

            async def stream(t: int) -> None:
                for k in itertools.count():
                    assert k < 1000, "the zone was never killed"
                    i = 10 + t + streams * k
                    ev = pub.event_message(student(i))
                    number[ev.msg_id] = i
                    sent[i] = body = build(ev)
                    try:
                        reply = await pub.send_bytes(body)
                    except httpx.TransportError:  # the zone died under this POST (or before it)
                        cut.append(i)
                        return
                    assert code(reply) == 0 and reply.original_msg_id == ev.msg_id
                    answered.add(i)
                    if len(answered) >= 45:
                        enough.set()

            async def ack_lost() -> None:
                ev = pub.event_message(student(LOST))
                number[ev.msg_id] = LOST
                sent[LOST] = build(ev)
                eater.eat = True
                try:
                    await relayed.post(relay_url, content=sent[LOST], headers=XML)
                except httpx.TransportError:
                    cut.append(LOST)
                    return
                raise AssertionError("the relay was meant to lose this answer")

            tasks = [asyncio.create_task(stream(t)) for t in range(streams)]
            await asyncio.wait_for(enough.wait(), 30)
            tasks.append(asyncio.create_task(ack_lost()))
            await asyncio.wait_for(eater.eaten.wait(), 10)  # the zone answered LOST, so it committed it
            zone.kill()  # while the streams are still posting
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
            await relayed.aclose()
            await eater.close()
            assert LOST in cut and len(cut) == streams + 1 and not answered & set(cut)
            zone.start()

            burst: dict[str, list[int]] = {}
            for s in subs:
                got = []
                if s in pending:
                    first = await held(a[s])
                    assert first.msg_id == pending[s]  # the delivered-but-unacked one comes first
                    assert code(await a[s].ack(first)) == 0
                    got.append(seq(first))
                got += [seq(m) for m in await drain(a[s])]
                old = before[taken[s]:]
                assert got[:len(old)] == old, s  # the rest of the pre-burst queue, in order
                burst[s] = got[len(old):]
            # one commit order for every subscriber
            assert burst[LOC] == burst[RES] == burst[SIS4]
            survived = burst[LOC]
            assert len(set(survived)) == len(survived)  # never twice
            assert answered <= set(survived)  # every POST that got status 0 survived the kill
            assert LOST in survived  # committed before the kill, though its ack never arrived
            assert set(survived) - answered <= set(cut)  # the rest can only be a cut-off POST
            for t in range(streams):  # each stream's events in the order it sent them
                mine = [i for i in survived if i != LOST and (i - 10) % streams == t]
                assert mine == sorted(mine)

            # the publisher retries every cut-off POST with the same bytes (same SIF_MsgId)
            redone = []
            for i in sorted(cut):
                reply = await pub.send_bytes(sent[i])
                if i in survived:
                    assert code(reply) == 7, i  # it had committed: "already have it", not queued again
                else:
                    assert code(reply) == 0, i
                    redone.append(i)
            for s in subs:
                assert [seq(m) for m in await drain(a[s])] == redone, s
            # in the end each subscriber saw every event sent exactly once
            assert sorted(survived + redone) == sorted(sent)
    finally:
        zone.stop()


async def test_kill_and_restart_three_times_in_a_row(tmp_path):
    """Each round: publish 15, ack to different depths, hold one, kill -9, restart, check the head."""
    zone = ZoneProcess.create(tmp_path).start()
    subs = (LOC, RES, SIS4)
    try:
        async with Clients(zone, (PUB,) + subs) as clients:
            a = await setup_agents(zone, clients, subs)
            pub = a[PUB]
            published: list[str] = []
            received: dict[str, list[str]] = {s: [] for s in subs}  # acknowledged, in order
            holding: dict[str, str | None] = {s: None for s in subs}
            replay = b""
            for rnd in range(4):
                if rnd:  # after a restart
                    assert code(await pub.send_bytes(replay)) == 7  # seen SIF_MsgIds survive every crash
                    for s in subs:
                        if holding[s]:
                            first = await held(a[s])
                            assert first.msg_id == holding[s], (rnd, s)
                            assert code(await a[s].ack(first)) == 0
                            received[s].append(first.msg_id)
                            holding[s] = None
                        assert received[s] == published[:len(received[s])], (rnd, s)
                if rnd == 3:
                    break
                for i in range(15 * rnd, 15 * rnd + 15):
                    ev = pub.event_message(student(i))
                    assert code(await pub.send(ev)) == 0
                    published.append(ev.msg_id)
                replay = build(ev)
                for idx, s in enumerate(subs):
                    for _ in range((4 + 5 * idx + 3 * rnd) % 13):
                        received[s].append((await a[s].take()).msg_id)
                    assert received[s] == published[:len(received[s])], (rnd, s)
                    holding[s] = (await held(a[s])).msg_id
                    assert holding[s] == published[len(received[s])]
                zone.kill()
                zone.start()
            for s in subs:
                received[s] += [m.msg_id for m in await drain(a[s])]
                assert received[s] == published, s  # 45 events, in order, once each
    finally:
        zone.stop()
