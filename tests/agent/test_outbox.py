"""Crash safety of the outbox: a message is stored with its SIF_MsgId before the first send,
re-sent as the same bytes after a crash, and delivered once (the zone answers 7 to a repeat)."""

from __future__ import annotations

import pytest

from messages import Event, parse
from messages.objects import Name, StudentPersonal
from sif_agent.outbox import DELIVERED, PENDING, REFUSED, Outbox
from tests.agent.support import make_agent
from tests.zone.harness import Harness


@pytest.fixture
async def zone(tmp_path):
    h = await Harness.start(tmp_path)
    yield h
    await h.close()


def student() -> StudentPersonal:
    return StudentPersonal(ref_id="D" * 32, local_id="S-1", name=Name(last_name="Okafor", first_name="Amara"))


async def subscriber(zone, tmp_path):
    sub, sub_t = make_agent(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    got: list[str] = []

    @sub.on_event("StudentPersonal", "Add")
    async def added(event, ctx):
        got.append(event.msg_id)

    await sub.connect("test-zone")
    return sub, sub_t, got


async def drain(agent, zone_id="test-zone"):
    while await agent.step(zone_id):
        pass


@pytest.mark.parametrize("crash", ["before the zone saw it", "after the zone took it, reply lost"])
async def test_message_is_delivered_once_with_the_same_msg_id_after_a_crash(zone, tmp_path, crash):
    sub, _, got = await subscriber(zone, tmp_path)
    pub, pub_t = make_agent(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",))
    await pub.connect("test-zone")
    if crash.startswith("before"):
        pub_t.down = True
    else:
        pub_t.lose_replies = 1
    msg_id = await pub.publish("test-zone", "StudentPersonal", "Add", [student()])
    [entry] = await pub.outbox.entries()
    assert entry.msg_id == msg_id and entry.state == PENDING
    await pub.close()  # the process dies here; the outbox file survives

    again, again_t = make_agent(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",))
    await again.connect("test-zone")  # start-up sends what the outbox still holds
    [entry] = await again.outbox.entries()
    assert entry.state == DELIVERED and entry.msg_id == msg_id
    [resent] = [b for b in again_t.sent if b == entry.body]  # the very same bytes
    ack = parse(again_t.replies[again_t.sent.index(resent)])
    assert ack.status.code == (0 if crash.startswith("before") else 7)
    assert isinstance(parse(resent), Event)

    await drain(sub)
    assert got == [msg_id]  # once, whatever happened
    await again.close()
    await sub.close()


async def test_a_refused_message_is_kept_with_its_error_and_not_sent_again(zone, tmp_path):
    pub, pub_t = make_agent(zone, tmp_path, "Publisher")  # no publish right asked for: fine in open zones
    await pub.connect("test-zone")
    from messages import SIFError

    with pytest.raises(SIFError) as info:
        await pub.publish("test-zone", "StudentPersonal", "Add", [])  # an event with no object: 9/3
    [entry] = await pub.outbox.entries()
    assert entry.state == REFUSED and entry.error.startswith(f"{info.value.category}/{info.value.code}")
    n = len(pub_t.sent)
    assert await pub.outbox.deliver(pub.sessions["test-zone"]) == 0 and len(pub_t.sent) == n
    await pub.close()


async def test_put_with_a_known_key_adds_nothing(tmp_path):
    from messages import Header

    box = Outbox.from_url(f"sqlite+aiosqlite:///{tmp_path}/o.db")
    await box.create()
    e1 = Event(header=Header.new("A"), object_name="StudentPersonal", action="Add", objects=(student(),))
    e2 = Event(header=Header.new("A"), object_name="StudentPersonal", action="Add", objects=(student(),))
    assert await box.put("z", [e1], key="k") == [e1.msg_id]
    assert await box.put("z", [e2], key="k") == [e1.msg_id]
    assert await box.has_key("k") and not await box.has_key("other")
    assert [e.msg_id for e in await box.entries("z")] == [e1.msg_id]
    assert await box.purge(before=float("inf")) == 0  # still pending: kept
    await box._mark((await box.get(e1.msg_id)).id, state=DELIVERED)
    assert await box.purge(before=float("inf")) == 1 and await box.entries() == []
    await box.close()
