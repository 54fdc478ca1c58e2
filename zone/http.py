"""The HTTPS front of the zone: it moves bytes between sockets and zone.core.Zis.

POST /zones/<zone-id>          one SIF_Message in, the synchronous SIF_Ack out
GET  /zones/<zone-id>/inspect  the message log as a page
GET  /zones/<zone-id>/log      the message log as JSON
"""

from __future__ import annotations

import logging
import zlib

from aiohttp import web

from messages import Ack, Header, build, versions
from messages.errors import Error

from . import inspect
from .auth import basic_credentials, verify_password
from .core import Identity, Zis
from .tls import peer_identity

log = logging.getLogger(__name__)

CONTENT_TYPE = 'application/xml;charset="utf-8"'
ACCEPTED_TYPES = ("application/xml", "text/xml")
ZIS_KEY = web.AppKey("zis", Zis)


def _ack_error(zone_source: str, category: int, code: int, desc: str) -> bytes:
    ack = Ack(header=Header.new(zone_source), version=versions.DEFAULT, original_source_id=None,
              original_msg_id=None, error=Error(category=category, code=code, desc=desc))
    return build(ack)


def _xml(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": CONTENT_TYPE})


def _identity(request: web.Request, zis: Zis, zone) -> Identity:
    if zone.authentication == "certificate":
        return Identity(peer_identity(request.transport), "certificate")
    if zone.authentication == "basic":
        creds = basic_credentials(request.headers.get("Authorization"))
        if creds:
            agent = zone.agent(creds[0])
            if agent and agent.password_hash and verify_password(creds[1], agent.password_hash):
                return Identity(creds[0], "basic")
        return Identity(None, "basic")
    return Identity()


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole request body, inflated if gzip/deflate; None when it exceeds the limit.

    The server runs with aiohttp's auto_decompress off, so compressed bodies arrive as
    sent and are inflated here, never past the limit (a gzip bomb costs nothing).
    Raises ValueError for a compressed body that does not inflate.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    data = b"".join(chunks)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS)
            out = d.decompress(data, limit + 1)
        except zlib.error as exc:
            raise ValueError(f"the {encoding} body does not inflate: {exc}") from None
        if len(out) > limit or d.unconsumed_tail:
            return None
        return out
    if encoding not in ("identity", ""):
        raise ValueError(f"Content-Encoding {encoding[:40]!r} is not supported; use gzip, deflate or none")
    return data


async def post_message(request: web.Request) -> web.Response:
    zis = request.app[ZIS_KEY]
    zone = zis.settings.zone(request.match_info["zone_id"])
    if zone is None:
        return _xml(_ack_error("ZIS", 12, 1, f"No zone named {request.match_info['zone_id']!r} here"), 404)
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype not in ACCEPTED_TYPES:
        return _xml(_ack_error(zone.source_id, 10, 1,
                               f"Content-Type must be application/xml (got {ctype or 'none'}); "
                               "POST one SIF_Message as application/xml;charset=\"utf-8\""), 415)
    limit = zis.settings.max_message_bytes
    try:
        body = await _read_body(request, limit)
    except ValueError as exc:
        return _xml(_ack_error(zone.source_id, 1, 2, f"Message body could not be read: {exc}"), 400)
    if body is None:
        return _xml(_ack_error(zone.source_id, 1, 2,
                               f"Message exceeds the zone's {limit}-byte limit and was not read; "
                               "split responses into smaller packets"), 413)
    reply = await zis.handle(zone.id, body, _identity(request, zis, zone))
    return _xml(reply)


async def get_zone(request: web.Request) -> web.Response:
    zis = request.app[ZIS_KEY]
    zone = zis.settings.zone(request.match_info["zone_id"])
    if zone is None:
        raise web.HTTPNotFound(text="no such zone")
    return web.Response(text=f"SIF zone {zone.id}: POST SIF 2.x messages (application/xml) to this URL.\n"
                             f"Message log: {request.path.rstrip('/')}/inspect\n")


async def get_log(request: web.Request) -> web.Response:
    zis = request.app[ZIS_KEY]
    zone = zis.settings.zone(request.match_info["zone_id"])
    if zone is None:
        raise web.HTTPNotFound(text="no such zone")
    try:
        limit = min(int(request.query.get("limit", "200")), 5000)
        after = int(request.query.get("after", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="limit and after must be whole numbers") from None
    entries = await zis.store.log_entries(zone.id, limit=limit, after_id=after)
    return web.json_response({"zone": zone.id, "entries": [inspect.entry_json(e) for e in entries]})


async def get_inspect(request: web.Request) -> web.Response:
    zis = request.app[ZIS_KEY]
    zone = zis.settings.zone(request.match_info["zone_id"])
    if zone is None:
        raise web.HTTPNotFound(text="no such zone")
    entries = await zis.store.log_entries(zone.id, limit=500)
    return web.Response(text=inspect.page(zone.id, entries), content_type="text/html",
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                                 "X-Content-Type-Options": "nosniff"})


async def get_index(request: web.Request) -> web.Response:
    zis = request.app[ZIS_KEY]
    return web.json_response({"zones": [{"id": z.id, "name": z.name, "url": f"/zones/{z.id}",
                                         "inspect": f"/zones/{z.id}/inspect"} for z in zis.settings.zones]})


def make_app(zis: Zis) -> web.Application:
    # The body is read by hand with its own cap, so aiohttp's cap only needs to be above it.
    app = web.Application(client_max_size=zis.settings.max_message_bytes + 1024)
    app[ZIS_KEY] = zis
    app.add_routes([
        web.get("/", get_index),
        web.post("/zones/{zone_id}", post_message),
        web.get("/zones/{zone_id}", get_zone),
        web.get("/zones/{zone_id}/log", get_log),
        web.get("/zones/{zone_id}/inspect", get_inspect),
    ])
    return app
