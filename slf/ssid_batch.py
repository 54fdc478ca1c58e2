"""`slf ssid batch | sweep | estimate | report`: district batch files, the duplicate sweep, the
state's own u parameters, activity reports (registered in the `slf ssid` group by slf/cli.py)."""

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


@click.command("estimate")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The parameter file (JSON) to write; name it in [matching] parameters to use it.")
@click.option("--version", "version", default=None,
              help="The new parameter set's version, recorded with every decision (default: estimated-DATE).")
@click.option("--sample", type=click.IntRange(2), default=20_000, show_default=True,
              help="Active students drawn at random.")
@click.option("--pairs", type=click.IntRange(1), default=200_000, show_default=True,
              help="Random pairs of them compared.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random draws (same seed, same file).")
@click.option("--m-from-decisions", "m_from", type=click.IntRange(0), default=0, show_default=True,
              help="Also estimate m by EM over the candidates shown in this many of the newest stored decisions "
                   "(0: keep m).")
@click.option("--json", "as_json", is_flag=True, help="Print the levels as JSON.")
@_db_options
def estimate_cmd(out: Path, version: str | None, sample: int, pairs: int, seed: int, m_from: int, as_json: bool,
                 config_path: Path | None, database: str | None) -> None:
    """Estimate u, the chance agreement of two different students, from this database's own students.

    Draws active students at random, compares random pairs of them field by field and writes
    the configured parameters (or the built-in ones) with each measured level's u replaced; the
    levels too rare to measure in the sample are kept. m, how often one child's records agree,
    is kept too, unless --m-from-decisions N: then it is estimated by expectation-maximisation
    over the candidates the newest N stored decisions showed (Splink's method, u held fixed).
    Nothing in the database changes: review the table, then set `[matching] parameters = "FILE"`
    in the configuration and restart the processes that decide. Re-check the thresholds after a
    change of parameters.
    """
    from rich.console import Console
    from rich.table import Table

    from ssid.estimation import MIN_FIELD_PAIRS, MIN_LEVEL_PAIRS, estimate, write_parameters

    ctx = _obj(config_path, database)
    name = version or f"estimated-{date.today().isoformat()}"

    async def work(store):
        return await estimate(store, store.settings.parameters, name, sample=sample, pairs=pairs, seed=seed,
                              m_from_decisions=m_from)

    try:
        result = _run(ctx, work)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    write_parameters(result.parameters, out)
    if as_json:
        click.echo(json.dumps({
            "version": name, "students": result.students, "pairs": result.pairs,
            "candidate_pairs": result.candidate_pairs, "match_share": result.match_share, "levels": [
                {"field": c.field, "level": c.level, "pairs": c.pairs, "u_before": c.before.u, "u_after": c.after.u,
                 "measured": c.measured, "candidates": c.candidates, "m_before": c.before.m, "m_after": c.after.m,
                 "m_measured": c.m_measured, "weight_before": round(c.before.weight, 3),
                 "weight_after": round(c.after.weight, 3)} for c in result.levels]}, indent=2))
        return
    with_m = result.candidate_pairs > 0
    title = f"u from {result.pairs:,} random pairs of {result.students:,} active students"
    if with_m:
        title += (f"; m from {result.candidate_pairs:,} candidate pairs of stored decisions "
                  f"(EM: {result.match_share:.1%} of them one child)")
    table = Table(title=title)
    columns = ["field", "level", "pairs", "u before", "u after"]
    columns += ["candidates", "m before", "m after"] if with_m else []
    for col in (*columns, "w before", "w after"):
        table.add_column(col, justify="left" if col in ("field", "level") else "right", no_wrap=True)
    for c in result.levels:
        cells = [c.field, c.level, f"{c.pairs:,}", f"{c.before.u:.3g}", f"{c.after.u:.3g}" if c.measured else "kept"]
        if with_m:
            cells += [f"{c.candidates:,}", f"{c.before.m:.3g}", f"{c.after.m:.3g}" if c.m_measured else "kept"]
        table.add_row(*cells, f"{c.before.weight:+.2f}", f"{c.after.weight:+.2f}")
    Console(width=max(140 if with_m else 110, Console().width)).print(table)
    skipped = [f for f, n in result.compared.items() if n < MIN_FIELD_PAIRS]
    if skipped:
        click.echo(f"kept from the base (fewer than {MIN_FIELD_PAIRS:,} pairs with both sides filled in): "
                   f"{', '.join(skipped)}")
    click.echo(f"kept: levels seen in fewer than {MIN_LEVEL_PAIRS} pairs. Against the database, an exact first "
               "or last name is weighed by that name's own frequency instead of its u.")
    click.echo(f"wrote parameters {name!r} to {out}. The match thresholds were set for the parameters this file "
               "replaces: heavier agreement weights let more pairs reach T_match, so check the thresholds on known "
               "pairs (e.g. benchmarks/matching_bench.py --parameters FILE) before using it. To use it, set in the "
               f"configuration:\n  [matching]\n  parameters = \"{out.resolve()}\"")


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


__all__ = ["batch_cmd", "estimate_cmd", "report_cmd", "sweep_cmd"]
