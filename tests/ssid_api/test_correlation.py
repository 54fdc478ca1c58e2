"""Correlation-Id: echoed when sent, made when absent, refused when malformed; in every problem
body and in every log line the API writes for the request; no personal data in the logs."""

from __future__ import annotations

import logging
import re
import uuid

from .conftest import LOOKUP, bearer, get_token, new_client

BODY = {"firstName": "Philippa", "lastName": "Vandersloot", "birthDate": "2008-01-02",
        "cdsCode": "19647331930106", "cccid": "ABC1234"}


async def test_echoed_generated_and_refused(store, serve):
    cid, secret = await new_client(store)
    http = (await serve(store)).client()
    token = await get_token(http, cid, secret)
    r = await http.post(LOOKUP, json=BODY, headers=bearer(token, **{"Correlation-Id": "cccapply-5f1e:42"}))
    assert r.status_code == 200 and r.headers["correlation-id"] == "cccapply-5f1e:42"
    r = await http.post(LOOKUP, json=BODY, headers=bearer(token))
    made = r.headers["correlation-id"]
    assert uuid.UUID(made).version == 4
    r = await http.post(LOOKUP, json=BODY)  # a problem carries the id in its body too
    assert r.status_code == 401 and r.json()["correlationId"] == r.headers["correlation-id"] != made
    for bad in ("x" * 65, "has space", "-leading"):
        r = await http.post(LOOKUP, json=BODY, headers=bearer(token, **{"Correlation-Id": bad}))
        assert r.status_code == 400 and r.json()["type"] == "urn:ssid:api:bad-request:invalid-header"
        assert r.headers["correlation-id"] != bad and r.json()["correlationId"] == r.headers["correlation-id"]


async def test_every_log_line_carries_it_and_no_personal_data(store, serve, caplog):
    cid, secret = await new_client(store)
    http = (await serve(store)).client()
    token = await get_token(http, cid, secret)
    caplog.set_level(logging.DEBUG, logger="ssid")
    caplog.clear()
    await http.post(LOOKUP, json=BODY, headers=bearer(token, **{"Correlation-Id": "trace-1"}))
    await http.post(LOOKUP, json={**BODY, "birthDate": "2008-02-30"}, headers=bearer(token, **{
        "Correlation-Id": "trace-2"}))
    await http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers={"Correlation-Id": "trace-3"})
    api_lines = [r for r in caplog.records if r.name.startswith("ssid.api")]
    assert len(api_lines) >= 3
    ids = [re.match(r"\[correlation ([^\]]+)\] ", r.getMessage()) for r in api_lines]
    assert all(ids), [r.getMessage() for r in api_lines]
    assert {m.group(1) for m in ids} == {"trace-1", "trace-2", "trace-3"}
    assert all(r.correlation_id == m.group(1) for r, m in zip(api_lines, ids))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Philippa" not in text and "Vandersloot" not in text and "2008-0" not in text
