"""ssid.decisions: one row per decision with its explanation and timing; the poller writes them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from ssid.audit import Actor
from ssid.decisions import COMPRESS_OVER, decision_row, decisions_t, outcome_of, record, stored_explanation
from ssid.heartbeats import beat, heartbeats_t
from ssid.matching import Outcome
from ssid.poller import SlfPoller
from tests.ssid_pipeline.conftest import AMARA, AMARA_ROW, T

AMIRA = {**AMARA, "LegalFirstName": "Amira", "LegalMiddleName": "Joy"}
NEW_ROW = {**AMARA_ROW, "LEGAL_FIRST_NAME": "Nadia", "LEGAL_MIDDLE_NAME": "Rose", "LEGAL_LAST_NAME": "Haddad",
           "BIRTH_DATE": "20160105"}


# ---- the row (pure) ----

def test_a_row_carries_the_explanation_as_json_with_ssns_masked():
    explanation = {"outcome": "NO_MATCH", "query": {"first_name": "Amara", "ssn": "123-45-6789"},
                   "standardized": {"raw": {"ssn": "123456789"}, "ssn": "123456789"},
                   "keys": [{"key": "SSN|123456789", "pass_name": "SSN"}, {"key": "BL|20170412|OKF"}]}
    row = decision_row("slf", "NEW", decided_at=105.0, received_at=100.0, request_key="T1", student_id="AB1234567",
                       explanation=explanation, correlation_id="SLF_BATCH 7")
    got = json.loads(row["explanation"])
    assert got["query"] == {"first_name": "Amara", "ssn": "*****6789"}
    assert got["standardized"] == {"raw": {"ssn": "*****6789"}, "ssn": "*****6789"}
    assert [k["key"] for k in got["keys"]] == ["SSN|*****6789", "BL|20170412|OKF"]
    assert "123456789" not in row["explanation"] and "123-45-6789" not in row["explanation"]
    assert {k: v for k, v in row.items() if k != "explanation"} == {
        "kind": "slf", "request_key": "T1", "outcome": "new", "student_id": "AB1234567", "received_at": 100.0,
        "decided_at": 105.0, "correlation_id": "SLF_BATCH 7", "explanation_z": None}  # short: kept as text


def plain_masked(data):
    """The masking rule as first written: every key named ssn in any case, every ``SSN|`` key string."""
    if isinstance(data, str):
        return "SSN|" + _mask(data[4:]) if data.startswith("SSN|") else data
    if isinstance(data, dict):
        return {k: (_mask(v) if str(k).lower() == "ssn" and v not in (None, "") else plain_masked(v))
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain_masked(v) for v in data]
    return data


def _mask(value):
    v = "".join(ch for ch in str(value or "") if ch.isalnum())
    return f"*****{v[-4:]}" if len(v) >= 4 else ("*****" if v else "")


def test_masking_covers_every_explanation_as_the_plain_rule_does():
    from ssid.decisions import explanation_json, masked
    from ssid.matching import Matcher
    from ssid.population import generate_population, generate_queries

    pop = generate_population(2_000, seed=11)
    index, freqs = pop.indexed()
    matcher = Matcher(source=index, frequencies=freqs)
    with_ssn = 0
    for q in generate_queries(pop, 300, seed=11):
        decision = matcher.match(q.record)
        data = decision.to_dict()
        got = masked(data)
        assert got == plain_masked(data) == json.loads(explanation_json(decision))  # (the stored text walks less)
        text = json.dumps(got)
        for ssn in {q.record.ssn.replace("-", ""), q.record.ssn} - {""}:
            with_ssn += 1
            assert ssn not in text
    assert with_ssn > 20  # lookups whose query carries an SSN
    odd = {"SsN": 123456789, "sSn": None, "ssn": "", "Ssn": ["1234"], 7: ("SSN|987654321", 2.5, True, None),
           "nested": [{"SSN": "12-3"}, ("x", ["SSN|1"])], "snn": "123456789", "ssn_note": "123456789"}
    assert masked(odd) == plain_masked(odd)
    assert masked(odd)["SsN"] == "*****6789" and masked(odd)[7][0] == "SSN|*****4321"


def test_a_record_without_an_ssn_is_kept_and_any_other_is_masked_as_the_plain_rule_does():
    from ssid.decisions import _masked_record

    plain = {"first": "ANA", "last": "RUIZ", "first_canonical": ["ANA", "ANNA"], "ssn": "", "middle": None,
             "version": None}
    assert _masked_record(plain) is plain  # nothing to mask: no copy
    odd = [{**plain, "ssn": "123-45-6789"}, {**plain, "SSN": 123456789}, {**plain, "Ssn": 0},
           {**plain, "last": "SSN|123456789"}, {**plain, "first_canonical": ["ANA", "SSN|123456789"]},
           {**plain, "first_canonical": ["ANA", {"ssn": "123456789"}]}, {**plain, "extra": {"SsN": "987654321"}},
           {**plain, "ssn": ["123456789"]}, {**plain, "sSn": []}, {**plain, 7: "x"}, {**plain, "n": 3},
           ["SSN|123456789"]]
    for record in odd:
        assert _masked_record(record) == plain_masked(record)
    assert "123456789" not in json.dumps([_masked_record(r) for r in odd[:8]])


def test_a_long_explanation_is_stored_compressed_and_read_back_as_it_was():
    """A lookup's explanation (kilobytes; one per batch row) goes in ``explanation_z``, compressed;
    a short one stays readable text."""
    long = {"outcome": "MATCH", "query": {"first_name": "Amara", "ssn": "123-45-6789"},
            "candidates": [{"student_id": f"AB{i:07d}", "fields": [{"field": "first_name", "level": "EXACT",
                                                                    "weight": 12.074718656215252}] * 11}
                           for i in range(5)]}
    row = decision_row("batch", "match", decided_at=1.0, explanation=long)
    assert row["explanation"] is None and len(row["explanation_z"]) < COMPRESS_OVER < len(json.dumps(long))
    got = stored_explanation(row)
    assert got["candidates"] == long["candidates"] and got["query"]["ssn"] == "*****6789"
    short = decision_row("api", "error", decided_at=1.0, explanation={"error": "bad birth date"})
    assert short["explanation_z"] is None and json.loads(short["explanation"]) == {"error": "bad birth date"}
    assert stored_explanation(short) == {"error": "bad birth date"}
    assert stored_explanation(decision_row("web", "match", decided_at=1.0)) is None


#: the NO_MATCH explanation below as stored by this version (dictionary 1, zstd), and as stored
#: before the dictionary (zlib): rows already written must read back whatever a later version changes
KEYS_40 = {"outcome": "NO_MATCH", "keys": [{"key": f"BL|201704{i:02d}|OKF", "total": 0} for i in range(40)]}
STORED_DICTIONARY_1 = bytes.fromhex(
    "0128b52ffd60bf04750400b4037b37303430307c4f4b462230373034303132333435363738393130313233343536373839323031"
    "323334353637383933303132333435363738397d2c20c0336a16c6a58902c84132a4200fc924057948861490e830a4200f9221"
    "0579480629c88b4487410af2900c2990876448415e487418529007c990823c248349e134511209c728b42f51a4c0c257e415")
STORED_ZLIB = bytes.fromhex(
    "78018dd4ad0ec2401045e17719bd6267a65058072484849f1a1c2184902a4a56500469fbee80aee0b82b8efac4ede45ebf9f924e"
    "dd6f4892e5aeb7a8652c62ecabed5a82b4b9bd3692e210c68d82c640e3a029403301cd1434256866a099ff6f14382b7056e0acc0"
    "5981b3026705ce0a9c15382b7036e06cc0d980b3016703ce069c0d381b7036e06cc0d981b3036707ce0e9c1d383b7076e0ecc0d9"
    "81b38f9ccf41f2abbde547fdfde84375d92f8eab8d0c1f9271a039")


@pytest.mark.parametrize("stored", [STORED_DICTIONARY_1, STORED_ZLIB], ids=["dictionary-1", "zlib"])
def test_explanations_stored_by_this_and_earlier_versions_read_back(stored):
    assert stored_explanation({"explanation": None, "explanation_z": stored}) == KEYS_40


def test_the_dictionary_makes_a_long_explanation_a_tenth_of_its_text():
    row = decision_row("slf", "none", decided_at=2.0, explanation=KEYS_40)
    assert row["explanation_z"][0] == 1 and len(row["explanation_z"]) * 10 < len(json.dumps(KEYS_40))
    assert stored_explanation(row) == KEYS_40


@pytest.mark.parametrize("stored, says", [
    (b"\x09" + STORED_DICTIONARY_1[1:], "dictionary 9, which this version does not have"),
    (STORED_DICTIONARY_1[:40], "cannot be read"), (STORED_ZLIB[:40], "cannot be read"), (b"", "cannot be read")])
def test_compressed_bytes_that_are_no_explanation_say_so(stored, says):
    with pytest.raises(ValueError, match=says):
        stored_explanation({"explanation": None, "explanation_z": stored})


async def test_migration_11_adds_the_compressed_column_and_keeps_what_was_stored(store):
    from ssid.db.schema import version_t

    async with store.write() as conn:
        await conn.execute(text("ALTER TABLE ssid_decisions DROP COLUMN explanation_z"))
        await conn.execute(text("INSERT INTO ssid_decisions (kind, outcome, explanation, decided_at) "
                                """VALUES ('slf', 'match', '{"outcome": "MATCH"}', 1.0)"""))
        await conn.execute(delete(version_t).where(version_t.c.version >= 11))
    assert await store.migrate() == ["11: decisions: long explanations stored compressed"]
    long = {"outcome": "NO_MATCH", "keys": [{"key": f"BL|201704{i:02d}|OKF", "total": 0} for i in range(60)]}
    async with store.write() as conn:
        await record(conn, [decision_row("slf", "none", decided_at=2.0, explanation=long)])
    async with store.read() as conn:
        rows = (await conn.execute(select(decisions_t).order_by(decisions_t.c.id))).mappings().all()
    assert [stored_explanation(r) for r in rows] == [{"outcome": "MATCH"}, long]
    assert rows[0]["explanation_z"] is None and rows[1]["explanation"] is None


def test_plain_text_and_missing_explanations():
    assert json.loads(decision_row("api", "error", decided_at=1, explanation="bad birth date")["explanation"]) == {
        "text": "bad birth date"}
    assert decision_row("web", "match", decided_at=1)["explanation"] is None


@pytest.mark.parametrize("kind, outcome, problem", [
    ("fax", "match", "kind must be one of slf, batch, api, web"),
    ("slf", "", "outcome must be 1 to 16 characters"),
    ("slf", "a-very-long-outcome-name", "outcome must be 1 to 16 characters"),
])
def test_bad_rows_are_refused(kind, outcome, problem):
    with pytest.raises(ValueError, match=problem):
        decision_row(kind, outcome, decided_at=1.0)


def test_another_machines_clock_never_makes_a_negative_time():
    assert decision_row("slf", "match", decided_at=100.0, received_at=100.4)["received_at"] == 100.0


def test_matcher_outcomes_have_decision_names():
    assert [outcome_of(o) for o in Outcome] == ["match", "potential", "none"]
    with pytest.raises(ValueError):
        outcome_of("MAYBE")


# ---- the table ----

async def test_rows_are_written_in_one_call_and_never_changed_or_deleted(store):
    rows = [decision_row("batch", "match", decided_at=10.0 + i, request_key=f"job1:{i}", correlation_id="job1")
            for i in range(3)]
    async with store.write() as conn:
        await record(conn, rows)
        await record(conn, [])  # nothing to write is fine
    async with store.read() as conn:
        got = (await conn.execute(select(decisions_t.c.request_key).order_by(decisions_t.c.id))).scalars().all()
    assert got == ["job1:0", "job1:1", "job1:2"]
    for stmt in (update(decisions_t).values(outcome="new"), delete(decisions_t)):
        with pytest.raises(DBAPIError, match="refused"):
            async with store.write() as conn:
                await conn.execute(stmt)
    async with store.write() as conn:
        await beat(conn, 50.0, 60.0, "host:1", 40.0)
    with pytest.raises(DBAPIError, match="refused"):
        async with store.write() as conn:
            await conn.execute(update(heartbeats_t).values(at=99.0))
    if store.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="refused"):
            async with store.write() as conn:
                await conn.execute(text("TRUNCATE ssid_decisions"))


# ---- the SLF poller's decisions ----

async def decisions(store, txn: str) -> list[dict]:
    async with store.read() as conn:
        return [dict(r._mapping) for r in (await conn.execute(
            select(decisions_t).where(decisions_t.c.request_key == txn).order_by(decisions_t.c.id))).all()]


async def seed(store, *records):
    async with store.write() as conn:
        return [(await store.create_student(conn, v, Actor("seed"))).student_id for v in records]


async def test_every_system_decision_is_recorded_with_its_explanation_and_times(store, slf, clock):
    [amara] = await seed(store, AMARA)
    poller = SlfPoller(store, slf.url, clock=clock)
    t_match = await slf.request({**AMARA_ROW, "LEGAL_MIDDLE_NAME": "Grace Ann"})
    t_new = await slf.request(NEW_ROW)
    t_error = await slf.request({**AMARA_ROW, "BIRTH_DATE": None})
    for i, t in enumerate((t_match, t_new, t_error)):
        await slf.set(t, CREATED_AT=clock.now - 1.25 - i)
    clock.now += 0.5
    try:
        assert await poller.poll_once() == 3
    finally:
        await poller.close()
    [m], [n], [e] = [await decisions(store, t) for t in (t_match, t_new, t_error)]
    assert (m["outcome"], m["student_id"]) == ("match", amara)
    assert (n["outcome"], n["student_id"]) == ("new", (await slf.row(t_new))["STATE_ID"])
    assert (e["outcome"], e["student_id"]) == ("error", None)
    for i, d in enumerate((m, n, e)):
        assert d["kind"] == "slf" and d["decided_at"] == clock.now
        assert d["received_at"] == pytest.approx(clock.now - 0.5 - 1.25 - i)
        assert d["correlation_id"] == f"SLF_BATCH {(await slf.row(d['request_key']))['N_BATCH_ID']}"
    why = stored_explanation(m)
    assert why["outcome"] == "MATCH" and why["student_id"] == amara and why["query"]["middle_name"] == "Grace Ann"
    assert amara in why["returned"] and why["thresholds"] and why["parameters_version"]
    assert stored_explanation(n)["outcome"] == "NO_MATCH"
    err = stored_explanation(e)
    assert "missing BIRTH_DATE" in err["error"] and {"field": "BirthDate", "code": "missing"} in err["problems"]


async def test_a_deferred_batch_is_timed_from_when_it_was_made_ready(store, slf, clock):
    batch = await slf.batch(ready=0)
    txn = await slf.request(NEW_ROW, batch=batch)
    await slf.set(txn, CREATED_AT=clock.now - 3600)  # received an hour ago, released 2 s ago
    async with slf.engine.begin() as conn:
        await conn.execute(T.batch.update().where(T.batch.c.N_BATCH_ID == batch).values(READY=1,
                                                                                       READY_AT=clock.now - 2))
    poller = SlfPoller(store, slf.url, clock=clock)
    try:
        await poller.poll_once()
    finally:
        await poller.close()
    [d] = await decisions(store, txn)
    assert d["decided_at"] - d["received_at"] == pytest.approx(2.0)


async def test_potential_matches_and_a_persons_decisions_are_recorded(store, slf, clock):
    amara, amira = await seed(store, AMARA, AMIRA)
    poller = SlfPoller(store, slf.url, clock=clock)
    try:
        t_pick = await slf.request({**AMARA_ROW, "LEGAL_FIRST_NAME": "Amera", "LEGAL_MIDDLE_NAME": None})
        t_new = await slf.request({**AMARA_ROW, "LEGAL_FIRST_NAME": "Amera", "LEGAL_MIDDLE_NAME": "Hope"})
        await poller.poll_once()
        for t in (t_pick, t_new):
            [p] = await decisions(store, t)
            assert p["outcome"] == "potential" and p["student_id"] is None
            why = stored_explanation(p)
            assert why["outcome"] == "POTENTIAL" and set(why["returned"]) == {amara, amira}
            await slf.set(t, N_SLF_STATUS=8)
        clock.now += 600  # a person takes their time
        await poller.resolve(t_pick, pick=amira, user="sam")
        await poller.resolve(t_new, new=True, user="sam")
    finally:
        await poller.close()
    _, picked = await decisions(store, t_pick)
    assert (picked["outcome"], picked["student_id"]) == ("user_match", amira)
    assert stored_explanation(picked) == {"decided_by": "sam", "picked": amira,
                                                 "offered": sorted([amara, amira])}
    _, forced = await decisions(store, t_new)
    assert forced["outcome"] == "user_new" and forced["student_id"] == (await slf.row(t_new))["STATE_ID"]
    assert stored_explanation(forced)["decided_by"] == "sam"
