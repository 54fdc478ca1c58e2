"""`slf certs`: development certificates for HTTPS zones and their agents."""

from __future__ import annotations

import os
from pathlib import Path

import click

from zone.tls import DEFAULT_SERVER_NAMES, PKIExistsError, make_dev_pki

# The agents of the project's demonstration: the ITC's Student Locator, the state's
# Student Resolver, and a district SIS.
DEFAULT_CLIENTS = ("ITC01-StudentLocator", "State-StudentResolver", "District043802-SIS")


@click.group()
def certs() -> None:
    """Development certificates (CA, server and client) for HTTPS zones.

    Zones authenticate agents by client certificate: the certificate's CN is the agent's
    SIF_SourceId. For production, use certificates from your own CA instead.
    """


def _show(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


@certs.command("dev")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              type=click.Path(file_okay=False, dir_okay=True, writable=True, path_type=Path),
              help="Directory to write the PEM files to (created if missing).")
@click.option("--client", "clients", multiple=True, metavar="NAME",
              help="Agent to make a client certificate for; NAME is its SIF_SourceId and the "
                   "certificate CN. Repeatable. [default: " + ", ".join(DEFAULT_CLIENTS) + "]")
@click.option("--host", "hosts", multiple=True, metavar="NAME",
              help="DNS name or IP address the zone server is reached at, for the server "
                   "certificate. Repeatable. [default: " + ", ".join(DEFAULT_SERVER_NAMES) + "]")
@click.option("--days", default=825, show_default=True, type=click.IntRange(min=1),
              help="Validity of every certificate, in days.")
@click.option("--force", is_flag=True,
              help="Replace an existing CA and certificates in DIR. Certificates signed by the "
                   "old CA stop being trusted.")
def dev_cmd(out_dir: Path, clients: tuple[str, ...], hosts: tuple[str, ...], days: int,
            force: bool) -> None:
    """Write a throw-away CA, a zone server certificate and agent client certificates.

    \b
    Files written to DIR (PEM, ECDSA P-256; keys are mode 0600):
      ca.pem, ca-key.pem            the development CA
      server.pem, server-key.pem    the zone server (subjectAltName: the --host names)
      NAME.pem, NAME-key.pem        one client certificate per --client (CN = NAME)

    Refuses to overwrite an existing CA unless --force is given.

    \b
    Example:
      slf certs dev --out var/pki --client District043802-SIS --host zis.example.test
    """
    try:
        pki = make_dev_pki(out_dir, server_names=hosts or DEFAULT_SERVER_NAMES,
                           clients=clients or DEFAULT_CLIENTS, days=days, force=force)
    except PKIExistsError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write to {out_dir}: {exc.strerror or exc}") from None

    click.echo(f"Wrote a development PKI to {_show(pki.out_dir)}/ (valid {days} days):")
    keys = set(pki.key_files())
    rows = [(pki.ca_cert, "CA certificate: trust it in agents and the zone"),
            (pki.ca_key, "CA private key"),
            (pki.server_cert, "zone server certificate: " + ", ".join(hosts or DEFAULT_SERVER_NAMES)),
            (pki.server_key, "zone server private key")]
    for c in pki.clients:
        rows += [(c.cert, f"client certificate, CN={c.name}"), (c.key, f"private key of {c.name}")]
    width = max(len(_show(p)) for p, _ in rows)
    for path, what in rows:
        mode = " (0600)" if path in keys else ""
        click.echo(f"  {_show(path):<{width}}  {what}{mode}")
    base = pki.out_dir.resolve()  # the zone's TOML reads relative paths from its own directory
    click.echo(
        f"Use: `slf zone serve` with [server] tls_cert = \"{base / pki.server_cert.name}\", "
        f"tls_key = \"{base / pki.server_key.name}\", client_ca = \"{base / pki.ca_cert.name}\"; "
        f"agents trust ca.pem and present NAME.pem with NAME-key.pem.")
