"""`slf sif`: build, validate and inspect SIF 2.x messages from the shell."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from lxml import etree

from messages import codec, versions
from messages.errors import SIFError
from messages.samples import KINDS, sample
from messages.summary import summarize


@click.group()
def sif() -> None:
    """Build, validate and inspect SIF 2.x messages."""


def _version_option(default: str | None):
    return click.option(
        "--version", "version", default=default, metavar="V",
        type=click.Choice(list(versions.SUPPORTED)),
        show_default=default is not None,
        help="SIF version (2.0r1 … 2.6).",
    )


_KIND_LINES = "\n".join("  " + ", ".join(list(KINDS)[i:i + 3]) for i in range(0, len(KINDS), 3))


@sif.command("sample", help="Print a complete, valid sample message of KIND.\n\n\b\nKIND is one of:\n"
             + _KIND_LINES)
@click.argument("kind", type=click.Choice(list(KINDS)), metavar="KIND")
@_version_option(versions.LATEST)
def sample_cmd(kind: str, version: str) -> None:
    try:
        message = sample(kind, version)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    root = codec.to_element(message)
    click.echo(etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8").decode())


def _check_file(path: Path, version: str | None, lenient: bool) -> tuple[bool, str]:
    from messages.validate import validate_bytes

    try:
        data = path.read_bytes()
    except OSError as exc:
        return False, f"cannot read file: {exc.strerror}"
    findings = validate_bytes(data, version=version, lenient=lenient)
    if findings:
        f = findings[0]
        parts = [f"line {f.line}" if f.line and f"line {f.line}" not in f.message else "",
                 f"element {f.element}" if f.element else ""]
        where = ", ".join(x for x in parts if x)
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        return False, f"{f.category}/{f.code} {f.message}" + (f" [{where}]" if where else "") + more
    try:  # the readers enforce a few rules the schema cannot express
        codec.parse(data, validate=False)
    except SIFError as exc:
        return False, str(exc)
    return True, "ok"


@sif.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_version_option(None)
@click.option("--lenient", is_flag=True, help="Data-object elements optional (for imperfect peers).")
def validate_cmd(files: tuple[Path, ...], version: str | None, lenient: bool) -> None:
    """Validate SIF message FILES; one line each, exit status 1 if any is invalid.

    Without --version each file is checked against the version it declares.
    """
    bad = 0
    for path in files:
        ok, text = _check_file(path, version, lenient)
        bad += not ok
        click.echo(f"{path}: {text}")
    sys.exit(1 if bad else 0)


@sif.command("show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def show_cmd(file: Path) -> None:
    """Print a readable summary of a SIF message: type, ids, route, object, key fields."""
    try:
        message = codec.parse(file.read_bytes(), validate=False)
    except SIFError as exc:
        click.echo(f"{file}: cannot read message: {exc}", err=True)
        sys.exit(1)
    rows = summarize(message)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key.ljust(width)}  {value}")
