"""The potential-match queue over SLF tables made by the resolver's migrations and decided by the real
poller: who sees which transaction, the comparison, picks (5 USER_MATCH), forced new IDs (6 USER_NEW)
counted and limited per user."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from sif_agent.resolver.migrations import migrate as slf_migrate
from ssid.poller import SlfPoller
from ssid.web.tables import activity_t
from tests.pg import database
from tests.ssid_pipeline.conftest import EXTRA, Slf

from .conftest import ambiguous, parent_app


@pytest.fixture
async def ui(world, serve, poller):
    return await serve(parent_app(world, poller=poller))


async def test_the_queue_shows_each_user_the_transactions_of_its_districts_and_buildings(ui, slf, poller):
    ours = await ambiguous(slf, poller)  # district 043802, building 012345
    theirs = await ambiguous(slf, poller, IRN_CURRENT_DISTRICT="044000", HOME_SCHOOL_CODE="054321")
    expected = {"stella": {ours, theirs}, "dora": {ours}, "bea": {ours}, "otto": {theirs}, "ivan": {ours, theirs}}
    for user, txns in expected.items():
        b = await ui(user)
        _, page = await b.get("/ui/review")
        shown = set(re.findall(r'href="/ui/review/([0-9A-F]+)"', page))
        assert shown == txns, user
        for txn in {ours, theirs} - txns:
            resp, _ = await b.get(f"/ui/review/{txn}")
            assert resp.status == 404
    _, home = await (await ui("dora")).get("/ui/")
    assert 'id="queue-count">1<' in home


async def test_the_review_page_shows_each_candidate_with_its_confidence_and_marks_differences(ui, slf, poller, world):
    txn = await ambiguous(slf, poller)
    dora = await ui("dora")
    resp, page = await dora.get(f"/ui/review/{txn}")
    assert resp.status == 200
    for cand in await slf.matches(txn):
        pct = f"{float(cand['CONFIDENCE']) * 100:.1f} %"
        assert re.search(rf'data-id="{cand["STATE_ID"]}">confidence {re.escape(pct)}<', page)
    assert "<td>Amera</td>" in page  # submitted
    assert "<mark>Amara</mark>" in page and "<mark>Amira</mark>" in page  # both differ from "Amera"
    assert "<td>2017-04-12</td>" in page and "<mark>2017-04-12</mark>" not in page  # same birth date: not marked


async def test_picking_a_candidate_makes_the_transaction_user_match_and_remembers_the_spelling(ui, slf, poller, world):
    txn = await ambiguous(slf, poller)
    amara = world.ids["Amara"]
    dora = await ui("dora")
    resp, page = await dora.post(f"/ui/review/{txn}", {"decision": "pick", "pick": amara})
    assert resp.url.path == "/ui/review" and f"Transaction {txn}: matched to {amara}." in page
    row = await slf.row(txn)
    assert (row["N_SLF_STATUS"], row["STATE_ID"]) == (5, amara)
    aliases = await world.store.aliases(amara)
    assert aliases[-1].record["first_name"] == "Amera" and aliases[-1].record["district"] == "043802"
    [alias_audit] = await world.store.audit(amara, change_type="ALIAS")
    assert alias_audit.via_slf and alias_audit.correlation_id == txn
    async with world.store.read() as conn:
        [act] = (await conn.execute(select(activity_t).where(activity_t.c.action == "resolve"))).all()
    assert (act.user_id, act.user_district, act.transaction_id, act.student_id) == ("dora", "043802", txn, amara)
    assert 'id="queue-empty"' in page


async def test_a_new_id_past_the_matches_needs_confirmation_and_is_counted_against_the_user(ui, slf, poller, world):
    txn = await ambiguous(slf, poller)
    dora = await ui("dora")
    resp, page = await dora.post(f"/ui/review/{txn}", {"decision": "new"})
    assert resp.status == 422 and "Confirm that none of the 2 potential matches is this student" in page
    assert (await slf.row(txn))["N_SLF_STATUS"] == 8
    resp, page = await dora.post(f"/ui/review/{txn}", {"decision": "new", "confirm": "yes"})
    row = await slf.row(txn)
    assert row["N_SLF_STATUS"] == 6 and row["STATE_ID"] not in world.ids.values()
    assert f"new ID {row['STATE_ID']} issued (recorded as forced past the potential matches)" in page
    assert await world.store.forced_new_metrics() == [("dora", "043802", 1)]
    stella, audrey = await ui("stella"), await ui("audrey")
    _, users = await stella.get("/ui/users")
    dora_row = users[users.index('id="user-dora"'):]
    assert re.search(r'class="forced">1 / 1<', dora_row[:dora_row.index("</tr>")])
    _, audit = await audrey.get("/ui/audit")
    assert re.search(r"<td>dora</td><td>043802</td><td>1</td><td>1</td>", audit)


async def test_a_limited_user_cannot_force_more_new_ids_but_can_still_pick(ui, slf, poller, world):
    stella, dora = await ui("stella"), await ui("dora")
    resp, page = await stella.post("/ui/users/dora/status", {"status": "limited", "forced_new_limit": "0",
                                                             "reason": "three forced new IDs in one week"})
    assert "dora is now limited, at most 0 forced new IDs a day" in page
    txn = await ambiguous(slf, poller)
    resp, page = await dora.post(f"/ui/review/{txn}", {"decision": "new", "confirm": "yes"})
    assert resp.status == 409 and "may force at most 0 new IDs past offered matches per day" in page
    assert (await slf.row(txn))["N_SLF_STATUS"] == 8
    resp, _ = await dora.post(f"/ui/review/{txn}", {"decision": "pick", "pick": world.ids["Amira"]})
    assert (await slf.row(txn))["N_SLF_STATUS"] == 5
    [limit] = [r for r in await world.store.audit(change_type="USER", user_id="stella")]
    assert limit.new_values == {"status": "limited", "forced_new_limit": 0}


async def test_a_new_id_the_submitted_record_is_too_thin_for_ends_the_transaction_in_error(ui, slf, poller, world):
    txn = await ambiguous(slf, poller, LEGAL_MIDDLE_NAME=None)
    resp, page = await (await ui("dora")).post(f"/ui/review/{txn}", {"decision": "new", "confirm": "yes"})
    assert f"Transaction {txn}: no new ID could be issued: " in page and "LEGAL_MIDDLE_NAME" in page
    assert (await slf.row(txn))["N_SLF_STATUS"] == 10
    assert (await world.store.counts())["active"] == 3


async def test_a_pick_must_be_an_offered_candidate_or_a_student_the_user_sees(ui, slf, poller, world):
    txn = await ambiguous(slf, poller)
    dora = await ui("dora")
    resp, page = await dora.post(f"/ui/review/{txn}", {"decision": "pick", "pick": world.ids["Oliver"]})
    assert resp.status == 422 and "is not one of the potential matches" in page
    assert (await slf.row(txn))["N_SLF_STATUS"] == 8
    assert len(await world.store.aliases(world.ids["Oliver"])) == 1


async def test_a_transaction_the_district_has_not_been_told_about_cannot_be_decided_yet(ui, slf, poller, world):
    txn = await ambiguous(slf, poller)
    await slf.set(txn, N_SLF_STATUS=7)
    dora = await ui("dora")
    _, page = await dora.get(f"/ui/review/{txn}")
    assert "cannot be decided now" in page and 'id="resolve-pick"' not in page
    resp, page = await dora.post(f"/ui/review/{txn}", {"decision": "pick", "pick": world.ids["Amara"]})
    assert resp.status == 409 and "has not yet told the district" in page
    assert (await slf.row(txn))["N_SLF_STATUS"] == 7


async def test_without_slf_tables_the_queue_says_it_is_not_connected(browser):
    dora = await browser("dora")
    resp, page = await dora.get("/ui/review")
    assert resp.status == 200 and 'id="not-connected"' in page


async def test_the_app_makes_its_own_poller_from_the_slf_database_url(world, serve, slf, poller):
    txn = await ambiguous(slf, poller)
    ui = await serve(parent_app(world, slf_db=slf.url))
    _, page = await (await ui("dora")).get("/ui/review")
    assert f'href="/ui/review/{txn}"' in page


async def test_the_queue_reads_slf_tables_in_a_postgresql_database_apart_from_the_ssid_database(world, serve):
    async with database("slf_web_test") as url:
        slf = Slf(url)
        await slf_migrate(slf.engine, EXTRA)
        poller = SlfPoller(world.store, url)
        try:
            ours = await ambiguous(slf, poller)
            theirs = await ambiguous(slf, poller, IRN_CURRENT_DISTRICT="044000", HOME_SCHOOL_CODE="054321")
            ui = await serve(parent_app(world, poller=poller))
            for user, txns in {"dora": {ours}, "otto": {theirs}, "bea": {ours}, "april": None}.items():
                resp, page = await (await ui(user)).get("/ui/review")
                if txns is None:
                    assert resp.status == 403
                    continue
                assert set(re.findall(r'href="/ui/review/([0-9A-F]+)"', page)) == txns, user
            otto = await ui("otto")
            resp, page = await otto.post(f"/ui/review/{theirs}", {"decision": "new", "confirm": "yes"})
            assert (await slf.row(theirs))["N_SLF_STATUS"] == 6
            assert await world.store.forced_new_metrics() == [("otto", "044000", 1)]
        finally:
            await poller.close()
            await slf.engine.dispose()
