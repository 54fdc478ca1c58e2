"""The SSID poller over the SLF tables: match, new, potential matches, errors, user decisions."""

from __future__ import annotations

import asyncio

import pytest

from ssid.audit import Actor
from ssid.poller import ResolveError
from ssid.slf import DATABASE_TRANSITIONS, IllegalTransition, SlfMapping, SlfStatus, check_transition, error_text

from .conftest import AMARA, AMARA_ROW

S = SlfStatus
#: a twin of Amara (same surname, birth date, gender, city)
AMIRA = {**AMARA, "LegalFirstName": "Amira", "LegalMiddleName": "Joy"}
NEW_ROW = {**AMARA_ROW, "LEGAL_FIRST_NAME": "Nadia", "LEGAL_MIDDLE_NAME": "Rose", "LEGAL_LAST_NAME": "Haddad",
           "BIRTH_DATE": "20160105"}


async def seed(store, *records):
    out = []
    async with store.write() as conn:
        for values in records:
            out.append((await store.create_student(conn, values, Actor("seed"))).student_id)
    return out


async def test_a_returning_student_is_matched_and_the_submitted_spelling_kept_as_alias(slf, store, poller):
    [amara] = await seed(store, AMARA)
    txn = await slf.request({**AMARA_ROW, "LEGAL_MIDDLE_NAME": "Grace Ann"})
    assert await poller.poll_once() == 1
    row = await slf.row(txn)
    assert (row["N_SLF_STATUS"], row["STATE_ID"]) == (3, amara)
    aliases = await store.aliases(amara)
    assert len(aliases) == 2 and aliases[-1].source == "slf"
    assert aliases[-1].record["middle_name"] == "Grace Ann"


async def test_a_new_student_gets_one_id_even_when_polled_twice_or_by_two_racing_pollers(slf, store, make_poller):
    a, b = make_poller(), make_poller()
    people = (("Nadia", "Haddad", "20160105"), ("Omar", "Farouk", "20150611"), ("Priya", "Raman", "20140322"),
              ("Quinn", "Sullivan", "20131130"))
    txns = [await slf.request({**NEW_ROW, "LEGAL_FIRST_NAME": f, "LEGAL_LAST_NAME": ln, "BIRTH_DATE": b})
            for f, ln, b in people]
    done = await asyncio.gather(a.poll_once(), b.poll_once())
    assert sum(done) == 4
    ids = [(await slf.row(t))["STATE_ID"] for t in txns]
    assert [(await slf.row(t))["N_SLF_STATUS"] for t in txns] == [4, 4, 4, 4]
    assert len(set(ids)) == 4 and all(len(i) == 9 for i in ids)
    assert (await store.counts())["active"] == 4
    # processing the same rows again (recovery after a crash between the two databases) issues nothing new
    for t in txns:
        await slf.set(t, N_SLF_STATUS=2, STATE_ID=None)
    c = make_poller(recover=True)
    assert await c.poll_once() == 4
    assert [(await slf.row(t))["STATE_ID"] for t in txns] == ids
    assert (await store.counts())["active"] == 4


async def test_near_twins_give_potential_matches_best_first_then_a_pick_is_user_match(slf, store, poller):
    amara, amira = await seed(store, AMARA, AMIRA)
    txn = await slf.request({**AMARA_ROW, "LEGAL_FIRST_NAME": "Amera", "LEGAL_MIDDLE_NAME": None})
    await poller.poll_once()
    assert (await slf.row(txn))["N_SLF_STATUS"] == 7
    cands = await slf.matches(txn)
    assert {c["STATE_ID"] for c in cands} == {amara, amira}
    conf = [c["CONFIDENCE"] for c in cands]
    assert conf == sorted(conf, reverse=True) and all(0 < c <= 1 for c in conf)
    assert {c["LEGAL_FIRST_NAME"] for c in cands} == {"Amara", "Amira"}
    assert all(c["BIRTH_DATE"] == "20170412" and c["GENDER_CODE"] == "F" for c in cands)
    with pytest.raises(ResolveError, match="not yet told"):
        await poller.resolve(txn, pick=amira)  # 7: the resolver has not answered Ambiguous yet
    await slf.set(txn, N_SLF_STATUS=8)  # the resolver answered Ambiguous
    out = await poller.resolve(txn, pick=amira, user="sam")
    assert out.status is S.USER_MATCH
    row = await slf.row(txn)
    assert (row["N_SLF_STATUS"], row["STATE_ID"]) == (5, amira)
    aliases = await store.audit(amira, change_type="ALIAS")
    assert [a.user_id for a in aliases] == ["sam"]  # the spelling "Amera" is remembered, audited as the picker
    assert (await poller.resolve(txn, pick=amira)).state_id == amira  # a repeat is harmless
    with pytest.raises(ResolveError, match="already resolved"):
        await poller.resolve(txn, new=True)


async def test_near_twins_resolved_as_a_new_student_is_user_new(slf, store, poller):
    amara, amira = await seed(store, AMARA, AMIRA)
    txn = await slf.request({**AMARA_ROW, "LEGAL_FIRST_NAME": "Amera", "LEGAL_MIDDLE_NAME": "Hope"})
    await poller.poll_once()
    assert (await slf.row(txn))["N_SLF_STATUS"] == 7
    await slf.set(txn, N_SLF_STATUS=8)
    out = await poller.resolve(txn, new=True, user="sam")
    row = await slf.row(txn)
    assert row["N_SLF_STATUS"] == 6 and row["STATE_ID"] not in (amara, amira) and row["STATE_ID"] == out.state_id
    assert (await store.counts())["active"] == 3


async def test_insufficient_data_is_an_error_naming_the_fields(slf, store, poller):
    t1 = await slf.request({**AMARA_ROW, "BIRTH_DATE": None, "BIRTHPLACE_CITY": None})
    t2 = await slf.request({**NEW_ROW, "NATIVE_LANGUAGE": None, "GENDER_CODE": "Q"})
    await poller.poll_once()
    r1, r2 = await slf.row(t1), await slf.row(t2)
    assert (r1["N_SLF_STATUS"], r2["N_SLF_STATUS"]) == (10, 10)
    [e1], [e2] = await slf.errors(t1), await slf.errors(t2)
    assert "missing BIRTH_DATE, BIRTHPLACE_CITY" in e1 and "retrieve" in e1 and "YYYY-MM-DD" in e1
    assert "invalid GENDER_CODE" in e2 and "F, M, X" in e2
    assert len(e1) <= 255 and len(e2) <= 255
    # enough to look up, but no match and not enough to issue an ID
    t3 = await slf.request({**NEW_ROW, "NATIVE_LANGUAGE": None, "ADMISSION_REASON": None})
    await poller.poll_once()
    [e3] = await slf.errors(t3)
    assert "generate a new student ID" in e3 and "missing NATIVE_LANGUAGE, ADMISSION_REASON" in e3
    assert (await store.counts())["active"] == 0


async def test_rows_of_batches_not_ready_are_untouched(slf, store, poller):
    batch = await slf.batch(ready=0)
    txn = await slf.request(NEW_ROW, batch=batch)
    assert await poller.poll_once() == 0
    assert (await slf.row(txn))["N_SLF_STATUS"] == 1
    async with slf.engine.begin() as conn:
        from .conftest import T
        await conn.execute(T.batch.update().where(T.batch.c.N_BATCH_ID == batch).values(READY=1))
    assert await poller.poll_once() == 1
    assert (await slf.row(txn))["N_SLF_STATUS"] == 4


async def test_district_resolutions_recorded_by_the_resolver_are_applied(slf, store, poller):
    amara, amira = await seed(store, AMARA, AMIRA)
    t1 = await slf.request({**AMARA_ROW, "LEGAL_FIRST_NAME": "Amera", "LEGAL_MIDDLE_NAME": None})
    t2 = await slf.request({**AMARA_ROW, "LEGAL_FIRST_NAME": "Amera", "LEGAL_MIDDLE_NAME": "Hope"})
    t3 = await slf.request({**AMARA_ROW, "LEGAL_FIRST_NAME": "Amera", "LEGAL_MIDDLE_NAME": "Faith"})
    await poller.poll_once()
    assert [(await slf.row(t))["N_SLF_STATUS"] for t in (t1, t2, t3)] == [7, 7, 7]
    await slf.set(t1, N_SLF_STATUS=8, RESOLVE_ACTION="MATCH", RESOLVE_STATE_ID=amara)
    await slf.set(t2, N_SLF_STATUS=8, RESOLVE_ACTION="NEW")
    await slf.set(t3, N_SLF_STATUS=8, RESOLVE_ACTION="MATCH", RESOLVE_STATE_ID="ZZ0000000")  # not a student
    assert await poller.poll_once() == 3
    r1, r2, r3 = [await slf.row(t) for t in (t1, t2, t3)]
    assert (r1["N_SLF_STATUS"], r1["STATE_ID"]) == (5, amara)
    assert r2["N_SLF_STATUS"] == 6 and r2["STATE_ID"] not in (amara, amira)
    assert r3["N_SLF_STATUS"] == 10 and "ZZ0000000" in (await slf.errors(t3))[0]
    assert await poller.poll_once() == 0  # nothing left to do


async def test_a_cancellation_is_confirmed(slf, store, poller):
    txn = await slf.request(NEW_ROW, batch=await slf.batch(ready=0))
    await slf.set(txn, N_SLF_STATUS=13)
    assert await poller.poll_once() == 1
    assert (await slf.row(txn))["N_SLF_STATUS"] == 12


async def test_run_stops_when_asked(slf, store, poller):
    txn = await slf.request(NEW_ROW)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop, interval=0.05))
    for _ in range(100):
        if (await slf.row(txn))["N_SLF_STATUS"] == 4:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert (await slf.row(txn))["N_SLF_STATUS"] == 4


def test_the_database_transitions_are_those_of_the_seed_table():
    from sif_agent.resolver.status import Actor as ResolverActor, edges

    assert {(int(a), int(b)) for a, b in DATABASE_TRANSITIONS} == \
           {(int(a), int(b)) for a, b in edges(ResolverActor.DATABASE)}
    assert check_transition(1, 2) is S.REQUEST_IN_PROGRESS
    with pytest.raises(IllegalTransition):
        check_transition(7, 5)


def test_the_tables_and_columns_are_the_resolvers():
    from sif_agent.resolver.tables import BASE, MATCH_ATTRIBUTES
    from ssid.slf import MATCH_COLUMNS, PARMS_COLUMNS, batch_t, error_log_t, match_t

    assert MATCH_COLUMNS == MATCH_ATTRIBUTES
    for ours, theirs in ((batch_t, BASE.batch), (match_t, BASE.match), (error_log_t, BASE.error_log)):
        assert ours.name == theirs.name and {c.name for c in ours.c} <= {c.name for c in theirs.c}
    assert set(PARMS_COLUMNS) <= {c.name for c in BASE.parms.c}


def test_error_text_fits_and_names_every_field_first():
    from ssid.catalogue import ohio_catalogue

    checked = ohio_catalogue().check({}, "generate")
    text = error_text(checked.problems, SlfMapping(), "generate a new student ID")
    assert len(text) <= 255
    for col in ("LEGAL_FIRST_NAME", "LEGAL_LAST_NAME", "BIRTH_DATE", "GENDER_CODE", "ADMISSION_REASON"):
        assert col in text
