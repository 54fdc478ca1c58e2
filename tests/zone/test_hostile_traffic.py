"""Hostile traffic on a real zone process's HTTPS port (certificate zone, strict validation).

Every probe must be answered with the right SIF_Error inside a SIF_Ack body (read back
with messages.parse) and must change nothing. "Nothing" is checked three ways around
each group of probes:

* the zone database, table by table (agents, provides, subscriptions, queues with their
  delivery counts, SIF_MsgIds seen, pending requests, …) is exactly as before — read
  through a read-only SQLite connection while the server runs;
* GetZoneStatus answers the same before and after (no agent registered, nothing provided);
* the subscriber's queue still holds its 9 events (the head delivered once, the rest never),
  and the message log gained only refusals, never an accepted message.

The zone runs with ``[server] max_message_bytes = 65536`` so that the size limit is cheap
to probe. Most tests share one populated zone (module fixture) because none of them may
change it; the concurrent-garbage test runs its own zone because its legitimate agent does.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import httpx
import pytest

from messages import (
    Ack, CancelRequests, Event, GetMessage, Header, Ping, Register, Request, Status, Subscribe,
    SystemControl, Unregister, build, parse,
)
from messages.objects import IdStatus, Name, StudentLocator, StudentPersonal
from tests.zone.harness import Agent, code
from tests.zone.process import ZoneProcess

LIMIT = 64 * 1024
PUB, SUB, RES, OTHER, STRANGER = ("District043802-SIS", "ITC01-StudentLocator", "State-StudentResolver",
                                  "Agent-4", "Agent-5")
NS = "http://www.sifinfo.org/infrastructure/2.x"
NS_1X = "http://www.sifinfo.org/infrastructure/1.x"
XML = {"Content-Type": 'application/xml;charset="utf-8"'}


def start_zone(workdir: Path) -> ZoneProcess:
    zone = ZoneProcess.create(workdir)
    text = zone.config.read_text()
    assert text.count("[server]\n") == 1
    zone.config.write_text(text.replace("[server]\n", f"[server]\nmax_message_bytes = {LIMIT}\n"))
    return zone.start()


def student(i: int) -> StudentPersonal:
    return StudentPersonal(ref_id=f"{i:032X}", local_id=str(i), name=Name(last_name="Okafor", first_name="Amara"))


def locator() -> StudentLocator:
    return StudentLocator(id_status=IdStatus.VALID, transaction_id="A" * 32, state_province_id="AB1234567")


def refusal(resp: httpx.Response, http_status: int, error: tuple[int, int]) -> Ack:
    """The HTTP answer is a SIF_Ack (application/xml) carrying exactly this SIF_Error."""
    assert resp.status_code == http_status, (resp.status_code, resp.text[:400])
    assert resp.headers.get("content-type", "").startswith("application/xml"), (resp.headers, resp.text[:400])
    ack = parse(resp.content)
    assert isinstance(ack, Ack), ack
    assert ack.error is not None, ack.status
    assert (ack.error.category, ack.error.code) == error, ack.error
    return ack


def status_ack(resp: httpx.Response, status: int) -> Ack:
    assert resp.status_code == 200, (resp.status_code, resp.text[:400])
    ack = parse(resp.content)
    assert isinstance(ack, Ack) and ack.status is not None and ack.status.code == status, ack
    return ack


def ack_codes(rows: list[dict]) -> list[str]:
    return [r["ack"].split(" ")[0] for r in rows]


@dataclass
class World:
    """A populated zone that no probe may change."""

    zone: ZoneProcess
    events: list[Event]  # PUB's 9 StudentPersonal events, all queued for SUB
    head: Event  # SUB's queue head: delivered once, not acknowledged
    request: Request  # SUB's SIF_Request, delivered to RES (the provider), not answered
    sent: dict[str, bytes]  # a few legitimate messages exactly as they were POSTed, for replays

    @property
    def url(self) -> str:
        return self.zone.url("state-zone")

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.zone.workdir / 'zone.db'}?mode=ro", uri=True)

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table but the message log."""
        con = self._db()
        try:
            tables = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'zis_log' ORDER BY name")]
            return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
        finally:
            con.close()

    def queue(self, receiver: str) -> list[tuple[str, int]]:
        con = self._db()
        try:
            return con.execute("SELECT msg_id, deliveries FROM zis_queue WHERE zone_id = 'state-zone' AND "
                               "receiver = ? ORDER BY id", (receiver,)).fetchall()
        finally:
            con.close()

    def log_after(self, last_id: int) -> list[dict]:
        con = self._db()
        try:
            rows = con.execute("SELECT id, sender, kind, msg_id, ack FROM zis_log WHERE zone_id = 'state-zone' "
                               "AND id > ? ORDER BY id", (last_id,)).fetchall()
        finally:
            con.close()
        return [dict(zip(("id", "sender", "kind", "msg_id", "ack"), r)) for r in rows]

    def last_log_id(self) -> int:
        con = self._db()
        try:
            return con.execute("SELECT COALESCE(MAX(id), 0) FROM zis_log").fetchone()[0]
        finally:
            con.close()

    @asynccontextmanager
    async def unchanged(self):
        """Run the probes in the body; then prove the zone is exactly as before.

        Yields a list that, after the block, holds the log rows the probes added.
        """
        added: list[dict] = []
        async with self.zone.client(SUB) as c:
            sub = self.zone.agent(c, SUB)
            status_before = (await sub.zone_status()).status.data
            before, last = self.snapshot(), self.last_log_id()
            assert self.queue(SUB) == [(e.msg_id, 1 if e.msg_id == self.head.msg_id else 0) for e in self.events]
            yield added
            after = self.snapshot()
            added += self.log_after(last)
            for table in before:
                assert after[table] == before[table], f"{table} changed"
            assert after.keys() == before.keys()
            assert len(self.queue(SUB)) == 9
            status_after = (await sub.zone_status()).status.data
            assert status_after == status_before
        assert "0" not in ack_codes(added), added  # the log shows refusals, never an accepted message


async def _populate(zone: ZoneProcess) -> World:
    async with zone.client(PUB) as cp, zone.client(SUB) as cs, zone.client(RES) as cr, zone.client(OTHER) as co:
        pub, sub, res, other = (zone.agent(c, n) for c, n in ((cp, PUB), (cs, SUB), (cr, RES), (co, OTHER)))
        for a in (pub, sub, res, other):
            assert code(await a.register()) == 0
        assert code(await sub.subscribe("StudentPersonal")) == 0
        assert code(await res.provide("StudentLocator")) == 0
        events = []
        for i in range(1, 10):
            events.append(pub.event_message(student(i)))
            assert code(await pub.send(events[-1])) == 0
        get = SystemControl(header=sub.header(), version=sub.version, command=GetMessage())
        head = (await sub.send(get)).message
        assert head.msg_id == events[0].msg_id
        request, ack = await sub.request(example=StudentLocator(id_status=IdStatus.REQUEST,
                                                                transaction_id="A" * 32, local_id="S-1"))
        assert code(ack) == 0
        assert (await res.get()).message.msg_id == request.msg_id
        sent = {"register": build(pub.sent[0]), "subscribe": build(sub.sent[1]), "get": build(get),
                "request": build(request), "event": build(events[3])}
        return World(zone, events, head, request, sent)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    zone = start_zone(tmp_path_factory.mktemp("hostile"))
    try:
        yield asyncio.run(_populate(zone))
    finally:
        zone.stop()


@asynccontextmanager
async def clients(world_or_zone, *names):
    zone = world_or_zone.zone if isinstance(world_or_zone, World) else world_or_zone
    opened = [zone.client(n) for n in names]
    try:
        yield [await c.__aenter__() for c in opened]
    finally:
        for c in opened:
            await c.aclose()


async def in_pieces(body: bytes, size: int, pause: float = 0.0):
    """Stream a body in pieces of ``size`` bytes, pausing between them (a slow or distant sender)."""
    for i in range(0, len(body), size):
        if i and pause:
            await asyncio.sleep(pause)
        yield body[i:i + size]


def fresh_event(agent: Agent, i: int = 500) -> bytes:
    """A valid SIF_Event that the zone would accept (and queue for SUB) from its rightful sender."""
    return build(agent.event_message(student(i)))


# --------------------------------------------------------------------------------- XML itself

async def test_malformed_xml_is_1_2_and_changes_nothing(world):
    event = fresh_event(Agent(None, PUB, "2.1"))
    bodies = [
        b"<SIF_Message",
        b"not xml at all",
        b"\x00\x01\x02\x03",
        b"   \n\t  ",
        b"",
        f'<SIF_Message xmlns="{NS}" Version="2.1"><SIF_Event></SIF_Message>'.encode(),  # mismatched tags
        event + b"<SIF_Message/>",  # two roots
        event.replace(b"Okafor", b"Ok\xff\xfeafor"),  # not UTF-8
        event.replace(b"Okafor", b"Ok\x01afor"),  # control character
        b"<a>" * 5000 + b"</a>" * 5000,  # nesting beyond libxml2's depth limit
        b'<?xml version="1.0" encoding="EBCDIC-US"?>' + event,
    ]
    async with clients(world, PUB) as (c,), world.unchanged() as log:
        for body in bodies:
            ack = refusal(await c.post(world.url, content=body, headers=XML), 200, (1, 2))
            assert ack.original_msg_id is None and ack.original_source_id is None
    assert ack_codes(log) == ["1/2"] * len(bodies)


async def test_truncated_body_is_1_2_and_does_not_consume_its_msg_id(world):
    body = fresh_event(Agent(None, PUB, "2.1"))
    async with clients(world, PUB) as (c,), world.unchanged() as log:
        for cut in (len(body) - 1, len(body) - 15, len(body) // 2, 60):
            refusal(await c.post(world.url, content=body[:cut], headers=XML), 200, (1, 2))
    assert ack_codes(log) == ["1/2"] * 4  # and zis_seen is unchanged: a retry of the whole message may succeed


async def test_oversize_body_is_413_1_2_and_not_read(world):
    event = fresh_event(Agent(None, PUB, "2.1"))
    pad = LIMIT + 1 - len(event) - len(b"<!---->")
    just_over = event.replace(b"</SIF_Message>", b"<!--" + b"x" * pad + b"--></SIF_Message>")
    assert len(just_over) == LIMIT + 1  # a valid message, one byte too long
    huge = event.replace(b"</SIF_Message>", b"<!--" + b"x" * (5 * 1024 * 1024) + b"--></SIF_Message>")

    async with clients(world, PUB) as (c,), world.unchanged() as log:
        for body, headers in ((just_over, XML), (huge, XML),
                              (in_pieces(huge, 32768), XML),  # chunked, no Content-Length
                              # a slow sender: the zone must not judge (or parse) the first piece alone
                              (in_pieces(just_over, LIMIT // 2, pause=0.3), XML),
                              (in_pieces(just_over, LIMIT // 2, pause=0.3),
                               {**XML, "Content-Length": str(len(just_over))})):
            refusal(await c.post(world.url, content=body, headers=headers), 413, (1, 2))
    assert log == []


async def test_a_message_that_arrives_in_pieces_is_read_whole(world):
    """A legitimate agent on a slow link: its body reaches the zone in several TCP writes."""
    async with clients(world, PUB) as (c,):
        pub = world.zone.agent(c, PUB)
        for size, pieces in ((2_000, 2), (20_000, 3), (LIMIT - 100, 4)):
            for content_length in (False, True):
                ping = SystemControl(header=pub.header(), version="2.1", command=Ping())
                body = build(ping)
                body = body.replace(b"</SIF_Message>", b"<!--" + b"x" * (size - len(body) - 7) + b"--></SIF_Message>")
                headers = {**XML, "Content-Length": str(len(body))} if content_length else XML
                resp = await c.post(world.url, content=in_pieces(body, -(-len(body) // pieces), pause=0.2),
                                    headers=headers)
                assert status_ack(resp, 0).original_msg_id == ping.msg_id, (size, content_length)


@lru_cache(maxsize=None)
def bomb(kind: str, size: int = 256 * 1024 * 1024) -> bytes:
    """size bytes of XML-ish padding, compressed ~1000:1 (gzip or zlib/deflate framing)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS if kind == "gzip" else zlib.MAX_WBITS)
    head = f'<SIF_Message xmlns="{NS}" Version="2.1"><!--'.encode()
    out = [z.compress(head)]
    chunk = b" " * (1 << 20)
    for _ in range(size >> 20):
        out.append(z.compress(chunk))
    out.append(z.flush())
    return b"".join(out)


async def test_gzip_bomb_is_refused_with_413_1_2_quickly(world):
    async with clients(world, PUB) as (c,), world.unchanged() as log:
        for kind in ("gzip", "deflate"):
            body = bomb(kind)
            assert len(body) < 1024 * 1024  # ~256 KiB on the wire, 256 MiB inflated
            t0 = time.monotonic()
            resp = await c.post(world.url, content=body, headers={**XML, "Content-Encoding": kind})
            refusal(resp, 413, (1, 2))
            assert time.monotonic() - t0 < 10, "inflating was not bounded by the size limit"
    assert log == []


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (a resource measure, unlike wall-clock latency)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_a_gzip_bomb_costs_the_zone_almost_no_work(world):
    """Refusing a bomb must stay cheap after the 413: the zone may not inflate the rest of the
    body (~250 KiB on the wire, 256 MiB inflated), which would cost every other agent seconds.
    Measured as the zone process's CPU time, which machine load does not inflate."""
    pid = world.zone.proc.pid
    async with clients(world, SUB) as (cs,):
        sub = world.zone.agent(cs, SUB)
        assert code(await sub.ping()) == 0
        before = _cpu_seconds(pid)
        for kind in ("gzip", "deflate", "gzip"):
            async with clients(world, PUB) as (c,):  # a fresh connection each: no keep-alive effects
                resp = await c.post(world.url, content=bomb(kind), headers={**XML, "Content-Encoding": kind})
                refusal(resp, 413, (1, 2))
        await asyncio.sleep(1.0)  # anything the zone would still do with the bodies happens now
        assert code(await sub.ping()) == 0  # and the zone still answers
        spent = _cpu_seconds(pid) - before
    # inflating 3 × 256 MiB costs seconds of CPU; reading up to the cap and refusing costs little
    assert spent < 0.5, f"the zone spent {spent:.2f} CPU seconds on three refused bombs"


async def test_corrupt_compressed_body_gets_a_sif_error_not_a_server_error(world):
    """Content-Encoding: gzip/deflate with bytes that do not inflate: a SIF_Ack error, nothing changed."""
    event = fresh_event(Agent(None, PUB, "2.1"))
    probes = [("gzip", b"this is not gzip"), ("deflate", b"\x00\x01 nor deflate"),
              ("gzip", zlib.compress(event)),  # zlib framing labelled gzip
              ("gzip", bomb("gzip", 1 << 20)[:-40])]  # a gzip stream cut short
    async with world.unchanged():
        for encoding, body in probes:
            async with clients(world, PUB) as (c,):  # a zone may close the connection after such a body
                resp = await c.post(world.url, content=body, headers={**XML, "Content-Encoding": encoding})
            assert resp.status_code != 500, (encoding, resp.status_code, resp.text[:200])
            assert resp.headers.get("content-type", "").startswith("application/xml"), (encoding, resp.text[:200])
            ack = parse(resp.content)
            assert isinstance(ack, Ack) and ack.error is not None and ack.error.category in (1, 10), ack


async def test_an_honest_gzip_message_is_read_so_the_bomb_refusal_is_not_a_blanket_one(world):
    async with clients(world, PUB) as (c,):
        pub = world.zone.agent(c, PUB)
        for encoding, compress in (("gzip", lambda b: zlib.compress(b, wbits=16 + zlib.MAX_WBITS)),
                                   ("deflate", zlib.compress)):
            ping = SystemControl(header=pub.header(), version="2.1", command=Ping())
            resp = await c.post(world.url, content=compress(build(ping)), headers={**XML, "Content-Encoding": encoding})
            assert status_ack(resp, 0).original_msg_id == ping.msg_id, encoding


# --------------------------------------------------------------------------------- transport

async def test_wrong_content_types_are_415_10_1(world):
    event = fresh_event(Agent(None, PUB, "2.1"))
    async with clients(world, PUB) as (c,), world.unchanged() as log:
        for ctype in ("text/plain", None, "application/json", "application/x-www-form-urlencoded",
                      "multipart/form-data; boundary=x", "text/html", "application/octet-stream"):
            headers = {"Content-Type": ctype} if ctype else {}
            resp = await c.post(world.url, content=event, headers=headers)
            if ctype is None:
                assert "content-type" not in resp.request.headers
            refusal(resp, 415, (10, 1))
    assert log == []


async def test_get_put_delete_on_the_zone_url_change_nothing(world):
    event = fresh_event(Agent(None, PUB, "2.1"))
    async with clients(world, PUB) as (c,), world.unchanged() as log:
        page = await c.get(world.url)
        assert page.status_code == 200 and "POST" in page.text
        assert (await c.head(world.url)).status_code == 200
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            resp = await c.request(method, world.url, content=event, headers=XML)
            assert resp.status_code == 405, (method, resp.status_code)
        assert (await c.request("GET", world.url, content=event, headers=XML)).status_code == 200
    assert log == []


async def test_unknown_zone_id_is_404(world):
    event = fresh_event(Agent(None, PUB, "2.1"))
    base = world.zone.base
    async with clients(world, PUB) as (c,), world.unchanged() as log:
        refusal(await c.post(f"{base}/zones/no-such-zone", content=event, headers=XML), 404, (12, 1))
        refusal(await c.post(f"{base}/zones/STATE-ZONE", content=event, headers=XML), 404, (12, 1))
        for path in ("/zones/no-such-zone", "/zones/no-such-zone/log", "/zones/no-such-zone/inspect"):
            assert (await c.get(base + path)).status_code == 404, path
        for path in ("/zones/state-zone/extra", "/zones/", "/zones/..%2Fstate-zone", "/zis/state-zone"):
            resp = await c.post(base + path, content=event, headers=XML)
            assert resp.status_code in (404, 405), (path, resp.status_code)
    assert log == []


# --------------------------------------------------------------------------------- who is talking

async def test_unregistered_source_is_4_9(world):
    """Agent-5 is in the zone's access list and holds a valid certificate, but never registered."""
    async with clients(world, STRANGER) as (c,), world.unchanged() as log:
        stranger = world.zone.agent(c, STRANGER)
        probes = [
            SystemControl(header=stranger.header(), version="2.1", command=Ping()),
            SystemControl(header=stranger.header(), version="2.1", command=GetMessage()),
            stranger.event_message(student(600)),
            Subscribe(header=stranger.header(), version="2.1", objects=("StudentPersonal",)),
            stranger.request_message(),
            Ack(header=stranger.header(), version="2.1", original_source_id=PUB,
                original_msg_id=world.head.msg_id, status=Status(code=1)),
            stranger.response_message(world.request, [locator()]),
            Unregister(header=stranger.header(), version="2.1"),
        ]
        for m in probes:
            ack = refusal(await c.post(world.url, content=build(m), headers=XML), 200, (4, 9))
            assert ack.original_msg_id == m.msg_id and ack.original_source_id == STRANGER
    assert ack_codes(log) == ["4/9"] * len(probes)


def _claims(source: str, world: World) -> list:
    """Messages that would each change the zone if the zone believed they came from ``source``'s owner."""
    h = lambda: Header.new(source)  # noqa: E731
    victim = Agent(None, source, "2.1")
    return [
        victim.event_message(student(700)),
        SystemControl(header=h(), version="2.1", command=GetMessage()),  # would take SUB's head
        Ack(header=h(), version="2.1", original_source_id=PUB, original_msg_id=world.head.msg_id,
            status=Status(code=1)),  # would drop SUB's head
        Unregister(header=h(), version="2.1"),
        Subscribe(header=h(), version="2.1", objects=("StudentLocator",)),
        SystemControl(header=h(), version="2.1",
                      command=CancelRequests(request_msg_ids=(world.request.msg_id,), notification_type="Standard")),
        victim.response_message(world.request, [locator()]),
        Register(header=h(), version="2.1", name="intruder", versions=("2.1",), max_buffer_size=1_048_576,
                 mode="Pull"),
    ]


async def test_forged_source_id_with_another_agents_certificate_is_3_1(world):
    async with clients(world, OTHER) as (c,), world.unchanged() as log:
        for source in (PUB, SUB, RES, STRANGER):
            for m in _claims(source, world):
                ack = refusal(await c.post(world.url, content=build(m), headers=XML), 200, (3, 1))
                assert ack.original_msg_id == m.msg_id
    assert set(ack_codes(log)) == {"3/1"}


async def test_no_client_certificate_on_a_certificate_zone_is_3_1(world):
    async with clients(world, None) as (c,), world.unchanged() as log:
        for source in (PUB, SUB, STRANGER):
            for m in _claims(source, world):
                refusal(await c.post(world.url, content=build(m), headers=XML), 200, (3, 1))
    assert set(ack_codes(log)) == {"3/1"}


# --------------------------------------------------------------------------------- DTDs and entities

LAUGHS = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))


async def test_doctype_xxe_and_billion_laughs_are_1_2_and_fetch_nothing(world):
    hits: list[bytes] = []

    async def trap(reader, writer):
        hits.append(await reader.read(1024))
        writer.close()

    server = await asyncio.start_server(trap, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    event = fresh_event(Agent(None, PUB, "2.1")).decode()
    body = event.split("?>", 1)[-1]  # the message without any XML declaration
    with_entity = lambda ent: body.replace("Okafor", ent)  # noqa: E731
    docs = [
        f'<!DOCTYPE SIF_Message [<!ENTITY who "Okafor">]>' + with_entity("&who;"),
        f'<!DOCTYPE SIF_Message [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + with_entity("&xxe;"),
        f'<!DOCTYPE SIF_Message [<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/x">]>' + with_entity("&xxe;"),
        f'<!DOCTYPE SIF_Message SYSTEM "http://127.0.0.1:{port}/evil.dtd">' + body,
        f'<!DOCTYPE SIF_Message [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>' + body,
        f'<!DOCTYPE lolz [<!ENTITY lol "lol">{LAUGHS}]>' + with_entity("&lol9;"),
        f'<!DOCTYPE q [<!ENTITY a "{"x" * 8000}">]>' + with_entity("&a;" * 4000),  # quadratic blowup
        '<?xml version="1.0"?><!-- hi --><?pi x?><!DOCTYPE SIF_Message [<!ENTITY w "Okafor">]>'
        + with_entity("&w;"),
    ]
    encoded = [d.encode() for d in docs]
    # the same billion laughs in UTF-16, where no ASCII "<!DOCTYPE" or "<!ENTITY" byte pattern exists
    encoded.append(('<?xml version="1.0" encoding="UTF-16"?>' + docs[5]).encode("utf-16"))
    encoded.append(('<?xml version="1.0" encoding="UTF-16"?>' + docs[1]).encode("utf-16"))
    try:
        async with clients(world, PUB) as (c,), world.unchanged() as log:
            for doc in encoded:
                assert len(doc) < LIMIT
                t0 = time.monotonic()
                resp = await c.post(world.url, content=doc, headers=XML)
                refusal(resp, 200, (1, 2))
                assert time.monotonic() - t0 < 10
                assert b"root:" not in resp.content
        await asyncio.sleep(0.2)
        assert hits == [], "the zone fetched an external entity or DTD"
        assert ack_codes(log) == ["1/2"] * len(encoded)
        assert all("root:" not in r["ack"] for r in log)
    finally:
        server.close()
        await server.wait_closed()


async def test_xinclude_is_not_processed(world):
    event = fresh_event(Agent(None, PUB, "2.1"))
    xi = (b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>')
    body = event.replace(b"<LastName>Okafor</LastName>", b"<LastName>" + xi + b"</LastName>")
    assert body != event
    async with clients(world, PUB) as (c,), world.unchanged():
        resp = await c.post(world.url, content=body, headers=XML)
        ack = parse(resp.content)
        assert isinstance(ack, Ack) and ack.error is not None and ack.error.category == 1, ack
        assert b"root:" not in resp.content


# --------------------------------------------------------------------------------- SIF envelope

async def test_sif_1x_namespace_and_unsupported_versions_are_12_3(world):
    event = fresh_event(Agent(None, PUB, "2.1"))
    bodies = [
        event.replace(NS.encode(), NS_1X.encode()).replace(b'Version="2.1"', b'Version="1.5r1"'),
        event.replace(NS.encode(), NS_1X.encode()),
        event.replace(b'Version="2.1"', b'Version="1.5r1"'),
        event.replace(b'Version="2.1"', b'Version="3.0"'),
    ]
    async with clients(world, PUB) as (c,), world.unchanged() as log:
        for body in bodies:
            assert body != event
            refusal(await c.post(world.url, content=body, headers=XML), 200, (12, 3))
    assert ack_codes(log) == ["12/3"] * len(bodies)


async def test_unknown_message_is_12_2(world):
    header = (f"<SIF_Header><SIF_MsgId>{'C' * 32}</SIF_MsgId><SIF_Timestamp>2026-01-01T00:00:00Z</SIF_Timestamp>"
              f"<SIF_SourceId>{PUB}</SIF_SourceId></SIF_Header>")
    probes = [
        (f'<SIF_Message xmlns="{NS}" Version="2.1"><SIF_Frobnicate>{header}</SIF_Frobnicate></SIF_Message>',
         (12, 2)),
        (f'<SIF_Message xmlns="{NS}" Version="2.4"><SIF_ServiceInput>{header}</SIF_ServiceInput></SIF_Message>',
         (12, 2)),  # a 2.4 zone-service message the SLF zone does not implement
        # a known message name outside the SIF namespace is a namespace error, not an unknown message
        (f'<SIF_Message xmlns="{NS}" Version="2.1"><x:SIF_Event xmlns:x="urn:other">{header}</x:SIF_Event>'
         "</SIF_Message>", (1, 3)),
    ]
    async with clients(world, PUB) as (c,), world.unchanged() as log:
        for body, error in probes:
            refusal(await c.post(world.url, content=body.encode(), headers=XML), 200, error)
    assert ack_codes(log) == ["12/2", "12/2", "1/3"]


# --------------------------------------------------------------------------------- replays and misdirection

async def test_duplicate_msg_id_replay_is_7_and_the_original_effect_is_not_repeated(world):
    async with clients(world, PUB, SUB) as (cp, cs), world.unchanged() as log:
        pub = world.zone.agent(cp, PUB)
        probes = [(cp, world.sent["event"]), (cp, world.sent["register"]),  # re-queue / re-register
                  (cs, world.sent["request"]),  # re-route the request to RES
                  (cs, world.sent["subscribe"]), (cs, world.sent["get"])]  # re-deliver SUB's head
        # another payload under an already used SIF_MsgId
        changed = pub.event_message(student(800))
        changed = replace(changed, header=replace(changed.header, msg_id=world.events[4].msg_id))
        probes.append((cp, build(changed)))
        for client, body in probes:
            ack = status_ack(await client.post(world.url, content=body, headers=XML), 7)
            assert ack.original_msg_id == parse(body).msg_id
    assert ack_codes(log) == ["7"] * len(probes)


async def test_ack_of_a_message_never_delivered_to_the_sender_is_12_6(world):
    async with clients(world, SUB, OTHER, RES, PUB) as (cs, co, cr, cp), world.unchanged() as log:
        sub, other, res, pub = (world.zone.agent(c, n) for c, n in ((cs, SUB), (co, OTHER), (cr, RES), (cp, PUB)))
        probes = [
            (sub, world.events[1]),  # queued for SUB, never delivered yet
            (sub, world.events[8]),
            (sub, sub.event_message(student(900))),  # never existed
            (sub, world.request),  # delivered, but to RES
            (other, world.head),  # delivered, but to SUB
            (res, world.head),
            (pub, world.events[2]),  # its own event: in SUB's queue, not PUB's
        ]
        for agent, delivered in probes:
            assert code(await agent.ack(delivered)) == (12, 6), (agent.source_id, delivered.msg_id)
    assert ack_codes(log) == ["12/6"] * len(probes)


async def test_response_to_someone_elses_request_is_8_10(world):
    async with clients(world, OTHER, PUB, SUB, RES) as (co, cp, cs, cr), world.unchanged() as log:
        other, pub, sub, res = (world.zone.agent(c, n) for c, n in ((co, OTHER), (cp, PUB), (cs, SUB), (cr, RES)))
        for agent in (other, pub, sub):  # the request was routed to RES, not to them
            assert code(await agent.respond(world.request, [locator()])) == (8, 10), agent.source_id
        never_made = sub.request_message()
        assert code(await res.respond(never_made, [locator()])) == (8, 10)
    assert ack_codes(log) == ["8/10"] * 4


# --------------------------------------------------------------------------------- under load

def _garbage(zone: ZoneProcess, event_bytes: bytes, head, stranger_ok: bool):
    """(client name, how to POST, expected (http, error) or status 7) for many kinds of junk."""
    url = zone.url("state-zone")
    pub = Agent(None, PUB, "2.1")
    new = lambda i: fresh_event(pub, 10_000 + i)  # noqa: E731
    kinds = [
        (PUB, lambda i: dict(content=b"<SIF_Message" + str(i).encode(), headers=XML), (200, (1, 2))),
        (PUB, lambda i: dict(content=new(i), headers={"Content-Type": "text/plain"}), (415, (10, 1))),
        (PUB, lambda i: dict(content=new(i) + b"<!--" + b"x" * LIMIT + b"-->", headers=XML), (413, (1, 2))),
        (PUB, lambda i: dict(content=bomb("gzip", 16 << 20), headers={**XML, "Content-Encoding": "gzip"}),
         (413, (1, 2))),
        (OTHER, lambda i: dict(content=new(i), headers=XML), (200, (3, 1))),  # forged PUB
        (None, lambda i: dict(content=new(i), headers=XML), (200, (3, 1))),  # no certificate
        (PUB, lambda i: dict(content=b'<!DOCTYPE x [<!ENTITY a "b">]>' + new(i).split(b"?>", 1)[-1],
                             headers=XML), (200, (1, 2))),
        (PUB, lambda i: dict(content=new(i).replace(NS.encode(), NS_1X.encode()), headers=XML), (200, (12, 3))),
        (PUB, lambda i: dict(content=event_bytes, headers=XML), 7),  # replay
        (OTHER, lambda i: dict(content=build(Ack(header=Header.new(OTHER), version="2.1", original_source_id=PUB,
                                                 original_msg_id=head.msg_id, status=Status(code=1))),
                               headers=XML), (200, (12, 6))),
    ]
    if stranger_ok:
        kinds.append((STRANGER, lambda i: dict(content=fresh_event(Agent(None, STRANGER, "2.1"), 20_000 + i),
                                               headers=XML), (200, (4, 9))))
    return url, kinds


async def test_concurrent_garbage_does_not_disturb_a_legitimate_agent(tmp_path):
    zone = start_zone(tmp_path)
    try:
        async with clients(zone, PUB, SUB, OTHER, PUB, OTHER, None, STRANGER) as (cp, cs, co, gp, go, ganon, gs):
            pub, sub, other = zone.agent(cp, PUB), zone.agent(cs, SUB), zone.agent(co, OTHER)
            for a in (pub, sub, other):
                assert code(await a.register()) == 0
            assert code(await sub.subscribe("StudentPersonal")) == 0
            published = []
            for i in range(1, 10):
                ev = pub.event_message(student(i))
                assert code(await pub.send(ev)) == 0
                published.append(ev.msg_id)
            head = (await sub.get()).message  # delivered, not acked: the garbage's 12/6 target
            url, kinds = _garbage(zone, build(pub.sent[1]), head, stranger_ok=True)
            garbage_clients = {PUB: gp, OTHER: go, None: ganon, STRANGER: gs}
            limiter = asyncio.Semaphore(32)
            outcomes: list[tuple] = []

            async def junk(i: int) -> None:
                who, make, expected = kinds[i % len(kinds)]
                async with limiter:
                    resp = await garbage_clients[who].post(url, **make(i))
                if expected == 7:
                    status_ack(resp, 7)
                else:
                    refusal(resp, *expected)
                outcomes.append((who, expected))

            received: list[str] = []

            async def legitimate() -> None:
                async def publish():
                    for i in range(10, 40):
                        ev = pub.event_message(student(i))
                        assert code(await pub.send(ev)) == 0
                        published.append(ev.msg_id)

                async def consume():
                    assert code(await sub.ack(head)) == 0
                    received.append(head.msg_id)
                    deadline = time.monotonic() + 60
                    while len(received) < 39:
                        assert time.monotonic() < deadline, "the legitimate flow stalled"
                        reply = await sub.get()
                        if reply.status.code == 9:
                            await asyncio.sleep(0.01)
                            continue
                        assert reply.status.code == 0, reply
                        assert code(await sub.ack(reply.message)) == 0
                        received.append(reply.message.msg_id)

                await asyncio.gather(publish(), consume())

            t0 = time.monotonic()
            await asyncio.gather(legitimate(), *(junk(i) for i in range(330)))
            elapsed = time.monotonic() - t0
            assert len(outcomes) == 330
            assert received == published  # all 39, in order, once each, despite the noise
            assert code(await sub.get()) == 9
            status = (await sub.zone_status()).status.data
            assert {n.source_id for n in status.nodes} == {PUB, SUB, OTHER}
            assert [h.source_id for h in status.subscribers] == [SUB] and not status.providers
            assert elapsed < 60
    finally:
        zone.stop()
