"""`slf ssid poll`: the SSID database answering the Student Resolver through the SLF tables.

Register it under the ``ssid`` group (slf/ssid.py)::

    from .ssid_poll import poll_cmd
    ssid.add_command(poll_cmd)

    slf ssid poll --config conf/ssid.example.toml --slf-db var/slf.db [--db var/ssid.db]
                  [--interval 1.0] [--once] [--slf-config FILE] [--recover]

SIGTERM / SIGINT stop it after the current pass (exit status 0).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from .options import DATABASE

log = logging.getLogger("slf.ssid.poll")


@click.command("poll")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The SSID configuration (TOML); the Ohio defaults without it.")
@click.option("--db", "database", type=DATABASE,
              help="The SSID database (URL or SQLite file); default: [ssid] database.")
@click.option("--slf-db", "slf_db", type=DATABASE, required=True,
              help="The SLF tables' database (URL or SQLite file), shared with `slf resolver run`.")
@click.option("--slf-config", "slf_config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A TOML file with an [slf] table: column mapping, user group (default: the [slf] "
                   "table of --config, else Ohio's columns).")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between passes.")
@click.option("--once", is_flag=True, help="One pass, then exit (prints how many rows were changed).")
@click.option("--recover", is_flag=True,
              help="Also answer rows left at 2 REQUEST_IN_PROGRESS by a poller that stopped (one poller only).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def poll_cmd(config_path: Path | None, database: str | None, slf_db: str, slf_config: Path | None,
             interval: float, once: bool, recover: bool, log_level: str) -> None:
    """Answer the Student Resolver's requests in the SLF tables (match, new ID, potential matches, errors)."""
    from slf.logs import setup
    from ssid.config import ConfigError, Settings, load
    from ssid.db.engine import safe_url
    from ssid.poller import SlfPoller
    from ssid.slf import SlfConfigError, load_mapping
    from ssid.store import SsidError, SsidStore

    setup(log_level)
    try:
        settings = load(config_path) if config_path is not None else Settings()
        mapping = load_mapping(slf_config or config_path)
    except (ConfigError, SlfConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if interval <= 0:
        raise click.ClickException("--interval must be more than 0 seconds")
    url = database or settings.database
    slf_url = slf_db

    async def main() -> int:
        store = SsidStore.from_url(url, settings)
        poller = SlfPoller(store, slf_url, mapping=mapping, recover=recover)
        try:
            await store.migrate()
            if once:
                return await poller.poll_once()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            log.info("polling the SLF tables at %s every %.1f s for the SSID database at %s",
                     safe_url(slf_url), interval, safe_url(url))
            await poller.run(stop, interval)
            log.info("stopped")
            return 0
        finally:
            await poller.close()
            await store.close()

    try:
        n = asyncio.run(main())
    except SsidError as exc:
        raise click.ClickException(str(exc)) from None
    if once:
        click.echo(f"{n} SLF rows changed")


if __name__ == "__main__":  # pragma: no cover
    poll_cmd()
