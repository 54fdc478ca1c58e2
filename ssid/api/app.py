"""The aiohttp application of the REST lookup API: discovery, OAuth token, lookups, verifications.

Why this shape: handlers only move bytes and call the pure checks (``validation``), the
services (``lookup``, ``enrollment``) and the database helpers (``tokens``, ``ratelimit``,
``idempotency``). One middleware does what every request needs: the correlation id (accepted
or made, bound for logging, echoed), the HTTPS check, problem+json rendering of every refusal
and unexpected error, the RateLimit headers, security headers and one log line. The order of
checks on an API call is: HTTPS → headers → token (401) → rate limit (429) → scope (403) →
body (415/413/400) → organisation (403) → idempotency replay → work.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web
from sqlalchemy import insert

from ..config import Settings
from ..matching import Matcher
from ..store import SsidStore
from . import correlation, idempotency, ratelimit, tokens
from .clients import authenticate
from .correlation import HEADER as CORRELATION_HEADER
from .enrollment import record_verification
from .lookup import look_up
from .openapi import (API_BASE, API_VERSION, DISCOVERY_PATH, LOOKUP_PATH, OPENAPI_PATH, REVOKE_PATH, TOKEN_PATH,
                      VERIFY_PATH, document)
from .problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from .problems import ApiProblem, validation_failed
from .settings import SCOPES, ApiConfigError, ApiSettings, api_settings_for
from .tables import lookups_t
from .tokens import TokenCapReached
from .validation import validate_lookup, validate_verification

log = correlation.get_logger(__name__)

REALM = "ssid-api"
# per-request storage keys (typed keys where this aiohttp has them)
_RequestKey = getattr(web, "RequestKey", None)
_RATE: Any = _RequestKey("ssid_api_rate", ratelimit.RateState) if _RequestKey else "ssid_api_rate"
_CLIENT: Any = _RequestKey("ssid_api_client", str) if _RequestKey else "ssid_api_client"
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=31536000",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


@dataclass
class ApiState:
    store: SsidStore
    settings: Settings
    api: ApiSettings
    clock: Callable[[], float]
    matcher: Matcher


STATE = web.AppKey("ssid_api_state", ApiState)


def require_tls(ssl_context: ssl.SSLContext | None, api: ApiSettings) -> None:
    """Refuse to serve the API without TLS unless a TLS-terminating proxy is declared (for the serve command)."""
    if ssl_context is None and not api.behind_tls_proxy:
        raise ApiConfigError("the SSID API is served only over HTTPS: give the server a TLS certificate and key, or, "
                             "if a TLS-terminating proxy forwards to it, set behind_tls_proxy = true in the [api] "
                             "table of the configuration file")


# ---------------------------------------------------------------- the front middleware

def _secure(request: web.Request, api: ApiSettings) -> bool:
    if api.behind_tls_proxy:
        proto = request.headers.get("X-Forwarded-Proto", "https")
        return proto.split(",")[0].strip().lower() == "https"
    transport = request.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


async def _refuse_plain(request: web.Request, state: ApiState) -> None:
    """A request over plain HTTP: revoke the access token it exposed, then refuse it."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    revoked = False
    if scheme.lower() == "bearer" and value.strip():
        async with state.store.write() as conn:
            revoked = await tokens.revoke(conn, value.strip(), now=state.clock())
    log.warning("refused a plain-HTTP request to %s%s: serve the API over TLS, or set behind_tls_proxy", request.path,
                " (the access token it carried was revoked)" if revoked else "")
    raise ApiProblem("security:https-required",
                     f"This API answers only over HTTPS: send the request to https://{request.host}{request.path}. "
                     "An access token sent over plain HTTP is revoked at once: get a new one.")


def _from_http(exc: web.HTTPException) -> ApiProblem:
    if exc.status == 404:
        return ApiProblem("not-found", "There is no such resource: the discovery document (GET /) lists the URLs.")
    if exc.status == 405:
        allow = exc.headers.get("Allow", "")
        return ApiProblem("method-not-allowed", f"This resource accepts only {allow or 'other methods'}.",
                          headers={"Allow": allow} if allow else None)
    if exc.status == 413:
        return ApiProblem("payload-too-large", "The body is larger than the API accepts: send only the documented "
                                               "fields.")
    return ApiProblem("system", f"The request could not be handled (HTTP {exc.status}).")


def _problem_response(problem: ApiProblem, cid: str) -> web.Response:
    resp = web.Response(status=problem.status, text=problem.to_json(cid), content_type=PROBLEM_MEDIA_TYPE)
    resp.headers.update(problem.headers)
    return resp


@web.middleware
async def front(request: web.Request, handler) -> web.StreamResponse:
    state = request.app[STATE]
    started = time.perf_counter()
    given = request.headers.get(CORRELATION_HEADER)
    bad_header = given is not None and not correlation.is_valid(given.strip())
    cid = given.strip() if given is not None and not bad_header else correlation.new_id()
    token = correlation.bind(cid)
    try:
        try:
            if not _secure(request, state.api):
                await _refuse_plain(request, state)
            if bad_header:
                raise ApiProblem("bad-request:invalid-header",
                                 f"{CORRELATION_HEADER} must be 1 to 64 letters, digits, '.', '_', ':' or '-', "
                                 "starting with a letter or digit; leave it out to have one made.")
            response = await handler(request)
        except ApiProblem as p:
            response = _problem_response(p, cid)
        except web.HTTPException as exc:
            response = _problem_response(_from_http(exc), cid)
        except Exception as exc:  # never a traceback (or SQL parameters) to the client; details at DEBUG
            log.error("unexpected %s answering %s %s", type(exc).__name__, request.method, request.path)
            log.debug("unexpected error", exc_info=True)
            response = _problem_response(ApiProblem("system", "The API could not answer this request: try again "
                                                              "later, and give the correlationId when reporting it."),
                                         cid)
        response.headers[CORRELATION_HEADER] = cid
        rate = request.get(_RATE)
        if rate is not None:
            response.headers.update(rate.headers())
        for k, v in _SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        client = request.get(_CLIENT)
        log.info("%s %s -> %d in %.0f ms%s", request.method, request.path, response.status,
                 (time.perf_counter() - started) * 1000, f" (client {client})" if client else "")
        return response
    finally:
        correlation.reset(token)


# ---------------------------------------------------------------- helpers

def _today(now: float) -> date:
    return datetime.fromtimestamp(now, timezone.utc).date()


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json")


def _base_url(request: web.Request) -> str:
    return f"https://{request.host}"


def _url(request: web.Request, name: str) -> str:
    return _base_url(request) + str(request.app.router[name].url_for())


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if not header:
        raise ApiProblem("security:authentication", "Send Authorization: Bearer <access token>; get a token from "
                                                    "POST /oauth/token with the client's credentials.",
                         headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiProblem("security:authentication", "The Authorization header must be Bearer <access token>.",
                         headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_request"'})
    return value.strip()


async def _authorise(request: web.Request, state: ApiState, scope: str) -> tokens.TokenInfo:
    token = _bearer(request)
    now = state.clock()
    async with state.store.read() as conn:
        info = await tokens.verify(conn, token, now=now)
    if info is None:
        raise ApiProblem("security:authentication", "The access token is unknown, expired or revoked: get a new one "
                                                    "from POST /oauth/token.",
                         headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'})
    client = info.client
    request[_CLIENT] = client.client_id
    async with state.store.write() as conn:
        rate = await ratelimit.hit(conn, client.client_id, limit=client.limit(state.api), now=now,
                                   window=state.api.rate_window)
    request[_RATE] = rate
    if rate.exceeded:
        raise ApiProblem("too-many-requests", f"This client may send {rate.limit} requests per window of "
                                              f"{rate.window} s and has sent them all: wait {rate.reset_in} s "
                                              "(Retry-After) before the next request.")
    if scope not in info.scopes:
        raise ApiProblem("security:authorization:scope", f"The access token does not carry the scope {scope}: "
                                                         f"request a token with scope={scope} (the client must be "
                                                         "granted it by the state).",
                         headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", '
                                                      f'scope="{scope}"'})
    return info


async def _read_capped(request: web.Request, cap: int) -> bytes | None:
    """The body, or None when it is larger than ``cap``.

    Checked here and not only by ``client_max_size``: when this app is mounted inside another,
    aiohttp applies the outer application's limit, not ours.
    """
    if request.content_length is not None and request.content_length > cap:
        return None
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None
    return raw if len(raw) <= cap else None


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiProblem("unsupported-media-type", "Send the body as JSON with Content-Type: application/json.")
    raw = await _read_capped(request, request.app[STATE].api.max_body_bytes)
    if raw is None:
        raise ApiProblem("payload-too-large", "The body is larger than the API accepts: send only the documented "
                                              "fields.")
    if not raw.strip():
        raise validation_failed({"$": ["the body is empty: send a JSON object with the documented fields"]})
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise validation_failed({"$": ["the body is not valid JSON in UTF-8: check quotes, commas and braces"]}) \
            from None


def _idempotency_key(request: web.Request, *, required: bool) -> str | None:
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        if required:
            raise ApiProblem("bad-request:idempotency-key-required",
                             f"Send an {idempotency.HEADER} header (a new UUID per verification, say): a retry with "
                             "the same key is then recorded once.")
        return None
    key = key.strip()
    if not idempotency.is_valid(key):
        raise ApiProblem("bad-request:invalid-header", f"{idempotency.HEADER} must be 1 to "
                                                       f"{idempotency.MAX_LENGTH} visible ASCII characters "
                                                       "(a UUID, say).")
    return key


class _Replay(Exception):
    def __init__(self, stored: idempotency.Stored) -> None:
        super().__init__("replay")
        self.stored = stored


def _replay(stored: idempotency.Stored, fp: str) -> web.Response:
    if stored.fingerprint != fp:
        raise ApiProblem("idempotency-key-reused", f"This {idempotency.HEADER} was used before with a different "
                                                   "request: use a new key for a new request.")
    if stored.status is None or stored.body is None:
        raise ApiProblem("conflict:in-progress", "A request with this Idempotency-Key is still being answered: "
                                                 "retry in a moment.")
    resp = web.Response(status=stored.status, text=stored.body, content_type="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


# ---------------------------------------------------------------- OAuth 2.0

def _oauth_error(status: int, error: str, description: str, *, retry_after: int | None = None) -> web.Response:
    resp = _json(status, {"error": error, "error_description": description})
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    if status == 401:
        resp.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    if retry_after is not None:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


class _OAuthRefusal(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _refuse(status: int, error: str, description: str, **kw: Any) -> _OAuthRefusal:
    return _OAuthRefusal(_oauth_error(status, error, description, **kw))


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise _refuse(400, "invalid_request", "send the parameters as application/x-www-form-urlencoded")
    raw = await _read_capped(request, request.app[STATE].api.max_body_bytes)
    if raw is None:
        raise _refuse(400, "invalid_request", "the request body is too large")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise _refuse(400, "invalid_request", "the body is not form-encoded UTF-8") from None
    names = [k for k, _ in pairs]
    repeated = sorted({k for k in names if names.count(k) > 1})
    if repeated:
        raise _refuse(400, "invalid_request", f"parameters sent more than once: {', '.join(repeated)[:200]}")
    return dict(pairs)


def _credentials(request: web.Request, params: dict[str, str]) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic (RFC 6749 §2.3.1) or the body; exactly one way."""
    header = request.headers.get("Authorization")
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise _refuse(401, "invalid_client", "authenticate the client with HTTP Basic or with client_id and "
                                                 "client_secret in the body")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _refuse(401, "invalid_client", "the Basic credentials must be base64 of client_id:client_secret") \
                from None
        cid, sep, secret = decoded.partition(":")
        if not sep:
            raise _refuse(401, "invalid_client", "the Basic credentials must be base64 of client_id:client_secret")
        if body_secret is not None or (body_id is not None and body_id != unquote_plus(cid)):
            raise _refuse(400, "invalid_request", "authenticate one way only: HTTP Basic or client_id and "
                                                  "client_secret in the body, not both")
        return unquote_plus(cid), unquote_plus(secret)
    if body_id is None and body_secret is None:
        raise _refuse(401, "invalid_client", "no client authentication: use HTTP Basic with the client id and "
                                             "secret, or send client_id and client_secret")
    if body_id is None or body_secret is None:
        raise _refuse(400, "invalid_request", "send both client_id and client_secret")
    return body_id, body_secret


async def _client(request: web.Request, state: ApiState, params: dict[str, str]):
    client_id, secret = _credentials(request, params)
    async with state.store.read() as conn:
        client = await authenticate(conn, client_id, secret)
    if client is None:
        log.info("token endpoint: client authentication failed")
        raise _refuse(401, "invalid_client", "client authentication failed: check the client id and secret (a "
                                             "rotated secret or a revoked client no longer works)")
    request[_CLIENT] = client.client_id
    return client


async def token_endpoint(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        params = await _form(request)
        grant = params.get("grant_type")
        if not grant:
            raise _refuse(400, "invalid_request", "grant_type is required: send grant_type=client_credentials")
        client = await _client(request, state, params)
        if grant != "client_credentials":
            raise _refuse(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
        if "scope" in params:
            asked = params["scope"].split()
            if not asked:
                raise _refuse(400, "invalid_scope", "scope is empty: name the scopes, or leave the parameter out to "
                                                    "get all of the client's scopes")
            unknown = sorted({s for s in asked if s not in SCOPES})
            if unknown:
                raise _refuse(400, "invalid_scope", f"unknown scope(s); the scopes are {', '.join(SCOPES)}")
            denied = sorted({s for s in asked if s not in client.scopes})
            if denied:
                raise _refuse(400, "invalid_scope", f"the client is not granted {', '.join(denied)}; it is granted "
                                                    f"{', '.join(client.scopes)}")
            scopes = tuple(sorted(set(asked)))
        else:
            scopes = tuple(sorted(client.scopes))
        try:
            async with state.store.write() as conn:
                issued = await tokens.issue(conn, client, scopes, now=state.clock(), lifetime=state.api.token_lifetime,
                                            cap=client.cap(state.api), correlation_id=correlation.current())
        except TokenCapReached as cap:
            raise _refuse(429, "invalid_request", f"the client holds {cap.cap} live access tokens, as many as it may: "
                                                  "reuse one, revoke one at /oauth/revoke, or wait for one to "
                                                  "expire", retry_after=cap.retry_after) from None
    except _OAuthRefusal as r:
        return r.response
    log.info("token issued to client %s (%s), valid %d s", client.client_id, " ".join(scopes), issued.expires_in)
    resp = _json(200, {"access_token": issued.token, "token_type": "bearer", "expires_in": issued.expires_in,
                       "scope": " ".join(issued.scopes)})
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


async def revoke_endpoint(request: web.Request) -> web.Response:
    """RFC 7009: revoke one of the authenticated client's tokens; 200 whether or not it was live."""
    state = request.app[STATE]
    try:
        params = await _form(request)
        client = await _client(request, state, params)
        token = params.get("token")
        if not token:
            raise _refuse(400, "invalid_request", "token is required: send token=<the access token to revoke>")
    except _OAuthRefusal as r:
        return r.response
    async with state.store.write() as conn:
        revoked = await tokens.revoke(conn, token, now=state.clock(), client_id=client.client_id)
    log.info("token revocation by client %s: %s", client.client_id, "revoked" if revoked else "nothing live")
    return web.Response(status=200)


# ---------------------------------------------------------------- discovery and the document

async def discovery(request: web.Request) -> web.Response:
    return _json(200, {"name": "SSID lookup API", "version": API_VERSION,
                       "urls": {"oauth": _url(request, "token"), "revoke": _url(request, "revoke"),
                                "api": _url(request, "discover").rstrip("/") + API_BASE,
                                "openApi": _url(request, "openapi")}})


async def openapi_document(request: web.Request) -> web.Response:
    return _json(200, document(_url(request, "discover").rstrip("/") or _base_url(request)))


# ---------------------------------------------------------------- the API

async def ssid_lookup(request: web.Request) -> web.Response:
    state = request.app[STATE]
    info = await _authorise(request, state, "ssid-lookup")
    client_id = info.client.client_id
    key = _idempotency_key(request, required=False)
    body = await _json_body(request)
    now = state.clock()
    req, errors = validate_lookup(body, state.store.catalogue, _today(now))
    if req is None:
        raise validation_failed(errors)
    if not info.client.may_see(req.cds_code):
        raise ApiProblem("security:authorization:organisation",
                         "This client may not look up students of the organisation with this CDS code: use the CDS "
                         "code of an organisation the client is bound to, or ask the state to bind it.")
    fp = idempotency.fingerprint(request.method, LOOKUP_PATH, body)
    if key is not None:
        async with state.store.read() as conn:
            stored = await idempotency.find(conn, client_id, key, now=now, ttl=state.api.idempotency_ttl)
        if stored is not None:
            return _replay(stored, fp)
    result = await look_up(state.store, state.matcher, req)
    text = json.dumps(result.body())
    try:
        async with state.store.write() as conn:
            if key is not None:
                stored = await idempotency.claim(conn, client_id, key, fp, now=now, ttl=state.api.idempotency_ttl,
                                                 correlation_id=correlation.current())
                if stored is not None:
                    raise _Replay(stored)
            await conn.execute(insert(lookups_t).values(
                client_id=client_id, at=now, correlation_id=correlation.current(), outcome=result.status,
                student_id=result.ssid, cccid=req.cccid, cds_code=req.cds_code))
            if key is not None:
                await idempotency.complete(conn, client_id, key, 200, text)
    except _Replay as r:
        return _replay(r.stored, fp)
    log.info("lookup by client %s: %s", client_id, result.status)
    return web.Response(status=200, text=text, content_type="application/json")


async def enrollment_verification(request: web.Request) -> web.Response:
    state = request.app[STATE]
    info = await _authorise(request, state, "enrollment-verification")
    client_id = info.client.client_id
    key = _idempotency_key(request, required=True)
    assert key is not None
    body = await _json_body(request)
    now = state.clock()
    req, errors = validate_verification(body, _today(now))
    if req is None:
        raise validation_failed(errors)
    fp = idempotency.fingerprint(request.method, VERIFY_PATH, body)
    try:
        async with state.store.write() as conn:
            stored = await idempotency.claim(conn, client_id, key, fp, now=now, ttl=state.api.idempotency_ttl,
                                             correlation_id=correlation.current())
            if stored is not None:
                raise _Replay(stored)
            out = await record_verification(state.store, conn, client_id, req, key=key, now=now,
                                            correlation_id=correlation.current())
            text = json.dumps(out)
            await idempotency.complete(conn, client_id, key, 201, text)
    except _Replay as r:
        return _replay(r.stored, fp)
    log.info("enrollment verification %s by client %s%s", out["id"], client_id,
             " (already recorded)" if out["alreadyRecorded"] else "")
    return web.Response(status=201, text=text, content_type="application/json")


# ---------------------------------------------------------------- the application

def build_app(store: SsidStore, settings: Settings, *, clock: Callable[[], float] = time.time,
              api_settings: ApiSettings | None = None, matcher: Matcher | None = None) -> web.Application:
    api = api_settings or api_settings_for(settings)
    app = web.Application(middlewares=[front], client_max_size=api.max_body_bytes)
    app[STATE] = ApiState(store, settings, api, clock, matcher or settings.matcher())
    app.router.add_get(DISCOVERY_PATH, discovery, name="discover")
    app.router.add_get(OPENAPI_PATH, openapi_document, name="openapi")
    app.router.add_post(TOKEN_PATH, token_endpoint, name="token")
    app.router.add_post(REVOKE_PATH, revoke_endpoint, name="revoke")
    app.router.add_post(LOOKUP_PATH, ssid_lookup, name="ssid_lookups")
    app.router.add_post(VERIFY_PATH, enrollment_verification, name="enrollment_verifications")
    if api.behind_tls_proxy:
        log.warning("SSID API: behind_tls_proxy is set: plain HTTP is accepted from the proxy, which must "
                    "terminate TLS (X-Forwarded-Proto: http is still refused)")
    return app
