"""`slf zone`: run a Zone Integration Server, or a mock zone for SIS vendors."""

from __future__ import annotations

import asyncio
import getpass
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from zone.config import ConfigError, ServerSettings, ZoneSettings, load

from .options import DATABASE


@click.group()
def zone() -> None:
    """Zone Integration Server: serve zones, run a mock zone for SIS vendors."""


def _run(settings: ServerSettings, banner, *, reuse_port: bool = False) -> None:
    from zone.server import serve

    from .logs import setup

    setup()
    main = serve(settings, ready=banner, reuse_port=reuse_port)
    try:
        import uvloop  # a faster event loop when installed; the zone does not depend on it
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _workers(settings: ServerSettings, banner, n: int) -> None:
    """``n`` server processes on one port (SO_REUSEPORT: the kernel spreads connections) and
    one PostgreSQL database; this process only starts them and passes SIGTERM/SIGINT on. If
    one dies, the others are stopped too and the exit status says so (a service manager
    restarts the whole set)."""
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_run, args=(settings, banner if i == 0 else None), kwargs={"reuse_port": True},
                         name=f"zone-worker-{i + 1}") for i in range(n)]
    for p in procs:
        p.start()

    def stop(*_):
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: each worker stops gracefully

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = 0
    while any(p.is_alive() for p in procs):
        for p in procs:
            p.join(0.5)
            if p.exitcode not in (None, 0, -signal.SIGTERM):
                failed = failed or p.exitcode
                stop()
    if failed:
        raise click.ClickException(f"a zone worker exited with status {failed}; all workers stopped")


@zone.command("serve")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Zone server TOML (see conf/zone.example.toml).")
@click.option("--host", default=None, help="Override [server] host.")
@click.option("--port", default=None, type=int, help="Override [server] port.")
@click.option("--db", "database", type=DATABASE, default=None, help="Override [server] database.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port and the database (PostgreSQL only).")
def serve_cmd(config_path: Path, host: str | None, port: int | None, database: str | None, workers: int) -> None:
    """Serve the zones, agents and access lists of a configuration file (production)."""
    from dataclasses import replace

    try:
        settings = load(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    overrides = {k: v for k, v in (("host", host), ("port", port), ("database", database)) if v is not None}
    settings = replace(settings, **overrides)
    for p in (settings.tls_cert, settings.tls_key, settings.client_ca):
        if p is not None and not p.exists():
            raise click.ClickException(f"{p}: file not found (make development certificates with "
                                       "`slf certs dev --out DIR`)")

    if workers > 1:
        if not settings.database.startswith("postgresql"):
            raise click.ClickException("--workers needs a PostgreSQL database ([server] database or --db "
                                       "postgresql://...); a SQLite file is served by one process")
        if not settings.port:
            raise click.ClickException("--workers needs a fixed port ([server] port or --port), not 0")
        _workers(settings, _banner(settings), workers)
        return
    _run(settings, _banner(settings))


@dataclass(frozen=True)
class _Banner:
    """Where each zone and its inspector are (a class, not a closure: worker processes get it)."""

    zone_ids: tuple[str, ...]

    def __call__(self, base: str) -> None:
        for z in self.zone_ids:
            click.echo(f"zone {z}: {base}/zones/{z}   inspector: {base}/zones/{z}/inspect")


def _banner(settings: ServerSettings) -> _Banner:
    return _Banner(tuple(z.id for z in settings.zones))


@zone.command("mock")
@click.option("--port", default=7070, show_default=True, help="TCP port on 127.0.0.1.")
@click.option("--zone", "zones", multiple=True, metavar="NAME", help="Zone name (repeat for several). [default: mock]")
@click.option("--no-tls", is_flag=True, help="Plain HTTP instead of HTTPS.")
@click.option("--validation", type=click.Choice(["strict", "lenient", "off"]), default="strict", show_default=True,
              help="What the zone refuses; findings are always shown in the inspector.")
@click.option("--state-dir", default="var/mock-zone", show_default=True, type=click.Path(path_type=Path),
              help="Where the mock keeps its database and development certificates.")
def mock_cmd(port: int, zones: tuple[str, ...], no_tls: bool, validation: str, state_dir: Path) -> None:
    """Start a mock zone on loopback in one command: any agent may register with full rights.

    Point your SIS's SIF agent at the printed URL and watch every message, validated, with
    a plain-language explanation of anything to fix, at the inspector page.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    cert = key = ca = None
    if not no_tls:
        from zone.tls import make_dev_pki

        pki_dir = state_dir / "pki"
        if not (pki_dir / "ca.pem").exists():
            make_dev_pki(pki_dir, clients=("agent",))
        cert, key, ca = pki_dir / "server.pem", pki_dir / "server-key.pem", pki_dir / "ca.pem"
    zone_settings = tuple(ZoneSettings(id=z, name=f"Mock zone {z}", source_id="MockZIS", validation=validation,
                                       open_registration=True, record_findings=True)
                          for z in (zones or ("mock",)))
    settings = ServerSettings(host="127.0.0.1", port=port, tls_cert=cert, tls_key=key, client_ca=None,
                              database=f"sqlite+aiosqlite:///{state_dir / 'zone.db'}", zones=zone_settings)

    def banner(base: str) -> None:
        click.echo("Mock zone ready — open registration, every agent gets full rights.")
        for z in zone_settings:
            click.echo(f"  zone {z.id}: {base}/zones/{z.id}")
            click.echo(f"  inspector: {base}/zones/{z.id}/inspect   (JSON: {base}/zones/{z.id}/log)")
        if ca:
            click.echo(f"  CA certificate for your agent to trust: {ca.resolve()}")
        click.echo("Press Ctrl+C to stop.")

    _run(settings, banner)


@zone.command("hash-password")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def hash_password_cmd(password_stdin: bool) -> None:
    """Print a password hash for an agent's `password_hash` (HTTP Basic zones)."""
    from zone.auth import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Agent password: ")
        if getpass.getpass("Again: ") != password:
            raise click.ClickException("the two passwords differ")
    if len(password) < 12:
        raise click.ClickException("use at least 12 characters")
    click.echo(hash_password(password))
