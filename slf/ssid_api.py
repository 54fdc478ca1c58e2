"""`slf ssid api-client add | list | revoke | rotate`: the REST lookup API's OAuth clients
(registered in the `slf ssid` group, like slf/ssid_batch.py's commands).

A client's secret is printed once, by `add` and `rotate`, and never stored: only its argon2
hash is. Give it to the client's operators over a secure channel."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from .ssid import _db_options, _obj, _run, _settings


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group("api-client")
def api_client() -> None:
    """OAuth clients of the REST lookup API (client credentials, scopes, organisations, limits).

    \b
    slf ssid api-client add "CCCApply" --scope ssid-lookup --scope enrollment-verification --org '*'
    slf ssid api-client list
    slf ssid api-client rotate CLIENT_ID      a new secret; the old one stops working
    slf ssid api-client revoke CLIENT_ID      no more tokens; live tokens revoked
    """


def _show_secret(client_id: str, secret: str, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": secret, **(extra or {})}, indent=2))
        return
    click.echo(f"client_id:     {client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("The secret is shown only now and is not stored: hand it to the client's operators over a secure "
               "channel. If it is lost, rotate it.", err=True)


@api_client.command("add")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, metavar="SCOPE",
              help="ssid-lookup or enrollment-verification; repeatable.")
@click.option("--org", "organisations", multiple=True, required=True, metavar="CDS_PREFIX",
              help="An organisation the client may see: a CDS code prefix (2 digits: a county, 7: a district, "
                   "14: a school) or * for all; repeatable.")
@click.option("--hourly-limit", type=int, default=None, help="Requests per hour (default: the API settings').")
@click.option("--token-cap", type=int, default=None, help="Live access tokens at once (default: the API settings').")
@click.option("--id", "client_id", default=None, help="The client id (default: a random one).")
@click.option("--json", "as_json", is_flag=True, help="Print the id and secret as JSON.")
@_db_options
def add_cmd(name: str, scopes: tuple[str, ...], organisations: tuple[str, ...], hourly_limit: int | None,
            token_cap: int | None, client_id: str | None, as_json: bool, config_path: Path | None,
            database: str | None) -> None:
    """Add a client NAME and print its client id and secret (shown once)."""
    from ssid.api.clients import ClientError, add_client

    async def work(store):
        try:
            async with store.write() as conn:
                return await add_client(conn, name, scopes, organisations, now=time.time(),
                                        hourly_limit=hourly_limit, token_cap=token_cap, client_id=client_id)
        except ClientError as exc:
            raise _fail(exc) from None

    client, secret = _run(_obj(config_path, database), work)
    _show_secret(client.client_id, secret, as_json, {"name": client.name, "scopes": list(client.scopes),
                                                     "organisations": list(client.organisations)})


@api_client.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@_db_options
def list_cmd(as_json: bool, config_path: Path | None, database: str | None) -> None:
    """Every client: status, scopes, organisations, limits and live tokens (never secrets)."""
    from ssid.api.clients import list_clients
    from ssid.api.settings import ApiConfigError, api_settings_for
    from ssid.api.tokens import live_count

    try:
        defaults = api_settings_for(_settings(config_path, database)[0])
    except ApiConfigError as exc:
        raise _fail(exc) from None

    async def work(store):
        now = time.time()
        async with store.read() as conn:
            return [(c, await live_count(conn, c.client_id, now=now)) for c in await list_clients(conn)]

    rows = _run(_obj(config_path, database), work)
    if as_json:
        click.echo(json.dumps([{"client_id": c.client_id, "name": c.name, "status": c.status, "scopes": list(c.scopes),
                                "organisations": list(c.organisations), "hourly_limit": c.limit(defaults),
                                "token_cap": c.cap(defaults), "live_tokens": live, "created_at": _when(c.created_at),
                                "secret_rotated_at": _when(c.secret_rotated_at), "revoked_at": _when(c.revoked_at)}
                               for c, live in rows], indent=2))
        return
    if not rows:
        click.echo("no API clients: add one with `slf ssid api-client add NAME --scope ... --org ...`")
        return
    for c, live in rows:
        limit = f"{c.limit(defaults)}/h" + ("" if c.hourly_limit is not None else " (default)")
        cap = f"{c.cap(defaults)}" + ("" if c.token_cap is not None else " (default)")
        click.echo(f"{c.client_id}  {c.status:<7}  {c.name}")
        click.echo(f"    scopes {' '.join(c.scopes)}; organisations {' '.join(c.organisations)}; limit {limit}; "
                   f"live tokens {live} of {cap}; created {_when(c.created_at)}"
                   + (f"; secret rotated {_when(c.secret_rotated_at)}" if c.secret_rotated_at else "")
                   + (f"; revoked {_when(c.revoked_at)}" if c.revoked_at else ""))


@api_client.command("revoke")
@click.argument("client_id")
@click.option("--tokens-only", is_flag=True, help="Revoke the client's live tokens but keep the client.")
@_db_options
def revoke_cmd(client_id: str, tokens_only: bool, config_path: Path | None, database: str | None) -> None:
    """Revoke CLIENT_ID: it gets no more tokens and its live tokens stop working at once."""
    from ssid.api.clients import ClientError, revoke_client

    async def work(store):
        try:
            async with store.write() as conn:
                return await revoke_client(conn, client_id, now=time.time(), tokens_only=tokens_only)
        except ClientError as exc:
            raise _fail(exc) from None

    n = _run(_obj(config_path, database), work)
    what = f"{n} live token(s) of client {client_id} revoked"
    click.echo(what if tokens_only else f"client {client_id} revoked; {what}")


@api_client.command("rotate")
@click.argument("client_id")
@click.option("--keep-tokens", is_flag=True, help="Leave the live tokens working until they expire.")
@click.option("--json", "as_json", is_flag=True, help="Print the id and new secret as JSON.")
@_db_options
def rotate_cmd(client_id: str, keep_tokens: bool, as_json: bool, config_path: Path | None,
               database: str | None) -> None:
    """A new secret for CLIENT_ID (printed once); the old secret stops working at once."""
    from ssid.api.clients import ClientError, rotate_secret

    async def work(store):
        try:
            async with store.write() as conn:
                return await rotate_secret(conn, client_id, now=time.time(), keep_tokens=keep_tokens)
        except ClientError as exc:
            raise _fail(exc) from None

    secret, revoked = _run(_obj(config_path, database), work)
    _show_secret(client_id, secret, as_json, {"tokens_revoked": revoked})
    if not as_json:
        click.echo(f"{revoked} live token(s) revoked" if not keep_tokens else "live tokens kept until they expire",
                   err=True)
