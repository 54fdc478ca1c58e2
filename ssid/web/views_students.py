"""Student pages: search, view, modify, deactivate, reactivation request and approval.

Every change goes through ``ssid.maintenance`` in one write transaction, so the rules (roles
from ``[ssid.roles]``, no duplicates, a surviving ID and a meaningful reason, approval by
another user) and the audit row are the store's, the same as for the CLI and batch files.
This module adds only what the web decides: which students the user may see (``scope``), the
permission to open a form at all, masking the SSN to its last four digits, and recording
searches and views in the web activity (without the names searched for).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .. import maintenance
from ..audit import mask
from ..catalogue import ESSENTIAL, IMPORT
from ..db.candidates import match as db_match
from ..records import match_record
from ..store import Alias, InvalidRecord, NotFound, SsidError, Student
from .common import flash_next, not_found, note, note_now, refuse, render, state, url, viewer
from .scope import sees

log = logging.getLogger("ssid.web")
SEARCH_FIELDS = ("LegalFirstName", "LegalMiddleName", "LegalLastName", "BirthDate", "Gender")


def masked_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """An alias record (matcher field names) with the SSN cut to its last four digits."""
    out = dict(record)
    if out.get("ssn"):
        v = str(out["ssn"])
        out["ssn"] = f"*****{v[-4:]}" if len(v) >= 4 else "*****"
    return out


async def visible(request: web.Request, student_id: str) -> tuple[Student, list[Alias]] | None:
    """The student and its aliases if it exists and the user may see it; None otherwise (the same answer)."""
    st, v = state(request), viewer(request)
    s = await st.store.student(student_id)
    if s is None:
        return None
    aliases = await st.store.aliases(s.student_id)
    return (s, aliases) if sees(v.scope, s, aliases) else None


def _unseen(request: web.Request, student_id: str) -> web.Response:
    return not_found(request, f"No student with ID {student_id.strip().upper()[:32]} in "
                              f"{viewer(request).scope.describe()}. Check the ID.")


def _problems(exc: SsidError) -> tuple[dict[str, list[str]], list[str]]:
    """(messages per field, general messages) of a refusal."""
    if isinstance(exc, InvalidRecord):
        fields: dict[str, list[str]] = {}
        for p in exc.problems:
            fields.setdefault(p.field, []).append(p.message)
        return fields, []
    return {}, [str(exc)]


# ---- search ----

async def search(request: web.Request) -> web.StreamResponse:
    """GET: the forms, or a search by ID (``?id=``). POST: a search by name and birth date.

    Names and birth dates travel in a POST body, never in the URL, so they stay out of access
    logs, browser history and proxies.
    """
    st, v = state(request), viewer(request)
    if not v.can("search"):
        return refuse(request, "search")
    source = await request.post() if request.method == "POST" else request.query
    cat = st.store.catalogue
    labels = {a.name: a.label for a in cat.attributes}
    form = {k: str(source.get(k) or "").strip()[:64] for k in ("id", *SEARCH_FIELDS)}
    ctx: dict[str, Any] = {"title": "Find a student", "form": form, "labels": labels, "fields": SEARCH_FIELDS,
                           "results": None, "errors": {}, "general": []}
    if request.method == "GET":
        if not form["id"]:
            return render(request, "search.html", **ctx)
        found = await visible(request, form["id"])
        await note_now(st, v, "search", detail={"by": "id", "found": found is not None})
        if found is None:
            ctx["general"] = [f"No student with ID {form['id'].upper()[:32]} in {v.scope.describe()}."]
            return render(request, "search.html", status=404, **ctx)
        raise web.HTTPSeeOther(url(request, "student", sid=found[0].student_id))
    given = {k: form[k] for k in SEARCH_FIELDS if form[k]}
    checked = cat.check(given, IMPORT)
    errors: dict[str, list[str]] = {}
    for p in checked.problems:
        errors.setdefault(p.field, []).append(p.message)
    for name in ESSENTIAL:
        if not given.get(name):
            errors.setdefault(name, []).append("is needed to search by name")
    if errors:
        ctx["errors"] = errors
        return render(request, "search.html", status=422, **ctx)
    async with st.store.read() as conn:
        decision = await db_match(conn, st.matcher, match_record(checked.values))
    offered = {c.student_id for c in decision.candidates}
    results = []
    for c in decision.explanation.candidates:
        found = await visible(request, c.student_id)
        if found is None:
            continue
        s, _ = found
        kind = ("match" if c.student_id == decision.student_id else
                "potential match" if c.student_id in offered else "weak resemblance")
        results.append({"student": s, "attrs": mask(s.values), "confidence": c.confidence, "kind": kind})
    await note_now(st, v, "search", detail={"by": "name", "outcome": str(decision.outcome), "shown": len(results)})
    ctx["results"] = results
    return render(request, "search.html", **ctx)


# ---- one student ----

async def student(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("view"):
        return refuse(request, "view")
    sid = request.match_info["sid"]
    found = await visible(request, sid)
    if found is None:
        return _unseen(request, sid)
    s, aliases = found
    store = st.store
    deactivations = await store.deactivations(s.student_id)
    reactivations = await store.reactivations(s.student_id)
    history = await store.audit(s.student_id)
    active = None if s.active else await store.active_id(s.student_id)
    await note_now(st, v, "view", student_id=s.student_id)
    cat = store.catalogue
    return render(request, "student.html", title=f"Student {s.student_id}", s=s, values=mask(s.values),
                  attributes=cat.attributes, aliases=[(a, masked_record(a.record)) for a in aliases],
                  deactivations=deactivations, reactivations=reactivations, history=history, active_id=active,
                  pending=[r for r in reactivations if r.status == "pending"], errors=[])


# ---- modify ----

def _changes(form: Mapping[str, Any], current: Mapping[str, str], attributes) -> dict[str, str | None]:
    """The attributes the form changes (blank clears one; a blank SSN field keeps the stored SSN). Pure."""
    out: dict[str, str | None] = {}
    for a in attributes:
        given = str(form.get(a.name) or "").strip()
        if a.is_ssn:
            if form.get(f"clear_{a.name}"):
                out[a.name] = None
            elif given:
                out[a.name] = given
            continue
        if given != (current.get(a.name) or ""):
            out[a.name] = given or None
    return out


async def modify(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("modify"):
        return refuse(request, "modify")
    sid = request.match_info["sid"]
    found = await visible(request, sid)
    if found is None:
        return _unseen(request, sid)
    s, _ = found
    attributes = st.store.catalogue.attributes
    ctx: dict[str, Any] = {"title": f"Change {s.student_id}", "s": s, "attributes": attributes,
                           "values": {a.name: ("" if a.is_ssn else s.values.get(a.name, "")) for a in attributes},
                           "ssn_hint": mask(s.values), "errors": {}, "general": []}
    if request.method == "GET":
        return render(request, "modify.html", **ctx)
    form = await request.post()
    changes = _changes(form, s.values, attributes)
    ctx["values"] = {a.name: ("" if a.is_ssn else str(form.get(a.name) or "")) for a in attributes}
    if not changes:
        ctx["general"] = ["Nothing was changed: edit a value first."]
        return render(request, "modify.html", status=422, **ctx)
    try:
        async with st.store.write() as conn:
            await maintenance.modify(st.store, conn, s.student_id, changes, v.user)
    except SsidError as exc:
        ctx["errors"], ctx["general"] = _problems(exc)
        return render(request, "modify.html", status=422 if isinstance(exc, InvalidRecord) else 409, **ctx)
    log.info("web: %s modified %s (%d attributes)", v.user.user_id, s.student_id, len(changes))
    return await flash_next(request, f"{s.student_id}: {', '.join(sorted(changes))} changed.",
                            url(request, "student", sid=s.student_id))


# ---- deactivate ----

async def deactivate(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("deactivate"):
        return refuse(request, "deactivate")
    sid = request.match_info["sid"]
    found = await visible(request, sid)
    if found is None:
        return _unseen(request, sid)
    s, _ = found
    ctx: dict[str, Any] = {"title": f"Deactivate {s.student_id}", "s": s, "values": mask(s.values),
                           "surviving": "", "reason": "", "general": [],
                           "min_length": st.settings.maintenance.min_reason_length}
    if request.method == "GET":
        return render(request, "deactivate.html", **ctx)
    form = await request.post()
    ctx["surviving"] = str(form.get("surviving_id") or "").strip()
    ctx["reason"] = str(form.get("reason") or "")
    try:
        async with st.store.write() as conn:
            d = await maintenance.deactivate(st.store, conn, s.student_id, ctx["surviving"], ctx["reason"], v.user)
    except SsidError as exc:
        ctx["general"] = [str(exc)]
        return render(request, "deactivate.html", status=404 if isinstance(exc, NotFound) else 409, **ctx)
    log.info("web: %s deactivated %s (surviving %s)", v.user.user_id, d.student_id, d.surviving_id)
    return await flash_next(request, f"{d.student_id} is deactivated; the surviving ID is {d.surviving_id}.",
                            url(request, "student", sid=d.student_id))


# ---- reactivation ----

async def request_reactivation(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("request_reactivation"):
        return refuse(request, "request_reactivation")
    sid = request.match_info["sid"]
    found = await visible(request, sid)
    if found is None:
        return _unseen(request, sid)
    s, _ = found
    form = await request.post()
    try:
        async with st.store.write() as conn:
            r = await maintenance.request_reactivation(st.store, conn, s.student_id, str(form.get("reason") or ""),
                                                       v.user)
    except SsidError as exc:
        return await flash_next(request, f"Reactivation not requested: {exc}", url(request, "student",
                                                                                    sid=s.student_id))
    return await flash_next(request, f"Reactivation request {r.id} for {s.student_id} is waiting for the state's "
                                     "approval.", url(request, "student", sid=s.student_id))


async def reactivations(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("approve_reactivation"):
        return refuse(request, "approve_reactivation")
    shown = []
    for r in await st.store.reactivations(status="pending"):
        found = await visible(request, r.student_id)
        if found is not None:
            shown.append((r, found[0], mask(found[0].values)))
    return render(request, "reactivations.html", title="Reactivation requests", pending=shown, general=[])


async def decide_reactivation(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("approve_reactivation"):
        return refuse(request, "approve_reactivation")
    try:
        rid = int(request.match_info["rid"])
    except ValueError:
        return not_found(request, "No such reactivation request.")
    pending = {r.id: r for r in await st.store.reactivations(status="pending")}
    if rid not in pending or await visible(request, pending[rid].student_id) is None:
        return not_found(request, f"No pending reactivation request {rid} in {v.scope.describe()}.")
    form = await request.post()
    decision, note_text = str(form.get("decision") or ""), str(form.get("note") or "")
    try:
        async with st.store.write() as conn:
            if decision == "approve":
                s = await maintenance.approve_reactivation(st.store, conn, rid, v.user, note_text)
                text = f"{s.student_id} is active again (request {rid} approved)."
            elif decision == "reject":
                r = await maintenance.reject_reactivation(st.store, conn, rid, v.user, note_text)
                text = f"Request {rid} for {r.student_id} rejected; the ID stays deactivated."
            else:
                return render(request, "error.html", status=400, title="Choose",
                              message="Choose approve or reject.")
            await note(conn, st, v, f"reactivation-{decision}", student_id=pending[rid].student_id,
                       detail={"request_id": rid})
    except SsidError as exc:
        return await flash_next(request, f"Request {rid}: {exc}", url(request, "reactivations"))
    return await flash_next(request, text, url(request, "reactivations"))


def routes(r: web.UrlDispatcher) -> None:
    r.add_get("/search", search, name="search")
    r.add_post("/search", search)
    r.add_get("/students/{sid}", student, name="student")
    r.add_get("/students/{sid}/modify", modify, name="modify")
    r.add_post("/students/{sid}/modify", modify)
    r.add_get("/students/{sid}/deactivate", deactivate, name="deactivate")
    r.add_post("/students/{sid}/deactivate", deactivate)
    r.add_post("/students/{sid}/reactivation", request_reactivation, name="request_reactivation")
    r.add_get("/reactivations", reactivations, name="reactivations")
    r.add_post("/reactivations/{rid}", decide_reactivation, name="decide_reactivation")
