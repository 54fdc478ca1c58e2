"""Discovery and the OpenAPI 3.1 document: served at the URL discovery names, well-formed JSON
Schema 2020-12, every operation exercised here and every response checked against it; and the
checker itself fails on a response that breaks the document."""

from __future__ import annotations

import httpx
import pytest
from jsonschema import Draft202012Validator

from ssid.audit import Actor

from .conftest import AMARA, LOOKUP, VERIFY, basic, bearer, get_token, new_client
from .openapi_check import Conformance, NotConforming


async def test_discovery_and_document(store, serve, conformance):
    server = await serve(store)
    http = server.client()
    r = await http.get("/")
    assert r.status_code == 200
    urls = r.json()["urls"]
    assert urls == {"oauth": f"{server.url}/oauth/token", "revoke": f"{server.url}/oauth/revoke",
                    "api": f"{server.url}/api/v1/", "openApi": f"{server.url}/api/v1/openapi.json"}
    doc = (await http.get(urls["openApi"])).json()
    assert doc["openapi"].startswith("3.1.") and doc["servers"] == [{"url": server.url}]
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    ops = {(p, m) for p, item in doc["paths"].items() for m in item}
    assert ops == {("/", "get"), ("/api/v1/openapi.json", "get"), ("/oauth/token", "post"),
                   ("/oauth/revoke", "post"), (LOOKUP, "post"), (VERIFY, "post")}
    assert doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"].keys() == {
        "ssid-lookup", "enrollment-verification"}
    for path, item in doc["paths"].items():  # personal data never in a URL: no query or path parameters
        for op in item.values():
            assert all(p.get("$ref", "").endswith(("Correlation-Id", "Idempotency-Key", "Idempotency-Key-Optional"))
                       for p in op.get("parameters", [])), path


async def test_every_operation_conforms(store, serve, conformance):
    async with store.write() as conn:
        await store.create_student(conn, AMARA, Actor("seed"))
    cid, secret = await new_client(store)
    server = await serve(store)
    http = server.client()
    before = len(conformance.checked)
    await http.get("/")
    await http.get("/api/v1/openapi.json")
    token = await get_token(http, cid, secret)
    body = {"firstName": "Amara", "lastName": "Okafor", "birthDate": "2017-04-12", "cdsCode": "19647331930106",
            "cccid": "ABC1234"}
    ssid = (await http.post(LOOKUP, json=body, headers=bearer(token))).json()["ssid"]
    key = {"Idempotency-Key": "k1"}
    v = {"ssid": ssid, "cccid": "ABC1234", "enrolledOn": "2027-01-02"}
    assert (await http.post(VERIFY, json=v, headers=bearer(token, **key))).status_code == 201
    assert (await http.post(VERIFY, json=v, headers=bearer(token, **key))).status_code == 201  # replay
    assert (await http.post("/oauth/revoke", data={"token": token}, headers=basic(cid, secret))).status_code == 200
    assert (await http.post(LOOKUP, json=body, headers=bearer(token))).status_code == 401
    seen = {(m, p) for m, p, _ in conformance.checked[before:]}
    assert seen == {("GET", "/"), ("GET", "/api/v1/openapi.json"), ("POST", "/oauth/token"),
                    ("POST", "/oauth/revoke"), ("POST", LOOKUP), ("POST", VERIFY)}


def _response(method: str, path: str, status: int, json_body=None, headers=None) -> httpx.Response:
    request = httpx.Request(method, f"https://127.0.0.1{path}")
    return httpx.Response(status, json=json_body, headers=headers or {}, request=request)


def test_the_checker_fails_on_a_nonconforming_response(conformance: Conformance):
    ok = {"Correlation-Id": "c1"}
    conformance.check(_response("POST", LOOKUP, 200, {"status": "not_found", "cccid": "ABC1234"}, ok))
    bad = [
        _response("POST", LOOKUP, 200, {"status": "not_found", "cccid": "ABC1234", "ssid": "AB1234567"}, ok),
        _response("POST", LOOKUP, 200, {"status": "confirmed", "cccid": "ABC1234"}, ok),
        _response("POST", LOOKUP, 200, {"status": "confirmed", "cccid": "ABC1234", "ssid": "AB1234567",
                                        "firstName": "Amara"}, ok),
        _response("POST", LOOKUP, 200, {"status": "not_found", "cccid": "ABC1234"}),  # no Correlation-Id
        _response("POST", LOOKUP, 201, {"status": "not_found", "cccid": "ABC1234"}, ok),  # undocumented status
        _response("GET", LOOKUP, 200, {}, ok),  # undocumented method
        _response("POST", "/oauth/token", 200, {"access_token": "x" * 43, "token_type": "bearer", "expires_in": 5,
                                                "scope": "ssid-lookup"}, ok),  # no Cache-Control
    ]
    for response in bad:
        with pytest.raises(NotConforming):
            conformance.check(response)
