"""SIF 2.x Change and Delete events carry partial objects; strict validation accepts them."""

import pytest

from messages import Event, Header, SIFError, build, parse
from messages.objects import Demographics, StudentPersonal

H = Header(msg_id="1" * 32, timestamp="2026-11-25T09:30:00Z", source_id="SIS")
PARTIAL = StudentPersonal(ref_id="A" * 32, demographics=Demographics(birth_date="2016-09-30"))  # no LocalId, no Name


@pytest.mark.parametrize("action", ["Change", "Delete"])
def test_partial_change_and_delete_events_pass_strict_validation(action):
    m = Event(header=H, version="2.1", object_name="StudentPersonal", action=action, objects=(PARTIAL,))
    assert parse(build(m)) == m


def test_partial_add_event_is_still_refused_in_strict_mode():
    m = Event(header=H, version="2.1", object_name="StudentPersonal", action="Add", objects=(PARTIAL,))
    with pytest.raises(SIFError) as info:
        parse(build(m))
    assert (info.value.category, info.value.code) == (1, 6)
    assert parse(build(m), lenient=True) == m


def test_partial_change_still_checks_values():
    bad = StudentPersonal(ref_id="A" * 32, demographics=Demographics(birth_date="2016-13-45"))
    m = Event(header=H, version="2.1", object_name="StudentPersonal", action="Change", objects=(bad,))
    with pytest.raises(SIFError) as info:
        parse(build(m))
    assert (info.value.category, info.value.code) == (1, 4)
