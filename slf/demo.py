"""`slf demo` (what `make demo` runs): the framework end to end on this machine.

Part 1 builds, parses and validates every message kind in every SIF version.
Part 2 runs every real part on loopback (`slf/demo_pipeline.py`): a zone server over HTTPS with
a state zone and two district zones, the Student Locator, the Student Resolver, the SLF
tables, the SSID database with its poller and two simulated district SIS agents, from the
example configurations in conf/, on SQLite files in a temporary folder. It prints a table of
outcomes and the end-to-end latency, and exits non-zero if any student ended wrongly.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

import click
from rich.console import Console
from rich.table import Table

from messages import build, parse, versions
from messages.samples import KINDS, sample


def _message_layer(console: Console, rounds: int) -> int:
    table = Table(title="Part 1 — SIF 2.x messages: build → parse → validate → compare")
    table.add_column("kind")
    table.add_column("versions", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("round trips/s", justify="right")
    failures = 0
    with console.status("building and checking messages…"):
        for kind in KINDS:
            ok_versions, size = 0, 0
            for version in versions.SUPPORTED[1:]:
                try:
                    message = sample(kind, version)
                except ValueError:
                    continue  # SIF_CancelRequests before 2.1
                data = build(message)
                size = len(data)
                if parse(data) != message:
                    failures += 1
                    console.print(f"[red]round trip changed {kind} {version}[/red]")
                    continue
                ok_versions += 1
            message = sample(kind, versions.LATEST)
            start = time.perf_counter()
            for _ in range(rounds):
                parse(build(message))
            table.add_row(kind, str(ok_versions), str(size), f"{rounds / (time.perf_counter() - start):,.0f}")
    console.print(table)
    return failures



class _Recent(logging.Handler):
    """The last warnings, shown only if part 2 cannot start (they would bury the table otherwise)."""

    def __init__(self, keep: int = 30) -> None:
        super().__init__(logging.WARNING)
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _quiet_logging() -> _Recent:
    """Errors on the console; warnings kept aside (agents retrying while a loaded machine is slow)."""
    logging.basicConfig(level=logging.WARNING)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(logging.ERROR)
    recent = _Recent()
    root.addHandler(recent)
    return recent


@click.command()
@click.option("--rounds", default=200, show_default=True, help="Round trips per message kind in part 1.")
@click.option("--students", default=12, show_default=True, type=click.IntRange(4, 200),
              help="New students district 043802 enrolls in part 2 (044000 then enrolls half again, and more).")
def demo(rounds: int, students: int) -> None:
    """Run the demonstration on this machine and print what happened.

    Part 1: every SIF message kind is built, parsed back, validated against the project's
    schemas and compared, in every SIF version. Part 2: the whole Student Locator Framework,
    every part real, carries new, returning, near-twin and incomplete students from two
    district SIS agents to the state's SSID database and the state IDs back.
    """
    from .demo_pipeline import NotReady, run

    console = Console()
    if _message_layer(console, rounds):
        raise click.ClickException("some round trips failed")
    recent = _quiet_logging()
    started = time.perf_counter()
    try:
        report = asyncio.run(run(console, students))
    except NotReady as exc:
        for line in recent.lines:
            console.print(line, markup=False, highlight=False)
        raise click.ClickException(f"{exc} (the warnings above say why)" if recent.lines else str(exc)) from exc
    table = Table(title="Part 2 — students through the whole framework (zones over HTTPS, locator, resolver, "
                        "SLF tables, SSID database)", expand=True)
    table.add_column("", no_wrap=True, width=1)
    table.add_column("student", ratio=2)
    table.add_column("kind", ratio=1, min_width=12)
    table.add_column("expected", ratio=4)
    table.add_column("ID in the SIS", no_wrap=True, width=13)
    for o in report.outcomes:
        table.add_row("[green]✓[/green]" if o.ok else "[red]✗[/red]", o.name, o.kind,
                      o.expected + (f"\n[dim]{o.note}[/dim]" if o.note else ""), o.state_id or "—")
    console.print(table)
    secs = report.seconds
    if secs:
        console.print(f"{len(secs)} lookups written back; new-student event to StateProvinceId in the SIS: "
                      f"p50 {secs[len(secs) // 2]:.2f} s, p99 {secs[min(len(secs) - 1, int(len(secs) * 0.99))]:.2f} s "
                      f"(follow-ups and a state user's review included); {time.perf_counter() - started:.0f} s in all.")
    wrong = [o for o in report.outcomes if not o.ok]
    if wrong:
        raise click.ClickException(f"{len(wrong)} student(s) did not end as expected: "
                                   + ", ".join(o.name for o in wrong))
    console.print("[green]Done.[/green] Every student ended as expected: one right state ID each, "
                  "and the incomplete record was sent back with the field to fix.")
