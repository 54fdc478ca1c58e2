"""HTTPS transport: content type, retries with jittered backoff on transport failures only, TLS."""

from __future__ import annotations

import ssl

import httpx
import pytest
import respx

from messages import Ack, Header, SIFError, Status, build
from messages.errors import Error
from sif_agent.config import BasicAuth, RetrySettings, TlsSettings, ZoneSettings
from sif_agent.session import ZoneSession
from sif_agent.transport import (
    CONTENT_TYPE, HttpsTransport, PermanentTransportError, RetryableTransportError, ssl_context,
)
from zone.tls import make_dev_pki

URL = "https://zis.test/zones/z"


def ack_bytes(code: int | None = 0, error: Error | None = None, original: str = "A" * 32) -> bytes:
    return build(Ack(header=Header.new("ZIS"), original_source_id="agent", original_msg_id=original,
                     status=None if error else Status(code=code), error=error))


XML = {"Content-Type": CONTENT_TYPE}
ACK = ack_bytes()


class Sleeps:
    def __init__(self):
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def transport(sleep, attempts=4, **kw) -> HttpsTransport:
    return HttpsTransport(URL, retry=RetrySettings(attempts=attempts, initial=1.0, maximum=8.0), sleep=sleep, **kw)


@respx.mock
async def test_posts_sif_xml_and_returns_the_reply_body():
    route = respx.post(URL).mock(return_value=httpx.Response(200, content=ACK, headers=XML))
    t = transport(Sleeps())
    assert await t.post(b"<SIF_Message/>") == ACK
    sent = route.calls.last.request
    assert sent.headers["content-type"] == 'application/xml;charset="utf-8"'
    assert sent.content == b"<SIF_Message/>"
    await t.aclose()


@respx.mock
async def test_5xx_and_connection_errors_are_retried_with_jittered_exponential_backoff():
    route = respx.post(URL).mock(side_effect=[
        httpx.Response(503, text="busy"),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, content=ACK, headers=XML),
    ])
    sleeps = Sleeps()
    t = transport(sleeps)
    assert await t.post(b"<x/>") == ACK
    assert route.call_count == 4 and t.attempts == 4
    # full jitter: each wait is random in [0, min(max, initial * 2^n)]
    assert len(sleeps.calls) == 3
    for n, s in enumerate(sleeps.calls):
        assert 0 <= s <= min(8.0, 1.0 * 2 ** (n + 1))


@respx.mock
async def test_gives_up_after_the_configured_attempts_with_a_transport_error():
    respx.post(URL).mock(return_value=httpx.Response(502))
    sleeps = Sleeps()
    with pytest.raises(RetryableTransportError, match="HTTP 502"):
        await transport(sleeps, attempts=3).post(b"<x/>")
    assert len(sleeps.calls) == 2


@respx.mock
async def test_a_sif_error_ack_is_not_retried_whatever_the_http_status():
    err = ack_bytes(error=Error(category=4, code=9, desc="not registered"))
    route = respx.post(URL).mock(return_value=httpx.Response(400, content=err, headers=XML))
    sleeps = Sleeps()
    assert await transport(sleeps).post(b"<x/>") == err
    assert route.call_count == 1 and sleeps.calls == []


@respx.mock
async def test_a_non_sif_4xx_is_permanent_and_not_retried():
    route = respx.post(URL).mock(return_value=httpx.Response(404, text="no such zone"))
    with pytest.raises(PermanentTransportError, match="HTTP 404"):
        await transport(Sleeps()).post(b"<x/>")
    assert route.call_count == 1


@respx.mock
async def test_session_turns_error_acks_into_sif_errors_and_never_retries_them():
    route = respx.post(URL).mock(return_value=httpx.Response(
        200, content=ack_bytes(error=Error(category=8, code=4, desc="No provider")), headers=XML))
    zone = ZoneSettings(id="z", url=URL, source_id="agent")
    session = ZoneSession(zone, transport(Sleeps()), ids=lambda: "A" * 32)
    with pytest.raises(SIFError) as info:
        await session.ping()
    assert (info.value.category, info.value.code) == (8, 4)
    assert route.call_count == 1


@respx.mock
async def test_status_7_counts_as_delivered():
    respx.post(URL).mock(return_value=httpx.Response(200, content=ack_bytes(7), headers=XML))
    session = ZoneSession(ZoneSettings(id="z", url=URL, source_id="agent"), transport(Sleeps()),
                          ids=lambda: "A" * 32)
    assert (await session.ping()).status.code == 7


def test_tls_context_verifies_the_zone_and_presents_the_client_certificate(tmp_path):
    pki = make_dev_pki(tmp_path, clients=("agent",))
    ctx = ssl_context(pki.ca_cert, pki.client("agent").cert, pki.client("agent").key)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(ValueError):
        ssl_context(pki.ca_cert, None, pki.client("agent").key)


@respx.mock
async def test_for_zone_uses_basic_credentials_from_the_environment(monkeypatch, tmp_path):
    pki = make_dev_pki(tmp_path, clients=("agent",))
    monkeypatch.setenv("ZONE_PW", "pa55")
    zone = ZoneSettings(id="z", url=URL, source_id="agent", tls=TlsSettings(ca=pki.ca_cert),
                        basic=BasicAuth(user="agent", password_env="ZONE_PW"))
    route = respx.post(URL).mock(return_value=httpx.Response(200, content=ack_bytes(), headers=XML))
    t = HttpsTransport.for_zone(zone)
    await t.post(b"<x/>")
    assert route.calls.last.request.headers["authorization"] == httpx.BasicAuth("agent", "pa55")._auth_header
    await t.aclose()
