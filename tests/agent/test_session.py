"""ZoneSession against an in-process Zis: register, provision, pull, ack, sleep, status 7."""

from __future__ import annotations

import pytest

from messages import Event, SIFError, build
from messages.objects import Name, StudentPersonal
from sif_agent.session import ZoneSession
from tests.agent.support import ZisTransport, settings
from tests.zone.harness import Harness


@pytest.fixture
async def zone(tmp_path):
    h = await Harness.start(tmp_path)
    yield h
    await h.close()


def session(h: Harness, tmp_path, source_id: str, **kw) -> ZoneSession:
    s = settings(source_id, tmp_path, **kw)
    return ZoneSession(s.zones[0], ZisTransport(h, source_id), name=s.name)


def student(local_id="S-1") -> StudentPersonal:
    return StudentPersonal(ref_id="D" * 32, local_id=local_id, name=Name(last_name="Okafor", first_name="Amara"))


async def test_register_negotiates_the_first_version_the_zone_accepts(tmp_path):
    h = await Harness.start(tmp_path, versions=("2.0r1",))
    try:
        s = session(h, tmp_path, "Agent-A", versions=("2.3", "2.1", "2.0r1"))
        await s.register()
        assert s.version == "2.0r1"
        sent = s.transport.messages()
        assert [m.version for m in sent] == ["2.3", "2.1", "2.0r1"]  # 12/3 twice, then accepted
        assert sent[-1].versions == ("2.3", "2.1", "2.0r1")
    finally:
        await h.close()


async def test_register_and_provision_are_idempotent_and_keep_the_queue(zone, tmp_path):
    pub = session(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",))
    sub = session(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    for s in (pub, sub):
        await s.register()
        acl = await s.provision()
        assert acl is not None
    await pub.send(Event(header=pub.header(), version=pub.version, object_name="StudentPersonal",
                         action="Add", objects=(student(),)))
    # the subscriber restarts: registers and provisions again; its queued event is still there
    await sub.register()
    await sub.provision()
    pulled = await sub.pull()
    assert isinstance(pulled.message, Event) and pulled.message.source_id == "Publisher"
    # not acknowledged: the same message again; acknowledged: the queue is empty (9)
    assert (await sub.pull()).message.msg_id == pulled.message.msg_id
    assert (await sub.ack(pulled.message)).status.code == 0
    assert (await sub.pull()).empty


async def test_error_ack_carries_the_category_and_code_and_removes_the_message(zone, tmp_path):
    pub = session(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",))
    sub = session(zone, tmp_path, "Subscriber", subscribe=("StudentPersonal",))
    for s in (pub, sub):
        await s.register()
        await s.provision()
    await pub.send(Event(header=pub.header(), version=pub.version, object_name="StudentPersonal",
                         action="Add", objects=(student(),)))
    msg = (await sub.pull()).message
    await sub.ack(msg, error=SIFError(9, 3, "no school"))
    sent_ack = sub.transport.messages()[-1]
    assert (sent_ack.error.category, sent_ack.error.code) == (9, 3)
    assert sent_ack.original_msg_id == msg.msg_id and sent_ack.original_source_id == "Publisher"
    assert (await sub.pull()).empty


async def test_sleep_wakeup_and_a_sif_error_from_the_zone(zone, tmp_path):
    s = session(zone, tmp_path, "Agent-A")
    with pytest.raises(SIFError) as info:
        await s.ping()  # not registered yet
    assert (info.value.category, info.value.code) == (4, 9)
    await s.register()
    await s.sleep()
    assert (await s.pull()).sleeping
    await s.wakeup()
    assert (await s.pull()).empty


async def test_resending_the_same_bytes_is_answered_7_and_counts_as_delivered(zone, tmp_path):
    s = session(zone, tmp_path, "Publisher", publish_add=("StudentPersonal",))
    await s.register()
    await s.provision()
    event = Event(header=s.header(), version=s.version, object_name="StudentPersonal", action="Add",
                  objects=(student(),))
    body = build(event)
    assert (await s.exchange(body, event.msg_id)).status.code == 0
    assert (await s.exchange(body, event.msg_id)).status.code == 7
