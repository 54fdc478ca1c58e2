"""What every handler shares: the app's state, rendering, permission checks, activity records.

Why one ``WebState`` under one app key: the handlers get everything they need (store, settings,
sessions, throttle, poller, templates, clock) from the app they are mounted in, never from
globals, so two apps (tests, two databases) never share anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from argon2 import PasswordHasher
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..config import Settings
from ..matching import Matcher
from ..poller import SlfPoller
from ..store import SsidStore, User
from .config import WebSettings
from .scope import Scope
from .sessions import Session, Sessions, csrf_token
from .tables import activity_t
from .throttle import Throttle

log = logging.getLogger("ssid.web")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "__Host-ssid_session"
LOGIN_COOKIE = "__Host-ssid_login"


@dataclass
class WebState:
    store: SsidStore
    settings: Settings
    web: WebSettings
    sessions: Sessions
    throttle: Throttle
    hasher: PasswordHasher
    poller: SlfPoller | None
    matcher: Matcher
    templates: jinja2.Environment
    clock: Callable[[], float]


STATE = web.AppKey("ssid_web_state", WebState)


def state(request: web.Request) -> WebState:
    return request.config_dict[STATE]


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request: who, what they may do, what they see."""

    user: User
    permissions: frozenset[str]
    scope: Scope
    session: Session
    token: str

    def can(self, permission: str) -> bool:
        return permission in self.permissions


VIEWER = web.RequestKey("ssid_web_viewer", Viewer)
FLASH = web.RequestKey("ssid_web_flash", str)


def viewer(request: web.Request) -> Viewer:
    return request[VIEWER]


def when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["percent"] = lambda v: "—" if v is None else f"{float(v) * 100:.1f} %"
    return env


def url(request: web.Request, name: str, query: Mapping[str, str] | None = None, **parts: str) -> str:
    """A path to a named route of this app, with the mount prefix (``/ui/...`` under ``slf ssid serve``)."""
    u = request.app.router[name].url_for(**{k: str(v) for k, v in parts.items()})
    return str(u.with_query(query) if query else u)


def render(request: web.Request, template: str, *, status: int = 200, flash: str | None = None,
           **context: Any) -> web.Response:
    st = state(request)
    v: Viewer | None = request.get(VIEWER)
    ctx = {"url": lambda name, query=None, **p: url(request, name, query, **p), "viewer": v,
           "csrf": csrf_token(v.token) if v else "", "flash": flash or request.get(FLASH), "roles": st.web.roles,
           "slf_connected": st.poller is not None, **context}
    body = st.templates.get_template(template).render(**ctx)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def refuse(request: web.Request, permission: str) -> web.Response:
    """403 naming the missing permission and the roles that grant it."""
    st = state(request)
    grant = sorted(r.label for r in st.web.roles.values() if permission in r.permissions)
    return render(request, "error.html", status=403, title="Not allowed",
                  message=f"This needs the permission “{permission}”, which the roles "
                          f"{', '.join(grant) or '(none configured)'} have. Ask a state administrator if you "
                          "need it.")


def not_found(request: web.Request, what: str) -> web.Response:
    return render(request, "error.html", status=404, title="Not found", message=what)


async def flash_next(request: web.Request, text: str, to: str) -> web.Response:
    """POST-redirect-GET: remember ``text`` for the next page and send the browser to ``to``."""
    v = viewer(request)
    await state(request).sessions.set_flash(v.session.token_hash, text[:1000])
    raise web.HTTPSeeOther(to)


async def note(conn: AsyncConnection, st: WebState, v: Viewer | User, action: str, *, student_id: str | None = None,
               transaction_id: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
    """One ``ssid_web_activity`` row (in the caller's transaction). No student personal data in ``detail``."""
    user = v.user if isinstance(v, Viewer) else v
    await conn.execute(insert(activity_t).values(at=st.clock(), user_id=user.user_id,
                                                 user_district=user.district_irn, action=action,
                                                 student_id=student_id, transaction_id=transaction_id,
                                                 detail=dict(detail) if detail else None))


async def note_now(st: WebState, v: Viewer | User, action: str, **kw: Any) -> None:
    async with st.store.write() as conn:
        await note(conn, st, v, action, **kw)
