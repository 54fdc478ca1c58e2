"""The SSID server process: one HTTPS listener and the database's timed work (``slf ssid serve``).

Why one process: the state side of the SSID database has four things that must run all the
time, and running them as one unit gives one thing to start, watch and stop:

* the HTTPS listener: ``GET /healthz`` (is the database answering, which parts run), the REST
  API (``ssid.api.make_api_app``) at ``/`` and the web UI (``ssid.web.make_web_app``) at
  ``/ui/`` (its review queue works on the poller's SLF tables);
* the SLF poller (``ssid.poller.SlfPoller.run``, the loop ``slf ssid poll`` runs);
* the heartbeat (``ssid.heartbeats``), from which the reports compute availability;
* the scheduled extracts (``ssid.schedule`` decides, ``ssid.extracts`` writes).

SIGTERM / SIGINT set one stop event: the loops finish their current pass, the listener stops,
the process exits 0. Configuration: the ``[server]`` and ``[extracts]`` tables of the SSID
configuration file (see conf/ssid.example.toml and ``server_from_config``). The TLS context is
made by the caller (slf/ssid_serve.py), so this module needs no certificate code.
"""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import logging
import math
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRuleMatching, MatchedSubAppResource
from sqlalchemy import text

from . import heartbeats
from .config import url_of
from .extracts import write_extract
from .schedule import ExtractSchedule, due, last_runs_from_names, next_wake

log = logging.getLogger(__name__)

_SERVER_KEYS = {"host", "port", "tls_cert", "tls_key", "client_ca", "slf_database", "poll_interval",
                "heartbeat_interval", "shutdown_grace"}
#: paths the server answers itself; everything else goes to the REST API when it is mounted
OWN_PATHS = ("/healthz", "/ui")
#: seconds between looks at the extract schedule after a failed extract
EXTRACT_RETRY = 60.0


class ServerConfigError(ValueError):
    """A ``[server]`` setting that cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None  # optional: accept (not require) client certificates signed by it
    slf_database: str | None = None  # the SLF tables' database (shared with `slf resolver run`)
    poll_interval: float = 1.0
    heartbeat_interval: float = heartbeats.DEFAULT_INTERVAL
    shutdown_grace: float = 30.0  # seconds the loops get to finish their pass on SIGTERM

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_from_config(data: Mapping[str, Any], base: Path | None = None) -> ServerSettings:
    """ServerSettings from a ``[server]`` table; every problem at once. Paths are relative to ``base``."""
    problems: list[str] = []
    unknown = set(data) - _SERVER_KEYS
    if unknown:
        problems.append(f"unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(_SERVER_KEYS))})")
    d = ServerSettings()

    def path(key: str) -> Path | None:
        if not data.get(key):
            return None
        p = Path(str(data[key]))
        return p if p.is_absolute() else (base or Path.cwd()) / p

    def number(key: str, low: float, high: float, default: float) -> float:
        v = data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
            problems.append(f"{key} must be a number of seconds from {low:g} to {high:g}")
            return default
        return float(v)

    port = data.get("port", d.port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        problems.append("port must be a whole number from 0 to 65535 (0: any free port)")
        port = d.port
    cert, key = path("tls_cert"), path("tls_key")
    if (cert is None) != (key is None):
        problems.append("tls_cert and tls_key go together: set both (or neither, and run with --no-tls on loopback)")
    slf = data.get("slf_database")
    settings = ServerSettings(
        host=str(data.get("host", d.host)), port=port, tls_cert=cert, tls_key=key, client_ca=path("client_ca"),
        slf_database=url_of(str(slf), base) if slf else None,
        poll_interval=number("poll_interval", 0.05, 3600, d.poll_interval),
        heartbeat_interval=number("heartbeat_interval", 0.1, 3600, d.heartbeat_interval),
        shutdown_grace=number("shutdown_grace", 0, 600, d.shutdown_grace))
    if problems:
        raise ServerConfigError("[server] " + "; ".join(problems))
    return settings


# ---- the HTTP side ----

class _NotOwnPaths(AbstractRuleMatching):
    """Matches every path but the server's own, so an application can be mounted at ``/``."""

    def __init__(self, own: tuple[str, ...]) -> None:
        self.own = own

    async def match(self, request: web.Request) -> bool:
        p = request.rel_url.path
        return not any(p == o or p.startswith(o + "/") for o in self.own)

    def get_info(self) -> dict[str, Any]:
        return {"except": list(self.own)}

    @property
    def canonical(self) -> str:
        return "/"


def mount_at_root(root: web.Application, app: web.Application, own: tuple[str, ...] = OWN_PATHS) -> None:
    """Serve ``app`` at ``/`` beside the root's own paths.

    aiohttp refuses an empty ``add_subapp`` prefix, and making the API the root application
    would run its middlewares (authentication, problem+json) on /healthz and the web UI. A
    rule-matched sub-application keeps each application's middlewares to its own paths; this
    is how ``Application.add_domain`` mounts one, with a path rule instead of a host rule
    (``_add_subapp`` is that method's helper; tests/ssid_serve checks the mount).
    """
    root._add_subapp(partial(MatchedSubAppResource, _NotOwnPaths(own), app), app)


@dataclass
class Health:
    """What /healthz reports (never student data)."""

    started: float = field(default_factory=time.monotonic)
    parts: dict[str, str] = field(default_factory=dict)
    extracts: dict[str, str] = field(default_factory=dict)


def make_app(store, settings, health: Health, *, api: web.Application | None = None,
             ui: web.Application | None = None) -> web.Application:
    root = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        try:
            async with store.read() as conn:
                await conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            log.warning("healthz: database check failed (%s)", type(exc).__name__)
            database = "unreachable"
        ok = database == "ok"
        body = {"status": "ok" if ok else "unavailable", "database": database,
                "uptime_seconds": round(time.monotonic() - health.started, 1), **health.parts,
                "extracts": dict(health.extracts)}
        return web.json_response(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})

    root.router.add_get("/healthz", healthz)
    if ui is not None:
        async def to_ui(_request: web.Request) -> web.Response:
            raise web.HTTPPermanentRedirect("/ui/")

        root.router.add_get("/ui", to_ui)
        root.add_subapp("/ui/", ui)
    if api is not None:
        mount_at_root(root, api)
    return root


# ---- the timed work ----

async def run_extracts(engine, schedule: ExtractSchedule, stop: asyncio.Event, health: Health,
                       clock: Callable[[], float] = time.time) -> None:
    """Write each extract when due until ``stop``; a lock file keeps two servers on one folder
    from writing the same slot (and the delta position) twice."""
    out = schedule.out_dir
    out.mkdir(parents=True, exist_ok=True)
    lock_path = out / ".ssid-extracts.lock"
    while not stop.is_set():
        wait = EXTRACT_RETRY
        try:
            with open(lock_path, "a+") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    log.debug("another server is writing extracts to %s", out)
                else:
                    wait = await _extract_pass(engine, schedule, health, clock)
        except Exception:  # noqa: BLE001 - the next pass may succeed
            log.exception("scheduled extract failed; trying again in %.0f s", EXTRACT_RETRY)
            wait = EXTRACT_RETRY
        try:
            await asyncio.wait_for(stop.wait(), wait)
        except asyncio.TimeoutError:
            pass


async def _extract_pass(engine, schedule: ExtractSchedule, health: Health, clock: Callable[[], float]) -> float:
    """Write what is due; the seconds until the next look."""
    last = last_runs_from_names(os.listdir(schedule.out_dir))
    for kind in due(schedule, last, clock()):
        now = clock()
        path, manifest = await write_extract(engine, kind, schedule.out_dir, now=now)
        last[kind] = float(math.floor(now))  # what the file name says
        health.extracts[kind] = manifest.created_utc
        log.info("scheduled %s extract written: %s (%d records)", kind, path.name, manifest.records)
    now = clock()
    wake = next_wake(schedule, last, now)
    return EXTRACT_RETRY if wake is None else min(max(wake - now, 0.05), EXTRACT_RETRY)


async def serve(store, settings, server: ServerSettings, *, ssl_context: ssl.SSLContext | None,
                schedule: ExtractSchedule | None = None, mapping=None, stop: asyncio.Event | None = None,
                ready: Callable[[str], None] | None = None, clock: Callable[[], float] = time.time) -> None:
    """Serve until ``stop`` is set (the caller wires SIGTERM / SIGINT to it). ``store`` must be migrated."""
    from .api import ApiConfigError, api_settings_for, make_api_app, require_tls
    from .poller import SlfPoller
    from .web import make_web_app

    stop = stop or asyncio.Event()
    health = Health()
    poller = SlfPoller(store, server.slf_database, mapping=mapping, clock=clock) if server.slf_database else None
    api = make_api_app(store, settings, clock=clock)
    ui = make_web_app(store, settings, clock=clock, poller=poller)  # its review queue: the poller's SLF tables
    health.parts.update({"api": "mounted", "ui": "mounted"})
    log.info("REST API at /; web UI at /ui/")
    try:
        require_tls(ssl_context, api_settings_for(settings))
    except ApiConfigError as exc:
        log.warning("%s; until then the API answers every request 403 https-required", exc)
    runner = web.AppRunner(make_app(store, settings, health, api=api, ui=ui), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, server.host, server.port, ssl_context=ssl_context, reuse_address=True)
    await site.start()
    sockets = site._server.sockets if site._server else ()  # the real port when 0 was asked for
    port = sockets[0].getsockname()[1] if sockets else server.port
    base = f"{'https' if ssl_context else 'http'}://{server.host}:{port}"
    log.info("SSID server listening on %s (healthz: %s/healthz)", base, base)

    tasks: dict[str, asyncio.Task] = {}
    if poller is not None:
        tasks["slf_poller"] = asyncio.create_task(poller.run(stop, server.poll_interval))
        log.info("SLF poller: every %.1f s", server.poll_interval)
    else:
        log.info("SLF poller: off ([server] slf_database or --slf-db not given)")
    tasks["heartbeat"] = asyncio.create_task(heartbeats.run(store, stop, server.heartbeat_interval, clock))
    if schedule is not None and schedule.kinds:
        tasks["extracts"] = asyncio.create_task(run_extracts(store.engine, schedule, stop, health, clock))
        log.info("extracts: %s into %s", ", ".join(schedule.kinds), schedule.out_dir)
    else:
        log.info("extracts: none scheduled (no [extracts] table)")
    health.parts.update({name: "running" for name in tasks})
    for name in ("slf_poller", "extracts"):
        health.parts.setdefault(name, "off")
    if ready:
        ready(base)
    try:
        await stop.wait()
    finally:
        log.info("SSID server stopping")
        stop.set()
        pending: set[asyncio.Task] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks.values(), timeout=server.shutdown_grace)
        for t in pending:
            log.warning("%s did not finish within %.0f s: cancelled",
                        next(n for n, task in tasks.items() if task is t), server.shutdown_grace)
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await runner.cleanup()
        if poller is not None:
            await poller.close()
        log.info("stopped")


__all__ = ["OWN_PATHS", "ServerConfigError", "ServerSettings", "is_loopback", "make_app", "mount_at_root",
           "run_extracts", "serve", "server_from_config"]
