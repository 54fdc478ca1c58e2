"""The conversation with the real LocatorAgent: locator → state zone → resolver → scripted SSID
database → resolver → locator → write-back to the SIS, for every outcome (in-process zones)."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest

from messages.objects import Name
from sif_agent.locator.transactions import TxnState
from tests.locator_mapping.conftest import personal

from . import ssid_standin as db
from .world import start_world, until


@pytest.mark.parametrize("form", ["example", "conditions"])
async def test_match(tmp_path, form):
    async with AsyncExitStack() as stack:
        w = await start_world(stack, tmp_path, query_form=form)
        w.ssid.decide = lambda row: db.match("AB1234567")
        txn_id = await w.new_student()
        txn = await w.state(txn_id, TxnState.WRITTEN_BACK)
        await until(lambda: w.changes, "the SIS got the state ID")
        await w.slf_empty()
        [logged] = await w.resolver.store.requests(txn_id)
    assert txn.state_id == "AB1234567" and w.changes[0].state_province_id == "AB1234567"
    assert (logged["SIF_ZONE_ID"], logged["SIF_SOURCE_ID"], logged["ANSWER"]) == \
        ("state", "ITC01-StudentLocator", "Valid")
    assert w.ssid.decided == [(txn_id, "match")]


async def test_ambiguous_resolved_at_the_district_on_postgresql(tmp_path, pg_databases):
    """The same conversation with the SLF tables on PostgreSQL (LISTEN/NOTIFY, row locks)."""
    url = await pg_databases.create()
    async with AsyncExitStack() as stack:
        w = await start_world(stack, tmp_path, database=url, resolver={"poll_interval": 30.0})
        w.ssid.on_change = lambda: None  # only NOTIFY wakes the resolver
        w.ssid.decide = lambda row: db.ambiguous(*db.CANDIDATES)
        await until(lambda: w.resolver.listening.is_set(), "LISTEN connected")
        txn_id = await w.new_student()
        await w.state(txn_id, TxnState.AMBIGUOUS)
        await w.locator.records.queue_action(txn_id, "resolve", "AB1234567", 0.0)
        await w.locator.run_due()
        txn = await w.state(txn_id, TxnState.WRITTEN_BACK)
        await w.slf_empty()
    assert txn.state_id == "AB1234567"
    assert w.resolver.store.engine.dialect.name == "postgresql"


async def test_new_and_the_row_the_database_saw(tmp_path):
    seen = []

    def decide(row):
        seen.append(row)
        return db.new()

    async with AsyncExitStack() as stack:
        w = await start_world(stack, tmp_path, query_form="conditions")
        w.ssid.decide = decide
        txn_id = await w.new_student()
        txn = await w.state(txn_id, TxnState.WRITTEN_BACK)
        await w.slf_empty()
    assert txn.state_id == "NW0000001"
    [row] = seen
    # the Ohio locator's request, as the SSID database reads it from SLF_TRANSACTION_PARMS
    assert (row["LEGAL_LAST_NAME"], row["LEGAL_FIRST_NAME"], row["LEGAL_MIDDLE_NAME"], row["BIRTH_DATE"],
            row["GENDER_CODE"], row["ETHNICITY_CODE"], row["HOME_SCHOOL_CODE"]) == \
        ("Okafor", "Amara", "Grace", "20170412", "F", "B", "012345")
    assert (row["ADMISSION_REASON"], row["NATIVE_LANGUAGE"], row["BIRTHPLACE_CITY"]) == ("1", "eng", "Columbus")
    assert row["SLF_TRANSACTION_GUID"] == txn_id


async def test_ambiguous_then_resolved_at_the_state(tmp_path):
    async with AsyncExitStack() as stack:
        w = await start_world(stack, tmp_path)
        w.ssid.decide = lambda row: db.ambiguous(*db.CANDIDATES)
        txn_id = await w.new_student()
        txn = await w.state(txn_id, TxnState.AMBIGUOUS)
        assert [(c.state_id, c.confidence) for c in txn.candidates] == \
            [("AB1234567", 0.92), ("CD7654321", 0.88), ("EF1111111", None)]
        await until(lambda: w.resolver.store.rows(8), "the row is RESOLUTION_IN_PROGRESS")

        await w.ssid.resolve(txn_id, db.match("CD7654321"))  # state staff pick in the SSID web UI
        w.clock.now += 301  # the locator's first follow-up (same TransactionId) is due
        await w.locator.run_due()
        txn = await w.state(txn_id, TxnState.WRITTEN_BACK)
        await w.slf_empty()
    assert txn.state_id == "CD7654321"
    answers = [r["ANSWER"] for r in await _log(w, txn_id)]
    assert answers == ["Ambiguous", "Valid"]


async def test_ambiguous_then_resolved_at_the_district(tmp_path):
    async with AsyncExitStack() as stack:
        w = await start_world(stack, tmp_path, query_form="conditions")
        w.ssid.decide = lambda row: db.ambiguous(*db.CANDIDATES)
        txn_id = await w.new_student()
        await w.state(txn_id, TxnState.AMBIGUOUS)
        await w.locator.records.queue_action(txn_id, "resolve", "CD7654321", 0.0)  # console `resolve --pick`
        await w.locator.run_due()
        txn = await w.state(txn_id, TxnState.WRITTEN_BACK)
        await w.slf_empty()
        log = await _log(w, txn_id)
    assert txn.state_id == "CD7654321" and w.changes[0].state_province_id == "CD7654321"
    assert [(r["ID_STATUS"], r["ANSWER"], r["ANSWER_STATE_ID"]) for r in log] == \
        [("Request", "Ambiguous", None), ("Resolve", "Valid", "CD7654321")]
    assert w.ssid.decided == [(txn_id, "ambiguous"), (txn_id, "match")]


async def test_ambiguous_then_a_new_id_asked_by_the_district(tmp_path):
    async with AsyncExitStack() as stack:
        w = await start_world(stack, tmp_path)
        w.ssid.decide = lambda row: db.ambiguous(*db.CANDIDATES)
        txn_id = await w.new_student()
        await w.state(txn_id, TxnState.AMBIGUOUS)
        await w.locator.records.queue_action(txn_id, "new", None, 0.0)
        await w.locator.run_due()
        txn = await w.state(txn_id, TxnState.WRITTEN_BACK)
        await w.slf_empty()
    assert txn.state_id == "NW0000001"


async def test_insufficient_data_is_an_error(tmp_path):
    no_middle = personal(name=Name(type="04", last_name="Okafor", first_name="Amara"))
    async with AsyncExitStack() as stack:
        w = await start_world(stack, tmp_path)  # default decision: no middle name → 10 ERROR
        txn_id = await w.new_student(no_middle)
        txn = await w.state(txn_id, TxnState.ERROR)
        await w.slf_empty()
    assert "Insufficient data: LEGAL_MIDDLE_NAME is required" in txn.error_text
    assert w.changes == []


async def test_cancel(tmp_path):
    from sif_agent.locator.transactions import Trigger

    async with AsyncExitStack() as stack:
        w = await start_world(stack, tmp_path)
        w.ssid.decide = lambda row: db.HOLD  # the database works on it (2) ... for a long time
        txn_id = await w.new_student()
        await until(lambda: w.resolver.store.rows(2), "the database claimed the row")
        # `slf locator console cancel`: cancelled locally; the running agent tells the state
        await w.locator.store.apply_trigger(txn_id, Trigger.CANCEL, summary="cancelled at the console")
        await w.locator.records.queue_action(txn_id, "cancel", None, 0.0)
        await w.locator.run_due()
        await w.slf_empty()
        txn = await w.state(txn_id, TxnState.CANCELLED)
        log = await _log(w, txn_id)
        receipts = await w.locator.store.receipts(txn_id)
    assert [(r["ID_STATUS"], r["ANSWER"]) for r in log] == [("Request", "Cancelled"), ("Cancel", "Cancelled")]
    answers = [r for r in receipts if r.kind == "response"]
    assert answers and answers[-1].trigger == "got_cancelled"
    assert txn.state_id is None and w.changes == []


async def _log(w, txn_id):
    return await w.resolver.store.requests(txn_id)
