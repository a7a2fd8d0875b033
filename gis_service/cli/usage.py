"""Command-line usage errors (unknown option, missing argument …) told in Chinese, like every other message.

click words them in English; the root group catches them, says what is wrong and where the
help is, and exits 2 as click does.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click import exceptions as click  # typer ≥ 0.25 carries its own click; its errors are these
from typer.core import TyperGroup

from gis_service.cli.output import fail_message

KINDS = {"option": "选项", "argument": "参数", "parameter": "参数"}


def _hint(exc: click.UsageError) -> str:
    """Return the option or argument a usage error is about, as the user typed it."""
    param = getattr(exc, "param", None)
    hint = getattr(exc, "param_hint", None)
    if hint is None and param is not None:
        opts = [str(o) for o in getattr(param, "opts", ())]
        hint = opts if opts and str(opts[0]).startswith("-") else str(param.name or "").upper()
    if isinstance(hint, list | tuple):
        hint = " / ".join(str(h) for h in hint)
    return str(hint or "").replace("'", "")


def _value_problem(message: str) -> str:
    """Return what a bad value should be, in Chinese where the validator's English is known."""
    for english, words in (("valid integer", "应为整数"), ("valid number", "应为数字"), ("valid boolean", "应为是/否")):
        if english in message:
            return words
    return message


def chinese(exc: click.UsageError) -> str:
    """Return a usage error in Chinese, naming the option, argument or command at fault."""
    if isinstance(exc, click.NoSuchOption):
        known = f"；可能是：{'、'.join(exc.possibilities)}" if exc.possibilities else ""
        return f"没有选项 {exc.option_name}{known}"
    if isinstance(exc, click.MissingParameter):
        hint = _hint(exc)
        kind = "选项" if hint.startswith("-") else KINDS.get(exc.param_type or "", "参数")
        return f"缺少{kind} {hint}"
    if isinstance(exc, click.BadParameter):
        return f"{_hint(exc)} 的值无效：{_value_problem(exc.message)}"
    text = exc.message
    if match := re.match(r"No such command '(.+)'\.", text):
        return f"没有命令 {match.group(1)}"
    if match := re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.+)\)", text):
        return f"多余的参数：{match.group(1)}"
    if match := re.match(r"Option '(.+)' requires an argument\.", text):
        return f"选项 {match.group(1)} 需要一个值"
    if text.startswith("Missing command"):
        return "缺少子命令"
    return f"命令用法有误：{text}"


class ChineseUsageGroup(TyperGroup):
    """The root command group: usage errors in Chinese, exit 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; on a usage error print it in Chinese with where the help is."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "rivergis"
            fail_message(f"{chinese(exc)}。用 `{where} --help` 查看用法。", "usage_error")
            sys.exit(exc.exit_code)
        except typer.TyperException as exc:
            fail_message(exc.format_message(), "usage_error")
            sys.exit(exc.exit_code)
        except typer.Abort:
            fail_message("已中断。", "aborted")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)
