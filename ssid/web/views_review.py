"""The potential-match review queue: see what a district submitted beside each candidate, decide.

Decisions go through ``SlfPoller.resolve`` (5 USER_MATCH with the picked ID, or 6 USER_NEW):
the poller applies the SLF status rules, keeps the submitted spelling as an alias of the
picked student, issues a new ID under the TransactionId (never two), and marks a new ID forced
past offered matches, which the store counts per user and refuses past a limited user's daily
allowance (RFP 1.21.8.1). The web adds: the permission, the user's districts, a confirmation
before skipping the matches (RFP 1.21.4.9), and a pick only among the offered candidates or
students the user may see (so a pick never opens another district's student to the user).
"""

from __future__ import annotations

import logging

from aiohttp import web

from ..poller import ResolveError
from ..slf import SlfStatus
from ..store import SsidError
from . import review
from .common import flash_next, not_found, note_now, refuse, render, state, url, viewer
from .views_students import visible

log = logging.getLogger("ssid.web")
S = SlfStatus
STATUS_TEXT = {S.UNRESOLVED: "waiting: the district is being told about the potential matches",
               S.RESOLUTION_IN_PROGRESS: "ready to decide"}


def _not_connected(request: web.Request) -> web.Response:
    return render(request, "queue.html", title="Potential matches", items=[], status_text=STATUS_TEXT)


async def queue(request: web.Request) -> web.Response:
    st, v = state(request), viewer(request)
    if not v.can("resolve"):
        return refuse(request, "resolve")
    if st.poller is None:
        return _not_connected(request)
    try:
        items = await review.queue(st.poller, v.scope)
    except SsidError as exc:
        return render(request, "error.html", status=503, title="Potential matches unavailable", message=str(exc))
    return render(request, "queue.html", title="Potential matches", items=items, status_text=STATUS_TEXT)


async def _page(request: web.Request, item: review.Pending, *, status: int = 200, general: list[str] | None = None
                ) -> web.Response:
    st = state(request)
    assert st.poller is not None
    found = await st.poller.candidates(item.transaction_id)
    labels = {a.name: a.label for a in st.store.catalogue.attributes}
    rows, candidates = review.compare(item.values, item.building, found, st.poller.mapping, labels)
    linkable = {c.state_id for c in candidates if await visible(request, c.state_id) is not None}
    return render(request, "review.html", status=status, title=f"Transaction {item.transaction_id}", item=item,
                  rows=rows, candidates=candidates, linkable=linkable, general=general or [],
                  status_text=STATUS_TEXT)


async def _open_item(request: web.Request):
    """The review item of this URL the viewer may resolve, or the response that says why not."""
    st, v = state(request), viewer(request)
    if not v.can("resolve"):
        return refuse(request, "resolve")
    if st.poller is None:
        return _not_connected(request)
    txn = request.match_info["txn"]
    item = await review.one(st.poller, txn, v.scope)
    if item is None:
        return not_found(request, f"No transaction {txn[:64]} for {v.scope.describe()}.")
    return item


async def item_page(request: web.Request) -> web.Response:
    item = await _open_item(request)
    return item if isinstance(item, web.StreamResponse) else await _page(request, item)


async def resolve(request: web.Request) -> web.Response:
    item = await _open_item(request)
    if isinstance(item, web.StreamResponse):
        return item
    st, v, txn = state(request), viewer(request), request.match_info["txn"]
    form = await request.post()
    decision = str(form.get("decision") or "")
    offered = {str(c["STATE_ID"]) for c in await st.poller.candidates(txn)}
    if decision == "pick":
        pick = str(form.get("pick") or "").strip().upper()
        if not pick:
            return await _page(request, item, status=422, general=["Choose one of the potential matches."])
        if pick not in offered and await visible(request, pick) is None:
            return await _page(request, item, status=422,
                               general=[f"{pick[:32]} is not one of the potential matches: choose one of them."])
    elif decision == "new":
        if form.get("confirm") != "yes":
            return await _page(request, item, status=422, general=[
                f"Confirm that none of the {len(offered)} potential matches is this student before a new ID is "
                "issued (tick the box)."])
        pick = None
    else:
        return await _page(request, item, status=422, general=["Choose a potential match or a new ID."])
    try:
        async with st.store.read() as conn:
            await st.store.require_user(conn, v.user.user_id)  # a suspension since the page opened
        if pick is not None:
            answer = await st.poller.resolve(txn, pick=pick, user=v.user.user_id, district_irn=v.user.district_irn)
        else:
            answer = await st.poller.resolve(txn, new=True, user=v.user.user_id, district_irn=v.user.district_irn)
    except (ResolveError, SsidError) as exc:
        return await _page(request, item, status=409, general=[str(exc)])
    await note_now(st, v, "resolve", student_id=answer.state_id, transaction_id=txn,
                   detail={"decision": decision, "status": int(answer.status), "offered": len(offered)})
    log.info("web: %s resolved SLF transaction %s: %s %s", v.user.user_id, txn, answer.status, answer.state_id or "")
    if answer.status is S.ERROR:
        text = f"Transaction {txn}: no new ID could be issued: {answer.text}"
    elif answer.status is S.USER_NEW:
        text = f"Transaction {txn}: new ID {answer.state_id} issued (recorded as forced past the potential matches)."
    else:
        text = f"Transaction {txn}: matched to {answer.state_id}."
    return await flash_next(request, text, url(request, "queue"))


def routes(r: web.UrlDispatcher) -> None:
    r.add_get("/review", queue, name="queue")
    r.add_get("/review/{txn}", item_page, name="review_item")
    r.add_post("/review/{txn}", resolve, name="resolve")
