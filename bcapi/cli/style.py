"""Colour for the terminal, through click only.

Text is styled with `click.style` and written with `click.echo`, which drops the styles when
the output is not a terminal (a pipe, a file, CI logs). `NO_COLOR` (https://no-color.org: set
and not empty) turns them off everywhere: click does not read it, so `honour_no_color` sets the
command's context to no colour, which every `click.echo` under it then follows.
"""
from __future__ import annotations

import os

import click

RATING_COLOURS = {"green": "green", "amber": "yellow", "red": "red"}
SEVERITY_COLOURS = {"blocker": "red", "major": "yellow", "minor": "cyan", "advice": "blue"}


def honour_no_color(ctx: click.Context) -> None:
    """No colour for this command and every command under it when NO_COLOR is set."""
    if os.environ.get("NO_COLOR"):
        ctx.color = False


def rating(text: str, value: str, *, bold: bool = True) -> str:
    """`text` in the colour of the rating `value` (green, amber, red)."""
    return click.style(text, fg=RATING_COLOURS.get(value), bold=bold)


def severity(value: str) -> str:
    return click.style(f"[{value}]", fg=SEVERITY_COLOURS.get(value))


def dim(text: str) -> str:
    return click.style(text, dim=True)


def bold(text: str) -> str:
    return click.style(text, bold=True)


def bad(text: str) -> str:
    return click.style(text, fg="red", bold=True)


def good(text: str) -> str:
    return click.style(text, fg="green")


def warn(text: str) -> str:
    return click.style(text, fg="yellow")


def problem(p) -> str:
    """A `bcapi rules check` problem, `file:line rule-id message`, with its place and rule picked out."""
    where = f"{p.file}:{p.line}" if p.line else p.file
    return f"{bold(where)} {warn(p.rule_id or '-')} {p.message}"
