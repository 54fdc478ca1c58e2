"""The web application: routes, the sign-in gate, CSRF, and security headers.

Why middlewares of the sub-app: ``slf ssid serve`` mounts this app under ``/ui/`` beside other
apps (the REST API); a sub-app's middlewares and response hooks apply to its own routes only,
so the API keeps its own rules and the UI's headers and session checks cover every UI page,
errors included.

Order of checks for a request: security headers are added to every response; a public route
(sign-in page, style sheet) needs nothing; any other route needs a live session of a user who
is not suspended, else the browser is sent to sign in (and a POST is never carried out); every
POST must carry the session's CSRF token and, when the browser sends one, a same-site Origin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ..config import Settings
from ..poller import SlfPoller
from ..slf import load_mapping
from ..store import SsidStore
from . import config as web_config
from . import views_admin, views_auth, views_review, views_students
from .common import FLASH, SESSION_COOKIE, STATE, STATIC, VIEWER, Viewer, WebState, make_templates, render, url
from .passwords import hasher
from .scope import load_bindings, scope_of
from .sessions import Sessions, csrf_ok
from .throttle import Throttle

log = logging.getLogger("ssid.web")

#: no script at all, styles only from this site, forms only to this site, never framed
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # not no-referrer: then browsers send "Origin: null" with forms
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
PUBLIC = frozenset({"login", "login_post", "static"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    if response.content_type == "text/html":  # pages carry personal data: never cached
        response.headers["Cache-Control"] = "no-store"


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    return getattr(route, "name", None) or (route.resource.name if route.resource is not None else None)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sessions, suspension, CSRF (see the module docstring)."""
    name = _route_name(request)
    if request.match_info.http_exception is not None or name == "static":
        return await handler(request)
    if request.method == "POST" and not _same_origin(request):
        log.warning("web: POST to %s refused: Origin is another site", request.path)
        return render(request, "error.html", status=403, title="Refused",
                      message="The form was sent from another site. Open the page here and try again.")
    if name in PUBLIC:
        return await handler(request)
    st = request.config_dict[STATE]
    token = request.cookies.get(SESSION_COOKIE)
    session, why = await st.sessions.get(token)
    user = await st.store.user(session.user_id) if session else None
    if session is not None and (user is None or user.status == "suspended"):
        await st.sessions.revoke(session.token_hash, "suspended")
        session, why = None, "your access is suspended"
    if session is None or user is None or token is None:
        query = {"next": request.path_qs} if request.method == "GET" else {}
        if why:
            query["why"] = why
        raise web.HTTPSeeOther(url(request, "login", query or None))
    async with st.store.read() as conn:
        bindings = await load_bindings(conn, user.user_id)
    v = Viewer(user, st.web.permissions(user.roles), scope_of(user, bindings, st.web), session, token)
    request[VIEWER] = v
    if request.method == "POST":
        form = await request.post()
        if not csrf_ok(token, form.get("csrf") if isinstance(form.get("csrf"), str) else None):
            log.warning("web: POST to %s by %s refused: missing or wrong CSRF token", request.path, user.user_id)
            return render(request, "error.html", status=403, title="Refused",
                          message="The form has expired or did not come from this site. Reload the page and "
                                  "send it again.")
    elif session.flash:
        request[FLASH] = session.flash
        await st.sessions.set_flash(session.token_hash, None)
    return await handler(request)


def make_web_app(store: SsidStore, settings: Settings, *, clock: Callable[[], float] = time.time,
                 poller: SlfPoller | None = None, slf_db: AsyncEngine | str | None = None,
                 web_settings: web_config.WebSettings | None = None) -> web.Application:
    """The SSID web UI as an aiohttp application (mount it with ``parent.add_subapp("/ui/", app)``).

    ``poller``: the SLF poller whose tables hold the potential matches; or ``slf_db``, the SLF
    tables' database (engine or URL), for which a poller is made with the ``[slf]`` mapping of
    the configuration. Without either, the review queue says it is not connected.
    ``web_settings``: the ``[web]`` table read from ``settings.source`` by default.
    """
    web_settings = web_settings or web_config.load(settings)
    own_poller = poller is None and slf_db is not None
    if own_poller:
        poller = SlfPoller(store, slf_db, mapping=load_mapping(settings.source))
    app = web.Application(middlewares=[gate], client_max_size=256 * 1024)
    app[STATE] = WebState(
        store=store, settings=settings, web=web_settings,
        sessions=Sessions(store, clock, web_settings.session_idle, web_settings.session_absolute),
        throttle=Throttle(store, clock, web_settings.login_window, web_settings.login_failures_per_user,
                          web_settings.login_failures_per_address),
        hasher=hasher(web_settings.argon2_time_cost, web_settings.argon2_memory_kib),
        poller=poller, matcher=poller.matcher if poller is not None else settings.matcher(), templates=make_templates(),
        clock=clock)
    app.on_response_prepare.append(_headers)
    r = app.router
    r.add_static("/static", STATIC, name="static")
    views_auth.routes(r)
    views_students.routes(r)
    views_review.routes(r)
    views_admin.routes(r)

    if own_poller:
        async def close_poller(_app: web.Application) -> None:
            assert poller is not None
            await poller.close()
        app.on_cleanup.append(close_poller)
    return app
