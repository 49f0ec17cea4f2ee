"""Help pages that read well: a parameter shows its metavar (PATH, N, NAME=VALUE), a flag
its name alone; never typer's Python types (`<bool>`, `<list[str]>`), which tell someone
reading `--help` nothing.

`typer.Typer(cls=PlainHelp)` on the top-level app does it for every command under it.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# Placeholders for an option that names none, by the type typer would have shown.
_BY_TYPE = {"str": "TEXT", "int": "N", "int range": "N", "float": "NUMBER", "path": "PATH"}


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: object) -> str | None:
        return None  # the name column says it already: LOG, WORDS

    def _usage_display_name(self) -> str:
        # typer writes a required argument `{NAME}`, which reads as a set of choices; the
        # usual convention is NAME bare, [NAME] when optional.
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


def _placeholder(option: TyperOption, ctx: typer.Context) -> str:
    if option.is_flag:
        return ""
    shown = (option.display_type(ctx) or "").strip("<>")
    if shown.startswith("list[") and shown.endswith("]"):
        shown = shown[5:-1]
    return _BY_TYPE.get(shown.lower(), shown.upper())


def _plain(params: list[Any], ctx: typer.Context) -> None:
    for param in params:
        if isinstance(param, TyperArgument) and not isinstance(param, _Argument):
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
            # typer has no setting for an argument's type column: a subclass drops it.
            param.__class__ = _Argument
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = _placeholder(param, ctx)


def _plain_commands(group: TyperGroup) -> None:
    for command in group.commands.values():
        if isinstance(command, TyperCommand | TyperGroup):
            # typer makes --help once per command and keeps it: made here, it is the one shown.
            _plain(command.get_params(ctx := typer.Context(command)), ctx)
        if isinstance(command, TyperGroup):
            _plain_commands(command)


class PlainHelp(TyperGroup):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _plain_commands(self)

    def get_params(self, ctx: Any) -> list[Any]:
        # The group's own, asked for late: typer adds --install-completion after __init__.
        params = super().get_params(ctx)
        _plain(params, ctx)
        return params
