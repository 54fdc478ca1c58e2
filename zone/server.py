"""Running a zone server process: database, HTTPS listener, timers, push delivery."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Callable

from aiohttp import web

from .config import ServerSettings
from .core import Zis
from .http import make_app
from .push import PushDelivery
from .store import Store
from .tls import client_context, server_context

log = logging.getLogger(__name__)


async def _every(seconds: float, stop: asyncio.Event, fn) -> None:
    while not stop.is_set():
        try:
            await fn()
        except Exception:  # noqa: BLE001 - a timer must survive one bad round
            log.exception("periodic task failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass


async def serve(settings: ServerSettings, *, stop: asyncio.Event | None = None,
                ready: Callable[[str], None] | None = None, reuse_port: bool = False) -> None:
    """Serve every configured zone until ``stop`` is set (or SIGTERM/SIGINT). With ``reuse_port``
    several processes listen on one port (workers over one PostgreSQL database)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    store = Store.from_url(settings.database)
    await store.create()
    push_ssl = client_context(settings.client_ca) if settings.client_ca else None
    push: PushDelivery | None = None
    zis = Zis(settings, store, on_enqueue=lambda z, r: push.wake(z, r) if push else None,
              on_register=lambda z, a: push.forget(z, a) if push else None)
    push = PushDelivery(zis, ssl_context=push_ssl)
    runner = web.AppRunner(make_app(zis), access_log=None, auto_decompress=False)
    await runner.setup()
    ssl_ctx = None
    if settings.tls:
        ssl_ctx = server_context(settings.tls_cert, settings.tls_key, client_ca=settings.client_ca,
                                 require_client_cert=False)
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_ctx, reuse_address=True,
                       reuse_port=reuse_port or None)
    await site.start()
    scheme = "https" if ssl_ctx else "http"
    port = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else settings.port
    base = f"{scheme}://{settings.host}:{port}"
    log.info("zone server listening on %s (%s)", base, ", ".join(z.id for z in settings.zones))
    if ready:
        ready(base)

    async def trim() -> None:
        for z in settings.zones:
            await store.trim_log(z.id, settings.log_retention_rows)

    tasks = [
        asyncio.create_task(_every(0.2, stop, store.flush_log)),
        asyncio.create_task(_every(1.0, stop, zis.expire_requests)),
        asyncio.create_task(_every(60.0, stop, trim)),
        asyncio.create_task(push.run(stop)),
    ]
    try:
        await stop.wait()
    finally:
        log.info("zone server stopping")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        await store.close()
