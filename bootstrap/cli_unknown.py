"""One helpful line for an argument argparse does not know (``python -m bootstrap <command>``).

argparse's own line for a typo in a subcommand's option is ``python -m bootstrap: error:
unrecognized arguments: --runtme ollama``: it names neither the subcommand nor what is allowed.
A value with a space pasted unquoted (``--host-key ssh-ed25519 AAAA...``) lands here too, as a
stray word. :func:`unknown_argument_line` names the subcommand, the option (with the closest
real one, from ``difflib``), or the stray value and how to quote it.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence

from bootstrap.echo import shown


def _subparser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def unknown_argument_line(parser: argparse.ArgumentParser, command: str | None, extra: Sequence[str]) -> str:
    """``"<prog>: error: ..."`` for the first of ``extra`` (what ``parse_known_args`` left over)."""
    sub = _subparser(parser, command)
    return f"{sub.prog}: error: {unknown_argument_text(sub, extra)}"


def rewrite_unrecognized(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's ``unrecognized arguments: A B`` (an ``error()`` message) as :func:`unknown_argument_text`."""
    prefix = "unrecognized arguments: "
    if not message.startswith(prefix) or not message[len(prefix):].split():
        return message
    return unknown_argument_text(parser, message[len(prefix):].split())


def unknown_argument_text(sub: argparse.ArgumentParser, extra: Sequence[str]) -> str:
    """What is wrong with the first of ``extra`` for ``sub`` and what to do, without the prog prefix."""
    first = extra[0]
    if first.startswith("-") and len(first) > 1:
        name = first.split("=", 1)[0]
        # Compared without the dashes, which would make every pair look alike ("--bogus" ~ "--out").
        options = sorted(o[2:] for o in sub._option_string_actions if o.startswith("--"))
        close = difflib.get_close_matches(name.lstrip("-"), options, n=1, cutoff=0.75)
        hint = f"did you mean --{close[0]}? " if close else ""
        return f"{shown(name)}: no such option; {hint}`{sub.prog} --help` lists them"
    example = "--host-key 'ssh-ed25519 AAAA...'" if "--host-key" in sub._option_string_actions else "--option 'a b'"
    return (
        f"{shown(first)}: an extra value no option takes; each option takes one value: "
        f"quote a value that has spaces (e.g. {example})"
    )
