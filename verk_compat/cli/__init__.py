"""The ``verk-compat`` command line (click). Commands stay thin: parse, then call the library.

Each command lives in its own module of this package and is added to :data:`main` below.
"""

from __future__ import annotations

import click

from .. import __version__


@click.group()
@click.version_option(__version__, prog_name="verk-compat")
def main() -> None:
    """Sidekiq-compatible job processing for Python."""


# Commands are registered here, one line each:
from .enqueue import enqueue  # noqa: E402

main.add_command(enqueue)
from .worker import worker  # noqa: E402

main.add_command(worker)
from .demo import demo  # noqa: E402

main.add_command(demo)
