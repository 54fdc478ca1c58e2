"""POST /api/v1/ssid-lookups against a store seeded with synthetic students, on SQLite and
PostgreSQL: confirmed (with the right SSID), ambiguous, not_found, the collected SSID, what is
logged (never the names), and scope and organisation enforcement."""

from __future__ import annotations

import json
import random

from sqlalchemy import select

from ssid.api.tables import lookups_t
from ssid.audit import Actor
from ssid.legacy import LegacyImporter
from ssid.population import generate_population
from tests.ssid_batch.synth import layout_row, write_layout

from .conftest import AMARA, LOOKUP, bearer, get_token, new_client

CDS = "19647331930106"  # county 19, district 64733, school 1930106


def body_of(record, **extra):
    return {"firstName": record.first_name.title(), "lastName": record.last_name.title(),
            "birthDate": record.birth_date.isoformat(), "cdsCode": CDS, "cccid": "ABC1234", **extra}


async def seed(store, tmp_path, n: int = 150):
    pop = generate_population(n, seed=5)
    path = write_layout(tmp_path / "legacy.csv", store.catalogue,
                        (layout_row(s.record, s.student_id) for s in pop.students))
    await LegacyImporter(store, actor=Actor("loader")).run(path)
    return pop


async def test_confirmed_ambiguous_not_found(any_store, serve, tmp_path):
    store = any_store
    pop = await seed(store, tmp_path)
    # two students the request cannot tell apart: same names and birth date, other middle name and gender
    twins = []
    async with store.write() as conn:
        for middle, gender in (("Lee", "F"), ("Ray", "M")):
            values = dict(AMARA, LegalFirstName="Jordan", LegalMiddleName=middle, LegalLastName="Quintero",
                          BirthDate="2008-06-01", Gender=gender)
            twins.append((await store.create_student(conn, values, Actor("seed"))).student_id)
    cid, secret = await new_client(store, scopes=("ssid-lookup",))
    http = (await serve(store)).client()
    token = await get_token(http, cid, secret)

    sample = random.Random(3).sample(pop.students, 12) + [s for s in pop.students if s.twin_of][:2]
    for s in sample:
        r = await http.post(LOOKUP, json=body_of(s.record), headers=bearer(token))
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "confirmed", "ssid": s.student_id, "cccid": "ABC1234"}

    jordan = {"firstName": "Jordan", "lastName": "Quintero", "birthDate": "2008-06-01", "cdsCode": CDS,
              "cccid": "XYZ9876"}
    r = await http.post(LOOKUP, json=jordan, headers=bearer(token))
    assert r.json() == {"status": "ambiguous", "cccid": "XYZ9876"}  # no SSID, no candidates

    stranger = {"firstName": "Zebulon", "lastName": "Fairweather-Okonjo", "birthDate": "2007-12-24",
                "cdsCode": CDS, "cccid": "KLM2345"}
    r = await http.post(LOOKUP, json=stranger, headers=bearer(token))
    assert r.json() == {"status": "not_found", "cccid": "KLM2345"}

    # the collected SSID: the right one confirms, another student's makes the answer ambiguous
    s, other = sample[0], sample[1]
    r = await http.post(LOOKUP, json=body_of(s.record, ssid=s.student_id), headers=bearer(token))
    assert r.json()["status"] == "confirmed" and r.json()["ssid"] == s.student_id
    r = await http.post(LOOKUP, json=body_of(s.record, ssid=other.student_id), headers=bearer(token))
    assert r.json() == {"status": "ambiguous", "cccid": "ABC1234"}

    # the disclosure log: who asked, the outcome and the SSID disclosed; never names or birth dates
    async with store.read() as conn:
        rows = (await conn.execute(select(lookups_t).order_by(lookups_t.c.id))).all()
    assert [r.outcome for r in rows] == ["confirmed"] * len(sample) + ["ambiguous", "not_found", "confirmed",
                                                                        "ambiguous"]
    assert [r.student_id for r in rows[:len(sample)]] == [s.student_id for s in sample]
    assert all(r.client_id == cid and r.correlation_id for r in rows)
    logged = json.dumps([dict(r._mapping) for r in rows]).upper()
    for s in sample:
        assert s.record.last_name.upper() not in logged and s.record.birth_date.isoformat() not in logged
    assert "QUINTERO" not in logged and "FAIRWEATHER" not in logged


async def test_scope_and_organisation_are_enforced(store, serve):
    verifier, v_secret = await new_client(store, scopes=("enrollment-verification",))
    both, b_secret = await new_client(store, orgs=("1964733", "30"))  # one district, one county
    http = (await serve(store)).client()
    body = {"firstName": "Ana", "lastName": "Lopez", "birthDate": "2008-01-02", "cdsCode": CDS, "cccid": "ABC1234"}

    r = await http.post(LOOKUP, json=body, headers=bearer(await get_token(http, verifier, v_secret)))
    assert r.status_code == 403 and r.json()["type"] == "urn:ssid:api:security:authorization:scope"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert 'scope="ssid-lookup"' in r.headers["www-authenticate"]
    narrow = await get_token(http, both, b_secret, scope="enrollment-verification")  # a narrower token
    r = await http.post(LOOKUP, json=body, headers=bearer(narrow))
    assert r.status_code == 403 and r.json()["type"] == "urn:ssid:api:security:authorization:scope"

    token = await get_token(http, both, b_secret)
    assert (await http.post(LOOKUP, json=body, headers=bearer(token))).status_code == 200
    assert (await http.post(LOOKUP, json={**body, "cdsCode": "30664230000000"},
                            headers=bearer(token))).status_code == 200
    for elsewhere in ("19647340000000", "01611190130229", "03000000000000"):
        r = await http.post(LOOKUP, json={**body, "cdsCode": elsewhere}, headers=bearer(token))
        assert r.status_code == 403, elsewhere
        problem = r.json()
        assert problem["type"] == "urn:ssid:api:security:authorization:organisation"
        assert elsewhere not in r.text
    async with store.read() as conn:
        outcomes = (await conn.execute(select(lookups_t.c.cds_code))).scalars().all()
    assert outcomes == [CDS, "30664230000000"]  # refused lookups were not run or logged
