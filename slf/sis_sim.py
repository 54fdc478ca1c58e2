"""`slf sis-sim`: a simulated district SIS agent for tests, the demo and vendors' comparisons."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from messages import SIFError
from messages import versions as sif_versions
from sif_agent.sissim import (
    COLUMNS, RESULT_COLUMNS, STYLES, Result, ResultsFileError, SisSimulator, StudentFileError, generate,
    read_csv, read_results, results_csv, sim_settings, write_csv,
)

EXIT_MISSING = 3

CSV_HELP = f"""
\b
Students CSV (--students): UTF-8 (a BOM is fine), LF or CRLF, this header:
  {','.join(COLUMNS)}
\b
  LocalId          required, unique          Gender      M, F or U
  First/LastName   required (José, O'Brien)  Race        0998 0999 1000 1001 1002 or empty
  MiddleName       optional                  HispanicLatino  Yes, No or empty
  BirthDate        YYYY-MM-DD                Language    ISO 639-2 (eng, spa, som...) or empty
  EntryDate        YYYY-MM-DD                Grade       PK, KG, 01 ... 12
  SchoolIRN        required                  BirthPlaceCity, SchoolName, AdmissionReason optional
\b
A bad value stops the run with the row, line and column named.
"""

RESULTS_HELP = f"""
\b
Results CSV: {','.join(RESULT_COLUMNS)}
(StateProvinceId and ReceivedAt empty for a student without an ID yet).
"""


@click.group("sis-sim")
def sis_sim() -> None:
    """Simulated district SIS agent for tests, demos and vendor comparisons.

    It publishes SchoolInfo, StudentPersonal and StudentSchoolEnrollment Add events (and, in
    the SASI style, Add then Change) and records the StateProvinceId each student receives in
    a StudentPersonal Change event.
    """


def _summary_table(results: list[Result], title: str) -> Table:
    table = Table(title=title)
    for col in ("LocalId", "Name", "BirthDate", "StateProvinceId", "ReceivedAt"):
        table.add_column(col)
    for r in results:
        table.add_row(r.local_id, f"{r.last_name}, {r.first_name}", r.birth_date,
                      r.state_province_id or "[red]none[/red]", r.received_at)
    return table


def _report_missing(console: Console, results: list[Result]) -> int:
    missing = [r for r in results if not r.state_province_id]
    got = len(results) - len(missing)
    if not missing:
        console.print(f"[green]All {len(results)} students received a StateProvinceId.[/green]")
        return 0
    console.print(f"[yellow]{got} of {len(results)} students received a StateProvinceId; "
                  f"{len(missing)} did not:[/yellow]")
    for r in missing:
        console.print(f"  {r.local_id}  {r.last_name}, {r.first_name}  ({r.birth_date})  RefId {r.student_ref_id}",
                      highlight=False, markup=False)
    return EXIT_MISSING


@sis_sim.command("run", epilog=CSV_HELP + RESULTS_HELP)
@click.option("--zone", "zone_url", required=True, metavar="URL", help="The district zone's URL.")
@click.option("--zone-id", default=None, help="Name for the zone in logs. [default: the URL's last part]")
@click.option("--source-id", required=True, metavar="ID", help="SIF_SourceId of the simulated SIS (certificate CN).")
@click.option("--ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA certificate of the zone server (default: the system's CAs).")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Client certificate (PEM).")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Client certificate's private key (PEM).")
@click.option("--students", "students_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Students to publish, from a CSV file (format below).")
@click.option("--generate", "generate_n", type=click.IntRange(min=1), metavar="N",
              help="Publish N generated students instead of a file.")
@click.option("--seed", default=0, show_default=True, help="Seed for --generate (same seed, same students).")
@click.option("--save-students", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the students (e.g. generated ones) to this CSV file.")
@click.option("--style", type=click.Choice(STYLES), default="plain", show_default=True,
              help="plain: StudentPersonal Add, StudentSchoolEnrollment Add. sasi: StudentPersonal Add "
                   "with name and LocalId only, StudentSchoolEnrollment Add, then StudentPersonal Change "
                   "with the demographics.")
@click.option("--school-year", default=2027, show_default=True, type=click.IntRange(1900, 2999),
              help="SchoolYear of the enrollments (2027 = 2026-27); also sets generated birth dates.")
@click.option("--district-irn", default=None, metavar="IRN",
              help="Sent as SchoolInfo's SIF_ExtendedElement DistrictIRN.")
@click.option("--results", "results_file", default="sis-sim-results.csv", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Where the received StateProvinceIds are written (rewritten after each one).")
@click.option("--wait", default=300.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to wait, after publishing, for every student's StateProvinceId.")
@click.option("--sif-version", "sif_version", multiple=True, default=("2.1", "2.0r1"), show_default=True,
              type=click.Choice(sif_versions.SUPPORTED), help="SIF versions to register with, in order (repeat).")
@click.option("--pull-interval", default=1.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds between pulls when the zone has nothing for us.")
@click.option("--connect-timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds to keep trying to register before giving up.")
@click.option("--state-dir", default="var/sis-sim", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where the simulator keeps its outbox (unsent messages).")
@click.option("-v", "--verbose", is_flag=True, help="Log every message exchanged.")
def run_cmd(zone_url: str, zone_id: str | None, source_id: str, ca: Path | None, cert: Path | None,
            key: Path | None, students_file: Path | None, generate_n: int | None, seed: int,
            save_students: Path | None, style: str, school_year: int, district_irn: str | None,
            results_file: Path, wait: float, sif_version: tuple[str, ...], pull_interval: float,
            connect_timeout: float, state_dir: Path, verbose: bool) -> None:
    """Run the simulated SIS: register, publish the students, collect their state IDs.

    Exit status: 0 when every student received a StateProvinceId before --wait ran out,
    3 when some did not (they are listed), 1 on any other error.
    """
    from .logs import setup

    if (students_file is None) == (generate_n is None):
        raise click.UsageError("give either --students FILE.csv or --generate N")
    if key is not None and cert is None:
        raise click.UsageError("--key needs --cert")
    try:
        students = read_csv(students_file) if students_file else generate(generate_n, seed=seed,
                                                                           school_year=school_year)
    except StudentFileError as exc:
        raise click.ClickException(str(exc)) from None
    if save_students:
        write_csv(save_students, students)
    setup("INFO" if verbose else "WARNING")
    zone_id = zone_id or urlsplit(zone_url).path.rstrip("/").rsplit("/", 1)[-1] or "zone"
    settings = sim_settings(zone_url, source_id, zone_id=zone_id, versions=sif_version, ca=ca, cert=cert, key=key,
                            outbox=state_dir / f"{source_id}-outbox.db", pull_interval=pull_interval)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"Simulated SIS {source_id}: {len(students)} students, style {style}, zone {zone_url}")

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        published = progress.add_task("published  ", total=len(students))
        received = progress.add_task("state IDs  ", total=len(students))
        sim = SisSimulator(
            settings, students, style=style, school_year=school_year, district_irn=district_irn,
            results_path=results_file,
            on_published=lambda done, total: progress.update(published, completed=done),
            on_received=lambda r: progress.update(received, completed=len(sim.results.received())))
        try:
            asyncio.run(sim.run(wait, connect_timeout=connect_timeout))
        except TimeoutError as exc:
            raise click.ClickException(f"could not register with {zone_url} within {connect_timeout:g} s "
                                       f"({exc}); run with -v to see why") from None
        except SIFError as exc:
            hint = ""
            if style == "sasi" and exc.category == 1:
                hint = ("\nSASI-style StudentPersonal Change events carry only the changed elements; a zone "
                        "that validates strictly refuses them (e.g. run `slf zone mock --validation lenient`).")
            raise click.ClickException(f"the zone refused an event: {exc}{hint}") from None
    results = sim.results.all()
    console.print(f"Results written to {results_file}")
    if sim.unknown:
        console.print(f"{len(sim.unknown)} StateProvinceId(s) arrived for students this SIS does not have; ignored.")
    code = _report_missing(console, results)
    if code:
        click.get_current_context().exit(code)


@sis_sim.command("results", epilog=RESULTS_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--csv", "as_csv", is_flag=True, help="Print the CSV instead of a table.")
@click.option("--missing", is_flag=True, help="Only students without a StateProvinceId.")
def results_cmd(file: Path, as_csv: bool, missing: bool) -> None:
    """Show a results file written by `slf sis-sim run --results FILE`.

    Exit status: 0 when every student has a StateProvinceId, 3 when some do not.
    """
    try:
        results = read_results(file)
    except ResultsFileError as exc:
        raise click.ClickException(str(exc)) from None
    shown = [r for r in results if not r.state_province_id] if missing else results
    if as_csv:
        click.echo(results_csv(shown), nl=False)
        if any(not r.state_province_id for r in results):
            click.get_current_context().exit(EXIT_MISSING)
        return
    console = Console(highlight=False, soft_wrap=True)
    console.print(_summary_table(shown, f"{file}: {len(results)} students"))
    code = _report_missing(console, results)
    if code:
        click.get_current_context().exit(code)
