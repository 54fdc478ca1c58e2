"""`slf ssid batch | sweep | report`: district batch files, the duplicate sweep, activity reports
(registered in the `slf ssid` group: ``for cmd in (batch_cmd, sweep_cmd, report_cmd): ssid.add_command(cmd)``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path

import click

from .ssid import _db_options, _obj, _run


@click.command("batch")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The result file (same columns plus ResultCode and ResultMessage); written atomically.")
@click.option("--user", "user_id", default="batch", show_default=True,
              help="Who submits the file (recorded in the audit with the batch job id).")
@click.option("--group", default=None, help="User group whose required attributes apply (default: the user's).")
@click.option("--max-rows", type=click.IntRange(1), default=None, help="Refuse files with more rows (default 1000000).")
@click.option("--max-bytes", type=click.IntRange(1), default=None, help="Refuse larger files (default 2 GiB).")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Processes that look rows up in parallel (default: one per core; 0: all in this process).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_db_options
def batch_cmd(file: Path, out: Path, user_id: str, group: str | None, max_rows: int | None, max_bytes: int | None,
              workers: int | None, as_json: bool, config_path: Path | None, database: str | None) -> None:
    """Look up or issue student IDs for every row of a district's batch FILE.csv.

    \b
    Layout (CSV, UTF-8, header row; a BOM and CRLF are fine):
      UserID,DateTimeCreated,Building_IRN,District_IRN,StudentID,<one column per catalogue
      attribute, in catalogue order>,UserDefined
    BirthDate as YYYY-MM-DD or MM/DD/YYYY. The output has one row per input row, in order,
    with ResultCode MATCH, NEW, POTENTIAL, VALID, MISMATCH, INACTIVE or REJECTED and a
    ResultMessage saying what to do. A file with a wrong header, too many rows or bytes,
    text that is not UTF-8 or a quote that never closes is refused before anything is
    processed. Running the same file again issues no second ID.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from ssid.batch import MAX_BYTES, MAX_ROWS, BatchRunner, summary
    from ssid.csvlayout import LayoutError

    console = Console(stderr=True)

    async def work(store):
        runner = BatchRunner(store, user=user_id, group=group, max_rows=max_rows or MAX_ROWS,
                             max_bytes=max_bytes or MAX_BYTES,
                             workers=(os.cpu_count() or 1) if workers is None else workers)
        try:
            total = runner.precheck(file)  # refuse a bad file before the progress bar appears
        except LayoutError as exc:
            raise click.ClickException(str(exc)) from None
        with Progress(TextColumn("[bold]batch[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=console, transient=False, disable=not console.is_terminal) as bar:
            task = bar.add_task(file.name, total=total, rate="")
            started = asyncio.get_running_loop().time()

            def progress(done: int, total: int) -> None:
                elapsed = asyncio.get_running_loop().time() - started
                bar.update(task, completed=done, total=total, rate=f"{done / elapsed:,.0f} rows/s" if elapsed else "")

            try:
                return await runner.run(file, out, progress)
            except LayoutError as exc:
                raise click.ClickException(str(exc)) from None

    report = _run(_obj(config_path, database), work)
    s = summary(report)
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    rate = s["rows_per_second"]
    click.echo(f"batch job {s['job_id']}: {s['rows']:,} row{'' if s['rows'] == 1 else 's'} in {s['seconds']:,.1f} s "
               f"({rate:,.{0 if rate >= 10 else 1}f} rows/s) -> {out}")
    click.echo("  " + "; ".join(f"{code} {n:,}" for code, n in s["counts"].items()))
    if s["counts"]["POTENTIAL"]:
        click.echo("  POTENTIAL rows: no ID was issued; resolve them in the web UI.")
    if s["counts"]["REJECTED"]:
        click.echo("  REJECTED rows: see ResultMessage, correct them and submit them again.")


@click.command("sweep")
@click.option("--out", "out", default="ssid-review.csv", show_default=True,
              type=click.Path(path_type=Path, dir_okay=False), help="The review list (CSV), written atomically.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_db_options
def sweep_cmd(out: Path, as_json: bool, config_path: Path | None, database: str | None) -> None:
    """Duplicate sweep over every active ID with the matcher's blocking and scorer.

    Writes a review list: each pair whose score reaches the review threshold, once, with its
    confidence, the fields that differ, any hard conflict (e.g. POSSIBLE_TWIN) and whether it
    would be an automatic match (LIKELY_DUPLICATE) or needs a person (REVIEW). Nothing in
    the database is changed: merge duplicates with `slf ssid deactivate`.
    """
    from rich.console import Console

    from ssid.sweep import sweep_to_csv

    console = Console(stderr=True)

    async def work(store):
        def progress(done: int) -> None:
            if console.is_terminal:
                console.print(f"swept {done:,} students", end="\r")

        return await sweep_to_csv(store, out, progress=progress)

    result = _run(_obj(config_path, database), work)
    if as_json:
        click.echo(json.dumps(result.summary(), indent=2))
        return
    s = result.summary()
    click.echo(f"swept {s['students']:,} active students in {s['seconds']:,.1f} s: {s['pairs']:,} pair(s) for review "
               f"({s['likely_duplicates']:,} likely duplicates, {s['review']:,} to review) -> {out}")
    if s["incomplete_blocks"]:
        click.echo(f"  {s['incomplete_blocks']:,} student(s) had oversized blocks cut: some pairs may be missing")


@click.command("report")
@click.argument("period", type=click.Choice(["daily", "weekly", "monthly"]))
@click.option("--date", "day", default=None, help="A day in the period, YYYY-MM-DD (UTC; default: today).")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@_db_options
def report_cmd(period: str, day: str | None, as_json: bool, config_path: Path | None, database: str | None) -> None:
    """Activity counts by change type for a day, ISO week or month (UTC), from the audit trail,
    and the service level: the share of SLF transactions the system decided within 2 s and 5 s,
    p50/p95 decision times (decisions made by a person excluded), and availability from the
    heartbeats of `slf ssid serve`. A figure with nothing to measure says why.
    """
    from ssid.reports import activity_report, render_text

    try:
        when = date.fromisoformat(day) if day else date.today()
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a date: write YYYY-MM-DD", param_hint="--date") from None

    async def work(store):
        return await activity_report(store, period, when)

    report = _run(_obj(config_path, database), work)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render_text(report))
    sys.stdout.flush()


__all__ = ["batch_cmd", "report_cmd", "sweep_cmd"]
