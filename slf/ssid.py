"""`slf ssid`: the state SSID database from the command line.

Every command takes ``--config FILE`` (conf/ssid.example.toml: database, ID profile, attribute
catalogue, roles) and ``--db URL|FILE`` (overrides the configured database); without either
the SQLite file ``ssid.db`` in the current folder is used. ``init`` creates or upgrades the
database; the others refuse a SQLite file that does not exist yet, so a typo never creates an
empty database. Messages say what to do; student personal data is shown only by ``show``
(SSN masked).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import click

from .options import DATABASE


def _when(ts: float | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _settings(config_path: Path | None, database: str | None):
    from ssid.config import ConfigError, Settings, load

    try:
        settings = load(config_path) if config_path is not None else Settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return settings, (database or settings.database)  # --db is already an async URL (its type)


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _run(ctx_obj: dict[str, Any], work: Callable[..., Awaitable[Any]], *, create: bool = False) -> Any:
    """Open the store (migrating it), run ``work(store)``, close; errors become clean messages."""
    from ssid.db.engine import safe_url
    from ssid.store import SsidError, SsidStore

    settings, url = _settings(ctx_obj.get("config"), ctx_obj.get("db"))
    path = _sqlite_file(url)
    if not create and path is not None and not path.exists():
        raise click.ClickException(f"no SSID database at {path}: create it with `slf ssid init` (or give --db / "
                                   "--config)")

    async def main() -> Any:
        store = SsidStore.from_url(url, settings)
        try:
            try:
                migrated = await store.migrate()
            except Exception as exc:  # unreachable server, wrong password, not a database
                raise click.ClickException(f"cannot open the SSID database at {safe_url(url)}: {exc}") from None
            return await work(store, migrated) if create else await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except SsidError as exc:
        raise click.ClickException(str(exc)) from None


def _db_options(fn):
    fn = click.option("--db", "database", type=DATABASE, default=None,
                      help="The SSID database: a SQLite file or postgresql://user@host/db "
                           "(default: the configured one, else ./ssid.db).")(fn)
    fn = click.option("--config", "config_path", default=None, type=click.Path(path_type=Path),
                      help="SSID TOML (see conf/ssid.example.toml).")(fn)
    return fn


def _obj(config_path: Path | None, database: str | None) -> dict[str, Any]:
    return {"config": config_path, "db": database}


@click.group()
def ssid() -> None:
    """State SSID database: student IDs, legacy import, maintenance and audit.

    \b
    slf ssid init                       create or upgrade the database
    slf ssid import-legacy FILE.csv     load the prior system's IDs (kept unaltered)
    slf ssid show ID                    a student: attributes, status, deactivation, history
    slf ssid modify / deactivate / reactivate   maintenance (audited, nothing deleted)
    slf ssid audit [--id ID]            the append-only audit trail
    slf ssid decisions [--key K|--job J] each decision made, with the matcher's explanation
    slf ssid user ...                   users, roles, limits on forcing new IDs
    slf ssid poll --slf-db URL          answer the Student Resolver's requests (SLF tables)
    slf ssid batch IN.csv --out OUT.csv one result per row: MATCH NEW POTENTIAL VALID MISMATCH INACTIVE REJECTED
    slf ssid sweep --out review.csv     duplicate sweep over all active IDs
    slf ssid estimate --out FILE.json   the state's own u parameters, for [matching] parameters
    slf ssid report daily|weekly|monthly --date D   activity by change type
    slf ssid extract KIND --out DIR     active / delta / deactivated data files with manifests
    slf ssid backup --out FILE | restore FILE   online backup and restore
    """


@ssid.command("init")
@_db_options
def init_cmd(config_path: Path | None, database: str | None) -> None:
    """Create the SSID database, or bring it to the latest schema; print what was done."""
    from ssid.db.engine import safe_url

    async def work(store, migrated):
        return migrated, await store.counts(), str(store.engine.url)

    done, counts, url = _run(_obj(config_path, database), work, create=True)
    click.echo(f"SSID database at {safe_url(url)}")
    click.echo("\n".join(f"migration {d}" for d in done) if done else "the schema is up to date")
    click.echo(f"{counts['active']} active and {counts['deactivated']} deactivated student IDs")


@ssid.command("catalogue")
@_db_options
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def catalogue_cmd(config_path: Path | None, database: str | None, as_json: bool) -> None:
    """The attribute catalogue in force: each field's rules and what each task requires."""
    settings, _ = _settings(config_path, database)
    cat = settings.catalogue
    if as_json:
        tasks = {t: list(cat.required(t)) for t in ("retrieve", "generate", "modify", "import")}
        groups = {g: {t: list(cat.required(t, g)) for t in ts} for g, ts in cat.groups.items()}
        click.echo(json.dumps({"attributes": cat.describe(), "tasks": tasks, "groups": groups}, indent=2))
        return
    click.echo(f"ID profile: {settings.id_profile.name} ({settings.id_profile.description}, "
               f"e.g. {settings.id_profile.example()})")
    for a in cat.describe():
        rules = [a["kind"], f"max {a['max_length']} characters", "required" if a["required"] else "optional"]
        if a["codes"]:
            rules.append("codes " + ", ".join(a["codes"]))
        if a["pattern"]:
            rules.append(f"pattern {a['pattern']}")
        if a["min_date"] or a["max_date"]:
            rules.append(f"between {a['min_date'] or '…'} and {a['max_date'] or '…'}")
        click.echo(f"  {a['name']:<20} {a['label']}: {'; '.join(rules)}" + (f" — {a['help']}" if a["help"] else ""))
    for task in ("retrieve", "generate", "modify", "import"):
        click.echo(f"task {task}: requires {', '.join(cat.required(task)) or 'nothing'}")
    for g, ts in cat.groups.items():
        for task in ts:
            click.echo(f"group {g}, task {task}: requires {', '.join(cat.required(task, g)) or 'nothing'}")


# ---- legacy import ----

@ssid.command("import-legacy")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@_db_options
@click.option("--user", "user_id", default="legacy-import", show_default=True,
              help="Who runs the import (recorded in the audit with the import job id).")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Worker processes that check and write chunks (default: one per CPU; 0: none).")
@click.option("--chunk-size", type=click.IntRange(1, 1_000_000), default=None,
              help="Rows per transaction (default: [ssid] import_chunk_size, 200000).")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write every problem to this CSV file (Row,Line,Column,Problem).")
@click.option("--timezone", "tz_name", default="America/New_York", show_default=True,
              help="Time zone of the file's DateTimeCreated.")
def import_legacy_cmd(file: Path, config_path: Path | None, database: str | None, user_id: str,
                      workers: int | None, chunk_size: int | None, report_path: Path | None, tz_name: str) -> None:
    """Load the prior system's student IDs and attributes from FILE.csv, unaltered.

    \b
    Layout (CSV, UTF-8, header row; a BOM and CRLF are fine):
      UserID,DateTimeCreated,Building_IRN,District_IRN,StudentID,<one column per catalogue
      attribute, in catalogue order>,UserDefined
    StudentID is required and kept exactly (legacy IDs need not fit the current profile).

    A file with a wrong header, a quote that never closes or text that is not UTF-8 is
    refused before anything is loaded. Each bad row is reported (row, line, column, how to
    fix) and nothing of it is loaded. Running the same file again skips the IDs already
    present, so an interrupted import is finished by running it again. Exit status 1 when
    some rows were not loaded.

    Into an empty SQLite database (the initial load) the blocking keys are indexed once, at
    the end: lookups find the loaded students when the import has finished (an interrupted
    initial load is finished by the next `slf ssid` command).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from ssid.audit import Actor
    from ssid.csvlayout import LayoutError
    from ssid.legacy import LegacyImporter

    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {tz_name!r} (e.g. America/New_York)", param_hint="--timezone")
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    console = Console(stderr=True)

    async def work(store, _migrated):
        importer = LegacyImporter(store, actor=Actor(user_id), chunk_size=chunk_size, workers=n_workers,
                                  timezone_name=tz_name)
        with Progress(TextColumn("[bold]importing[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=console, transient=False) as bar:
            task = bar.add_task(file.name, total=None, rate="")
            started = asyncio.get_running_loop().time()

            def progress(done: int, total: int) -> None:
                elapsed = asyncio.get_running_loop().time() - started
                bar.update(task, completed=done, total=total, rate=f"{done / elapsed:,.0f} rows/s" if elapsed else "")

            try:
                return await importer.run(file, progress)
            except LayoutError as exc:
                raise click.ClickException(str(exc)) from None

    report = _run(_obj(config_path, database), work, create=True)
    click.echo(f"import job {report.job_id}: {report.rows:,} rows in {report.seconds:,.1f} s "
               f"({report.rows_per_second:,.0f} rows/s)")
    click.echo(f"  loaded {report.loaded:,}; already present {report.already_present:,}; "
               f"present with other values {report.differing:,}; rejected {report.rejected:,}")
    if report_path is not None:
        with open(report_path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["Row", "Line", "Column", "Problem"])
            for p in report.problems:
                w.writerow([p.row, p.line, p.column, p.message])
        click.echo(f"  {len(report.problems):,} problem(s) written to {report_path}")
    for p in report.problems[:20]:
        click.echo(f"  {p}")
    if len(report.problems) > 20:
        click.echo(f"  … and {len(report.problems) - 20:,} more" + ("" if report_path else " (use --report FILE)"))
    if report.rejected or report.differing:
        click.echo("Fix the rows above and run the same command again: rows already loaded are skipped.")
        sys.exit(1)


# ---- reading ----

@ssid.command("show")
@click.argument("student_id")
@_db_options
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def show_cmd(student_id: str, config_path: Path | None, database: str | None, as_json: bool) -> None:
    """A student ID: status, attributes (SSN masked), who deactivated it, aliases, reactivations."""
    from ssid.audit import mask

    async def work(store):
        s = await store.student(student_id)
        if s is None:
            use = await store.id_use(student_id)
            return None, use, None, None, None, None
        return (s, None, await store.deactivations(s.student_id), await store.aliases(s.student_id),
                await store.reactivations(s.student_id), await store.active_id(s.student_id))

    s, use, deactivations, aliases, reactivations, active = _run(_obj(config_path, database), work)
    if s is None:
        extra = f": it is recorded as a {use} ID (used without a student)" if use else ""
        raise click.ClickException(f"no student with ID {student_id.strip().upper()!r}{extra}")
    if as_json:
        click.echo(json.dumps({
            "student_id": s.student_id, "status": s.status, "active_id": active, "values": mask(s.values),
            "origin": s.origin, "district_irn": s.district_irn, "building_irn": s.building_irn,
            "created_by": s.created_by, "created_at": _when(s.created_at), "updated_at": _when(s.updated_at),
            "deactivations": [{"surviving_id": d.surviving_id, "reason": d.reason, "user_id": d.user_id,
                               "district_irn": d.district_irn, "at": _when(d.at)} for d in deactivations],
            "aliases": [{"version": a.version, "source": a.source, "at": _when(a.at)} for a in aliases],
            "reactivations": [{"id": r.id, "status": r.status, "requested_by": r.requested_by,
                               "decided_by": r.decided_by} for r in reactivations]}, indent=2))
        return
    click.echo(f"{s.student_id}  {s.status.upper()}" + (f"  (active ID: {active})" if active and active != s.student_id
                                                         else ""))
    click.echo(f"  origin {s.origin}; created {_when(s.created_at)} by {s.created_by or '—'} "
               f"(district {s.district_irn or '—'}, building {s.building_irn or '—'}); updated {_when(s.updated_at)}")
    for k, v in mask(s.values).items():
        click.echo(f"  {k:<20} {v}")
    for d in deactivations:
        click.echo(f"  deactivated {_when(d.at)} by {d.user_id} (district {d.district_irn or '—'}): surviving ID "
                   f"{d.surviving_id}; reason: {d.reason}")
    for r in reactivations:
        click.echo(f"  reactivation request {r.id} by {r.requested_by} {_when(r.requested_at)}: {r.status}"
                   + (f" by {r.decided_by} {_when(r.decided_at)}" if r.decided_by else ""))
    click.echo(f"  {len(aliases)} version(s) of the matching attributes on record")


@ssid.command("audit")
@_db_options
@click.option("--id", "student_id", default=None, help="Only this student ID.")
@click.option("--type", "change_type", default=None, help="Only this change type (e.g. DEACTIVATE).")
@click.option("--user", "user_id", default=None, help="Only changes by this user.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="At most this many rows "
                                                                                      "(the newest).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
def audit_cmd(config_path: Path | None, database: str | None, student_id: str | None, change_type: str | None,
              user_id: str | None, limit: int, as_json: bool) -> None:
    """The audit trail, oldest first: time, change type, ID, old → new values, user, district, job, SLF."""
    rows = _run(_obj(config_path, database), lambda store: store.audit(
        student_id, change_type=change_type.upper() if change_type else None, user_id=user_id, limit=limit,
        newest_first=True))
    rows.reverse()
    if not rows:
        click.echo("no audit rows")
        return
    for r in rows:
        if as_json:
            click.echo(json.dumps({"id": r.id, "at": _when(r.at), "change_type": r.change_type,
                                   "student_id": r.student_id, "old": r.old_values, "new": r.new_values,
                                   "batch_job_id": r.batch_job_id, "user_id": r.user_id,
                                   "user_district": r.user_district, "via_slf": r.via_slf,
                                   "forced_new": r.forced_new, "detail": r.detail}))
            continue
        change = ""
        if r.old_values or r.new_values:
            keys = list(dict.fromkeys([*(r.old_values or {}), *(r.new_values or {})]))
            change = "; ".join(f"{k}: {(r.old_values or {}).get(k, '—')} → {(r.new_values or {}).get(k, '—')}"
                               for k in keys)
        flags = [f for f, on in (("SLF", r.via_slf), ("FORCED-NEW", r.forced_new)) if on]
        click.echo(f"{r.id:>7} {_when(r.at)} {r.change_type:<20} {r.student_id or '—':<10} user {r.user_id or '—'} "
                   f"district {r.user_district or '—'} job {r.batch_job_id or '—'}"
                   + (f" [{', '.join(flags)}]" if flags else "") + (f"  {change}" if change else "")
                   + (f"  ({json.dumps(r.detail)})" if r.detail and r.change_type not in ("LEGACY_IMPORT",) else ""))


@ssid.command("decisions")
@_db_options
@click.option("--key", "request_key", default=None, help="Only this request: an SLF TransactionId, a batch row's key "
                                                          "(batch:<file>:<row>), an API Idempotency-Key.")
@click.option("--job", "correlation_id", default=None, help="Only this batch job id (or SLF batch, API Correlation-Id).")
@click.option("--id", "student_id", default=None, help="Only decisions that returned this student ID.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="At most this many (the newest).")
@click.option("--explain", is_flag=True, help="Print each decision's explanation (JSON, SSNs masked).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, explanations included.")
def decisions_cmd(config_path: Path | None, database: str | None, request_key: str | None,
                  correlation_id: str | None, student_id: str | None, limit: int, explain: bool, as_json: bool) -> None:
    """Decisions made (oldest first): time, channel, outcome, student, request; the explanation
    stored with each (long ones are stored compressed: read them here, not with SQL)."""
    from ssid import decisions

    async def work(store):
        async with store.read() as conn:
            return await decisions.find(conn, request_key=request_key, correlation_id=correlation_id,
                                        student_id=student_id, limit=limit)

    rows = _run(_obj(config_path, database), work)
    rows.reverse()
    if not rows:
        click.echo("no decisions")
        return
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, sort_keys=True))
            continue
        took = "" if r["received_at"] is None else f" in {r['decided_at'] - r['received_at']:.3f} s"
        click.echo(f"{r['id']:>7} {_when(r['decided_at'])} {r['kind']:<5} {r['outcome']:<10} "
                   f"{r['student_id'] or '—':<10} request {r['request_key'] or '—'} job {r['correlation_id'] or '—'}"
                   + took)
        if explain and r["explanation"] is not None:
            click.echo(json.dumps(r["explanation"], indent=1, sort_keys=True))


# ---- maintenance ----

def _maintenance(config_path, database, user_id: str, action: Callable[..., Awaitable[Any]]) -> Any:
    async def work(store):
        async with store.write() as conn:
            user = await store.require_user(conn, user_id)
            return await action(store, conn, user)

    return _run(_obj(config_path, database), work)


@ssid.command("modify")
@click.argument("student_id")
@_db_options
@click.option("--set", "assignments", multiple=True, required=True, metavar="ATTRIBUTE=VALUE",
              help="An attribute to change (repeat); an empty value clears it.")
@click.option("--user", "user_id", required=True, help="Who makes the change (a user with a modify role).")
def modify_cmd(student_id: str, config_path: Path | None, database: str | None, assignments: tuple[str, ...],
               user_id: str) -> None:
    """Change attributes of a student; refused if it would duplicate another active student."""
    from ssid import maintenance

    changes = {}
    for a in assignments:
        if "=" not in a:
            raise click.BadParameter(f"{a!r}: write ATTRIBUTE=VALUE, e.g. LegalLastName=Smith", param_hint="--set")
        k, v = a.split("=", 1)
        changes[k.strip()] = v
    s = _maintenance(config_path, database, user_id,
                     lambda store, conn, user: maintenance.modify(store, conn, student_id, changes, user))
    click.echo(f"{s.student_id} modified: {', '.join(changes)}")


@ssid.command("deactivate")
@click.argument("student_id")
@_db_options
@click.option("--surviving", "surviving_id", required=True, help="The ID believed correct for this student.")
@click.option("--reason", required=True, help="Why this ID is wrong (a sentence; placeholders are refused).")
@click.option("--user", "user_id", required=True, help="Who deactivates (a user with a deactivate role).")
def deactivate_cmd(student_id: str, config_path: Path | None, database: str | None, surviving_id: str, reason: str,
                   user_id: str) -> None:
    """Deactivate STUDENT_ID in favour of the surviving ID; nothing is deleted."""
    from ssid import maintenance

    d = _maintenance(config_path, database, user_id, lambda store, conn, user: maintenance.deactivate(
        store, conn, student_id, surviving_id, reason, user))
    click.echo(f"{d.student_id} deactivated by {d.user_id} (district {d.district_irn or '—'}) at {_when(d.at)}; "
               f"surviving ID {d.surviving_id}")


@ssid.group("reactivate")
def reactivate() -> None:
    """Reactivating a deactivated ID: a request, then the state's approval by another user."""


@reactivate.command("request")
@click.argument("student_id")
@_db_options
@click.option("--reason", required=True, help="Why the ID should be active again.")
@click.option("--user", "user_id", required=True, help="Who asks.")
def reactivate_request_cmd(student_id: str, config_path: Path | None, database: str | None, reason: str,
                           user_id: str) -> None:
    """Ask the state to reactivate STUDENT_ID (nothing changes until approved)."""
    from ssid import maintenance

    r = _maintenance(config_path, database, user_id, lambda store, conn, user: maintenance.request_reactivation(
        store, conn, student_id, reason, user))
    click.echo(f"reactivation request {r.id} for {r.student_id} is waiting for the state's approval "
               f"(`slf ssid reactivate approve {r.id} --user APPROVER`)")


@reactivate.command("approve")
@click.argument("request_id", type=int)
@_db_options
@click.option("--user", "user_id", required=True, help="The approver (approver role; not the requester).")
@click.option("--note", default="", help="A note recorded with the decision.")
def reactivate_approve_cmd(request_id: int, config_path: Path | None, database: str | None, user_id: str,
                           note: str) -> None:
    """Approve a reactivation request: the ID becomes active again."""
    from ssid import maintenance

    s = _maintenance(config_path, database, user_id, lambda store, conn, user: maintenance.approve_reactivation(
        store, conn, request_id, user, note))
    click.echo(f"{s.student_id} is active again (request {request_id} approved by {user_id})")


@reactivate.command("reject")
@click.argument("request_id", type=int)
@_db_options
@click.option("--user", "user_id", required=True, help="The approver (approver role; not the requester).")
@click.option("--note", required=True, help="Why the request is rejected.")
def reactivate_reject_cmd(request_id: int, config_path: Path | None, database: str | None, user_id: str,
                          note: str) -> None:
    """Reject a reactivation request: the ID stays deactivated."""
    from ssid import maintenance

    r = _maintenance(config_path, database, user_id, lambda store, conn, user: maintenance.reject_reactivation(
        store, conn, request_id, user, note))
    click.echo(f"request {r.id} rejected; {r.student_id} stays deactivated")


@reactivate.command("list")
@_db_options
@click.option("--status", type=click.Choice(["pending", "approved", "rejected"]), default="pending",
              show_default=True)
def reactivate_list_cmd(config_path: Path | None, database: str | None, status: str) -> None:
    """Reactivation requests with this status."""
    rows = _run(_obj(config_path, database), lambda store: store.reactivations(status=status))
    if not rows:
        click.echo(f"no {status} reactivation requests")
    for r in rows:
        click.echo(f"{r.id:>6}  {r.student_id:<10} asked by {r.requested_by} (district {r.requester_district or '—'}) "
                   f"{_when(r.requested_at)}: {r.reason}")


# ---- users ----

@ssid.group("user")
def user() -> None:
    """Users of the SSID database: district, group, roles, limits (RFP 1.21.8.1.2)."""


@user.command("add")
@click.argument("user_id")
@_db_options
@click.option("--name", default=None)
@click.option("--district", "district_irn", default=None, help="The user's district IRN (recorded in the audit).")
@click.option("--building", "building_irn", default=None)
@click.option("--group", default=None, help="Catalogue user group (which attributes the user must enter).")
@click.option("--role", "roles", multiple=True, help="A role (repeat), e.g. district_admin, state_approver.")
def user_add_cmd(user_id: str, config_path: Path | None, database: str | None, name: str | None,
                 district_irn: str | None, building_irn: str | None, group: str | None, roles: tuple[str, ...]) -> None:
    """Add a user."""
    from ssid.audit import Actor

    async def work(store):
        async with store.write() as conn:
            return await store.add_user(conn, user_id, name=name, district_irn=district_irn, building_irn=building_irn,
                                        group=group, roles=roles, by=Actor("cli"))

    u = _run(_obj(config_path, database), work)
    click.echo(f"user {u.user_id} added (district {u.district_irn or '—'}, roles {', '.join(sorted(u.roles)) or 'none'})")


@user.command("list")
@_db_options
def user_list_cmd(config_path: Path | None, database: str | None) -> None:
    """Users with their status and how many new IDs each forced past offered matches."""
    async def work(store):
        return await store.users(), {u: n for u, _, n in await store.forced_new_metrics()}

    users, forced = _run(_obj(config_path, database), work)
    if not users:
        click.echo("no users")
    for u in users:
        limit = f" (limit {u.forced_new_limit}/day)" if u.status == "limited" else ""
        click.echo(f"{u.user_id:<20} {u.status}{limit}  district {u.district_irn or '—'}  group {u.group or 'default'}"
                   f"  roles {', '.join(sorted(u.roles)) or 'none'}  forced new IDs: {forced.get(u.user_id, 0)}")


def _set_status(config_path, database, user_id: str, status: str, limit: int | None, reason: str) -> None:
    from ssid.audit import Actor

    async def work(store):
        async with store.write() as conn:
            return await store.set_user_status(conn, user_id, status, forced_new_limit=limit, reason=reason,
                                               by=Actor("cli"))

    u = _run(_obj(config_path, database), work)
    click.echo(f"user {u.user_id} is now {u.status}" + (f" (at most {u.forced_new_limit} forced new IDs a day)"
                                                        if u.status == "limited" else ""))


@user.command("limit")
@click.argument("user_id")
@_db_options
@click.option("--forced-new-limit", type=click.IntRange(0), required=True,
              help="New IDs the user may force past offered matches per day.")
@click.option("--reason", default="", help="Why (recorded in the audit).")
def user_limit_cmd(user_id: str, config_path: Path | None, database: str | None, forced_new_limit: int,
                   reason: str) -> None:
    """Limit how many new IDs a user may force past offered matches."""
    _set_status(config_path, database, user_id, "limited", forced_new_limit, reason)


@user.command("suspend")
@click.argument("user_id")
@_db_options
@click.option("--reason", default="", help="Why (recorded in the audit).")
def user_suspend_cmd(user_id: str, config_path: Path | None, database: str | None, reason: str) -> None:
    """Suspend a user: no changes to student records at all."""
    _set_status(config_path, database, user_id, "suspended", None, reason)


@user.command("restore")
@click.argument("user_id")
@_db_options
@click.option("--reason", default="", help="Why (recorded in the audit).")
def user_restore_cmd(user_id: str, config_path: Path | None, database: str | None, reason: str) -> None:
    """Lift a limit or suspension."""
    _set_status(config_path, database, user_id, "active", None, reason)


@user.command("set-password")
@click.argument("user_id")
@_db_options
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input "
                                                     "(for scripts) instead of asking twice.")
def user_set_password_cmd(user_id: str, config_path: Path | None, database: str | None, password_stdin: bool) -> None:
    """Set a user's web UI password (stored as an argon2 hash; the user's sessions end)."""
    from ssid.audit import Actor
    from ssid.config import ConfigError
    from ssid.web import config as web_config
    from ssid.web.passwords import hasher, password_problems, set_password

    settings, _ = _settings(config_path, database)
    try:
        web = web_config.load(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt="Repeat the password")
    problems = password_problems(password, user_id)
    if problems:
        raise click.ClickException("the password is refused: " + "; ".join(problems))

    async def work(store):
        async with store.write() as conn:
            await set_password(store, conn, user_id, password, Actor("cli"),
                               hasher(web.argon2_time_cost, web.argon2_memory_kib))

    _run(_obj(config_path, database), work)
    click.echo(f"password of {user_id} set")


@ssid.command("reserve")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@_db_options
@click.option("--kind", type=click.Choice(["reserved", "retired"]), default="retired", show_default=True)
@click.option("--note", default=None, help="Where the IDs come from (recorded with them).")
def reserve_cmd(file: Path, config_path: Path | None, database: str | None, kind: str, note: str | None) -> None:
    """Record identifiers (one per line) as used without a student, so no new ID ever equals one."""
    from ssid.audit import Actor

    ids = [line.strip() for line in file.read_text(encoding="utf-8-sig").splitlines() if line.strip()]

    async def work(store):
        async with store.write() as conn:
            return await store.reserve_ids(conn, ids, kind, Actor("cli"), note)

    added, already = _run(_obj(config_path, database), work)
    click.echo(f"{len(added)} ID(s) recorded as {kind}; {len(already)} were already recorded as used")

