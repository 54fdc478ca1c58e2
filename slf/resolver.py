"""`slf resolver`: run the Student Resolver agent and look at the SLF integration tables.

`run` joins the state zone(s), records StudentLocator requests in the SLF tables for the SSID
database and answers when the database has decided. `migrate` creates or upgrades the tables
without running. `list` and `ready` work on the tables directly (``--db`` or the
``[resolver] database`` of ``--config``); they never show student names.
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


@click.group()
def resolver() -> None:
    """Student Resolver agent (state side): StudentLocator requests in, SSID answers out.

    \b
    The SLF tables (SLF_BATCH, SLF_TRANSACTION_PARMS, SLF_POTENTIAL_MATCH, SLF_ERROR_LOG) are
    the seam with the SSID database: new requests become rows at N_SLF_STATUS 1 (REQUEST);
    the resolver answers rows the database set to 3/4/5/6 (Valid), 7 (Ambiguous), 10 (Error)
    or 12 (Cancelled).
    """


def _load(config_path: Path):
    from sif_agent.resolver.config import load

    try:
        return load(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@resolver.command("run")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Resolver TOML (see conf/resolver.example.toml).")
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
def run_cmd(config_path: Path, log_level: str) -> None:
    """Join the state zone(s) and answer StudentLocator requests until stopped (SIGTERM, Ctrl+C).

    The request in hand is finished on SIGTERM; nothing acknowledged is lost (answers wait in
    the outbox, rows in the SLF tables).
    """
    from sif_agent.resolver.agent import ResolverAgent

    from .logs import setup
    from .tlsfiles import require_tls_files

    settings = _load(config_path)
    require_tls_files(settings.agent)
    setup(log_level)
    b = settings.policy.batching
    click.echo(f"Student Resolver {settings.agent.source_id} (worker {settings.worker_id}): zone(s) "
               f"{', '.join(z.id for z in settings.agent.zones)}; SLF tables at {_safe(settings.database)}; "
               f"batches per {b.policy}, READY {b.ready}; answered rows are "
               f"{'deleted' if settings.policy.on_complete == 'delete' else 'kept as 9 COMPLETE'}")
    asyncio.run(ResolverAgent(settings).run(handle_signals=True))


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _database(config_path: Path | None, database: str | None) -> tuple[str, Any]:
    if database is None and config_path is None:
        raise click.UsageError("give --db URL|FILE or --config FILE")
    if database is not None:
        return database, None  # already an async URL (the option's type)
    settings = _load(config_path)
    return settings.database, settings


def _with_store(config_path: Path | None, database: str | None, work: Callable[..., Awaitable[Any]]) -> Any:
    from sif_agent.resolver.store import ResolverStore

    url, settings = _database(config_path, database)

    async def main() -> Any:
        kw = {} if settings is None else {"policy": settings.policy, "extra_columns": settings.extra_columns}
        store = ResolverStore.from_url(url, **kw)
        try:
            await store.migrate()
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


_db_options = [
    click.option("--config", "config_path", default=None, type=click.Path(path_type=Path),
                 help="Resolver TOML; its [resolver] database is used."),
    click.option("--db", "database", type=DATABASE, default=None, help="The SLF database."),
]


def _with_db_options(fn):
    for option in reversed(_db_options):
        fn = option(fn)
    return fn


@resolver.command("migrate")
@_with_db_options
def migrate_cmd(config_path: Path | None, database: str | None) -> None:
    """Create or upgrade the SLF tables (and configured attribute columns), then exit."""
    from sif_agent.resolver.store import ResolverStore

    url, settings = _database(config_path, database)

    async def main() -> list[str]:
        kw = {} if settings is None else {"extra_columns": settings.extra_columns}
        store = ResolverStore.from_url(url, **kw)
        try:
            return await store.migrate()
        finally:
            await store.close()

    done = asyncio.run(main())
    click.echo("\n".join(done) if done else "the SLF tables are up to date")


def _when(ts: float | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@resolver.command("list")
@_with_db_options
@click.option("--status", type=click.IntRange(1, 13), default=None, help="Only rows with this N_SLF_STATUS.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_cmd(config_path: Path | None, database: str | None, status: int | None, as_json: bool) -> None:
    """SLF_TRANSACTION_PARMS rows, oldest first (status, batch, requester; no student data)."""
    from sif_agent.resolver.status import SlfStatus

    rows = _with_store(config_path, database, lambda store: store.rows(status))
    if not rows:
        click.echo("no transactions")
        return
    for r in rows:
        item = {"row": r["N_TRANSACTION_PARMS_ID"], "transaction_id": r["SLF_TRANSACTION_GUID"],
                "status": str(SlfStatus(r["N_SLF_STATUS"])) if 1 <= r["N_SLF_STATUS"] <= 13 else r["N_SLF_STATUS"],
                "type": r["SLF_REQUEST_TYPE"], "batch": r["N_BATCH_ID"], "ready": r["READY"],
                "zone": r["SIF_ZONE_ID"], "source": r["SIF_SOURCE_ID"], "created": _when(r["CREATED_AT"])}
        if as_json:
            click.echo(json.dumps(item))
        else:
            click.echo(f"{item['row']:>6}  {item['transaction_id']}  {item['status']:<28} batch {item['batch']:<5} "
                       f"ready {item['ready']}  {item['zone']}/{item['source']}  {item['created']}")


@resolver.command("ready")
@_with_db_options
@click.argument("batch_ids", nargs=-1, type=int, required=True)
def ready_cmd(config_path: Path | None, database: str | None, batch_ids: tuple[int, ...]) -> None:
    """Set READY=1 on the given SLF_BATCH rows (N_BATCH_ID), so the SSID database processes them."""
    n = _with_store(config_path, database, lambda store: store.set_ready(batch_ids))
    click.echo(f"{n} batch(es) set READY")
