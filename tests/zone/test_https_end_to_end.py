"""End to end over real HTTPS on loopback: a zone server process and several agents."""

from __future__ import annotations

import httpx
import pytest

from messages import Event, Request, Response
from messages.objects import IdStatus, Name, StudentLocator, StudentPersonal
from tests.zone.harness import code
from tests.zone.process import ZoneProcess


@pytest.fixture
def zone(tmp_path):
    z = ZoneProcess.create(tmp_path).start()
    yield z
    z.stop()


async def test_agents_register_provide_request_respond_publish_and_ack(zone):
    async with zone.client("ITC01-StudentLocator") as c1, zone.client("State-StudentResolver") as c2, \
            zone.client("District043802-SIS") as c3:
        loc = zone.agent(c1, "ITC01-StudentLocator")
        res = zone.agent(c2, "State-StudentResolver")
        loc_d = zone.agent(c1, "ITC01-StudentLocator", zone="district-zone", version="2.0r1")
        sis = zone.agent(c3, "District043802-SIS", zone="district-zone", version="2.0r1")

        for a in (loc, res, loc_d, sis):
            assert code(await a.register()) == 0
        assert code(await res.provide("StudentLocator")) == 0
        assert code(await loc_d.subscribe("StudentPersonal")) == 0
        assert code(await sis.subscribe("StudentPersonal")) == 0

        # district: the SIS publishes a new student; the locator pulls it
        student = StudentPersonal(ref_id="D" * 32, local_id="S-1", name=Name(last_name="Okafor", first_name="Amara"))
        assert code(await sis.publish(student)) == 0
        event = await loc_d.take()
        assert isinstance(event, Event) and event.objects[0].typed().local_id == "S-1"

        # state: the locator asks, the resolver answers in two packets
        example = StudentLocator(id_status=IdStatus.REQUEST, transaction_id="E" * 32, local_id="S-1")
        req, ack = await loc.request(example=example)
        assert code(ack) == 0
        pulled = await res.take()
        assert isinstance(pulled, Request) and pulled.query.example.typed() == example
        cand = [StudentLocator(id_status=IdStatus.AMBIGUOUS, transaction_id="E" * 32, state_province_id=s,
                               confidence=c) for s, c in (("AB1234567", "91"), ("CD7654321", "88"))]
        assert code(await res.respond(pulled, cand[:1], packet=1, more=True)) == 0
        assert code(await res.respond(pulled, cand[1:], packet=2)) == 0
        got = [await loc.take(), await loc.take()]
        assert all(isinstance(g, Response) for g in got)
        assert [g.objects[0].typed().state_province_id for g in got] == ["AB1234567", "CD7654321"]
        assert code(await loc.get()) == 9

        # the locator writes the state id back; the SIS receives the change in its own version
        change = StudentPersonal(ref_id="D" * 32, local_id="S-1", state_province_id="AB1234567",
                                 name=Name(last_name="Okafor", first_name="Amara"))
        assert code(await loc_d.publish(change, "Change")) == 0
        back = await sis.take()
        assert back.version == "2.0r1" and back.objects[0].typed().state_province_id == "AB1234567"

        status = (await loc.zone_status()).status.data
        assert {n.source_id for n in status.nodes} == {"ITC01-StudentLocator", "State-StudentResolver"}

    # the inspector shows what happened, as a page and as JSON
    async with zone.client(None) as anon:
        page = await anon.get(zone.url("state-zone") + "/inspect")
        assert page.status_code == 200 and "SIF_Response StudentLocator" in page.text
        entries = (await anon.get(zone.url("state-zone") + "/log")).json()["entries"]
        kinds = [e["message_type"] for e in entries]
        assert "SIF_Register" in kinds and "SIF_Request StudentLocator" in kinds
        assert all(e["ack"] == "0" or e["ack"] == "9" for e in entries)


async def test_certificate_zone_refuses_agents_without_or_with_someone_elses_certificate(zone):
    async with zone.client(None) as anon, zone.client("Agent-4") as other:
        stranger = zone.agent(anon, "ITC01-StudentLocator")
        assert code(await stranger.register()) == (3, 1)
        forger = zone.agent(other, "ITC01-StudentLocator")
        assert code(await forger.register()) == (3, 1)
    async with zone.client("ITC01-StudentLocator") as c:
        assert code(await zone.agent(c, "ITC01-StudentLocator").ping()) == (4, 9)  # never registered


async def test_client_that_does_not_trust_the_zone_ca_cannot_connect(zone):
    async with httpx.AsyncClient(timeout=5) as plain:  # system CAs only
        with pytest.raises(httpx.ConnectError):
            await plain.post(zone.url("state-zone"), content=b"<x/>", headers={"Content-Type": "application/xml"})
