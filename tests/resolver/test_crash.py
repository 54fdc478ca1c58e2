"""Crash safety: SIGKILL `slf resolver run` at random points during 500 requests, restart it.

A requester (the runtime, in this process) sends 500 StudentLocator requests over HTTPS to a
zone process; the resolver process records them in a SQLite SLF database that the scripted
SSID database (in this process) decides: match, new or error, from the TransactionId. The
resolver is killed with SIGKILL at random moments (while pulling, recording, acknowledging,
answering, completing, starting up) and restarted at once, a dozen times.

Then: every request got exactly one SIF_Response, carrying the database's decision for its
transaction; the database decided each transaction once (no second row, no second ID); no
row, batch or unanswered request is left in the SLF tables.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections import defaultdict

import pytest

from messages import Query
from sif_agent.config import AgentSettings, ObjectLists, RetrySettings, ZoneSettings
from sif_agent.resolver.store import ResolverStore
from sif_agent.runtime import Agent
from tests.zone.process import ZoneProcess

from . import ssid_standin as db
from .conftest import locator
from .https import STATE_ZONE, ResolverProcess, resolver_toml
from .test_https import EXTRA, tls
from .world import until

REQUESTS, KILLS = 500, 12
LOCATOR = "ITC01-StudentLocator"


def txn(i: int) -> str:
    return f"{i + 1:032X}"


def decision(transaction_id: str) -> db.Decision:
    h = zlib.crc32(transaction_id.encode()) % 10
    if h < 6:
        return db.match(f"OH{int(transaction_id, 16):07d}")
    if h < 9:
        return db.new(f"NW{int(transaction_id, 16):07d}")
    return db.error(f"Insufficient data for {transaction_id}")


@pytest.mark.slow
async def test_sigkill_during_500_requests(tmp_path):
    rng = random.Random(20270115)
    zone = ZoneProcess.create(tmp_path / "zone").start()
    slf = f"sqlite+aiosqlite:///{tmp_path}/slf.db"
    resolver = ResolverProcess(resolver_toml(tmp_path, zone, slf, poll_interval=0.5, worker_id="crash"),
                               tmp_path / "resolver.log")
    ssid = db.ScriptedSsid(slf, decide=lambda row: decision(row["SLF_TRANSACTION_GUID"]), extra=EXTRA)
    settings = AgentSettings(
        source_id=LOCATOR, name=LOCATOR, outbox=f"sqlite+aiosqlite:///{tmp_path}/requester-outbox.db",
        zones=(ZoneSettings(id=STATE_ZONE, url=zone.url(STATE_ZONE), source_id=LOCATOR, versions=("2.1",),
                            pull_interval=0.05, tls=tls(zone, LOCATOR),
                            retry=RetrySettings(attempts=3, initial=0.02, maximum=0.2),
                            objects=ObjectLists(request=("StudentLocator",))),))
    requester = Agent(settings)
    answers: dict[str, list] = defaultdict(list)

    @requester.on_response("StudentLocator")
    async def answered(reply, ctx):
        answers[reply.request_msg_id].append([o.typed() for o in reply.objects])

    kills = 0
    resolver.start()
    ssid_task = None
    try:
        await asyncio.to_thread(resolver.wait_registered)
        ssid_task = asyncio.create_task(ssid.run(interval=0.05))
        async with requester.running():
            sent: dict[str, str] = {}  # request SIF_MsgId -> TransactionId

            async def send_all():
                for i in range(REQUESTS):
                    form = "example" if i % 2 else "conditions"
                    loc = locator(txn(i), local_id=str(i))
                    if form == "example":
                        q = Query(object_name="StudentLocator", example=loc)
                    else:
                        from .conftest import request
                        q = request(loc, form="conditions").query
                    sent[await requester.send_request(STATE_ZONE, q)] = txn(i)
                    if i % 25 == 0:
                        await asyncio.sleep(0.05)

            sending = asyncio.create_task(send_all())
            registrations = 1
            while kills < KILLS and len(answers) < REQUESTS:
                await asyncio.sleep(rng.uniform(0.2, 2.5))
                resolver.kill()
                kills += 1
                resolver.start()
                registrations += 1
                if rng.random() < 0.5:  # half the time, kill again during startup or registration
                    await asyncio.sleep(rng.uniform(0.0, 1.5))
                    resolver.kill()
                    kills += 1
                    resolver.start()
                    registrations += 1
            await sending
            await until(lambda: len(answers) >= REQUESTS, f"{REQUESTS} answers", timeout=400)
            await asyncio.sleep(1.0)  # anything duplicated would arrive now

        assert kills >= KILLS
        assert set(answers) == set(sent)
        duplicated = {m: a for m, a in answers.items() if len(a) != 1}
        assert not duplicated, f"{len(duplicated)} request(s) answered more than once"
        for msg_id, [[obj]] in answers.items():
            t = sent[msg_id]
            d = decision(t)
            assert obj.transaction_id == t
            if d.kind == "error":
                assert obj.id_status == "Error" and obj.error.desc == d.text
            else:
                assert (obj.id_status, obj.state_province_id) == ("Valid", d.state_id)
        decided = [t for t, _ in ssid.decided]
        assert len(decided) == len(set(decided)) == REQUESTS  # one row, one decision per transaction

        store = ResolverStore.from_url(slf, extra_columns=EXTRA)
        try:
            assert await store.rows() == []
            assert await store.batches() == []
            assert await store.requests(pending=True) == []
            assert len(await store.requests()) == REQUESTS  # every request recorded once
        finally:
            await store.close()
        assert resolver.terminate() == 0
    finally:
        if ssid_task is not None:
            ssid_task.cancel()
            await asyncio.gather(ssid_task, return_exceptions=True)
        await ssid.close()
        resolver.kill()
        zone.stop()
