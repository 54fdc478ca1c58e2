"""`slf ssid serve`: the SSID server process (ssid/server.py) from the command line.

    slf ssid serve --config conf/ssid.example.toml [--db URL|FILE] [--slf-db URL|FILE]
                   [--host H] [--port P] [--no-tls]

Reads the ``[server]`` (listener, TLS files, SLF database, intervals) and ``[extracts]``
(schedule) tables of the SSID configuration; checks the TLS files before anything starts
(``--no-tls`` serves plain HTTP, and only on a loopback address). SIGTERM / SIGINT stop it
gracefully (exit status 0).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tomllib
from dataclasses import replace
from pathlib import Path

import click

from .options import DATABASE

log = logging.getLogger("slf.ssid.serve")


def _tables(config_path: Path) -> dict:
    try:
        return tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(f"{config_path}: {exc}") from None


def _ssl_context(server, no_tls: bool):
    """The listener's SSL context (None with --no-tls, refused off loopback)."""
    from zone.tls import server_context

    from .tlsfiles import HINT, require_files

    if no_tls:
        if not server.loopback:
            raise click.ClickException(f"--no-tls serves plain HTTP, so only on a loopback address (127.0.0.1, ::1, "
                                       f"localhost), not {server.host}: set [server] tls_cert and tls_key instead")
        return None
    if server.tls_cert is None:
        raise click.ClickException("[server] tls_cert and tls_key are not set: the SSID server speaks HTTPS "
                                   f"({HINT}), or run with --no-tls on a loopback address")
    require_files("[server]", (("tls_cert", server.tls_cert), ("tls_key", server.tls_key),
                               ("client_ca", server.client_ca)))
    try:
        return server_context(server.tls_cert, server.tls_key, client_ca=server.client_ca)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise click.ClickException(f"[server] TLS files cannot be used: {exc}") from None


@click.command("serve")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The SSID configuration (TOML) with its [server] and [extracts] tables.")
@click.option("--db", "database", type=DATABASE, default=None,
              help="The SSID database (default: [ssid] database).")
@click.option("--slf-db", "slf_db", type=DATABASE, default=None,
              help="The SLF tables' database, shared with `slf resolver run` (default: [server] slf_database; "
                   "without either the SLF poller is off).")
@click.option("--host", default=None, help="Override [server] host.")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Override [server] port (0: any free).")
@click.option("--no-tls", is_flag=True, help="Plain HTTP, for a loopback address only (development, tests).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def serve_cmd(config_path: Path, database: str | None, slf_db: str | None, host: str | None, port: int | None,
              no_tls: bool, log_level: str) -> None:
    """Run the SSID server: HTTPS (/healthz, REST API, web UI), the SLF poller, heartbeats and
    the scheduled extracts, until SIGTERM or Ctrl-C."""
    from ssid.config import ConfigError, load
    from ssid.db.engine import safe_url
    from ssid.schedule import ScheduleError, schedule_from_config
    from ssid.server import ServerConfigError, serve, server_from_config
    from ssid.slf import SlfConfigError, load_mapping
    from ssid.store import SsidError, SsidStore

    from .logs import setup
    from .ssid import _sqlite_file

    setup(log_level)
    data = _tables(config_path)
    base = config_path.resolve().parent
    try:
        settings = load(config_path)
        mapping = load_mapping(config_path)
        server = server_from_config(data.get("server") or {}, base)
        schedule = schedule_from_config(data["extracts"], base) if "extracts" in data else None
    except (ConfigError, SlfConfigError, ServerConfigError, ScheduleError) as exc:
        raise click.ClickException(f"{config_path}: {exc}" if not str(exc).startswith(str(config_path))
                                   else str(exc)) from None
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if slf_db:
        overrides["slf_database"] = slf_db
    server = replace(server, **overrides)
    ssl_context = _ssl_context(server, no_tls)
    url = database or settings.database
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        raise click.ClickException(f"no SSID database at {path}: create it with `slf ssid init` (or give --db)")

    async def main() -> None:
        store = SsidStore.from_url(url, settings)
        try:
            try:
                await store.migrate()
            except Exception as exc:  # unreachable server, wrong password, not a database
                raise click.ClickException(f"cannot open the SSID database at {safe_url(url)}: {exc}") from None
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            log.info("SSID database %s", safe_url(url))
            await serve(store, settings, server, ssl_context=ssl_context, schedule=schedule, mapping=mapping,
                        stop=stop)
        finally:
            await store.close()

    try:
        asyncio.run(main())
    except (SsidError, ValueError) as exc:  # e.g. a web or API configuration problem found at start
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    serve_cmd()
