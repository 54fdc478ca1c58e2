"""User administration and the audit pages.

Limiting, suspending and restoring go through ``SsidStore.set_user_status`` (its USER audit
row, RFP 1.21.8.1.2 and 1.21.8.2.1); a suspension also ends the user's sessions at once.
Binding a user to further districts or buildings is the web's own table, audited as a USER
change too. The metrics are the store's: new IDs each user forced past offered matches
(RFP 1.21.8.1.1), all time and over the last day (the window of a limited user's allowance).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from .. import audit
from ..audit import ChangeType
from ..store import DAY, SsidError, User
from .common import flash_next, not_found, note, refuse, render, state, url, viewer
from .scope import Binding, bind, load_bindings, unbind
from .tables import activity_t, logins_t

log = logging.getLogger("ssid.web")
IRN_MAX = 16


def _manageable(request: web.Request, u: User) -> bool:
    scope = viewer(request).scope
    return scope.state or (u.district_irn is not None and u.district_irn in scope.districts)


async def users(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("manage_users"):
        return refuse(request, "manage_users")
    now = st.clock()
    all_time = {u: n for u, _, n in await st.store.forced_new_metrics()}
    last_day = {u: n for u, _, n in await st.store.forced_new_metrics(since=st.store.clock() - DAY)}
    async with st.store.read() as conn:
        failures = dict((await conn.execute(
            select(logins_t.c.user_id, func.count()).where(logins_t.c.ok.is_(False),
                                                           logins_t.c.at >= now - st.web.login_window)
            .group_by(logins_t.c.user_id))).all())
        last_in = dict((await conn.execute(select(logins_t.c.user_id, func.max(logins_t.c.at))
                                           .where(logins_t.c.ok.is_(True)).group_by(logins_t.c.user_id))).all())
        rows: list[dict[str, Any]] = []
        for u in await st.store.users(conn):
            if not _manageable(request, u):
                continue
            rows.append({"u": u, "bindings": await load_bindings(conn, u.user_id), "forced": all_time.get(u.user_id, 0),
                         "forced_day": last_day.get(u.user_id, 0), "failures": failures.get(u.user_id, 0),
                         "last_in": last_in.get(u.user_id), "sessions": await st.sessions.live_count(u.user_id)})
    return render(request, "users.html", title="Users", rows=rows)


async def _target(request: web.Request) -> User | web.Response:
    st, v = state(request), viewer(request)
    if not v.can("manage_users"):
        return refuse(request, "manage_users")
    u = await st.store.user(request.match_info["uid"])
    if u is None or not _manageable(request, u):
        return not_found(request, "No such user among those you manage.")
    return u


async def set_status(request: web.Request) -> web.Response:
    target = await _target(request)
    if isinstance(target, web.Response):
        return target
    st, v = state(request), viewer(request)
    form = await request.post()
    status = str(form.get("status") or "")
    reason = str(form.get("reason") or "").strip()
    limit: int | None = None
    if status == "limited":
        try:
            limit = int(str(form.get("forced_new_limit") or ""))
        except ValueError:
            return await flash_next(request, f"{target.user_id}: give the number of new IDs the user may force per "
                                             "day (0 for none).", url(request, "users"))
    if not reason:
        return await flash_next(request, f"{target.user_id}: say why (the reason is kept in the audit).",
                                url(request, "users"))
    try:
        async with st.store.write() as conn:
            u = await st.store.set_user_status(conn, target.user_id, status, forced_new_limit=limit, reason=reason,
                                               by=v.user.actor())
            ended = await st.sessions.revoke_user(conn, target.user_id, "suspended") if status == "suspended" else 0
    except SsidError as exc:
        return await flash_next(request, f"{target.user_id}: {exc}", url(request, "users"))
    log.info("web: %s set user %s to %s", v.user.user_id, target.user_id, status)
    extra = f" ({ended} session(s) ended)" if ended else ""
    limit_text = f", at most {u.forced_new_limit} forced new IDs a day" if u and u.status == "limited" else ""
    return await flash_next(request, f"{target.user_id} is now {status}{limit_text}{extra}.", url(request, "users"))


async def end_sessions(request: web.Request) -> web.Response:
    target = await _target(request)
    if isinstance(target, web.Response):
        return target
    st, v = state(request), viewer(request)
    async with st.store.write() as conn:
        n = await st.sessions.revoke_user(conn, target.user_id, f"administrator {v.user.user_id}")
        await note(conn, st, v, "end-sessions", detail={"user_id": target.user_id, "ended": n})
    return await flash_next(request, f"{target.user_id}: {n} session(s) ended.", url(request, "users"))


async def scopes(request: web.Request) -> web.Response:
    target = await _target(request)
    if isinstance(target, web.Response):
        return target
    st, v = state(request), viewer(request)
    form = await request.post()
    district = str(form.get("district_irn") or "").strip()
    building = str(form.get("building_irn") or "").strip()
    action = str(form.get("action") or "")
    if not (district or building) or len(district) > IRN_MAX or len(building) > IRN_MAX or \
            not (district + building).isalnum():
        return await flash_next(request, f"{target.user_id}: give a district IRN or a building IRN (letters and "
                                         "digits).", url(request, "users"))
    if not v.scope.state and district and district not in v.scope.districts:
        return await flash_next(request, f"You can bind users only to {v.scope.describe()}.", url(request, "users"))
    b = Binding(district, building)
    async with st.store.write() as conn:
        changed = await (bind(conn, target.user_id, b, st.clock(), v.user.user_id) if action == "add"
                         else unbind(conn, target.user_id, b))
        if changed:
            await audit.record(conn, audit.entry(st.store.clock(), ChangeType.USER, v.user.actor(), None, None,
                                                 {"district_irn": district or None, "building_irn": building or None},
                                                 detail={"user_id": target.user_id, "action": f"scope-{action}"}))
    what = " / ".join(x for x in (district and f"district {district}", building and f"building {building}") if x)
    text = (f"{target.user_id} now also serves {what}." if action == "add" else f"{target.user_id} no longer serves "
            f"{what}.") if changed else f"{target.user_id}: nothing changed."
    return await flash_next(request, text, url(request, "users"))


async def audit_page(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("audit"):
        return refuse(request, "audit")
    q = request.query
    sid = q.get("student_id", "").strip() or None
    uid = q.get("user_id", "").strip() or None
    ctype = q.get("change_type", "").strip().upper() or None
    rows = await st.store.audit(sid, user_id=uid, change_type=ctype, limit=200, newest_first=True)
    since = st.store.clock() - 30 * DAY
    month = {(u, d): n for u, d, n in await st.store.forced_new_metrics(since=since)}
    metrics = [(u, d, n, month.get((u, d), 0)) for u, d, n in await st.store.forced_new_metrics()]
    async with st.store.read() as conn:
        aq = select(activity_t).order_by(activity_t.c.id.desc()).limit(200)
        if uid:
            aq = aq.where(activity_t.c.user_id == uid)
        activity = [dict(r._mapping) for r in (await conn.execute(aq)).all()]
    if not v.scope.state:  # a district auditor reads its districts' rows only
        rows = [r for r in rows if r.user_district in v.scope.districts]
        metrics = [m for m in metrics if m[1] in v.scope.districts]
        activity = [a for a in activity if a["user_district"] in v.scope.districts]
    return render(request, "audit.html", title="Audit", rows=rows, metrics=metrics, activity=activity,
                  filters={"student_id": sid or "", "user_id": uid or "", "change_type": ctype or ""},
                  change_types=[str(c) for c in ChangeType])


def routes(r: web.UrlDispatcher) -> None:
    r.add_get("/users", users, name="users")
    r.add_post("/users/{uid}/status", set_status, name="user_status")
    r.add_post("/users/{uid}/sessions", end_sessions, name="user_sessions")
    r.add_post("/users/{uid}/scopes", scopes, name="user_scopes")
    r.add_get("/audit", audit_page, name="audit")
