"""Push mode: the HTTPS endpoint where a zone POSTs messages to this agent.

The zone POSTs one SIF_Message per request; the HTTP answer is the agent's SIF_Ack, given
only after the handler has finished (its work committed), exactly like the ack a pull-mode
agent sends after SIF_GetMessage. When the agent cannot take the message now (stopping, or
the handler could not finish for a reason that is not the message's fault) the answer is
HTTP 503: no ack, so the zone keeps the message and pushes it again after its backoff.

Bytes from the network go through the same hardened parser as everything else; a body that
is not a SIF message gets HTTP 400 with the reason (a zone never sends one; a stray client
learns what is wrong).
"""

from __future__ import annotations

import logging
import os
import ssl
from typing import Awaitable, Callable

from aiohttp import web

from messages import Ack, Message, SIFError, build, parse

from .config import PushSettings

log = logging.getLogger(__name__)

XML = 'application/xml;charset="utf-8"'

#: the handler: the message in, its SIF_Ack out (None: not acknowledged, deliver again)
Handle = Callable[[Message], Awaitable[Ack | None]]


def server_context(push: PushSettings) -> ssl.SSLContext | None:
    """TLS 1.2+ for the listener (None: plain HTTP, only for development on loopback)."""
    if push.cert is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.fspath(push.cert), os.fspath(push.key) if push.key else None)
    if push.client_ca is not None:  # only the zone, with a certificate from this CA, may push
        ctx.load_verify_locations(cafile=os.fspath(push.client_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class PushListener:
    def __init__(self, zone_id: str, push: PushSettings, handle: Handle, *, max_bytes: int) -> None:
        self.zone_id = zone_id
        self.push = push
        self.handle = handle
        self.max_bytes = max_bytes
        self.path = f"/sif/{zone_id}"
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self) -> str:
        """Listen; return the URL to register with (``push.url``, or one built from the bound port)."""
        app = web.Application(client_max_size=self.max_bytes)
        app.router.add_post(self.path, self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        ctx = server_context(self.push)
        site = web.TCPSite(self._runner, self.push.host, self.push.port, ssl_context=ctx)
        await site.start()
        port = self._runner.addresses[0][1]
        scheme = "https" if ctx is not None else "http"
        self.url = self.push.url or f"{scheme}://{self.push.advertised_host}:{port}{self.path}"
        if ctx is None:
            log.warning("zone %s: push listener without TLS on %s (development only)", self.zone_id, self.url)
        log.info("zone %s: push listener on %s", self.zone_id, self.url)
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            message = parse(body, lenient=True, max_bytes=self.max_bytes)
        except SIFError as exc:
            log.warning("zone %s: push body refused: %s", self.zone_id, exc)
            return web.Response(status=400, text=f"not a SIF message this agent can read: {exc}\n")
        ack = await self.handle(message)
        if ack is None:
            return web.Response(status=503, text="not acknowledged; deliver it again later\n",
                                headers={"Retry-After": "5"})
        return web.Response(body=build(ack), headers={"Content-Type": XML})
