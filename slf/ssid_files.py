"""`slf ssid extract | backup | restore`: the SSID database's files for other systems and for
disaster recovery (registered in the `slf ssid` group)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from .ssid import _db_options, _settings


@click.command("extract")
@click.argument("kind", type=click.Choice(["active", "delta", "deactivated"]))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the file and its manifest (delta: also where the last position is kept).")
@_db_options
def extract_cmd(kind: str, out_dir: Path, config_path: Path | None, database: str | None) -> None:
    """Write a data file: active IDs, deactivated IDs (with the surviving ID, reason, who and
    when), or the changes since the last delta written to the same folder.

    Files are named ssid-KIND-UTCTIME-UNIQUEID.csv with FILE.manifest.json (record count,
    SHA-256); both appear complete or not at all.
    """
    from ssid.db.engine import make_engine
    from ssid.extracts import ExtractError, write_extract

    _, url = _settings(config_path, database)

    async def main():
        engine = make_engine(url)
        try:
            return await write_extract(engine, kind, out_dir)
        finally:
            await engine.dispose()

    try:
        path, manifest = asyncio.run(main())
    except ExtractError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}  {manifest.records:,} record(s)  sha256 {manifest.sha256}")


@click.command("backup")
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The backup file (its manifest is written beside it).")
@_db_options
def backup_cmd(out_file: Path, config_path: Path | None, database: str | None) -> None:
    """An online, consistent backup (the services keep running): SQLite's backup API, or
    pg_dump for PostgreSQL."""
    from ssid.backup import BackupError, backup

    _, url = _settings(config_path, database)
    try:
        m = backup(url, out_file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{out_file}  {m.size:,} bytes  sha256 {m.sha256}  ({m.kind}, {m.created_utc})")


@click.command("restore")
@click.argument("backup_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_db_options
def restore_cmd(backup_file: Path, yes: bool, config_path: Path | None, database: str | None) -> None:
    """Replace the database's contents with BACKUP_FILE (checked against its manifest first).
    Stop the SSID services before restoring."""
    from ssid.backup import BackupError, check, restore
    from ssid.db.engine import safe_url

    _, url = _settings(config_path, database)
    try:
        m = check(backup_file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if not yes:
        click.confirm(f"Replace everything in {safe_url(url)} with the backup of {m.created_utc}?", abort=True)
    try:
        restore(backup_file, url)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {backup_file} ({m.created_utc}) into {safe_url(url)}")
