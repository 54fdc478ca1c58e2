"""Every status path of the SLF tables, with the scripted SSID database, on SQLite and PostgreSQL.

The "answer" helper does what the agent's poller does (claim, build each waiting request's
answer, finish) but collects the answers instead of sending them through a zone.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select, update

from messages.objects import ExtendedElement, RequestingAgencyId
from sif_agent.resolver import inbound
from sif_agent.resolver.config import StorePolicy
from sif_agent.resolver.outbound import Answer
from sif_agent.resolver.status import SlfStatus as S
from sif_agent.resolver.store import ResolverStore
from sif_agent.resolver.tables import CORE_ATTRIBUTES

from . import ssid_standin as db
from .conftest import SOURCE, TXN, ZONE, locator, policy, ref_of, request

T2, T3, T4 = "A" * 32, "B" * 32, "C" * 32
BATCH_NUM_PATH = 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="BatchNum"]'


async def ask(store: ResolverStore, *, txn: str = TXN, id_status: str = "Request", form: str = "example",
              source: str = SOURCE, msg_id: str | None = None, zone: str = ZONE, **kw):
    req = request(locator(txn, id_status, **kw), form=form, source=source, msg_id=msg_id)
    inc = inbound.read(req, CORE_ATTRIBUTES, batch_num_path=BATCH_NUM_PATH)
    rec = await store.record(zone, source, req.msg_id, inc, ref_of(req, zone))
    return req, rec


async def answer(store: ResolverStore, zones=(ZONE,)) -> dict[str, Answer]:
    """One poller pass: {SIF_MsgId of each answered request: its answer}."""
    out: dict[str, Answer] = {}
    for work in await store.claim(zones):
        done = []
        for req in work.requests:
            a = work.answer(req)
            if a is not None:
                out[req.ref.msg_id] = a
                done.append((req.id, a))
        await store.finish(work, done)
    return out


@pytest.fixture
async def world(make_store, slf_url):
    """(make a store, the scripted SSID database) on one fresh database."""
    ssid = db.ScriptedSsid(slf_url)
    yield make_store, ssid
    await ssid.close()


def only(answers: dict[str, Answer], req) -> Answer:
    assert list(answers) == [req.msg_id], answers
    return answers[req.msg_id]


# ====================================================================== recording
async def test_a_new_request_is_a_batch_and_a_row_at_request(world):
    make, ssid = world
    store = await make()
    req, rec = await ask(store)
    assert rec.created and not rec.duplicate and rec.immediate is None
    [batch] = await store.batches()
    assert (batch["SIF_ZONE_ID"], batch["SIF_SOURCE_ID"], batch["READY"]) == (ZONE, SOURCE, 1)
    assert (batch["SCHOOL_YR"], batch["DISTRICT_CODE"], batch["SCHOOL_CODE"], batch["BATCH_NUM"]) == \
        ("2027", "043802", "012345", None)
    [row] = await store.rows()
    assert row["N_SLF_STATUS"] == S.REQUEST and row["SLF_TRANSACTION_GUID"] == TXN
    assert (row["LEGAL_LAST_NAME"], row["BIRTH_DATE"], row["GENDER_CODE"], row["LOCAL_ID"], row["GRADE_LEVEL"],
            row["HOME_SCHOOL_CODE"], row["ETHNICITY_CODE"], row["SIF_REFIDTYPE"]) == \
        ("Okafor", "20170412", "F", "100234", "03", "012345", "1000", 1)
    assert row["SIF_MSG_ID"] == req.msg_id and row["N_BATCH_ID"] == batch["N_BATCH_ID"]
    [logged] = await store.requests(TXN)
    assert logged["ANSWERED_AT"] is None and logged["AWAITS"] == "OUTCOME"
    assert store.changed.is_set() and store.new_work.is_set()
    assert await answer(store) == {}  # nothing decided yet


@pytest.mark.parametrize("form", ["example", "conditions"])
async def test_redelivery_and_follow_ups_make_no_second_row(world, form):
    make, ssid = world
    store = await make()
    req, first = await ask(store, form=form)
    again = await store.record(ZONE, SOURCE, req.msg_id, inbound.read(req, CORE_ATTRIBUTES), ref_of(req))
    assert again.duplicate and again.request_id == first.request_id
    follow, rec = await ask(store, form=form)  # same TransactionId, new SIF_MsgId
    assert not rec.created and rec.transaction_row == first.transaction_row
    assert len(await store.rows()) == 1 and len(await store.requests(TXN)) == 2
    [claimed] = await ssid.claim()
    await ssid.apply(claimed, db.match("AB1234567"))
    got = await answer(store)
    assert set(got) == {req.msg_id, follow.msg_id}  # both requests get the one outcome
    assert {a.state_id for a in got.values()} == {"AB1234567"}


# ====================================================================== outcomes
@pytest.mark.parametrize("decision,seed_status", [(db.match("AB1234567"), S.SYSTEM_MATCH),
                                                   (db.new("NW0000001"), S.SYSTEM_NEW)])
@pytest.mark.parametrize("on_complete", ["delete", "keep"])
async def test_match_and_new_are_valid_then_removed_or_complete(world, decision, seed_status, on_complete):
    make, ssid = world
    store = await make(policy(on_complete=on_complete))
    req, _ = await ask(store)
    [row] = await ssid.claim()
    assert await ssid.status(row["N_TRANSACTION_PARMS_ID"]) is S.REQUEST_IN_PROGRESS
    assert await answer(store) == {}
    await ssid.apply(row, decision)
    a = only(await answer(store), req)
    assert a.id_status == "Valid" and a.final and a.state_id == decision.state_id
    [obj] = a.objects
    assert (obj.transaction_id, obj.state_province_id, obj.local_id) == (TXN, decision.state_id, "100234")
    assert obj.extended_elements[0].name == "SLF_STATUS" and obj.extended_elements[0].value == seed_status.name
    rows = await store.rows()
    if on_complete == "delete":
        assert rows == [] and await store.batches() == []  # the last transaction takes its batch along
    else:
        [kept] = rows
        assert (kept["N_SLF_STATUS"], kept["N_FINAL_STATUS"]) == (S.COMPLETE, seed_status)
        follow, _ = await ask(store)
        assert only(await answer(store), follow).state_id == decision.state_id
    assert await answer(store) == {}


async def test_ambiguous_candidates_by_confidence_then_resolved_at_the_state(world):
    make, ssid = world
    store = await make()
    req, _ = await ask(store)
    [row] = await ssid.claim()
    await ssid.apply(row, db.ambiguous(*db.CANDIDATES))
    a = only(await answer(store), req)
    assert a.id_status == "Ambiguous" and not a.final
    assert [(o.state_province_id, o.confidence) for o in a.objects] == \
        [("AB1234567", "0.92"), ("CD7654321", "0.88"), ("EF1111111", None)]
    top = a.objects[0]
    assert top.name_of_record.middle_name == "Grace" and top.demographics.birth_date == "2017-04-12"
    assert top.grade_level.code == "03" and a.objects[1].school_attended_name == "012345"
    assert all(o.id_status == "Ambiguous" and o.transaction_id == TXN for o in a.objects)
    assert (await store.rows())[0]["N_SLF_STATUS"] == S.RESOLUTION_IN_PROGRESS  # 7 → 8 after answering

    # a follow-up while unresolved gets the candidates again; the row stays at 8
    f1, _ = await ask(store)
    assert only(await answer(store), f1).id_status == "Ambiguous"
    assert (await store.rows())[0]["N_SLF_STATUS"] == S.RESOLUTION_IN_PROGRESS

    await ssid.resolve(TXN, db.match("CD7654321"))  # a state user picks in the web UI: 8 → 5
    assert await answer(store) == {}  # nobody is asking: the row waits at 5 for the next follow-up
    assert (await store.rows())[0]["N_SLF_STATUS"] == S.USER_MATCH
    f2, _ = await ask(store)
    a = only(await answer(store), f2)
    assert a.id_status == "Valid" and a.state_id == "CD7654321" and a.objects[0].extended_elements[0].value == \
        "USER_MATCH"
    assert await store.rows() == []


@pytest.mark.parametrize("form", ["example", "conditions"])
async def test_ambiguous_resolved_at_the_district(world, form):
    make, ssid = world
    store = await make()
    await ask(store, form=form)
    [row] = await ssid.claim()
    await ssid.apply(row, db.ambiguous(*db.CANDIDATES))
    await answer(store)

    bad, rec = await ask(store, id_status="Resolve", state_province_id="ZZ0000000", form=form)
    assert "not a candidate" in rec.note
    assert only(await answer(store), bad).id_status == "Ambiguous"  # the candidates again

    pick, rec = await ask(store, id_status="Resolve", state_province_id="CD7654321", form=form)
    [r] = await store.rows()
    assert (r["RESOLVE_ACTION"], r["RESOLVE_STATE_ID"], r["N_SLF_STATUS"]) == ("MATCH", "CD7654321", 8)
    assert await answer(store) == {}  # the database has not applied it yet
    assert await ssid.resolutions() == 1  # 8 → 5 USER_MATCH with the pick
    a = only(await answer(store), pick)
    assert (a.id_status, a.state_id) == ("Valid", "CD7654321")
    assert await store.rows() == []


async def test_district_asks_for_a_new_id(world):
    make, ssid = world
    store = await make()
    await ask(store)
    [row] = await ssid.claim()
    await ssid.apply(row, db.ambiguous(*db.CANDIDATES[:2]))
    await answer(store)
    new, _ = await ask(store, id_status="New", form="conditions")
    assert (await store.rows())[0]["RESOLVE_ACTION"] == "NEW"
    await ssid.resolutions()
    a = only(await answer(store), new)
    assert a.id_status == "Valid" and a.state_id == "NW0000001"
    assert a.objects[0].extended_elements[0].value == "USER_NEW"


async def test_error_carries_the_error_log_text(world):
    make, ssid = world
    store = await make()
    req, _ = await ask(store)
    [row] = await ssid.claim()
    await ssid.apply(row, db.error("Insufficient data: LEGAL_MIDDLE_NAME is required"))
    a = only(await answer(store), req)
    assert a.id_status == "Error" and a.final
    [obj] = a.objects
    assert obj.error.desc == "Insufficient data: LEGAL_MIDDLE_NAME is required"
    assert (obj.error.category, obj.error.code) == (8, 1)
    assert await store.rows() == [] and await store.batches() == []
    async with ssid.engine.connect() as conn:
        assert (await conn.execute(select(ssid.t.error_log))).all() == []


async def test_an_ambiguous_row_may_still_fail(world):
    make, ssid = world
    store = await make()
    await ask(store)
    [row] = await ssid.claim()
    await ssid.apply(row, db.ambiguous(*db.CANDIDATES))
    await answer(store)
    await ssid.resolve(TXN, db.error("Duplicate record under review"))  # 8 → 10
    f, _ = await ask(store)
    assert only(await answer(store), f).text == "Duplicate record under review"


# ====================================================================== cancel, release
async def test_cancel_before_the_database_claims_it(world):
    make, ssid = world
    store = await make()
    req, _ = await ask(store)
    cancel, rec = await ask(store, id_status="Cancel")
    assert "1=REQUEST -> 12=CANCELLED" in rec.note
    assert await ssid.claim() == []  # the database never sees it
    got = await answer(store)
    assert {k: a.id_status for k, a in got.items()} == {req.msg_id: "Cancelled", cancel.msg_id: "Cancelled"}
    assert await store.rows() == []


@pytest.mark.parametrize("at", ["working", "ambiguous"])
async def test_cancel_while_the_database_works_asks_it_first(world, at):
    make, ssid = world
    store = await make()
    await ask(store)
    [row] = await ssid.claim()
    if at == "ambiguous":
        await ssid.apply(row, db.ambiguous(*db.CANDIDATES))
        await answer(store)
    cancel, rec = await ask(store, id_status="Cancel", form="conditions")
    assert "-> 13=CANCELLED_IN_PROGRESS" in rec.note
    assert await answer(store) == {}  # waits for the database to confirm
    await ssid.apply(row, db.match())  # too late: the database's 2 → 3 finds 13 and changes nothing
    assert await ssid.status(row["N_TRANSACTION_PARMS_ID"]) is S.CANCELLED_IN_PROGRESS
    assert await ssid.cancellations() == 1  # 13 → 12
    got = await answer(store)
    assert got[cancel.msg_id].id_status == "Cancelled"
    assert all(a.id_status == "Cancelled" for a in got.values())
    assert await store.rows() == []


async def test_cancel_after_the_decision_is_too_late(world):
    make, ssid = world
    store = await make()
    req, _ = await ask(store)
    [row] = await ssid.claim()
    await ssid.apply(row, db.match("AB1234567"))
    cancel, _ = await ask(store, id_status="Cancel")
    got = await answer(store)
    assert got[req.msg_id].id_status == "Valid"
    assert got[cancel.msg_id].id_status == "Error" and "cannot be cancelled" in got[cancel.msg_id].text
    # later, against the remembered outcome
    late, _ = await ask(store, id_status="Cancel")
    assert "cannot be cancelled" in only(await answer(store), late).text


async def test_unknown_transaction_ids_are_answered_at_once(world):
    make, _ = world
    store = await make()
    for status in ("Cancel", "Resolve", "New"):
        _, rec = await ask(store, txn=T2, id_status=status, state_province_id="AB1234567")
        assert rec.immediate is not None and rec.immediate.id_status == "Error"
        assert "no open transaction" in rec.immediate.text
    assert await store.rows() == [] and await store.requests() == []


async def test_release_is_answered_release(world):
    make, ssid = world
    store = await make()
    await ask(store)
    rel, rec = await ask(store, id_status="Release", state_province_id="AB1234567")
    assert rec.created  # its own row, beside the lookup's
    rows = await store.rows()
    assert sorted(r["SLF_REQUEST_TYPE"] for r in rows) == ["Release", "Request"]
    for row in await ssid.claim():
        await ssid.apply(row, db.match("AB1234567"))
    got = await answer(store)
    assert got[rel.msg_id].id_status == "Release" and got[rel.msg_id].objects[0].state_province_id == "AB1234567"


# ====================================================================== repeats, refusals
@pytest.mark.parametrize("decision", [db.new("NW0000042"), db.error("Insufficient data")])
async def test_a_repeat_after_completion_gets_the_first_answer(world, decision):
    make, ssid = world
    store = await make()
    req, _ = await ask(store)
    [row] = await ssid.claim()
    await ssid.apply(row, decision)
    first = only(await answer(store), req)
    assert await store.rows() == []
    again, rec = await ask(store)  # e.g. the locator timed out and retried the same TransactionId
    assert not rec.created and "repeat of completed" in rec.note
    second = only(await answer(store), again)
    assert (second.id_status, second.state_id, second.text) == (first.id_status, first.state_id, first.text)
    assert await store.rows() == [] and await ssid.claim() == []  # never a second ID


async def test_the_request_log_is_purged_after_the_retention(world):
    make, ssid = world
    store = await make(StorePolicy(retention=86400.0))
    req, _ = await ask(store)
    [row] = await ssid.claim()
    await ssid.apply(row, db.match())
    await answer(store)
    assert await store.purge(store.clock() + 3600) == 0
    assert await store.purge(store.clock() + 86401) == 1 and await store.requests() == []


async def test_values_the_tables_cannot_hold_are_answered_at_once(world):
    make, _ = world
    store = await make()
    _, rec = await ask(store, local_id="9" * 25)
    assert rec.immediate.id_status == "Error" and "at most 20 (LOCAL_ID)" in rec.immediate.text
    assert await store.rows() == []


async def test_a_transaction_id_of_another_requester_is_refused(world):
    make, _ = world
    store = await make()
    await ask(store)
    _, rec = await ask(store, source="ITC02-StudentLocator")
    assert rec.immediate.id_status == "Error" and "another requester" in rec.immediate.text
    assert len(await store.rows()) == 1


async def test_an_illegal_database_change_is_refused_and_logged(world, caplog):
    make, ssid = world
    store = await make()
    req, _ = await ask(store)
    [row] = await ssid.claim()
    pid = row["N_TRANSACTION_PARMS_ID"]
    await ssid.force(pid, S.RESOLUTION_IN_PROGRESS)  # 2 → 8 skips 7 and is the resolver's step
    with caplog.at_level(logging.ERROR, "sif_agent.resolver.store"):
        assert await answer(store) == {}
        assert await answer(store) == {}
    refusals = [r for r in caplog.records if "illegal N_SLF_STATUS change" in r.getMessage()]
    assert len(refusals) == 1  # logged once, not on every pass
    assert "1=REQUEST -> 8=RESOLUTION_IN_PROGRESS" in refusals[0].getMessage()
    [r] = await store.rows()
    assert (r["N_SLF_STATUS"], r["N_REFUSED_STATUS"], r["N_SEEN_STATUS"]) == (8, 8, 1)
    await ssid.force(pid, S.SYSTEM_MATCH, STATE_ID="AB1234567")  # the database corrects itself
    assert only(await answer(store), req).state_id == "AB1234567"


async def test_undefined_status_numbers_are_refused(world):
    make, ssid = world
    store = await make()
    await ask(store)
    [row] = await ssid.claim()
    await ssid.force(row["N_TRANSACTION_PARMS_ID"], 99)
    assert await answer(store) == {}
    assert (await store.rows())[0]["N_REFUSED_STATUS"] == 99


async def test_a_change_while_answering_is_looked_at_again(world):
    make, ssid = world
    store = await make()
    await ask(store)
    [row] = await ssid.claim()
    await ssid.apply(row, db.ambiguous(*db.CANDIDATES))
    [work] = await store.claim([ZONE])
    answers = [(r.id, work.answer(r)) for r in work.requests]
    async with ssid.engine.begin() as conn:  # a state user resolves while the Ambiguous answer goes out
        await conn.execute(update(ssid.t.parms).values(N_SLF_STATUS=5, STATE_ID="AB1234567"))
    store.changed.clear()
    await store.finish(work, answers)
    assert store.changed.is_set()
    [r] = await store.rows()
    assert (r["N_SLF_STATUS"], r["CLAIM_TOKEN"]) == (5, None)  # not moved to 8; claim released


# ====================================================================== batching, READY
async def test_batching_per_request(world):
    make, _ = world
    store = await make(policy(policy="request"))
    for txn in (TXN, T2):
        await ask(store, txn=txn)
    assert len(await store.batches()) == 2


async def test_batching_by_batch_num(world):
    make, _ = world
    store = await make(policy(policy="batch_num", batch_num_path=BATCH_NUM_PATH))
    b17 = (ExtendedElement(name="BatchNum", value="B-17"),)
    await ask(store, txn=TXN, extended_elements=b17)
    await ask(store, txn=T2, extended_elements=b17)
    await ask(store, txn=T3)  # no BATCH_NUM: a batch of its own
    await ask(store, txn=T4, extended_elements=b17, source="ITC02-StudentLocator")  # other locator
    batches = await store.batches()
    assert [(b["BATCH_NUM"], b["SIF_SOURCE_ID"]) for b in batches] == \
        [("B-17", SOURCE), (None, SOURCE), ("B-17", "ITC02-StudentLocator")]
    rows = await store.rows()
    assert [r["N_BATCH_ID"] for r in rows] == [batches[0]["N_BATCH_ID"]] * 2 + [batches[1]["N_BATCH_ID"],
                                                                                batches[2]["N_BATCH_ID"]]


async def test_batching_per_day_and_school(world):
    make, _ = world
    store = await make(policy(policy="day", timezone="America/New_York"))
    await ask(store, txn=TXN)
    await ask(store, txn=T2)
    other_school = (RequestingAgencyId(type="LEA", value="043802"), RequestingAgencyId(type="School", value="099999"))
    await ask(store, txn=T3, requesting_agency_ids=other_school)
    store.clock.now += 86400
    await ask(store, txn=T4)
    batches = await store.batches()
    assert [(b["BATCH_NUM"], b["SCHOOL_CODE"]) for b in batches] == \
        [("20270115", "012345"), ("20270115", "099999"), ("20270116", "012345")]


async def test_deferred_ready_by_count_and_only_ready_batches_are_processed(world):
    make, ssid = world
    store = await make(policy(policy="day", ready="deferred", ready_count=2))
    await ask(store, txn=TXN)
    assert (await store.batches())[0]["READY"] == 0
    assert await store.mark_ready() == []
    assert await ssid.claim() == []  # the seed: only READY=1 batches are processed
    await ask(store, txn=T2)
    assert await store.mark_ready() == [(await store.batches())[0]["N_BATCH_ID"]]
    assert len(await ssid.claim()) == 2


async def test_deferred_ready_by_age_and_time_of_day(world):
    import datetime as dt

    make, ssid = world
    store = await make(policy(ready="deferred", ready_after=3600.0))
    await ask(store)
    store.clock.now += 3599
    assert await store.mark_ready() == []
    store.clock.now += 1
    assert len(await store.mark_ready()) == 1

    store2 = await make(policy(ready="deferred", ready_at=dt.time(15, 30), timezone="UTC"))
    store2.clock.now = dt.datetime(2027, 1, 15, 15, 0, tzinfo=dt.timezone.utc).timestamp()
    await ask(store2, txn=T2)
    store2.clock.now += 29 * 60
    assert await store2.mark_ready() == []
    store2.clock.now += 60
    assert len(await store2.mark_ready()) == 1
    await ask(store2, txn=T3)  # after 15:30: ready at 15:30 the next day
    store2.clock.now += 3600
    assert await store2.mark_ready() == []
    store2.clock.now += 86400
    assert len(await store2.mark_ready()) == 1


async def test_deferred_without_trigger_waits_for_an_operator(world):
    make, ssid = world
    store = await make(policy(ready="deferred"))
    await ask(store)
    assert await store.mark_ready() == [] and await ssid.claim() == []
    [b] = await store.batches()
    assert await store.set_ready([b["N_BATCH_ID"]]) == 1 and store.new_work.is_set()
    assert len(await ssid.claim()) == 1


# ====================================================================== several workers
async def test_two_workers_never_answer_the_same_row(world):
    make, ssid = world
    one = await make(worker_id="w1")
    two = await make(worker_id="w2", clock=one.clock)
    for i in range(20):
        await ask(one if i % 2 else two, txn=f"{i + 1:032X}")
    for row in await ssid.claim():
        await ssid.apply(row, db.match(f"AB{row['N_TRANSACTION_PARMS_ID']:07d}"))
    a, b = await asyncio.gather(answer(one), answer(two))
    assert len(a) + len(b) == 20 and not set(a) & set(b)
    assert await one.rows() == []


async def test_a_claim_expires_and_a_restarted_worker_frees_its_own(world):
    make, ssid = world
    one = await make(worker_id="w1")
    two = await make(worker_id="w2", clock=one.clock)
    req, _ = await ask(one)
    [row] = await ssid.claim()
    await ssid.apply(row, db.match())
    [work] = await one.claim([ZONE])  # w1 claims ... and dies before answering
    assert await two.claim([ZONE]) == []
    one.clock.now += one.policy.claim_lease + 1
    assert len(await two.claim([ZONE])) == 1  # the lease ran out: another worker takes over
    assert await one.release_claims() == 0  # not w1's any more
    assert await two.release_claims() == 1
    assert only(await answer(one), req).id_status == "Valid"
    await one.finish(work, [])  # the dead claim's late finish changes nothing
    assert await one.rows() == []


async def test_zones_a_worker_does_not_serve_are_left_alone(world):
    make, ssid = world
    store = await make()
    await ask(store, zone="other-state-zone")
    [row] = await ssid.claim()
    await ssid.apply(row, db.match())
    assert await answer(store, zones=(ZONE,)) == {}
    assert len(await answer(store, zones=("other-state-zone",))) == 1
