"""End to end over real HTTPS: a `slf zone serve` process and runtime agents with client certificates.

The Student Locator agent joins two zones: in the district zone it subscribes to
StudentPersonal events from the SIS; in the state zone it asks the Student Resolver,
which answers a StudentLocator request in two packets.
"""

from __future__ import annotations

import asyncio

import pytest

from messages import Ack, Query, SIFError, parse
from messages.objects import IdStatus, Name, StudentLocator, StudentPersonal
from sif_agent.config import AgentSettings, ObjectLists, PushSettings, RetrySettings, TlsSettings, ZoneSettings
from sif_agent.runtime import Agent
from sif_agent.transport import HttpsTransport
from tests.zone.process import ZoneProcess

TX = "E" * 32


class Recording(HttpsTransport):
    """The real HTTPS transport, keeping what it sent."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.sent: list[bytes] = []

    async def post(self, body: bytes) -> bytes:
        self.sent.append(body)
        return await super().post(body)

    def acks(self) -> list[Ack]:
        return [m for m in (parse(b, validate=False) for b in self.sent) if isinstance(m, Ack)]


@pytest.fixture
def zone(tmp_path):
    z = ZoneProcess.create(tmp_path).start()
    yield z
    z.stop()


def agent(zp: ZoneProcess, tmp_path, source_id: str, zones: dict[str, dict],
          push: tuple[str, ...] = ()) -> tuple[Agent, dict[str, Recording]]:
    """Pull mode, except in the zones named in ``push`` (an HTTPS listener with the dev server certificate)."""
    files = zp.pki.client(source_id)
    tls = TlsSettings(ca=zp.pki.ca_cert, cert=files.cert, key=files.key)
    listener = PushSettings(cert=zp.pki.server_cert, key=zp.pki.server_key)
    settings = AgentSettings(
        source_id=source_id, name=source_id, outbox=f"sqlite+aiosqlite:///{tmp_path}/{source_id}.db",
        zones=tuple(ZoneSettings(id=zid, url=zp.url(zid), source_id=source_id, tls=tls, pull_interval=0.02,
                                 versions=("2.1",) if zid == "state-zone" else ("2.0r1",),
                                 retry=RetrySettings(attempts=3, initial=0.01, maximum=0.05),
                                 objects=ObjectLists(**objects), mode="Push" if zid in push else "Pull",
                                 push=listener if zid in push else None)
                    for zid, objects in zones.items()))
    transports = {z.id: Recording.for_zone(z) for z in settings.zones}
    return Agent(settings, transports=transports), transports


async def until(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_locator_resolver_and_sis_over_https(zone, tmp_path):
    locator, loc_t = agent(zone, tmp_path, "ITC01-StudentLocator", {
        "district-zone": {"subscribe": ("StudentPersonal",)},
        "state-zone": {"request": ("StudentLocator",)}})
    resolver, res_t = agent(zone, tmp_path, "State-StudentResolver", {
        "state-zone": {"provide": ("StudentLocator",), "respond": ("StudentLocator",)}})
    sis, _ = agent(zone, tmp_path, "District043802-SIS", {
        "district-zone": {"publish_add": ("StudentPersonal",)}})

    new_students: list[str] = []

    @locator.on_event("StudentPersonal", "Add")
    async def new_student(event, ctx):
        local_id = event.objects[0].typed().local_id
        new_students.append(local_id)
        if local_id == "S-BAD":
            raise SIFError(9, 3, "Student has no enrollment")

    asked: list[str] = []

    @resolver.on_request("StudentLocator")
    async def locate(request, ctx):
        asked.append(request.query.example.typed().transaction_id)
        return [StudentLocator(id_status=IdStatus.AMBIGUOUS, transaction_id=TX, state_province_id=s,
                               confidence=c) for s, c in (("AB1234567", "91"), ("CD7654321", "88"))]

    async with resolver.running(), locator.running(), sis.running():
        # district: two new students; the second one's handler fails
        for local_id in ("S-1", "S-BAD"):
            await sis.publish("district-zone", "StudentPersonal", "Add", [StudentPersonal(
                ref_id="D" * 32, local_id=local_id, name=Name(last_name="Okafor", first_name="Amara"))])
        await until(lambda: len(loc_t["district-zone"].acks()) == 2)

        # state: the request, answered in two packets (the buffer holds one candidate per packet)
        reply = await locator.request("state-zone", Query(object_name="StudentLocator", example=StudentLocator(
            id_status=IdStatus.REQUEST, transaction_id=TX, local_id="S-1")), max_buffer_size=900, timeout=10)  # 716 bytes with one, 890 with two
        await until(lambda: len(res_t["state-zone"].acks()) == 1)
        await asyncio.sleep(0.1)  # more pulls: nothing comes again

    assert new_students == ["S-1", "S-BAD"]  # the failed event was not redelivered
    first, second = loc_t["district-zone"].acks()
    assert first.status.code == 1
    assert (second.error.category, second.error.code) == (9, 3)
    assert asked == [TX]
    assert [p.packet_number for p in reply.packets] == [1, 2]
    assert [o.typed().state_province_id for o in reply.objects] == ["AB1234567", "CD7654321"]
    # the requester acknowledged both packets, the responder the request
    assert [a.status.code for a in loc_t["state-zone"].acks()] == [1, 1]
    assert res_t["state-zone"].acks()[0].status.code == 1

    # the zone's log agrees
    async with zone.client(None) as anon:
        entries = (await anon.get(zone.url("state-zone") + "/log")).json()["entries"]
    kinds = [e["message_type"] for e in entries]
    assert kinds.count("SIF_Response StudentLocator") == 2 and "SIF_Provision" in kinds
    assert all(e["ack"] in ("0", "9") for e in entries), [e for e in entries if e["ack"] not in ("0", "9")]


async def test_push_mode_agents_take_messages_on_their_own_https_listener(zone, tmp_path):
    """The zone POSTs to each push agent's listener (TLS verified against the dev CA); the HTTP
    answer is the ack. A handler failure is an error ack; nothing is pushed twice."""
    locator, loc_t = agent(zone, tmp_path, "ITC01-StudentLocator", {
        "district-zone": {"subscribe": ("StudentPersonal",)},
        "state-zone": {"request": ("StudentLocator",)}}, push=("district-zone", "state-zone"))
    resolver, res_t = agent(zone, tmp_path, "State-StudentResolver", {
        "state-zone": {"provide": ("StudentLocator",), "respond": ("StudentLocator",)}}, push=("state-zone",))
    sis, _ = agent(zone, tmp_path, "District043802-SIS", {"district-zone": {"publish_add": ("StudentPersonal",)}})
    seen: list[str] = []

    @locator.on_event("StudentPersonal", "Add")
    async def new_student(event, ctx):
        local_id = event.objects[0].typed().local_id
        seen.append(local_id)
        if local_id == "S-BAD":
            raise SIFError(9, 3, "Student has no enrollment")

    @resolver.on_request("StudentLocator")
    async def locate(request, ctx):
        return [StudentLocator(id_status=IdStatus.VALID, transaction_id=TX, state_province_id="AB1234567")]

    async with resolver.running(), locator.running(), sis.running():
        assert locator.listeners["state-zone"].url.startswith("https://localhost:")
        for local_id in ("S-1", "S-BAD"):
            await sis.publish("district-zone", "StudentPersonal", "Add", [StudentPersonal(
                ref_id="D" * 32, local_id=local_id, name=Name(last_name="Okafor", first_name="Amara"))])
        await until(lambda: len(seen) == 2)
        reply = await locator.request("state-zone", Query(object_name="StudentLocator", example=StudentLocator(
            id_status=IdStatus.REQUEST, transaction_id=TX, local_id="S-1")), timeout=10)
        await asyncio.sleep(0.3)  # the zone would push again anything not acknowledged

    assert seen == ["S-1", "S-BAD"]
    assert [o.typed().state_province_id for o in reply.objects] == ["AB1234567"]
    # push agents never pull and never send a separate SIF_Ack: the HTTP answer was the ack
    for t in (*loc_t.values(), *res_t.values()):
        kinds = [m.kind for m in (parse(b, validate=False) for b in t.sent)]
        assert "SIF_Ack" not in kinds and "SIF_SystemControl/SIF_GetMessage" not in kinds, kinds
    async with zone.client(None) as anon:
        entries = (await anon.get(zone.url("district-zone") + "/log")).json()["entries"]
    pushed = [e for e in entries if e["message_type"] == "SIF_Event StudentPersonal Add"
              and e.get("receiver") == "ITC01-StudentLocator"]
    assert len(pushed) == 2, entries
