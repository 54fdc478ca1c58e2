"""Priority 3: `slf locator console` against a temporary locator database, and `slf locator run`."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack

from click.testing import CliRunner

from sif_agent.locator.records import Records
from sif_agent.locator.store import LocatorStore
from sif_agent.locator.transactions import Candidate, Trigger, TxnState
from slf.cli import main

from .conftest import STATE_ID, fixed_ids, settled, until, valid


def seed(db) -> list[str]:
    """Three transactions: ambiguous (two candidates), fault, written back."""
    async def work():
        store = LocatorStore.from_url(f"sqlite+aiosqlite:///{db}", id_factory=fixed_ids())
        await store.create_schema()
        await Records(store.engine).create_schema()
        ids = []
        for n, irn in enumerate(("043802", "043802", "049999")):
            t = await store.create("district-043802", f"REF{n}", {"fields": {"LocalId": f"10{n}"}},
                                   district_irn=irn, local_id=f"10{n}")
            await store.apply_trigger(t.transaction_id, Trigger.SEND, msg_id=f"M{n}")
            ids.append(t.transaction_id)
        await store.apply_trigger(ids[0], Trigger.GOT_AMBIGUOUS, candidates=[
            Candidate("AB1234567", 0.9, "Okafor", "Amara"), Candidate("CD7654321", 0.8, "Okafor", "Amarah")])
        await store.apply_trigger(ids[1], Trigger.FAILED_TECHNICALLY, error_text="8/4 no provider")
        await store.apply_trigger(ids[2], Trigger.GOT_VALID, state_id="EF1111111")
        await store.apply_trigger(ids[2], Trigger.WROTE_BACK, msg_id="W2")
        await store.close()
        return ids

    return asyncio.run(work())


def cli(db, *args):
    return CliRunner().invoke(main, ["locator", "console", "--db", str(db), *args])


def state_of(db, txn):
    async def work():
        store = LocatorStore.from_url(f"sqlite+aiosqlite:///{db}")
        try:
            return await store.get(txn)
        finally:
            await store.close()
    return asyncio.run(work())


def test_list_filters_by_status_and_district(tmp_path):
    db = tmp_path / "loc.db"
    amb, fault, done = seed(db)
    out = cli(db, "list")
    assert out.exit_code == 0, out.output
    assert all(t in out.output for t in (amb, fault, done)) and "written_back" in out.output
    out = cli(db, "list", "--status", "fault")
    assert fault in out.output and amb not in out.output
    out = cli(db, "list", "--district", "049999", "--json")
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [(r["transaction_id"], r["state_id"]) for r in rows] == [(done, "EF1111111")]
    assert "no transactions" in cli(db, "list", "--status", "new").output


def test_show_has_candidates_steps_and_errors(tmp_path):
    db = tmp_path / "loc.db"
    amb, fault, _ = seed(db)
    out = cli(db, "show", amb)
    assert out.exit_code == 0, out.output
    assert "ambiguous" in out.output and "AB1234567" in out.output and "CD7654321" in out.output
    assert "LocalId = 100" in out.output and "sent -> ambiguous" in out.output
    assert "8/4 no provider" in cli(db, "show", fault).output
    bad = cli(db, "show", "F" * 32)
    assert bad.exit_code == 1 and "no transaction" in bad.output


def test_retry_cancel_and_resolve(tmp_path):
    db = tmp_path / "loc.db"
    amb, fault, done = seed(db)
    out = cli(db, "retry", "--all-faults")
    assert out.exit_code == 0 and fault in out.output
    assert cli(db, "retry", done).exit_code == 1  # final: nothing to retry
    assert cli(db, "retry").exit_code == 2
    out = cli(db, "resolve", amb, "--pick", "ZZ0000000")
    assert out.exit_code == 1 and "not one of the candidates" in out.output
    assert cli(db, "resolve", amb).exit_code == 2
    out = cli(db, "resolve", amb, "--pick", "CD7654321")
    assert out.exit_code == 0 and "queued" in out.output
    assert cli(db, "resolve", fault, "--new").exit_code == 1  # only ambiguous ones
    out = cli(db, "cancel", fault)
    assert out.exit_code == 0 and "cancelled" in out.output
    assert state_of(db, fault).state is TxnState.CANCELLED
    assert cli(db, "cancel", done).exit_code == 1  # final


def test_console_needs_a_database():
    out = CliRunner().invoke(main, ["locator", "console", "list"])
    assert out.exit_code == 2 and "--db" in out.output


def test_run_reports_config_errors(tmp_path):
    bad = tmp_path / "l.toml"
    bad.write_text('[agent]\nsource_id = "ITC"\n[[zones]]\nid = "s"\nurl = "https://s.invalid/z"\n'
                   '[locator]\nstate_zone = "elsewhere"\n')
    out = CliRunner().invoke(main, ["locator", "run", "--config", str(bad)])
    assert out.exit_code == 1 and "state_zone must name one of" in out.output and "l.toml" in out.output
    out = CliRunner().invoke(main, ["locator", "run", "--config", str(tmp_path / "none.toml")])
    assert out.exit_code == 1 and "cannot read" in out.output


async def test_console_resolution_is_sent_by_the_running_agent(world_factory):
    """`resolve --pick` queues; the agent's next pass sends IdStatus Resolve with the pick."""
    from tests.locator_mapping.conftest import enrollment, personal, school

    from .test_outcomes import candidates
    from .test_wiring import running

    w = await world_factory()
    w.answer = lambda txn, status, sid: valid(txn, sid) if status == "Resolve" else candidates(txn)
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await w.publish("SchoolInfo", "Add", school())
        await w.publish("StudentPersonal", "Add", personal())
        await w.publish("StudentSchoolEnrollment", "Add", enrollment())
        await until(lambda: w.requests)
        [txn] = await w.store.list()
        await settled(w, txn.transaction_id, TxnState.AMBIGUOUS, responses=1)
        await w.locator.records.queue_action(txn.transaction_id, "resolve", "CD7654321", 0.0)
        [sent] = await w.locator.run_due()
        assert sent.state is TxnState.RESOLVE_SENT
        done = await settled(w, txn.transaction_id, TxnState.WRITTEN_BACK)
        assert done.picked_state_id == "CD7654321"
        assert w.requests[-1][1:3] == ("Resolve", "CD7654321")
        await until(lambda: w.changes)
    assert w.changes[0].state_province_id == "CD7654321" != STATE_ID
