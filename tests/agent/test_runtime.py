"""The runtime against an in-process Zis: dispatch, acks, error acks, requests, stop, restart."""

from __future__ import annotations

import asyncio

import pytest

from messages import Ack, Event, Header, Query, Request, Response, SIFError, build
from messages.objects import IdStatus, Name, StudentLocator, StudentPersonal
from sif_agent.handlers import DEFERRED
from sif_agent.requests import Correlator, RequestRef, RequestTimeout
from sif_agent.runtime import PACKET_SLACK, split_packets
from tests.agent.support import make_agent
from tests.zone.harness import Harness

TX = "E" * 32


@pytest.fixture
async def zone(tmp_path):
    h = await Harness.start(tmp_path)
    yield h
    await h.close()


def student(local_id="S-1") -> StudentPersonal:
    return StudentPersonal(ref_id="D" * 32, local_id=local_id, name=Name(last_name="Okafor", first_name="Amara"))


def candidates(n=2):
    return [StudentLocator(id_status=IdStatus.AMBIGUOUS, transaction_id=TX, state_province_id=f"AB{i:07d}",
                           confidence=str(90 - i)) for i in range(n)]


def query() -> Query:
    return Query(object_name="StudentLocator",
                 example=StudentLocator(id_status=IdStatus.REQUEST, transaction_id=TX, local_id="S-1"))


async def until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def agent_acks(transport) -> list[Ack]:
    return transport.acks()


async def test_events_reach_handlers_and_every_outcome_is_acknowledged(zone, tmp_path):
    pub, _ = make_agent(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",),
                        publish_change=("StudentPersonal",), publish_delete=("StudentPersonal",))
    sub, sub_t = make_agent(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    seen = []

    @sub.on_event("StudentPersonal", "Add")
    async def added(event: Event, ctx):
        local_id = event.objects[0].typed().local_id
        seen.append(local_id)
        if local_id == "bad-sif":
            raise SIFError(9, 3, "Student has no school")
        if local_id == "bug":
            raise KeyError("oops")

    async with pub.running(), sub.running():
        ids = [await pub.publish("test-zone", "StudentPersonal", "Add", [student(x)]) for x in ("ok", "bad-sif", "bug")]
        ids.append(await pub.publish("test-zone", "StudentPersonal", "Delete", [student("gone")]))
        await until(lambda: len(agent_acks(sub_t)) >= 4)
        await asyncio.sleep(0.05)  # a few more pulls: nothing is delivered again
    assert seen == ["ok", "bad-sif", "bug"]
    acks = {a.original_msg_id: a for a in agent_acks(sub_t)}
    assert len(agent_acks(sub_t)) == 4 and set(acks) == set(ids)
    assert acks[ids[0]].status.code == 1
    assert (acks[ids[1]].error.category, acks[ids[1]].error.code) == (9, 3)
    assert (acks[ids[2]].error.category, acks[ids[2]].error.code) == (11, 1)
    assert "KeyError" in acks[ids[2]].error.desc and "oops" not in build(acks[ids[2]]).decode()
    assert (acks[ids[3]].error.category, acks[ids[3]].error.code) == (12, 2)  # no Delete handler
    assert sub_t.messages()[-1].kind == "SIF_SystemControl/SIF_GetMessage"


async def test_request_answered_in_two_packets_under_the_requesters_buffer_size(zone, tmp_path):
    res, res_t = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",), respond=("StudentLocator",))
    loc, _ = make_agent(zone, tmp_path, "Locator", request=("StudentLocator",))
    asked = []

    @res.on_request("StudentLocator")
    async def locate(request: Request, ctx):
        asked.append(request.query.example.typed().transaction_id)
        return candidates(2)

    async with res.running(), loc.running():
        one = len(build(Response(header=res.sessions["test-zone"].header("Locator"), request_msg_id=TX,
                                 objects=tuple(candidates(1)))))
        reply = await loc.request("test-zone", query(), max_buffer_size=one + 200, timeout=5)
    assert asked == [TX]
    assert [p.packet_number for p in reply.packets] == [1, 2]
    assert [p.more_packets for p in reply.packets] == [True, False]
    assert [o.typed().state_province_id for o in reply.objects] == ["AB0000000", "AB0000001"]
    responses = [m for m in res_t.messages() if isinstance(m, Response)]
    assert all(len(build(r)) <= one + 200 for r in responses)


async def test_request_errors_no_provider_handler_error_and_timeout(zone, tmp_path):
    loc, _ = make_agent(zone, tmp_path, "Locator", request=("StudentLocator",))
    async with loc.running():
        with pytest.raises(SIFError) as info:
            await loc.request("test-zone", query())
        assert (info.value.category, info.value.code) == (8, 4)  # refused by the zone: no provider

        res, _ = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",))

        @res.on_request("StudentLocator")
        async def locate(request, ctx):
            raise SIFError(8, 9, "IdStatus Cancel is not supported")

        async with res.running():
            with pytest.raises(SIFError) as info:
                await loc.request("test-zone", query())
            assert (info.value.category, info.value.code, info.value.desc) == (8, 9, "IdStatus Cancel is not supported")
        # the resolver is gone (still provider, not pulling): nobody answers in time
        with pytest.raises(RequestTimeout, match="0 packet"):
            await loc.request("test-zone", query(), timeout=0.1)
        assert len(loc.correlator) == 0


async def test_redelivered_request_is_not_handled_twice_and_its_packets_keep_their_ids(zone, tmp_path):
    res, res_t = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",))
    loc, loc_t = make_agent(zone, tmp_path, "Locator", request=("StudentLocator",))
    calls = []

    @res.on_request("StudentLocator")
    async def locate(request, ctx):
        calls.append(request.msg_id)
        return candidates(1)

    await res.connect("test-zone")
    async with loc.running():
        asking = asyncio.create_task(loc.request("test-zone", query(), timeout=5))
        await until(lambda: any(isinstance(m, Request) for m in loc_t.messages()))
        # the responder's ack for the request is lost: the request comes again
        res_t.refuse_next = lambda body: b"SIF_Ack" in body
        assert await res.step("test-zone")
        assert await res.step("test-zone")
        reply = await asking
    assert len(calls) == 1 and len(reply.packets) == 1
    responses = [m for m in res_t.messages() if isinstance(m, Response)]
    assert len(responses) == 1  # stored once, delivered once
    await res.close()


async def test_packets_that_could_not_be_sent_leave_the_request_unacknowledged(zone, tmp_path):
    res, res_t = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",))
    loc, loc_t = make_agent(zone, tmp_path, "Locator", request=("StudentLocator",))
    calls = []

    @res.on_request("StudentLocator")
    async def locate(request, ctx):
        calls.append(request.msg_id)
        return candidates(1)

    await res.connect("test-zone")
    async with loc.running():
        asking = asyncio.create_task(loc.request("test-zone", query(), timeout=5))
        await until(lambda: any(isinstance(m, Request) for m in loc_t.messages()))
        res_t.refuse_next = lambda body: b"SIF_Response" in body  # the packet cannot be sent
        assert await res.step("test-zone")
        assert res_t.acks() == []  # no ack: the request stays at the head of the queue
        assert await res.step("test-zone")  # delivered again; the stored packet goes now
        reply = await asking
    assert len(calls) == 1 and len(reply.packets) == 1
    responses = [m for m in res_t.messages() if isinstance(m, Response)]
    assert len(responses) == 1  # stored once, delivered once
    await res.close()


async def test_graceful_stop_finishes_the_message_in_hand_and_acknowledges_it(zone, tmp_path):
    pub, _ = make_agent(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",))
    sub, sub_t = make_agent(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    @sub.on_event("StudentPersonal")
    async def slow(event, ctx):
        started.set()
        await release.wait()
        finished.append(event.msg_id)

    await sub.connect("test-zone")  # subscribed before the event is published
    async with pub.running():
        msg_id = await pub.publish("test-zone", "StudentPersonal", "Add", [student()])
        run = asyncio.create_task(sub.run())
        await asyncio.wait_for(started.wait(), 5)
        sub.stop()
        await asyncio.sleep(0.02)
        assert not run.done()  # still finishing the message in hand
        release.set()
        await asyncio.wait_for(run, 5)
    assert finished == [msg_id]
    assert [a.original_msg_id for a in sub_t.acks()] == [msg_id]
    assert sub_t.closed


async def test_unfinished_work_is_not_acknowledged_and_comes_again_after_restart(zone, tmp_path):
    pub, _ = make_agent(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",))
    sub, sub_t = make_agent(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    started = asyncio.Event()

    @sub.on_event("StudentPersonal")
    async def hangs(event, ctx):
        started.set()
        await asyncio.Event().wait()

    await sub.connect("test-zone")
    async with pub.running():
        msg_id = await pub.publish("test-zone", "StudentPersonal", "Add", [student()])
    run = asyncio.create_task(sub.run())
    await asyncio.wait_for(started.wait(), 5)
    run.cancel()  # a hard stop (crash) in the middle of the handler
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sub_t.acks() == []

    again, again_t = make_agent(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    got = []

    @again.on_event("StudentPersonal")
    async def ok(event, ctx):
        got.append(event.msg_id)

    async with again.running():
        await until(lambda: len(again_t.acks()) == 1)
    assert got == [msg_id] and again_t.acks()[0].status.code == 1


async def test_zone_down_at_start_then_up_sleep_and_wakeup(zone, tmp_path):
    sub, sub_t = make_agent(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    sub_t.down = True
    task = asyncio.create_task(sub.run())
    await asyncio.sleep(0.05)
    assert not sub.ready["test-zone"].is_set()
    sub_t.down = False
    await asyncio.wait_for(sub.ready["test-zone"].wait(), 5)
    await sub.sleep("test-zone")
    n = len(sub_t.replies)
    await until(lambda: len(sub_t.replies) > n + 1)
    assert b"<SIF_Code>8</SIF_Code>" in sub_t.replies[-1]
    await sub.wakeup("test-zone")
    await until(lambda: b"<SIF_Code>9</SIF_Code>" in sub_t.replies[-1])
    sub.stop()
    await asyncio.wait_for(task, 5)


async def test_correlator_reassembles_out_of_order_packets_and_ignores_duplicates():
    c = Correlator()
    w = c.expect("R" * 32)

    def packet(n, more):
        return Response(header=Header.new("Resolver"), request_msg_id="R" * 32,
                        packet_number=n, more_packets=more, objects=tuple(candidates(1)))

    assert c.offer(packet(3, False)) and c.offer(packet(1, True)) and c.offer(packet(1, True))
    assert not w.future.done()
    c.offer(packet(2, True))
    reply = await c.wait(w, 1)
    assert [p.packet_number for p in reply.packets] == [1, 2, 3]
    assert not c.offer(packet(4, False))  # nobody waits any more


def test_an_object_too_big_for_the_buffer_makes_an_8_8_error():
    req = Request(header=Header.new("Locator"), versions=("2.1",), max_buffer_size=300, query=query())

    def make(**kw):
        return Response(header=Header.new("Resolver", "Locator"), request_msg_id=req.msg_id,
                        packet_number=kw.pop("packet"), more_packets=kw.pop("more"), **kw)

    packets = split_packets(tuple(candidates(1)), make, 300 - PACKET_SLACK)
    assert len(packets) == 1 and (packets[0].error.category, packets[0].error.code) == (8, 8)


async def test_sigterm_asks_for_a_graceful_stop(zone, tmp_path):
    import os
    import signal

    sub, sub_t = make_agent(zone, tmp_path, "Subscriber")
    task = asyncio.create_task(sub.run(handle_signals=True))
    await asyncio.wait_for(sub.ready["test-zone"].wait(), 5)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 5)
    assert sub.stopping and sub_t.closed


async def test_a_late_answer_goes_to_the_on_response_handler_whole_after_every_packet(zone, tmp_path):
    loc, loc_t = make_agent(zone, tmp_path, "Locator", request=("StudentLocator",))
    res, _ = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",))
    late: list[int] = []

    @loc.on_response("StudentLocator")
    async def answer_after_timeout(reply, ctx):
        late.extend(p.packet_number for p in reply.packets)

    @res.on_request("StudentLocator")
    async def locate(request, ctx):
        return candidates(2)

    await res.connect("test-zone")  # provides, but does not pull yet
    async with loc.running():
        with pytest.raises(RequestTimeout):
            await loc.request("test-zone", query(), timeout=0.05, max_buffer_size=900)
        async with res.running():
            await until(lambda: len(late) == 2)
    assert late == [1, 2]
    assert [a.status.code for a in loc_t.acks()] == [1, 1]


async def test_a_zone_that_forgot_the_agent_gets_a_new_registration(zone, tmp_path):
    sub, sub_t = make_agent(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    await sub.connect("test-zone")
    await sub.sessions["test-zone"].unregister()  # as if the zone administrator removed it
    assert not await sub.step("test-zone")  # 4/9 → register and provision again
    assert sub.ready["test-zone"].is_set()
    assert [m.kind for m in sub_t.messages()[-3:]] == [
        "SIF_SystemControl/SIF_GetMessage", "SIF_Register", "SIF_Provision"]
    assert not await sub.step("test-zone")  # queue empty (9), no error
    await sub.close()


async def test_a_provision_the_zone_refuses_stops_the_agent_with_the_sif_error(zone, tmp_path):
    first, _ = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",))
    second, _ = make_agent(zone, tmp_path, "Impostor", provide=("StudentLocator",))
    async with first.running():
        with pytest.raises(SIFError) as info:
            async with second.running():
                pass
    assert (info.value.category, info.value.code) == (6, 4)  # StudentLocator already has a provider


async def test_an_event_sent_while_the_zone_had_forgotten_us_waits_for_the_new_registration(zone, tmp_path):
    sub, _ = make_agent(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    pub, pub_t = make_agent(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",))
    got = []

    @sub.on_event("StudentPersonal", "Add")
    async def added(event, ctx):
        got.append(event.msg_id)

    await sub.connect("test-zone")
    await pub.connect("test-zone")
    await pub.sessions["test-zone"].unregister()
    msg_id = await pub.publish("test-zone", "StudentPersonal", "Add", [student()])  # 4/9: kept, no error
    [entry] = await pub.outbox.entries()
    assert entry.state == "pending"
    assert not await pub.step("test-zone")  # 4/9 again → register, provision, then the outbox goes
    [entry] = await pub.outbox.entries()
    assert entry.state == "delivered" and entry.msg_id == msg_id
    assert await sub.step("test-zone") and got == [msg_id]
    await pub.close()
    await sub.close()


async def test_a_deferred_request_is_acknowledged_now_and_answered_later_once(zone, tmp_path):
    loc, _ = make_agent(zone, tmp_path, "Locator", request=("StudentLocator",))
    res, res_t = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",))
    kept = []

    @res.on_request("StudentLocator")
    async def accept(request, ctx):
        kept.append(RequestRef.of(ctx.zone_id, request, ctx.version))
        return DEFERRED

    async with res.running(), loc.running():
        pending = asyncio.create_task(loc.request("test-zone", query(), timeout=5))
        await until(lambda: kept)
        # the request was acknowledged although nobody has answered yet
        await until(lambda: any(a.status is not None and a.original_msg_id == kept[0].msg_id
                                for a in res_t.acks()))
        assert not pending.done()
        ref = RequestRef.from_json(kept[0].to_json())  # as if read back from the handler's database
        await res.respond(ref, objects=candidates(2))
        await res.respond(ref, objects=candidates(3))  # a second call (e.g. after a restart) adds nothing
        reply = await pending
    assert [o.typed().state_province_id for o in reply.objects] == ["AB0000000", "AB0000001"]
    assert reply.packets[0].version == ref.version
    assert len([e for e in await res.outbox.entries() if e.kind.startswith("SIF_Response")]) == 1


async def test_send_request_answers_reach_the_handler_whole_even_after_a_restart(zone, tmp_path):
    """Packets held in the agent's database survive a restart between packet 1 and packet 2."""
    loc, loc_t = make_agent(zone, tmp_path, "Locator", request=("StudentLocator",))
    res, _ = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",))

    @res.on_request("StudentLocator")
    async def locate(request, ctx):
        return candidates(2)

    await res.connect("test-zone")
    await loc.connect("test-zone")
    msg_id = await loc.send_request("test-zone", query(), max_buffer_size=900)
    assert await res.step("test-zone")  # the resolver answers in two packets
    replies = []

    @loc.on_response("StudentLocator")
    async def first_life(reply, ctx):
        replies.append(reply)

    assert await loc.step("test-zone")  # packet 1 only: held, acknowledged, handler not called
    assert replies == []
    await loc.close()

    again, _ = make_agent(zone, tmp_path, "Locator", transport=loc_t, request=("StudentLocator",))

    @again.on_response("StudentLocator")
    async def second_life(reply, ctx):
        replies.append(reply)

    await again.connect("test-zone")
    assert await again.step("test-zone")  # packet 2: the answer is complete
    [reply] = replies
    assert reply.request_msg_id == msg_id
    assert [p.packet_number for p in reply.packets] == [1, 2]
    assert [o.typed().state_province_id for o in reply.objects] == ["AB0000000", "AB0000001"]
    await again.close()


async def test_an_error_answer_naming_no_object_goes_to_the_catch_all_handler(zone, tmp_path):
    loc, _ = make_agent(zone, tmp_path, "Locator", request=("StudentLocator",))
    res, _ = make_agent(zone, tmp_path, "Resolver", provide=("StudentLocator",))
    errors = []

    @res.on_request("StudentLocator")
    async def refuse(request, ctx):
        raise SIFError(8, 1, "cannot locate today")

    @loc.on_response("*")
    async def any_answer(reply, ctx):
        errors.append((reply.request_msg_id, reply.error.category, reply.error.code))

    async with res.running(), loc.running():
        msg_id = await loc.send_request("test-zone", query())
        await until(lambda: errors)
    assert errors == [(msg_id, 8, 1)]
