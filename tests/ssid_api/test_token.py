"""POST /oauth/token (RFC 6749 client credentials) and POST /oauth/revoke (RFC 7009): the happy
paths with HTTP Basic and with the form body, every error of §5.2 that this grant can produce,
expiry on the injected clock, revocation (by the client, by the CLI's functions, by rotating
the secret) and the live-token cap."""

from __future__ import annotations

import base64
import re

from ssid.api import ApiSettings
from ssid.api.clients import revoke_client, rotate_secret
from ssid.api.tables import clients_t, tokens_t
from ssid.api.tokens import hash_token

from .conftest import LOOKUP, TOKEN, basic, bearer, get_token, new_client

GRANT = {"grant_type": "client_credentials"}
#: RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash, ASCII)
DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
LOOKUP_BODY = {"firstName": "Nobody", "lastName": "Known", "birthDate": "2009-03-04", "cdsCode": "19647331930106",
               "cccid": "ABC1234"}


def oauth_error(r, status: int, error: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error
    assert DESCRIPTION.fullmatch(body["error_description"]), body["error_description"]
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    return body["error_description"]


async def test_token_with_basic_auth_and_with_the_form_body(store, serve):
    cid, secret = await new_client(store, scopes=("ssid-lookup",))
    http = (await serve(store)).client()
    r = await http.post(TOKEN, data=GRANT, headers=basic(cid, secret))
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800 and body["scope"] == "ssid-lookup"
    token = body["access_token"]
    assert len(token) >= 43  # 256 random bits
    async with store.read() as conn:
        rows = (await conn.execute(tokens_t.select())).all()
        secret_hash = (await conn.execute(clients_t.select())).one().secret_hash
    assert [row.token_hash for row in rows] == [hash_token(token)]  # only the hash is stored
    assert secret not in secret_hash and secret_hash.startswith("$argon2id$")
    r = await http.post(TOKEN, data={**GRANT, "client_id": cid, "client_secret": secret})
    assert r.status_code == 200 and r.json()["access_token"] != token
    # a client id and secret with reserved characters are form-encoded inside Basic (RFC 6749 §2.3.1)
    odd_id, odd_secret = await new_client(store, client_id="odd.client_1")
    raw = base64.b64encode(f"{odd_id}:{odd_secret.replace('-', '%2D')}".encode()).decode()
    r = await http.post(TOKEN, data=GRANT, headers={"Authorization": f"Basic {raw}"})
    assert r.status_code == 200 and r.json()["scope"] == "enrollment-verification ssid-lookup"
    # the token opens the API
    r = await http.post(LOOKUP, json=LOOKUP_BODY, headers=bearer(token))
    assert r.status_code == 200 and r.json()["status"] == "not_found"


async def test_every_error_of_rfc6749_5_2(store, serve):
    cid, secret = await new_client(store, scopes=("ssid-lookup",))
    other, other_secret = await new_client(store)
    http = (await serve(store)).client()
    auth = basic(cid, secret)

    # invalid_request: no grant_type, repeated parameter, not a form, two ways of authenticating, half a body pair
    oauth_error(await http.post(TOKEN, data={}, headers=auth), 400, "invalid_request")
    oauth_error(await http.post(TOKEN, content="grant_type=client_credentials&grant_type=client_credentials",
                                headers={**auth, "Content-Type": "application/x-www-form-urlencoded"}),
                400, "invalid_request")
    oauth_error(await http.post(TOKEN, json=GRANT, headers=auth), 400, "invalid_request")
    oauth_error(await http.post(TOKEN, data={**GRANT, "client_secret": secret}, headers=auth), 400, "invalid_request")
    oauth_error(await http.post(TOKEN, data={**GRANT, "client_id": cid}), 400, "invalid_request")

    # invalid_client (401 with a Basic challenge): none, unknown, wrong secret, another scheme, garbage, revoked
    for kw in ({"data": GRANT}, {"data": GRANT, "headers": basic("c-nobody", secret)},
               {"data": GRANT, "headers": basic(cid, other_secret)}, {"data": {**GRANT, "client_id": cid,
                                                                               "client_secret": "wrong"}},
               {"data": GRANT, "headers": {"Authorization": "Bearer abc"}},
               {"data": GRANT, "headers": {"Authorization": "Basic !!!not-base64"}}):
        r = await http.post(TOKEN, **kw)
        oauth_error(r, 401, "invalid_client")
        assert r.headers["www-authenticate"].startswith("Basic realm=")
    async with store.write() as conn:
        await revoke_client(conn, other, now=1_800_000_000.0)
    oauth_error(await http.post(TOKEN, data=GRANT, headers=basic(other, other_secret)), 401, "invalid_client")

    # unsupported_grant_type
    for grant in ("password", "authorization_code", "refresh_token"):
        oauth_error(await http.post(TOKEN, data={"grant_type": grant}, headers=auth), 400, "unsupported_grant_type")

    # invalid_scope: unknown, not granted to this client, empty
    text = oauth_error(await http.post(TOKEN, data={**GRANT, "scope": "ssid-lookup admin"}, headers=auth),
                       400, "invalid_scope")
    assert "admin" not in text  # the unknown value is not echoed
    text = oauth_error(await http.post(TOKEN, data={**GRANT, "scope": "enrollment-verification"}, headers=auth),
                       400, "invalid_scope")
    assert "not granted enrollment-verification" in text
    oauth_error(await http.post(TOKEN, data={**GRANT, "scope": " "}, headers=auth), 400, "invalid_scope")

    # invalid_grant and unauthorized_client cannot arise here (no grants are issued by this server, and
    # every client is a client-credentials client); nothing was issued by any refused request
    async with store.read() as conn:
        assert (await conn.execute(tokens_t.select())).all() == []


async def test_a_token_expires_on_the_clock(store, serve, clock):
    cid, secret = await new_client(store)
    http = (await serve(store, clock=clock, api_settings=ApiSettings(token_lifetime=600))).client()
    token = await get_token(http, cid, secret)
    clock.advance(599)
    assert (await http.post(LOOKUP, json=LOOKUP_BODY, headers=bearer(token))).status_code == 200
    clock.advance(1)
    r = await http.post(LOOKUP, json=LOOKUP_BODY, headers=bearer(token))
    assert r.status_code == 401 and r.json()["type"] == "urn:ssid:api:security:authentication"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    r = await http.post(LOOKUP, json=LOOKUP_BODY)
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="ssid-api"'


async def test_revocation_by_the_client_the_state_and_rotation(store, serve, clock):
    cid, secret = await new_client(store)
    server = await serve(store, clock=clock)
    http = server.client()
    a, b, c = [await get_token(http, cid, secret) for _ in range(3)]
    ok = LOOKUP_BODY

    # RFC 7009: the client revokes one of its tokens; 200 also for an unknown or another client's token
    r = await http.post("/oauth/revoke", data={"token": a}, headers=basic(cid, secret))
    assert r.status_code == 200 and r.content == b""
    assert (await http.post(LOOKUP, json=ok, headers=bearer(a))).status_code == 401
    assert (await http.post(LOOKUP, json=ok, headers=bearer(b))).status_code == 200
    other, other_secret = await new_client(store)
    r = await http.post("/oauth/revoke", data={"token": b}, headers=basic(other, other_secret))
    assert r.status_code == 200
    assert (await http.post(LOOKUP, json=ok, headers=bearer(b))).status_code == 200  # not the other client's to revoke
    oauth_error(await http.post("/oauth/revoke", data={}, headers=basic(cid, secret)), 400, "invalid_request")
    oauth_error(await http.post("/oauth/revoke", data={"token": b}, headers=basic(cid, "wrong")), 401,
                "invalid_client")

    # rotating the secret revokes the live tokens and the old secret stops working
    async with store.write() as conn:
        new_secret, revoked = await rotate_secret(conn, cid, now=clock())
    assert revoked == 2
    for t in (b, c):
        assert (await http.post(LOOKUP, json=ok, headers=bearer(t))).status_code == 401
    oauth_error(await http.post(TOKEN, data=GRANT, headers=basic(cid, secret)), 401, "invalid_client")
    d = await get_token(http, cid, new_secret)

    # revoking the client ends its tokens at once
    async with store.write() as conn:
        assert await revoke_client(conn, cid, now=clock()) == 1
    assert (await http.post(LOOKUP, json=ok, headers=bearer(d))).status_code == 401


async def test_live_token_cap(store, serve, clock):
    cid, secret = await new_client(store, token_cap=2)
    small, small_secret = await new_client(store)  # the settings' default cap (3 here)
    http = (await serve(store, clock=clock, api_settings=ApiSettings(default_token_cap=3,
                                                                     token_lifetime=900))).client()
    first = await get_token(http, cid, secret)
    clock.advance(100)
    await get_token(http, cid, secret)
    r = await http.post(TOKEN, data=GRANT, headers=basic(cid, secret))
    oauth_error(r, 429, "invalid_request")
    assert r.headers["retry-after"] == "800"  # until the oldest live token expires
    for _ in range(3):
        await get_token(http, small, small_secret)
    oauth_error(await http.post(TOKEN, data=GRANT, headers=basic(small, small_secret)), 429, "invalid_request")
    # revoking one frees a place; so does expiry
    assert (await http.post("/oauth/revoke", data={"token": first}, headers=basic(cid, secret))).status_code == 200
    await get_token(http, cid, secret)
    oauth_error(await http.post(TOKEN, data=GRANT, headers=basic(cid, secret)), 429, "invalid_request")
    clock.advance(900)
    await get_token(http, cid, secret)
    await get_token(http, cid, secret)
