"""HTTPS transport: POST one SIF_Message, return the body of the synchronous reply.

It only moves bytes. Failures are :class:`TransportError` (never SIFError); those
that may heal (connection refused, timeouts, HTTP 5xx/429) are retried with
exponential backoff and full jitter (tenacity). An XML body is returned whatever
the HTTP status, so a SIF_Ack with a SIF_Error reaches the session, which decides.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Awaitable, Callable, Protocol

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from .config import RetrySettings, ZoneSettings

log = logging.getLogger(__name__)

CONTENT_TYPE = 'application/xml;charset="utf-8"'


class TransportError(Exception):
    """The bytes did not make a round trip. Not a SIF error: no category, no code."""


class RetryableTransportError(TransportError):
    """Connection refused or reset, timeout, HTTP 5xx or 429: worth trying again later."""


class PermanentTransportError(TransportError):
    """An answer that will not change by retrying (e.g. HTTP 404 with no SIF_Ack in it)."""


class Transport(Protocol):
    async def post(self, body: bytes) -> bytes: ...

    async def aclose(self) -> None: ...


def ssl_context(ca: os.PathLike | None = None, cert: os.PathLike | None = None,
                key: os.PathLike | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ client context: verify the zone against ``ca`` (or the system CAs), present
    ``cert``/``key`` as the client certificate when given."""
    if key is not None and cert is None:
        raise ValueError("a client key needs its certificate")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.fspath(ca) if ca else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(os.fspath(cert), os.fspath(key) if key is not None else None)
    return ctx


def _is_xml(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").lower().startswith(("application/xml", "text/xml"))


class HttpsTransport:
    """POSTs to one zone URL over a pooled httpx client, retrying transport failures."""

    def __init__(self, url: str, *, verify: ssl.SSLContext | bool = True,
                 auth: tuple[str, str] | None = None, timeout: float = 30.0,
                 retry: RetrySettings = RetrySettings(),
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.retry = retry
        self.sleep = sleep
        self._client = client or httpx.AsyncClient(verify=verify, auth=auth, timeout=timeout)
        self.attempts = 0  # total POSTs tried, for tests and metrics

    @classmethod
    def for_zone(cls, zone: ZoneSettings, **kw) -> "HttpsTransport":
        verify: ssl.SSLContext | bool
        if zone.url.lower().startswith("https://") and zone.tls.verify:
            verify = ssl_context(zone.tls.ca, zone.tls.cert, zone.tls.key)
        else:
            verify = zone.tls.verify
        auth = (zone.basic.user, zone.basic.password()) if zone.basic else None
        return cls(zone.url, verify=verify, auth=auth, timeout=zone.timeout, retry=zone.retry, **kw)

    async def _post_once(self, body: bytes) -> bytes:
        self.attempts += 1
        try:
            r = await self._client.post(self.url, content=body, headers={"Content-Type": CONTENT_TYPE})
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise RetryableTransportError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise PermanentTransportError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if r.status_code >= 500 or r.status_code == 429:
            raise RetryableTransportError(f"{self.url}: HTTP {r.status_code}")
        if _is_xml(r) and r.content:
            return r.content  # a SIF_Ack, perhaps an error one: the session reads it
        raise PermanentTransportError(f"{self.url}: HTTP {r.status_code} without a SIF_Ack "
                                      f"({r.headers.get('content-type', 'no content type')})")

    async def post(self, body: bytes) -> bytes:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetryableTransportError),
            wait=wait_random_exponential(multiplier=self.retry.initial, max=self.retry.maximum),
            stop=stop_after_attempt(self.retry.attempts),
            sleep=self.sleep,
            reraise=True,
            before_sleep=lambda rs: log.warning("%s; retrying (attempt %d)", rs.outcome.exception(),
                                                rs.attempt_number),
        )
        async for attempt in retrying:
            with attempt:
                return await self._post_once(body)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self._client.aclose()
