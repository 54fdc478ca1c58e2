"""Invalid requests: every field error at once, keyed by JSON path, as problem+json; nothing
submitted is ever echoed; wrong media type, oversized and malformed bodies."""

from __future__ import annotations

import json

from ssid.api import ApiSettings

from .conftest import LOOKUP, VERIFY, bearer, get_token, new_client

PROBLEM_KEYS = {"type", "title", "status", "detail", "correlationId", "validationErrors"}


async def _token(store, serve, **kw):
    cid, secret = await new_client(store)
    server = await serve(store, **kw)
    http = server.client()
    return http, await get_token(http, cid, secret)


def assert_no_echo(response, values) -> None:
    text = response.text
    for v in values:
        assert str(v) not in text, f"{v!r} echoed"


async def test_every_lookup_field_error_at_once_without_echo(store, serve):
    http, token = await _token(store, serve)
    bad = {"firstName": "Mariaelenacristinaguadalupe-Xochitl", "lastName": "", "birthDate": "2009-02-30",
           "cdsCode": "1964733193010", "cccid": "ABI1234", "ssid": "QX12345678901", "middleName": "Sol",
           "gender": "F"}
    r = await http.post(LOOKUP, json=bad, headers=bearer(token))
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert set(problem) == PROBLEM_KEYS
    assert problem["type"] == "urn:ssid:api:bad-request:data-validation-failed" and problem["status"] == 400
    errors = problem["validationErrors"]
    assert set(errors) == {"$.firstName", "$.lastName", "$.birthDate", "$.cdsCode", "$.cccid", "$.ssid",
                           "$.middleName", "$.gender"}
    assert "at most 30" in errors["$.firstName"][0]
    assert "required" in errors["$.lastName"][0]
    assert "calendar date" in errors["$.birthDate"][0]
    assert "I and O" in errors["$.cccid"][0]
    assert_no_echo(r, ["Mariaelena", "1964733193010", "ABI1234", "QX12345678901", "Sol", "2009-02-30"])

    # the catalogue's own rules apply too (letters only; a birth date in the future), with all the others
    bad = {"firstName": "R2-D2", "lastName": "Sk!walker", "birthDate": "2031-05-04", "cdsCode": "19647331930106",
           "cccid": "abc1234"}
    r = await http.post(LOOKUP, json=bad, headers=bearer(token))
    errors = r.json()["validationErrors"]
    assert set(errors) == {"$.firstName", "$.lastName", "$.birthDate", "$.cccid"}
    assert "letters" in errors["$.firstName"][0] and "on or before" in errors["$.birthDate"][0]
    assert_no_echo(r, ["R2-D2", "Sk!walker", "2031-05-04", "abc1234"])

    # wrong types and a missing body field
    r = await http.post(LOOKUP, json={"firstName": 7, "lastName": ["x"], "birthDate": None, "cdsCode": 19647331930106},
                        headers=bearer(token))
    errors = r.json()["validationErrors"]
    assert set(errors) == {"$.firstName", "$.lastName", "$.birthDate", "$.cdsCode", "$.cccid"}
    assert "19647331930106" not in r.text
    # an 8-character CCCID (the growth character) is accepted
    ok = {"firstName": "Ana", "lastName": "Lopez", "birthDate": "2008-01-02", "cdsCode": "19647331930106",
          "cccid": "ABC12345"}
    assert (await http.post(LOOKUP, json=ok, headers=bearer(token))).status_code == 200


async def test_verification_field_errors(store, serve):
    http, token = await _token(store, serve)
    r = await http.post(VERIFY, json={"ssid": "ab 12", "cccid": "QRS123", "enrolledOn": "1989-12-31",
                                      "collegeCode": "12", "term": "!"},
                        headers=bearer(token, **{"Idempotency-Key": "k-1"}))
    assert r.status_code == 400
    errors = r.json()["validationErrors"]
    assert set(errors) == {"$.ssid", "$.cccid", "$.enrolledOn", "$.collegeCode", "$.term"}
    assert_no_echo(r, ["ab 12", "QRS123", "1989-12-31"])
    r = await http.post(VERIFY, json={}, headers=bearer(token, **{"Idempotency-Key": "k-2"}))
    assert set(r.json()["validationErrors"]) == {"$.ssid", "$.cccid", "$.enrolledOn"}


async def test_media_type_size_and_malformed_json(store, serve):
    http, token = await _token(store, serve, api_settings=ApiSettings(max_body_bytes=1024))
    r = await http.post(LOOKUP, content=b"firstName=Ana", headers=bearer(token, **{
        "Content-Type": "application/x-www-form-urlencoded"}))
    assert r.status_code == 415 and r.json()["type"] == "urn:ssid:api:unsupported-media-type"
    big = json.dumps({"firstName": "A" * 2000})
    r = await http.post(LOOKUP, content=big, headers=bearer(token, **{"Content-Type": "application/json"}))
    assert r.status_code == 413 and r.json()["type"] == "urn:ssid:api:payload-too-large"
    for raw in (b'{"firstName": "Ana",', b"\xff\xfe", b"", b"[" * 500 + b"]" * 500):
        r = await http.post(LOOKUP, content=raw, headers=bearer(token, **{"Content-Type": "application/json"}))
        assert r.status_code == 400, raw[:20]
        assert list(r.json()["validationErrors"]) == ["$"]
        assert "Ana" not in r.text
    r = await http.post(LOOKUP, json=["Ana", "Lopez"], headers=bearer(token))
    assert r.status_code == 400 and "JSON object" in r.json()["validationErrors"]["$"][0]
