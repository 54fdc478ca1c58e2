"""`slf locator`: run the Student Locator agent and work with its transactions at the console.

The console works on the locator's database (``--db`` or the ``[locator] database`` of
``--config``). Retries and cancels take effect at once; a resolution (``resolve``) is queued
and sent to the state by the running agent on its next pass over due work.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import click

from sif_agent.config import ConfigError

from .options import DATABASE

STATES = ("new", "sent", "ambiguous", "resolve_sent", "new_sent", "matched", "written_back", "error", "fault",
          "cancelled")


@click.group()
def locator() -> None:
    """Student Locator agent (ITC side): run it and use its console."""


# ============================================================================ run
@locator.command("run")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Locator TOML (see conf/locator.example.toml).")
@click.option("--log-level", default="INFO", show_default=True)
def run_cmd(config_path: Path, log_level: str) -> None:
    """Join the district and state zones and look up new students until stopped (SIGTERM, Ctrl+C)."""
    from sif_agent.locator.agent import LocatorAgent

    from .logs import setup
    from .tlsfiles import require_tls_files

    settings = _load(config_path)
    require_tls_files(settings.agent)
    setup(log_level)
    click.echo(f"Student Locator {settings.agent.source_id}: state zone {settings.state_zone}, district zone(s) "
               + ", ".join(f"{d.zone} (mode {d.mode.value}, {d.school_year}, mapping {d.mapping.name})"
                           for d in settings.districts))
    asyncio.run(LocatorAgent(settings).run(handle_signals=True))


def _load(config_path: Path):
    from sif_agent.locator.config import load

    try:
        return load(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


# ============================================================================ console
@locator.group("console")
@click.option("--db", "database", type=DATABASE, default=None, help="The locator database.")
@click.option("--config", "config_path", default=None, type=click.Path(path_type=Path),
              help="Locator TOML; its [locator] database is used.")
@click.pass_context
def console(ctx: click.Context, database: str | None, config_path: Path | None) -> None:
    """Inspect and act on StudentLocator transactions."""
    if database is None and config_path is None:
        raise click.UsageError("give --db URL|FILE or --config FILE")
    if database is None:
        database = _load(config_path).database
    ctx.obj = database
    ctx.meta["locator_config"] = config_path


def _with_store(database: str, work: Callable[..., Awaitable[Any]]) -> Any:
    from sif_agent.locator.records import Records
    from sif_agent.locator.store import LocatorStore

    async def main() -> Any:
        store = LocatorStore.from_url(database)
        try:
            await store.create_schema()
            records = Records(store.engine)
            await records.create_schema()
            return await work(store, records)
        finally:
            await store.close()

    return asyncio.run(main())


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


async def _txn(store, txn_id: str):
    txn = await store.get(txn_id)
    if txn is None:
        raise click.ClickException(f"no transaction {txn_id!r}")
    return txn


@console.command("list")
@click.option("--status", type=click.Choice(STATES), default=None, help="Only transactions in this state.")
@click.option("--district", default=None, metavar="IRN", help="Only this district IRN.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.pass_obj
def list_cmd(database: str, status: str | None, district: str | None, as_json: bool) -> None:
    """Transactions, oldest first."""
    txns = _with_store(database, lambda store, _r: store.list(status=status, district=district))
    if as_json:
        for t in txns:
            click.echo(json.dumps({"transaction_id": t.transaction_id, "state": t.state.value, "zone": t.zone_id,
                                   "district_irn": t.district_irn, "local_id": t.local_id,
                                   "state_id": t.state_id, "attempts": t.attempts}))
        return
    if not txns:
        click.echo("no transactions")
        return
    click.echo(f"{'TRANSACTION':32}  {'STATE':12}  {'DISTRICT':8}  {'LOCAL ID':10}  {'STATE ID':10}  "
               f"{'TRIES':>5}  UPDATED (UTC)")
    for t in txns:
        click.echo(f"{t.transaction_id:32}  {t.state.value:12}  {t.district_irn or '—':8}  {t.local_id or '—':10}  "
                   f"{t.state_id or '—':10}  {t.attempts:>5}  {_when(t.updated_at)}")


@console.command("show")
@click.argument("txn_id")
@click.pass_obj
def show_cmd(database: str, txn_id: str) -> None:
    """Everything about one transaction: inputs, candidates, steps, e-mails."""
    async def work(store, _records):
        txn = await _txn(store, txn_id)
        return txn, await store.receipts(txn_id), await store.emails(txn_id)

    txn, receipts, emails = _with_store(database, work)
    click.echo(f"Transaction {txn.transaction_id}: {txn.state.value}")
    for label, value in (("zone", txn.zone_id), ("district IRN", txn.district_irn), ("school IRN", txn.school_irn),
                         ("student RefId", txn.student_ref), ("local id", txn.local_id),
                         ("request", f"{txn.request_kind or '—'} {txn.request_msg_id or ''}".strip()),
                         ("state id", txn.state_id), ("picked", txn.picked_state_id), ("error", txn.error_text),
                         ("attempts", txn.attempts), ("next due", _when(txn.next_attempt_at)),
                         ("created", _when(txn.created_at)), ("updated", _when(txn.updated_at))):
        if value not in (None, ""):
            click.echo(f"  {label + ':':15} {value}")
    fields = txn.inputs.get("fields", {})
    if fields:
        click.echo("Fields sent:")
        for k, v in fields.items():
            click.echo(f"  {k} = {v}")
    if txn.inputs.get("missing"):
        click.echo("Missing required fields: " + ", ".join(txn.inputs["missing"]))
    if txn.candidates:
        click.echo("Candidates:")
        for c in txn.candidates:
            name = ", ".join(p for p in (c.last_name, c.first_name) if p) or "—"
            click.echo(f"  {c.state_id}  confidence {c.confidence if c.confidence is not None else '—'}  {name}  "
                       f"{c.birth_date or '—'}  {c.gender or '—'}")
    click.echo("Steps:")
    for r in receipts:
        move = f"{r.from_state or ''} -> {r.to_state}" if r.from_state else (r.to_state or "")
        click.echo(f"  {_when(r.at)}  {r.kind:9}  {move:28}  {r.summary or ''}")
    if emails:
        click.echo("E-mails:")
        for e in emails:
            click.echo(f"  {_when(e.at)}  {e.kind:9}  {'sent' if e.ok else 'FAILED'}  "
                       f"{', '.join(e.recipients) or '—'}  {e.error or ''}")


@console.command("retry")
@click.argument("txn_id", required=False)
@click.option("--all-faults", is_flag=True, help="Every transaction in fault.")
@click.pass_obj
def retry_cmd(database: str, txn_id: str | None, all_faults: bool) -> None:
    """Make a transaction (or every fault) due now; the running agent retries it."""
    from sif_agent.locator.transactions import IllegalTransition

    if bool(txn_id) == all_faults:
        raise click.UsageError("give either TXN or --all-faults")

    async def work(store, _records):
        if all_faults:
            return [(await store.reschedule(t.transaction_id)).transaction_id for t in await store.list(status="fault")]
        await _txn(store, txn_id)
        try:
            return [(await store.reschedule(txn_id)).transaction_id]
        except IllegalTransition as exc:
            raise click.ClickException(str(exc)) from None

    done = _with_store(database, work)
    for t in done:
        click.echo(f"{t}: due now; the running locator retries it on its next pass")
    if not done:
        click.echo("no transactions in fault")


@console.command("cancel")
@click.argument("txn_id")
@click.pass_obj
def cancel_cmd(database: str, txn_id: str) -> None:
    """Cancel a transaction (no further requests, no write-back); the student is not looked up again."""
    from sif_agent.locator import determination
    from sif_agent.locator.transactions import IllegalTransition, Trigger

    async def work(store, records):
        await _txn(store, txn_id)
        try:
            applied = await store.apply_trigger(txn_id, Trigger.CANCEL, summary="cancelled at the console")
        except IllegalTransition as exc:
            raise click.ClickException(str(exc)) from None
        txn = applied.txn
        if txn.request_msg_id is not None:  # the state has heard of it: the running agent says Cancel
            await records.queue_action(txn_id, "cancel", None, store.clock())
        student = await records.get(txn.zone_id, txn.student_ref)
        if student.transaction_id == txn_id:
            try:
                student.state = determination.transition(student.state, determination.Trigger.CANCEL)
                student.reason = f"transaction {txn_id} cancelled at the console"
                await records.put(student)
            except determination.IllegalTransition:
                pass
        return txn

    txn = _with_store(database, work)
    click.echo(f"{txn.transaction_id}: {txn.state.value}")


@console.command("resolve")
@click.argument("txn_id")
@click.option("--pick", default=None, metavar="STATEID", help="The candidate that is this student.")
@click.option("--new", "ask_new", is_flag=True, help="None of the candidates: ask the state for a new ID.")
@click.pass_obj
def resolve_cmd(database: str, txn_id: str, pick: str | None, ask_new: bool) -> None:
    """Resolve an ambiguous transaction; the running agent sends it to the state (Resolve / New)."""
    from sif_agent.locator.transactions import TxnState

    if bool(pick) == ask_new:
        raise click.UsageError("give either --pick STATEID or --new")

    async def work(store, records):
        txn = await _txn(store, txn_id)
        if txn.state is not TxnState.AMBIGUOUS:
            raise click.ClickException(f"transaction {txn_id} is {txn.state.value}; only ambiguous transactions "
                                       "can be resolved")
        if pick is not None and pick not in [c.state_id for c in txn.candidates]:
            raise click.ClickException(f"{pick} is not one of the candidates of {txn_id} "
                                       f"({', '.join(c.state_id for c in txn.candidates) or 'none'})")
        await records.queue_action(txn_id, "new" if ask_new else "resolve", pick, store.clock())

    _with_store(database, work)
    what = "a new state ID" if ask_new else f"state ID {pick}"
    click.echo(f"{txn_id}: {what} queued; the running locator sends it to the state on its next pass")


SUBMIT_EXTRA = ("StudentRefId", "District")


@console.command("submit")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--district", "district_zone", default=None, metavar="ZONE",
              help="District zone for rows without a District column (default: the only one configured).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.pass_context
def submit_cmd(ctx: click.Context, csv_file: Path, district_zone: str | None, as_json: bool) -> None:
    """Start lookups by hand, one per row of FILE.csv (needs --config: mappings and districts).

    \b
    Columns: StudentRefId (the SIS's RefId of the student, so that the state ID can be
    written back to it), optional District (a district zone id), then the student columns of
    `slf sis-sim run --help`:
      LocalId,FirstName,MiddleName,LastName,BirthDate,Gender,Race,HispanicLatino,Language,
      BirthPlaceCity,Grade,SchoolIRN,SchoolName,EntryDate,AdmissionReason
    The values are read through the district's mapping and code tables exactly as if the SIS
    had published them. Rows that cannot be looked up (required fields missing, student
    already in a transaction) are listed and skipped; the others become NEW transactions that
    the running locator sends on its next pass. Exit status 1 if any row was skipped.
    """
    from sif_agent.locator.agent import LocatorAgent
    from sif_agent.sissim import StudentFileError, parse_csv_with, plan

    config_path = ctx.meta.get("locator_config")
    if config_path is None:
        raise click.UsageError("submit needs --config (the locator's TOML: its districts and mappings), "
                               "e.g. slf locator console --config conf/locator.example.toml submit FILE.csv")
    settings = _load(config_path)
    try:
        rows = parse_csv_with(csv_file.read_text(encoding="utf-8"), extra=SUBMIT_EXTRA,
                              required_extra=("StudentRefId",), path=str(csv_file))
    except (StudentFileError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from None
    zones = {d.zone: d for d in settings.districts}

    async def main() -> list[tuple[int, str, str, str]]:
        loc = LocatorAgent(settings)
        out = []
        try:
            await loc.open()
            for n, (student, extra) in enumerate(rows, 1):
                zone = extra.get("District") or district_zone or (next(iter(zones)) if len(zones) == 1 else None)
                district = zones.get(zone or "")
                if district is None:
                    out.append((n, student.local_id, "skipped", f"district zone {zone!r} is not configured "
                                f"({', '.join(zones)}); give a District column or --district"))
                    continue
                known = {sch.state_province_id: ref for ref, sch in (await loc.records.schools(district.zone)).items()
                         if getattr(sch, "state_province_id", None)}
                objects = {p.object_name: p.object for p in plan(
                    [(extra["StudentRefId"], student)], school_year=int(district.school_year),
                    district_irn=district.district_irn, school_refs=known)}
                try:
                    txn = await loc.submit(district, objects["StudentPersonal"], objects["StudentSchoolEnrollment"],
                                           objects.get("SchoolInfo"))
                except ValueError as exc:
                    out.append((n, student.local_id, "skipped", str(exc)))
                else:
                    out.append((n, student.local_id, txn.transaction_id, f"new in {district.zone}"))
        finally:
            await loc.close()
            await loc.agent.close()
        return out

    results = asyncio.run(main())
    for n, local_id, txn, what in results:
        if as_json:
            click.echo(json.dumps({"row": n, "local_id": local_id, "transaction_id": None if txn == "skipped" else txn,
                                   "result": what}))
        else:
            click.echo(f"row {n}  {local_id:<12} {txn:<32}  {what}")
    skipped = sum(1 for r in results if r[2] == "skipped")
    if not as_json:
        click.echo(f"{len(results) - skipped} transaction(s) created, {skipped} row(s) skipped; "
                   "the running locator sends them on its next pass")
    if skipped:
        ctx.exit(1)
