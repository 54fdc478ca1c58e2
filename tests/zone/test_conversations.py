"""Scripted conversations with the zone, one rule per test, in process (no sockets).

Each test plays agents against a real Zis over SQLite and checks the acks and
the messages that come out of the queues, as a SIF agent would see them.
"""

from __future__ import annotations

import pytest

from messages import Event, Request, Response, build
from messages.errors import Error
from messages.objects import IdStatus, StudentLocator, StudentPersonal
from tests.zone.harness import Harness, code, configured
from zone.core import Identity

TXN = "A" * 32


def locator(status=IdStatus.VALID, ssid="AB1234567") -> StudentLocator:
    return StudentLocator(id_status=status, transaction_id=TXN, state_province_id=ssid)


def student(ref="B" * 32, local="100") -> StudentPersonal:
    from messages.objects import Name

    return StudentPersonal(ref_id=ref, local_id=local, name=Name(last_name="Okafor", first_name="Amara"))


@pytest.fixture
async def h(tmp_path):
    harness = await Harness.start(tmp_path)
    yield harness
    await harness.close()


# ---------------------------------------------------------------- registration

async def test_register_answers_status_0_with_the_agent_acl(h):
    ack = await h.agent("ITC01").register()
    assert code(ack) == 0
    acl = ack.status.data
    assert acl.allows("request", "StudentLocator") and acl.allows("provide", "StudentLocator")


async def test_unregistered_source_gets_4_9(h):
    assert code(await h.agent("stranger").ping()) == (4, 9)


async def test_reregistration_updates_the_negotiated_version(h):
    a = h.agent("ITC01", version="2.1")
    await a.register(versions=("2.1",))
    await a.register(versions=("2.0r1",))
    async with h.store.engine.connect() as conn:
        row = await h.store.agent(conn, h.zone_id, "ITC01")
    assert row.version == "2.0r1"


async def test_version_wildcards_negotiate_the_newest_admitted(h):
    a = h.agent("ITC01")
    await a.register(versions=("2.0r*",))
    async with h.store.engine.connect() as conn:
        assert (await h.store.agent(conn, h.zone_id, "ITC01")).version == "2.0r1"
    await a.register(versions=("2.*",))
    async with h.store.engine.connect() as conn:
        assert (await h.store.agent(conn, h.zone_id, "ITC01")).version == "2.6"


async def test_register_with_no_common_version_is_5_4(h):
    assert code(await h.agent("old").register(versions=("1.5r1",))) == (5, 4)


async def test_register_with_tiny_buffer_is_5_6(h):
    assert code(await h.agent("tiny").register(buffer=100)) == (5, 6)


async def test_push_registration_needs_a_url(h):
    assert code(await h.agent("pusher").register(mode="Push")) == (5, 1)
    assert code(await h.agent("pusher").register(mode="Push", url="https://agent.example/sif")) == 0


async def test_unregister_removes_the_agent_and_its_queue(h):
    sis, loc = h.agent("SIS"), h.agent("LOC")
    await sis.register(); await loc.register()
    await loc.subscribe("StudentPersonal")
    await sis.publish(student())
    assert code(await loc.unregister()) == 0
    await loc.register()
    assert code(await loc.get()) == 9  # queue went with the registration
    assert code(await sis.publish(student(local="101"))) == 0  # and so did the subscription
    assert code(await loc.get()) == 9


async def test_duplicate_msg_id_from_same_sender_is_7_and_not_redone(h):
    sis, loc = h.agent("SIS"), h.agent("LOC")
    await sis.register(); await loc.register(); await loc.subscribe("StudentPersonal")
    event = sis.event_message(student())
    assert code(await sis.send(event)) == 0
    assert code(await sis.send(event)) == 7
    await loc.take()
    assert code(await loc.get()) == 9  # delivered once


async def test_same_msg_id_from_another_sender_is_not_a_duplicate(h):
    a, b = h.agent("A"), h.agent("B")
    m = a.register_message()
    await a.send(m)
    clone = b.register_message()
    from dataclasses import replace

    clone = replace(clone, header=replace(clone.header, msg_id=m.msg_id))
    assert code(await b.send(clone)) == 0


async def test_closed_zone_refuses_agents_not_in_its_access_list(tmp_path):
    h = await Harness.start(tmp_path, agents=[configured("ITC01", request=["StudentLocator"])])
    try:
        assert code(await h.agent("intruder").register()) == (4, 2)
        ack = await h.agent("ITC01").register()
        assert code(ack) == 0
        acl = ack.status.data
        assert acl.allows("request", "StudentLocator") and not acl.allows("provide", "StudentLocator")
    finally:
        await h.close()


# ---------------------------------------------------------------- provide / subscribe

async def test_second_provider_is_6_4_and_unprovide_by_stranger_is_6_5(h):
    r1, r2 = h.agent("R1"), h.agent("R2")
    await r1.register(); await r2.register()
    assert code(await r1.provide("StudentLocator")) == 0
    assert code(await r1.provide("StudentLocator")) == 0  # idempotent for the provider itself
    assert code(await r2.provide("StudentLocator")) == (6, 4)
    assert code(await r2.unprovide("StudentLocator")) == (6, 5)
    assert code(await r1.unprovide("StudentLocator")) == 0
    assert code(await r2.provide("StudentLocator")) == 0


async def test_unsubscribe_without_subscription_is_7_4(h):
    a = h.agent("A")
    await a.register()
    assert code(await a.unsubscribe("SchoolInfo")) == (7, 4)
    await a.subscribe("SchoolInfo")
    assert code(await a.unsubscribe("SchoolInfo")) == 0


async def test_rights_are_enforced_per_object(tmp_path):
    h = await Harness.start(tmp_path, agents=[
        configured("SIS", publish_add=["StudentPersonal"]),
        configured("LOC", subscribe=["StudentPersonal"], request=["StudentLocator"]),
        configured("RES", provide=["StudentLocator"]),
    ])
    try:
        sis, loc, res = h.agent("SIS"), h.agent("LOC"), h.agent("RES")
        for a in (sis, loc, res):
            await a.register()
        assert code(await loc.provide("StudentLocator")) == (4, 3)
        assert code(await sis.subscribe("StudentPersonal")) == (4, 4)
        assert code((await sis.request())[1]) == (4, 5)
        assert code(await sis.publish(student(), "Change")) == (4, 11)
        assert code(await sis.publish(student(), "Delete")) == (4, 12)
        assert code(await loc.publish(student(), "Add")) == (4, 10)
        await res.provide("StudentLocator")
        req, ack = await loc.request()
        assert code(ack) == 0
        await res.take()
        assert code(await res.respond(req, [locator()])) == (4, 6)  # provide ≠ respond right
    finally:
        await h.close()


async def test_provision_replaces_subscriptions_and_checks_rights(h):
    loc, sis = h.agent("LOC"), h.agent("SIS")
    await loc.register(); await sis.register()
    await loc.subscribe("SchoolInfo")
    ack = await loc.provision(subscribe_objects=("StudentPersonal",), request_objects=("StudentLocator",))
    assert code(ack) == 0 and ack.status.data.allows("subscribe", "StudentPersonal")
    await sis.publish(student())
    from messages.objects import SchoolInfo

    await sis.publish(SchoolInfo(ref_id="C" * 32, school_name="Maple"))
    got = await loc.take()
    assert isinstance(got, Event) and got.object_name == "StudentPersonal"
    assert code(await loc.get()) == 9  # SchoolInfo subscription was replaced


# ---------------------------------------------------------------- events

async def test_events_fan_out_to_every_subscriber_but_the_publisher(h):
    sis, l1, l2 = h.agent("SIS"), h.agent("L1"), h.agent("L2")
    for a in (sis, l1, l2):
        await a.register()
    for a in (sis, l1, l2):
        await a.subscribe("StudentPersonal")
    await sis.publish(student())
    for a in (l1, l2):
        got = await a.take()
        assert isinstance(got, Event) and got.objects[0].typed().local_id == "100"
    assert code(await sis.get()) == 9


async def test_event_payload_must_match_its_object_name_9_3(h):
    sis = h.agent("SIS")
    await sis.register()
    assert code(await sis.publish(student(), object_name="SchoolInfo")) == (9, 3)


async def test_multiple_contexts_are_12_7(h):
    sis = h.agent("SIS")
    await sis.register()
    m = sis.event_message(student(), contexts=("SIF_Default", "Other"))
    assert code(await sis.send(m)) == (12, 7)


# ---------------------------------------------------------------- queues

async def test_queue_is_fifo_and_redelivers_the_head_until_acked(h):
    sis, loc = h.agent("SIS"), h.agent("LOC")
    await sis.register(); await loc.register(); await loc.subscribe("StudentPersonal")
    for i in range(3):
        await sis.publish(student(local=str(i)))
    first = (await loc.get()).message
    again = (await loc.get()).message
    assert first.msg_id == again.msg_id  # not acknowledged: same message again
    await loc.ack(first)
    order = [first.objects[0].typed().local_id]
    for _ in range(2):
        order.append((await loc.take()).objects[0].typed().local_id)
    assert order == ["0", "1", "2"]
    assert code(await loc.get()) == 9


async def test_ack_for_unknown_message_is_12_6(h):
    loc = h.agent("LOC")
    await loc.register()
    fake = loc.event_message(student())
    assert code(await loc.ack(fake)) == (12, 6)


async def test_agent_error_ack_discards_the_message(h):
    sis, loc = h.agent("SIS"), h.agent("LOC")
    await sis.register(); await loc.register(); await loc.subscribe("StudentPersonal")
    await sis.publish(student())
    got = (await loc.get()).message
    assert code(await loc.ack(got, error=Error(category=9, code=1, desc="could not store"))) == 0
    assert code(await loc.get()) == 9


async def test_selective_message_blocking_freezes_events_not_requests(h):
    sis, loc, res = h.agent("SIS"), h.agent("LOC"), h.agent("RES")
    for a in (sis, loc, res):
        await a.register()
    await loc.subscribe("StudentPersonal")
    await loc.provide("StudentLocator")
    await sis.publish(student(local="1"))
    await sis.publish(student(local="2"))
    held = (await loc.get()).message
    assert code(await loc.ack(held, code=2)) == 0  # intermediate: SMB on
    # the next event stays frozen, but a request still gets through
    req, _ = await res.request("StudentLocator")
    got = (await loc.get()).message
    assert isinstance(got, Request) and got.msg_id == req.msg_id
    await loc.ack(got)
    assert code(await loc.get()) == 9  # event 2 is frozen behind the held event
    wrong = sis.event_message(student(local="x"))
    assert code(await loc.ack(wrong, code=3)) == (13, 4)
    assert code(await loc.ack(held, code=3)) == 0  # final: SMB off, held event discarded
    nxt = await loc.take()
    assert nxt.objects[0].typed().local_id == "2"


async def test_intermediate_ack_of_a_request_is_13_2(h):
    loc, res = h.agent("LOC"), h.agent("RES")
    await loc.register(); await res.register(); await res.provide("StudentLocator")
    await loc.request()
    got = (await res.get()).message
    assert code(await res.ack(got, code=2)) == (13, 2)


async def test_sleeping_agent_gets_8_until_wakeup(h):
    sis, loc = h.agent("SIS"), h.agent("LOC")
    await sis.register(); await loc.register(); await loc.subscribe("StudentPersonal")
    assert code(await loc.sleep()) == 0
    await sis.publish(student())
    assert code(await loc.get()) == 8
    assert code(await loc.ping()) == 0
    assert code(await loc.wakeup()) == 0
    assert isinstance(await loc.take(), Event)


async def test_pull_by_push_agent_is_5_9(h):
    a = h.agent("PUSH")
    await a.register(mode="Push", url="https://agent.example/sif")
    assert code(await a.get()) == (5, 9)


async def test_zone_status_and_agent_acl(h):
    loc, res = h.agent("LOC"), h.agent("RES")
    await loc.register(); await res.register(); await res.provide("StudentLocator")
    status = (await loc.zone_status()).status.data
    assert status.zone_id == h.zone_id
    assert {n.source_id for n in status.nodes} == {"LOC", "RES"}
    assert status.providers[0].source_id == "RES"
    acl = (await loc.agent_acl()).status.data
    assert acl.allows("subscribe", "StudentPersonal")


# ---------------------------------------------------------------- requests and responses

async def _pair(h):
    loc, res = h.agent("LOC"), h.agent("RES")
    await loc.register(); await res.register(); await res.provide("StudentLocator")
    return loc, res


async def test_request_without_provider_is_8_4(h):
    loc = h.agent("LOC")
    await loc.register()
    assert code((await loc.request())[1]) == (8, 4)
    assert code((await loc.request(destination="nobody"))[1]) == (8, 4)


async def test_request_routes_to_provider_and_response_back_to_requester(h):
    loc, res = await _pair(h)
    req, ack = await loc.request()
    assert code(ack) == 0
    got = await res.take()
    assert isinstance(got, Request) and got.msg_id == req.msg_id
    assert code(await res.respond(got, [locator()])) == 0
    back = await loc.take()
    assert isinstance(back, Response) and back.request_msg_id == req.msg_id
    assert back.objects[0].typed().state_province_id == "AB1234567"


async def test_request_routes_to_destination_id(h):
    loc, res, other = h.agent("LOC"), h.agent("RES"), h.agent("OTHER")
    for a in (loc, res, other):
        await a.register()
    await res.provide("StudentLocator")
    req, _ = await loc.request(destination="OTHER")
    assert (await other.take()).msg_id == req.msg_id
    assert code(await res.get()) == 9


async def test_response_rules_8_10_8_12_8_13_8_14_8_11(h):
    loc, res = await _pair(h)
    req, _ = await loc.request(versions=("2.1",), buffer=4096)
    await res.take()
    stranger = loc.request_message()
    assert code(await res.respond(stranger, [locator()])) == (8, 10)
    assert code(await res.respond(req, [locator()], packet=2)) == (8, 12)
    assert code(await res.respond(req, [locator()], version="2.0r1")) == (8, 13)
    assert code(await res.respond(req, [locator()], destination="someone-else")) == (8, 14)
    big = [StudentLocator(id_status=IdStatus.AMBIGUOUS, transaction_id=TXN, state_province_id=f"AB{i:07d}",
                          school_attended_name="x" * 200) for i in range(40)]
    assert code(await res.respond(req, big)) == (8, 11)
    # none of the refusals changed anything: packet 1 is still expected
    assert code(await res.respond(req, [locator()], packet=1, more=True)) == 0
    assert code(await res.respond(req, [locator()], packet=2)) == 0
    assert code(await res.respond(req, [locator()], packet=3)) == (8, 12)  # already complete
    packets = [await loc.take(), await loc.take()]
    assert [p.packet_number for p in packets] == [1, 2] and packets[0].more_packets


async def test_response_from_an_agent_the_request_was_not_routed_to_is_8_10(h):
    loc, res = await _pair(h)
    other = h.agent("OTHER")
    await other.register()
    req, _ = await loc.request()
    assert code(await other.respond(req, [locator()])) == (8, 10)


async def test_request_timeout_gives_requester_8_16_and_late_response_8_16(h):
    loc, res = await _pair(h)
    req, _ = await loc.request()
    await res.take()
    h.clock.now += 10_000
    assert await h.zis.expire_requests() == 1
    back = await loc.take()
    assert isinstance(back, Response) and (back.error.category, back.error.code) == (8, 16)
    assert back.request_msg_id == req.msg_id
    assert code(await res.respond(req, [locator()])) == (8, 16)


async def test_cancel_requests_drops_undelivered_and_refuses_late_responses_8_18(h):
    loc, res = await _pair(h)
    undelivered, _ = await loc.request()
    assert code(await loc.cancel(undelivered.msg_id)) == 0
    assert code(await res.get()) == 9  # never reached the responder
    delivered, _ = await loc.request()
    await res.take()
    await loc.cancel(delivered.msg_id)
    assert code(await res.respond(delivered, [locator()])) == (8, 18)
    assert code(await loc.get()) == 9


async def test_cancel_requests_is_refused_in_2_0r1(h):
    loc = h.agent("LOC", version="2.0r1")
    await loc.register()
    assert code(await loc.cancel("C" * 32)) == (12, 2)


async def test_extended_query_without_support_is_8_15(h):
    loc, res = await _pair(h)
    from messages import ExtendedQuery, XmlObject
    from tests.golden_cases import EXTENDED_QUERY

    m = Request(header=loc.header(), version="2.1", versions=("2.1",), max_buffer_size=65536,
                query=ExtendedQuery(xml=XmlObject.from_bytes(EXTENDED_QUERY)))
    await res.provide("StudentPersonal")
    assert code(await loc.send(m)) == (8, 15)


async def test_request_to_a_responder_of_another_version_is_8_7(h):
    loc, res = h.agent("LOC", version="2.1"), h.agent("RES", version="2.0r1")
    await loc.register(); await res.register(versions=("2.0r1",)); await res.provide("StudentLocator")
    assert code((await loc.request(versions=("2.1",)))[1]) == (8, 7)
    assert code((await loc.request(versions=("2.*",)))[1]) == 0


async def test_delivery_is_stamped_with_the_receivers_version(h):
    sis, loc = h.agent("SIS", version="2.1"), h.agent("LOC", version="2.0r1")
    await sis.register(); await loc.register(versions=("2.0r1",)); await loc.subscribe("StudentPersonal")
    await sis.publish(student())
    got = await loc.take()
    assert got.version == "2.0r1"


# ---------------------------------------------------------------- authentication and validation

async def test_forged_source_id_with_authentication(tmp_path):
    h = await Harness.start(tmp_path, agents=[configured("SIS", publish_add=["*"]),
                                              configured("LOC", subscribe=["*"])],
                            authentication="certificate")
    try:
        sis, loc = h.agent("SIS"), h.agent("LOC")
        await sis.register(); await loc.register(); await loc.subscribe("StudentPersonal")
        forger = h.agent("SIS", principal="LOC")
        assert code(await forger.publish(student())) == (3, 1)
        assert code(await loc.get()) == 9  # nothing was queued
        anonymous = h.agent("SIS")
        anonymous.identity = Identity(None, "none")
        assert code(await anonymous.ping()) == (3, 1)
    finally:
        await h.close()


async def test_strict_zone_rejects_missing_state_province_id_lenient_accepts(tmp_path):
    for mode, expected in (("strict", (1, 6)), ("lenient", 0), ("off", 0)):
        h = await Harness.start(tmp_path / mode, validation=mode)
        try:
            loc, res = await _pair(h)
            req, _ = await loc.request()
            await res.take()
            data = build(res.response_message(req, [locator()]))
            data = data.replace(b"<StateProvinceId>AB1234567</StateProvinceId>", b"")
            assert code(await res.send_bytes(data)) == expected, mode
            entries = await h.store.log_entries(h.zone_id)
            findings = [f for e in entries for f in e["findings"]]
            assert any("StateProvinceId" in f["message"] for f in findings), mode
        finally:
            await h.close()


async def test_garbage_gets_1_2_with_nil_originals(h):
    ack = await h.raw(b"<SIF_Message")
    assert code(ack) == (1, 2) and ack.original_msg_id is None and ack.original_source_id is None


async def test_two_senders_may_reuse_one_msg_id_for_the_same_receiver(h):
    from dataclasses import replace

    a, b, loc = h.agent("A"), h.agent("B"), h.agent("LOC")
    for x in (a, b, loc):
        await x.register()
    await loc.subscribe("StudentPersonal")
    first = a.event_message(student(local="from-a"))
    second = b.event_message(student(local="from-b"))
    second = replace(second, header=replace(second.header, msg_id=first.msg_id))
    assert code(await a.send(first)) == 0
    assert code(await b.send(second)) == 0
    got = [await loc.take(), await loc.take()]
    assert [(g.source_id, g.objects[0].typed().local_id) for g in got] == [("A", "from-a"), ("B", "from-b")]
