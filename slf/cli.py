"""`slf`: the single command for every process of the Student Locator Framework."""

from __future__ import annotations

import click

from .certs import certs
from .demo import demo
from .locator import locator
from .resolver import resolver
from .sif import sif
from .sis_sim import sis_sim
from .ssid import ssid
from .ssid_batch import batch_cmd, estimate_cmd, report_cmd, sweep_cmd
from .ssid_files import backup_cmd, extract_cmd, restore_cmd
from .ssid_poll import poll_cmd
from .ssid_api import api_client
from .ssid_serve import serve_cmd
from .zone import zone

PLANNED: dict[str, str] = {}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="student-locator")
def main() -> None:
    """Student Locator Framework: SIF 2.x StudentLocator zones, agents and the state SSID system.

    Run `slf COMMAND --help` for each part.
    """


main.add_command(sif)
main.add_command(zone)
main.add_command(demo)
main.add_command(certs)
main.add_command(sis_sim)
main.add_command(locator)
main.add_command(resolver)
main.add_command(ssid)
# `slf ssid` commands kept in their own modules (one job each; they import slf.ssid's helpers)
for _cmd in (poll_cmd, batch_cmd, sweep_cmd, estimate_cmd, report_cmd, extract_cmd, backup_cmd, restore_cmd):
    ssid.add_command(_cmd)
ssid.add_command(api_client)
ssid.add_command(serve_cmd)


def _planned(name: str, text: str) -> click.Group:
    @click.group(name=name, help=text + "\n\nNo subcommands are available in this release yet.",
                 invoke_without_command=True)
    @click.pass_context
    def group(ctx: click.Context) -> None:
        if ctx.invoked_subcommand is None:
            click.echo(ctx.get_help())
            ctx.exit(0)

    return group


for _name, _text in PLANNED.items():
    main.add_command(_planned(_name, _text))


if __name__ == "__main__":  # pragma: no cover
    main()
