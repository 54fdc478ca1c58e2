"""One check for every agent command: the TLS files its configuration names exist."""

from __future__ import annotations

import click

from sif_agent.config import AgentSettings

HINT = ("for development, make a CA, a server certificate and client certificates with "
        "`slf certs dev --out var/pki`")


def require_tls_files(agent: AgentSettings) -> None:
    """A ClickException naming the first missing CA/certificate/key and how to make one."""
    for z in agent.zones:
        for p in (z.tls.ca, z.tls.cert, z.tls.key):
            if p is not None and not p.exists():
                raise click.ClickException(f"zone {z.id}: {p}: file not found ({HINT})")


def require_files(owner: str, paths) -> None:
    """A ClickException naming the first missing file of ``paths``, (setting, path) pairs (path
    None: not configured); ``owner`` says where they are set, e.g. "[server]"."""
    for label, p in paths:
        if p is not None and not p.exists():
            raise click.ClickException(f"{owner} {label}: {p}: file not found ({HINT})")
