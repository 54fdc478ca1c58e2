"""POST /api/v1/enrollment-verifications and Idempotency-Key: only for an SSID confirmed to the
same client for the same CCCID; a retry replays the first answer (also when sent at the same
moment); a reused key with another body is refused; new enrollments are audited with the
correlation id, repeats only stored."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from ssid.api import ApiSettings
from ssid.api.tables import enrollments_t, lookups_t
from ssid.audit import Actor

from .conftest import AMARA, LOOKUP, VERIFY, bearer, get_token, new_client

CDS = "19647331930106"
AMARA_LOOKUP = {"firstName": "Amara", "lastName": "Okafor", "birthDate": "2017-04-12", "cdsCode": CDS,
                "cccid": "ABC1234"}


async def issue(store, values=AMARA) -> str:
    async with store.write() as conn:
        return (await store.create_student(conn, values, Actor("seed"))).student_id


async def confirmed(http, token, body=AMARA_LOOKUP) -> str:
    r = await http.post(LOOKUP, json=body, headers=bearer(token))
    assert r.json()["status"] == "confirmed", r.text
    return r.json()["ssid"]


def verification(ssid: str, **kw) -> dict:
    return {"ssid": ssid, "cccid": "ABC1234", "enrolledOn": "2027-01-10", "collegeCode": "021", "term": "2027SP",
            **kw}


async def test_verification_rules_idempotency_and_audit(store, serve, clock):
    amara = await issue(store)
    kofi = await issue(store, dict(AMARA, LegalFirstName="Kofi", LegalLastName="Mensah", BirthDate="2015-09-30",
                                   Gender="M"))
    cid, secret = await new_client(store)
    http = (await serve(store, clock=clock)).client()
    token = await get_token(http, cid, secret)

    r = await http.post(VERIFY, json=verification(amara), headers=bearer(token))
    assert r.status_code == 400 and r.json()["type"] == "urn:ssid:api:bad-request:idempotency-key-required"

    # not confirmed to this client yet: refused, and the key stays free for the retry
    key = {"Idempotency-Key": "9b0c6f52-enrol-1"}
    r = await http.post(VERIFY, json=verification(amara), headers=bearer(token, **key))
    assert r.status_code == 422 and r.json()["type"] == "urn:ssid:api:not-linked"
    assert await confirmed(http, token) == amara
    r = await http.post(VERIFY, json=verification(kofi), headers=bearer(token, **key))
    assert r.status_code == 422  # Kofi's SSID was never disclosed to this client
    r = await http.post(VERIFY, json=verification(amara, cccid="ZZZ9999"), headers=bearer(token, **key))
    assert r.status_code == 422  # confirmed for another CCCID

    sent = {**key, "Correlation-Id": "college-batch-77:row-3"}
    r = await http.post(VERIFY, json=verification(amara), headers=bearer(token, **sent))
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["ssid"] == amara and first["alreadyRecorded"] is False and "Idempotent-Replayed" not in r.headers
    assert first["recordedAt"] == "2027-01-15T08:00:00Z"

    # the same key and body (other key order, other spacing) later: the first answer, nothing stored again
    clock.advance(30)
    reordered = json.dumps(dict(reversed(list(verification(amara).items()))), indent=2)
    r = await http.post(VERIFY, content=reordered, headers=bearer(token, **key, **{"Content-Type": "application/json"}))
    assert r.status_code == 201 and r.json() == first and r.headers["idempotent-replayed"] == "true"
    # the same key with another body: refused
    r = await http.post(VERIFY, json=verification(amara, term="2027FA"), headers=bearer(token, **key))
    assert r.status_code == 422 and r.json()["type"] == "urn:ssid:api:idempotency-key-reused"
    # a new key for the same enrollment: stored, not audited again
    r = await http.post(VERIFY, json=verification(amara), headers=bearer(token, **{"Idempotency-Key": "second"}))
    assert r.status_code == 201 and r.json()["alreadyRecorded"] is True and r.json()["id"] != first["id"]

    async with store.read() as conn:
        rows = (await conn.execute(select(enrollments_t).order_by(enrollments_t.c.id))).all()
    assert [(x.student_id, x.new_fact, x.idempotency_key) for x in rows] == [
        (amara, True, key["Idempotency-Key"]), (amara, False, "second")]
    audit = await store.audit(amara, change_type="ENROLLMENT_VERIFIED")
    assert len(audit) == 1
    a = audit[0]
    assert a.correlation_id == "college-batch-77:row-3" and a.user_id == f"api:{cid}" and a.at == 1_800_000_000.0
    assert a.new_values == {"CCCID": "ABC1234", "EnrolledOn": "2027-01-10", "CollegeCode": "021", "Term": "2027SP"}
    assert a.detail["verification_id"] == int(first["id"])

    # keys belong to one client: another client may use the same key for its own request
    other, other_secret = await new_client(store)
    t2 = await get_token(http, other, other_secret)
    await confirmed(http, t2)
    r = await http.post(VERIFY, json=verification(amara, term="2027FA"), headers=bearer(t2, **key))
    assert r.status_code == 201 and r.json()["alreadyRecorded"] is False


async def test_idempotency_key_expires(store, serve, clock):
    amara = await issue(store)
    cid, secret = await new_client(store)
    http = (await serve(store, clock=clock, api_settings=ApiSettings(idempotency_ttl=60,
                                                                     token_lifetime=3600))).client()
    token = await get_token(http, cid, secret)
    await confirmed(http, token)
    key = {"Idempotency-Key": "k"}
    assert (await http.post(VERIFY, json=verification(amara), headers=bearer(token, **key))).status_code == 201
    clock.advance(61)
    r = await http.post(VERIFY, json=verification(amara, term="2027FA"), headers=bearer(token, **key))
    assert r.status_code == 201 and r.json()["alreadyRecorded"] is False


async def test_simultaneous_retries_record_once(any_store, serve):
    store = any_store
    amara = await issue(store)
    cid, secret = await new_client(store)
    server = await serve(store)
    http = server.client()
    token = await get_token(http, cid, secret)
    await confirmed(http, token)
    key = bearer(token, **{"Idempotency-Key": "burst"})
    answers = await asyncio.gather(*(server.client().post(VERIFY, json=verification(amara), headers=key)
                                     for _ in range(6)))
    assert [a.status_code for a in answers] == [201] * 6
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(1 for a in answers if "idempotent-replayed" not in a.headers) == 1
    # lookups honour a key too
    lk = bearer(token, **{"Idempotency-Key": "lookup-1"})
    looked = await asyncio.gather(*(server.client().post(LOOKUP, json=AMARA_LOOKUP, headers=lk) for _ in range(4)))
    assert {a.json()["ssid"] for a in looked} == {amara}
    async with store.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(enrollments_t))).scalar() == 1
        assert (await conn.execute(select(func.count()).select_from(lookups_t))).scalar() == 2  # first + one keyed
    assert len(await store.audit(amara, change_type="ENROLLMENT_VERIFIED")) == 1
