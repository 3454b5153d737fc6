"""The CLI's configuration file: ``verk-compat.toml`` or ``[tool.verk-compat]`` in pyproject.toml.

Settings give the defaults of the command-line options; an environment variable overrides a
file, and a flag overrides both (click's order: flag > ``VERK_<COMMAND>_<OPTION>`` or the
option's own variable such as ``REDIS_URL`` > file > built-in default)::

    redis_url = "redis://localhost:6379/0"   # top level: every command that takes it
    namespace = "myapp"

    [worker]
    app = "myapp.jobs:app"
    queues = { default = 25, critical = 10 } # or ["default=25", "critical=10"]
    processes = 2

    [cron.list]                              # a group's command: a nested table
    json = true

Pure parsing only (the adapter is :func:`verk_compat.cli.main`); an unknown command or setting
is a :class:`ConfigError` naming it and the file. Touches no Redis key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FILE",
    "SECTION",
    "Command",
    "ConfigError",
    "Tree",
    "default_map",
    "envvar",
    "find",
    "read",
]

#: The configuration file looked for in the current directory.
FILE = "verk-compat.toml"
#: The table of pyproject.toml that holds the same settings.
SECTION = "verk-compat"


@dataclass(frozen=True)
class Command:
    """The settings one command takes: a name in the file (an option's long name with
    underscores, or the parameter's name) -> click's parameter name."""

    names: Mapping[str, str]
    #: The names an error message lists (the options', as a file writes them).
    shown: tuple[str, ...] = ()

    @classmethod
    def of(cls, params: Mapping[str, Sequence[str]]) -> Command:
        """From click parameter names and each one's option strings (``["--json"]``)."""
        names = {param: param for param in params}
        shown = set()
        for param, options in params.items():
            for option in options:
                if option.startswith("--"):
                    names[option[2:].replace("-", "_")] = param
                    shown.add(option[2:].replace("-", "_"))
        if "app_spec" in names:
            names["app"] = "app_spec"
            shown.add("app")
        return cls(names, tuple(sorted(shown)))


#: Command name -> the command's settings, or a group's own tree.
Tree = Mapping[str, "Tree | Command"]


class ConfigError(ValueError):
    """The configuration file cannot be used as it is; the message names the problem."""


def envvar(path: Sequence[str], option: str) -> str:
    """The environment variable of ``option`` (``--shutdown-timeout``) of the command at
    ``path`` (``["cron", "list"]``): ``VERK_CRON_LIST_SHUTDOWN_TIMEOUT``."""
    words = [*path, option.lstrip("-")]
    return "_".join(["VERK", *(w.upper().replace("-", "_") for w in words)])


def find(explicit: str | None, cwd: Path) -> Path | None:
    """``explicit`` (which must exist), else ``verk-compat.toml``, else a pyproject.toml that has
    ``[tool.verk-compat]``, in ``cwd``; None when there is none."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"configuration file {explicit} does not exist")
        return path
    if (cwd / FILE).is_file():
        return cwd / FILE
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file() and f"[tool.{SECTION}" in pyproject.read_text(errors="replace"):
        return pyproject
    return None


def read(path: Path) -> dict[str, Any]:
    """The settings table of ``path`` (``[tool.verk-compat]`` of a pyproject.toml)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get(SECTION, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.{SECTION}] must be a table")
        return table
    return data


def default_map(table: Mapping[str, Any], tree: Tree, where: str) -> dict[str, Any]:
    """click's ``default_map`` for the commands of ``tree`` from a settings ``table``.

    Top-level values apply to every command that has such a parameter; a table applies to the
    command of its name.
    """
    shared = {_name(k): v for k, v in table.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in table.items() if isinstance(v, dict)}
    everywhere = _all_names(tree)
    for key in shared:
        if key not in everywhere:
            raise ConfigError(f"{where}: no command takes a setting {key!r}")
    return _group(shared, sections, tree, where)


def _group(
    shared: dict[str, Any], sections: Mapping[str, Any], tree: Tree, where: str
) -> dict[str, Any]:
    unknown = sorted(set(sections) - set(tree))
    if unknown:
        raise ConfigError(f"{where}: unknown command [{unknown[0]}] (commands: {', '.join(tree)})")
    result: dict[str, Any] = {}
    for name, node in tree.items():
        own = sections.get(name, {})
        if isinstance(node, Command):
            values = _command(shared, node, where, strict=False)
            values.update(_command(own, node, f"{where} [{name}]", strict=True))
        else:
            values = _group(shared, own, node, f"{where} [{name}]")
        if values:
            result[name] = values
    return result


def _command(
    settings: Mapping[str, Any], command: Command, where: str, strict: bool
) -> dict[str, Any]:
    """click's defaults of ``command`` from ``settings`` (``strict``: every one must fit)."""
    values: dict[str, Any] = {}
    for key, value in settings.items():
        param = command.names.get(_name(key))
        if param is not None:
            values[param] = _value(value)
        elif strict:
            shown = ", ".join(command.shown)
            raise ConfigError(f"{where}: no setting {key!r} (settings: {shown})")
    return values


def _name(key: str) -> str:
    return key.replace("-", "_")


def _value(value: Any) -> Any:
    """A table ``{default = 25}`` is the repeated option ``["default=25"]``."""
    if isinstance(value, dict):
        return [f"{k}={v}" for k, v in value.items()]
    return value


def _all_names(tree: Tree) -> set[str]:
    found: set[str] = set()
    for node in tree.values():
        found |= set(node.names) if isinstance(node, Command) else _all_names(node)
    return found
