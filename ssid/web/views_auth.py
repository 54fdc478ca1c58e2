"""Sign-in, sign-out and the start page.

The sign-in form is protected against cross-site submission by a double-submitted nonce (a
cookie and a hidden field; there is no session yet to derive a token from). A failed sign-in
says only "user id or password is wrong", whichever it was, and every attempt is recorded for
throttling. A successful one starts a fresh session (never reusing a token the browser had),
upgrades an outdated password hash, and is recorded in the web activity.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets

from aiohttp import web

from ..slf import SlfStatus
from . import review
from .common import LOGIN_COOKIE, SESSION_COOKIE, note_now, render, state, url, viewer
from .passwords import rehash, stored_hash, verify
from .sessions import token_hash

log = logging.getLogger("ssid.web")

#: reasons the sign-in page may show (never text from the query string itself)
WHY = {"signed out": "You are signed out.", "the session was idle too long": "Your session ended after a "
       "period without activity. Sign in again.", "the session reached its maximum length": "Your session reached "
       "its maximum length. Sign in again.", "your access is suspended": "Your access is suspended. Ask the state "
       "administrator."}


def _cookie(response: web.StreamResponse, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="Strict", max_age=max_age)


def _safe_next(request: web.Request, target: str | None) -> str:
    """Where to go after signing in: a path inside this app only (never another site)."""
    home = url(request, "home")
    if target and target.startswith(home) and not target.startswith("//") and "\\" not in target:
        return target
    return home


def _login_page(request: web.Request, *, status: int = 200, error: str | None = None, user_id: str = "",
                info: str | None = None) -> web.Response:
    nonce = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status=status, error=error, info=info, nonce=nonce, user_id=user_id,
                  next=_safe_next(request, request.query.get("next")), title="Sign in")
    _cookie(resp, LOGIN_COOKIE, nonce, max_age=3600)
    return resp


async def login(request: web.Request) -> web.Response:
    return _login_page(request, info=WHY.get(request.query.get("why", "")))


async def login_post(request: web.Request) -> web.StreamResponse:
    st = state(request)
    form = await request.post()
    nonce, cookie = str(form.get("login_csrf") or ""), request.cookies.get(LOGIN_COOKIE, "")
    if not (nonce and cookie and hmac.compare_digest(nonce, cookie)):
        return _login_page(request, status=403, error="The sign-in page expired. Please sign in again.")
    user_id = str(form.get("user_id") or "").strip()[:64]
    password = str(form.get("password") or "")
    address = (request.remote or "unknown")[:64]
    if not user_id or not password:
        return _login_page(request, status=400, error="Enter your user id and password.", user_id=user_id)
    wait = await st.throttle.wait(user_id, address)
    if wait > 0:
        log.warning("web: sign-in throttled from %s (too many failures)", address)
        minutes = max(1, math.ceil(wait / 60))
        return _login_page(request, status=429, user_id=user_id,
                           error=f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}"
                                 ", or ask an administrator to check your account.")
    async with st.store.read() as conn:
        stored = await stored_hash(conn, user_id)
    ok = await verify(st.hasher, stored, password)
    user = await st.store.user(user_id) if ok else None
    if user is None:
        await st.throttle.record(user_id, address, False)
        log.info("web: sign-in failed from %s", address)
        return _login_page(request, status=401, error="User id or password is wrong.", user_id=user_id)
    if user.status == "suspended":
        await st.throttle.record(user_id, address, False)
        log.info("web: sign-in refused for suspended user %s", user.user_id)
        return _login_page(request, status=403, error="Your access is suspended. Ask the state administrator.")
    await st.throttle.record(user_id, address, True)
    if stored and st.hasher.check_needs_rehash(stored):  # the configured cost grew: upgrade the hash
        digest = await asyncio.to_thread(st.hasher.hash, password)
        async with st.store.write() as conn:
            await rehash(st.store, conn, user.user_id, digest, user.user_id)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # signing in again (as anyone) ends the session the browser had
        await st.sessions.revoke(token_hash(previous), "signed in again")
    token = await st.sessions.create(user.user_id, address)
    await note_now(st, user, "sign-in", detail={"address": address})
    log.info("web: %s signed in", user.user_id)
    resp = web.HTTPSeeOther(_safe_next(request, str(form.get("next") or "")))
    _cookie(resp, SESSION_COOKIE, token)
    resp.del_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    raise resp


async def logout(request: web.Request) -> web.StreamResponse:
    st, v = state(request), viewer(request)
    await st.sessions.revoke(v.session.token_hash, "sign-out")
    await note_now(st, v, "sign-out")
    log.info("web: %s signed out", v.user.user_id)
    resp = web.HTTPSeeOther(url(request, "login", {"why": "signed out"}))
    resp.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    raise resp


async def home(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    waiting = decidable = None
    if st.poller is not None and v.can("resolve"):
        try:
            items = await review.queue(st.poller, v.scope)
        except Exception:  # noqa: BLE001 - the start page must open even when the SLF database is down
            log.exception("web: the review queue could not be read")
        else:
            waiting = len(items)
            decidable = sum(1 for i in items if i.status is SlfStatus.RESOLUTION_IN_PROGRESS)
    pending = len(await st.store.reactivations(status="pending")) if v.can("approve_reactivation") else None
    return render(request, "home.html", title="SSID", waiting=waiting, decidable=decidable, pending=pending)


def routes(r: web.UrlDispatcher) -> None:
    r.add_get("/login", login, name="login")
    r.add_post("/login", login_post, name="login_post")
    r.add_post("/logout", logout, name="logout")
    r.add_get("/", home, name="home")
