"""Priority 1: events in the district zone → StudentLocator request → state ID written back."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sif_agent.locator.determination import LookupState, Mode
from sif_agent.locator.transactions import TxnState
from tests.locator_mapping.conftest import STUDENT, enrollment, personal, school

from .conftest import STATE_ID, until


async def running(stack: AsyncExitStack, w) -> None:
    await stack.enter_async_context(w.locator.running())
    await stack.enter_async_context(w.resolver.running())
    await stack.enter_async_context(w.sis.running())


async def test_mode1_adds_end_with_the_state_id_written_back(world_factory):
    w = await world_factory()
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await w.publish("SchoolInfo", "Add", school())
        await w.publish("StudentPersonal", "Add", personal())
        await w.publish("StudentSchoolEnrollment", "Add", enrollment())
        await until(lambda: w.changes)
    change = w.changes[0]
    assert (change.ref_id, change.local_id, change.state_province_id) == (STUDENT, "100234", STATE_ID)
    assert change.name.last_name == "Okafor"
    [txn] = await w.store.list()
    assert txn.state is TxnState.WRITTEN_BACK and txn.state_id == STATE_ID
    assert txn.school_irn == "012345" and txn.district_irn == "043802"
    assert len(w.requests) == 1
    _, status, _, request = w.requests[0]
    loc = request.query.example.typed()
    assert status == "Request" and loc.name_of_record.first_name == "Amara"
    assert loc.agency("School") == "012345" and loc.agency("LEA") == "043802"
    student = await w.locator.records.get("district-043802", STUDENT)
    assert student.state is LookupState.DONE and student.transaction_id == txn.transaction_id
    kinds = [r.kind for r in await w.store.receipts(txn.transaction_id)]
    assert kinds == ["created", "request", "response", "writeback"]


async def test_mode2_waits_for_the_first_change(world_factory):
    w = await world_factory(mode=Mode.AFTER_FIRST_CHANGE, query_form="conditions")
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await w.publish("SchoolInfo", "Add", school())
        await w.publish("StudentPersonal", "Add", personal())
        await w.publish("StudentSchoolEnrollment", "Add", enrollment())
        await until(lambda: w.locator.agent.sessions and _seen(w))
        student = await w.locator.records.get("district-043802", STUDENT)
        assert student.state is LookupState.WAITING and "waiting for the first StudentPersonal Change" in student.reason
        assert w.requests == [] and await w.store.list() == []
        await w.publish("StudentPersonal", "Change", personal())
        await until(lambda: w.changes)
    assert w.changes[0].state_province_id == STATE_ID
    _, status, _, request = w.requests[0]
    assert request.query.condition_group is not None and status == "Request"
    [txn] = await w.store.list()
    assert txn.state is TxnState.WRITTEN_BACK


def _seen(w, n: int = 3) -> bool:
    """The locator has acknowledged the SIS's three events."""
    acks = w.locator.agent.sessions["district-043802"].transport.acks()
    return len(acks) >= n


async def test_non_home_enrollment_is_excluded(world_factory):
    w = await world_factory()
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await w.publish("SchoolInfo", "Add", school())
        await w.publish("StudentPersonal", "Add", personal())
        await w.publish("StudentSchoolEnrollment", "Add", enrollment(membership_type="Concurrent"))
        await until(lambda: _seen(w))
    assert w.requests == [] and await w.store.list() == [] and w.changes == []
    student = await w.locator.records.get("district-043802", STUDENT)
    assert student.state is LookupState.WAITING
    assert "rule 1" in student.reason


async def test_student_with_a_valid_state_id_is_excluded(world_factory):
    w = await world_factory()
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await w.publish("StudentPersonal", "Add", personal(state_province_id="ZZ7654321"))
        await w.publish("StudentSchoolEnrollment", "Add", enrollment())
        await until(lambda: _seen(w, 2))
    assert w.requests == [] and await w.store.list() == []
    student = await w.locator.records.get("district-043802", STUDENT)
    assert "rule 3" in student.reason


async def test_mode3_starts_once_required_fields_and_a_home_enrollment_are_there(world_factory):
    w = await world_factory(mode=Mode.ALL_REQUIRED_FIELDS)
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await w.publish("SchoolInfo", "Add", school())
        await w.publish("StudentPersonal", "Change", personal())  # no Add needed in mode 3
        await until(lambda: _seen(w, 2))
        student = await w.locator.records.get("district-043802", STUDENT)
        assert student.state is LookupState.WAITING and "no StudentSchoolEnrollment" in student.reason
        await w.publish("StudentSchoolEnrollment", "Add", enrollment())
        await until(lambda: w.changes)
    assert len(w.requests) == 1 and w.changes[0].state_province_id == STATE_ID


async def test_delete_while_waiting_cancels_and_later_events_are_ignored(world_factory):
    w = await world_factory()
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await w.publish("StudentPersonal", "Add", personal())
        await until(lambda: _seen(w, 1))
        await w.sis.publish("test-zone", "StudentPersonal", "Delete", [personal()])
        await w.publish("StudentSchoolEnrollment", "Add", enrollment())
        await until(lambda: _seen(w, 3))
    student = await w.locator.records.get("district-043802", STUDENT)
    assert student.state is LookupState.CANCELLED and w.requests == []
