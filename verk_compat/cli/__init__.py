"""The ``verk-compat`` command line (click). Commands stay thin: parse, then call the library.

Each command lives in its own module of this package and is added to :data:`main` below.
"""

from __future__ import annotations

import click

from verk_compat import __version__
from verk_compat.cli._errors import OneLineErrors


@click.group(cls=OneLineErrors)
@click.version_option(__version__, prog_name="verk-compat")
def main() -> None:
    """Sidekiq-compatible job processing for Python."""


# Commands are registered here, one line each:
from verk_compat.cli.enqueue import enqueue  # noqa: E402

main.add_command(enqueue)
from verk_compat.cli.worker import worker  # noqa: E402

main.add_command(worker)
from verk_compat.cli.demo import demo  # noqa: E402

main.add_command(demo)
from verk_compat.cli.stats import queues, stats  # noqa: E402

main.add_command(stats)
main.add_command(queues)
from verk_compat.cli.sets import dead, retries, scheduled  # noqa: E402

main.add_command(retries)
main.add_command(dead)
main.add_command(scheduled)
from verk_compat.cli.processes import processes, recover  # noqa: E402

main.add_command(processes)
main.add_command(recover)
from verk_compat.cli.migrate import migrate  # noqa: E402

main.add_command(migrate)
from verk_compat.cli.dev_server import dev_server  # noqa: E402

main.add_command(dev_server)
from verk_compat.cli.web import web  # noqa: E402

main.add_command(web)
from verk_compat.cli.cron import cron  # noqa: E402

main.add_command(cron)
from verk_compat.cli.health import health  # noqa: E402

main.add_command(health)
