"""The ``verk-compat`` command line (click). Commands stay thin: parse, then call the library.

Each command lives in its own module of this package and is added to :data:`main` below.
"""

from __future__ import annotations

from pathlib import Path

import click

from verk_compat import __version__
from verk_compat.cli import config
from verk_compat.cli._errors import OneLineErrors


@click.group(cls=OneLineErrors)
@click.version_option(__version__, prog_name="verk-compat")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="VERK_CONFIG",
    help=f"Settings file (default: ./{config.FILE}, else [tool.{config.SECTION}] of "
    "./pyproject.toml). Environment VERK_<COMMAND>_<OPTION> overrides it, a flag both.",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Sidekiq-compatible job processing for Python."""
    _prepare(main)  # here, not at import: it covers commands added after this module
    ctx.default_map = _settings(config_path) or None


def _settings(explicit: str | None) -> dict[str, object]:
    """click's ``default_map`` from the settings file (``{}`` when there is none)."""
    try:
        path = config.find(explicit, Path.cwd())
        if path is None:
            return {}
        return config.default_map(config.read(path), _tree(main), str(path))
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _tree(group: click.Group) -> config.Tree:
    """Each command's parameter names (a group's: its commands'), for the settings file."""
    return {
        name: _tree(command)
        if isinstance(command, click.Group)
        else config.Command.of(
            {p.name: p.opts for p in command.params if p.name and p.name != "config"}
        )
        for name, command in group.commands.items()
    }


def _command_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """``verk-compat worker --config PATH``: read before the command's other options."""
    if not value:
        return
    names: list[str] = []
    up = ctx
    while up.parent is not None:
        names.insert(0, up.info_name or "")
        up = up.parent
    node: object = _settings(value)
    for name in names:
        node = node.get(name, {}) if isinstance(node, dict) else {}
    ctx.default_map = node if isinstance(node, dict) else {}


def _prepare(group: click.Group, path: tuple[str, ...] = ()) -> None:
    """Give each command ``--config`` and each option without a variable of its own
    ``VERK_<COMMAND>_<OPTION>``."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            _prepare(command, (*path, name))
            continue
        for param in command.params:
            longs = [o for o in param.opts if o.startswith("--")]
            named = param.envvar is not None or param.name == "config"
            if isinstance(param, click.Option) and not named and longs:
                param.envvar = config.envvar((*path, name), longs[0])
        if not any(p.name == "config" for p in command.params):
            command.params.append(
                click.Option(
                    ["--config"],
                    type=click.Path(dir_okay=False),
                    is_eager=True,
                    expose_value=False,
                    callback=_command_config,
                    help="Settings file (see verk-compat --help).",
                )
            )


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
