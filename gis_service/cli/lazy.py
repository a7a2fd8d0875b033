"""Command groups loaded on first use, so that ``rivergis --help`` answers before geopandas could load.

Each command of ``rivergis`` lives in a module of :mod:`gis_service.cli` named in the table of
:mod:`gis_service.cli.main` with its one-line help. The module (and so SQLAlchemy, geopandas, FastAPI)
is imported only when that command runs or its own help is asked for; the top-level help lists the
commands from the table. Click documents this pattern ("lazily loading subcommands"); Typer has
no switch for it, hence this small group class.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer

# Typer ships its own copy of Click (typer._click); its groups and commands are of those classes.
from typer import _click as click
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """A command of ``rivergis``: its name, where it lives (``module:attribute``) and its one-line help."""

    name: str
    target: str
    help: str

    def load(self) -> click.Command:
        """Import the command's module and return it as a Click command named :attr:`name`."""
        module_name, _, attribute = self.target.partition(":")
        obj: Any = getattr(importlib.import_module(module_name), attribute)
        command: click.Command
        if isinstance(obj, typer.Typer):
            obj.info.help = obj.info.help or self.help
            command = typer.main.get_group(obj)  # a group even with one subcommand (rivergis map problems)
        else:
            single = typer.Typer(add_completion=False)
            single.command(self.name, help=self.help)(obj)
            command = typer.main.get_command(single)
        command.name = self.name
        return command


class LazyGroup(TyperGroup):
    """A Typer group whose subcommands are :class:`LazyCommand` entries, imported on first use."""

    lazy: dict[str, LazyCommand] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, click.Command] = {}
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the eager commands, then the lazy ones in table order."""
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return a command, importing its module the first time; while listing help, a stand-in."""
        spec = self.lazy.get(cmd_name)
        if spec is None:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            return typer.core.TyperCommand(cmd_name, help=spec.help, short_help=spec.help)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = spec.load()
        return self._loaded[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Print the help, listing lazy commands from the table without importing them."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
