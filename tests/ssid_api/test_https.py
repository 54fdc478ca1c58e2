"""HTTPS only: served without TLS the API refuses every request (and revokes a token sent in
clear) unless told it is behind a TLS-terminating proxy; ``require_tls`` refuses to start."""

from __future__ import annotations

import pytest
from aiohttp import web

from ssid.api import ApiConfigError, ApiSettings, make_api_app, require_tls
from ssid.server import mount_at_root
from zone.tls import client_context, server_context

from .conftest import LOOKUP, TOKEN, ApiServer, ManualClock, basic, bearer, get_token, new_client

BODY = {"firstName": "Ana", "lastName": "Lopez", "birthDate": "2008-01-02", "cdsCode": "19647331930106",
        "cccid": "ABC1234"}


async def test_plain_http_is_refused_and_an_exposed_token_revoked(store, serve, clock):
    cid, secret = await new_client(store)
    https = (await serve(store, clock=clock)).client()
    token = await get_token(https, cid, secret)
    plain = (await serve(store, clock=clock, tls=False)).client()
    assert plain.base_url.scheme == "http"
    for r in (await plain.get("/"), await plain.post(TOKEN, data={"grant_type": "client_credentials"},
                                                     headers=basic(cid, secret)),
              await plain.post(LOOKUP, json=BODY, headers=bearer(token))):
        assert r.status_code == 403
        assert r.json()["type"] == "urn:ssid:api:security:https-required"
        assert "https://" in r.json()["detail"] and "access_token" not in r.text and "Ana" not in r.text
    # the token travelled in clear: it no longer works over HTTPS either
    r = await https.post(LOOKUP, json=BODY, headers=bearer(token))
    assert r.status_code == 401


async def test_behind_a_tls_terminating_proxy(store, serve):
    cid, secret = await new_client(store)
    proxied = (await serve(store, tls=False, api_settings=ApiSettings(behind_tls_proxy=True))).client()
    token = await get_token(proxied, cid, secret)
    r = await proxied.post(LOOKUP, json=BODY, headers=bearer(token, **{"X-Forwarded-Proto": "https"}))
    assert r.status_code == 200
    r = await proxied.post(LOOKUP, json=BODY, headers=bearer(token, **{"X-Forwarded-Proto": "http"}))
    assert r.status_code == 403 and r.json()["type"] == "urn:ssid:api:security:https-required"


def test_require_tls_refuses_to_start_without_tls(pki):
    with pytest.raises(ApiConfigError, match="behind_tls_proxy"):
        require_tls(None, ApiSettings())
    require_tls(None, ApiSettings(behind_tls_proxy=True))
    require_tls(server_context(pki.server_cert, pki.server_key), ApiSettings())


async def test_mounted_at_the_root_of_the_ssid_server(store, pki, conformance):
    """As `slf ssid serve` mounts it: the API's own limits and URLs still hold inside another app."""
    cid, secret = await new_client(store)
    root = web.Application()  # aiohttp's default body limit (1 MiB) applies to the root's requests
    mount_at_root(root, make_api_app(store, store.settings, clock=ManualClock(),
                                     api_settings=ApiSettings(max_body_bytes=1024)))
    server = await ApiServer(root, server_context(pki.server_cert, pki.server_key), client_context(pki.ca_cert),
                             conformance).start()
    try:
        http = server.client()
        assert (await http.get("/")).json()["urls"]["oauth"] == f"{server.url}/oauth/token"
        token = await get_token(http, cid, secret)
        assert (await http.post(LOOKUP, json=BODY, headers=bearer(token))).status_code == 200
        r = await http.post(LOOKUP, json={**BODY, "firstName": "A" * 2000}, headers=bearer(token))
        assert r.status_code == 413 and r.json()["type"] == "urn:ssid:api:payload-too-large"
    finally:
        await server.stop()
