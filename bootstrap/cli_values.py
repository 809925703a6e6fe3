"""Argument types for the CLIs: strict, one-line errors, never echoing what might be a secret.

argparse turns an ``argparse.ArgumentTypeError`` into ``argument --opt: <message>`` and exit 2;
the messages here never contain the value when it could be a key. Add new typed options
(ports, counts) with ``ascii_int`` so ``"١٢"`` or ``"1_0"`` (which ``int()`` accepts) stay out.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path

from bootstrap import layout

_ASCII_INT_RE = re.compile(r"-?[0-9]{1,18}")
_VARIABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def ascii_int(text: str) -> int:
    """A whole number written with ASCII digits only (``int()`` also takes ``١٢``, ``1_0``, `` 7``)."""
    if not _ASCII_INT_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text[:20]!r} is not a whole number of at most 18 digits; use ASCII digits such as 30"
        )
    return int(text)


def not_empty(text: str) -> str:
    """A value that must not be empty or blank (``--host ""`` from an unset variable)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("it is empty; give a value")
    return text


def folder(text: str) -> Path:
    """A folder argument; an empty one is refused (``Path("")`` is the current folder: an unset $OUT)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("it is empty; name a folder, e.g. out/")
    if len(os.fsencode(text)) >= 4096:  # PATH_MAX: stat() would raise ENAMETOOLONG
        raise argparse.ArgumentTypeError(f"it is {len(os.fsencode(text))} bytes long; name a folder under 4096 bytes")
    return Path(text)


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (``is a folder, not a file``, ``no such file``), or None.

    ``Path.is_file()`` alone says "no such file" for ``--identity /etc``, which exists.
    """
    if path.is_file():
        return None
    if path.is_dir():
        return "is a folder, not a file; give the file itself"
    if path.exists():
        return "is not a regular file (a device or a pipe); give a file"
    return "no such file"


def looks_like_key(text: str) -> bool:
    """A value shaped like an API key rather than a conventional (upper-case) variable name."""
    return (
        len(text) >= layout.MIN_KEY_LENGTH
        and re.fullmatch(r"[A-Za-z0-9_-]+", text) is not None
        and (any(c.islower() for c in text) or "-" in text)
    )


def not_a_name(option: str = "--api-key-env") -> str:
    """Why ``option``'s value was refused, with the example in that same option (never the value)."""
    return (
        "expects the NAME of an environment variable holding the key (the value given is not shown: it "
        f"may be the key itself); e.g. export LLMHOST_KEY=... then {option} LLMHOST_KEY"
    )


NOT_A_NAME = not_a_name()


def variable_name(text: str) -> str:
    """The NAME of an environment variable (``--api-key-env LLMHOST_KEY``), never its value.

    A value that is not a variable name is refused without echoing it: ``--api-key-env "$KEY"``
    must not print the key back. A valid name that is unset but shaped like a key is refused
    the same way where the environment is read (bootstrap/cli_options.py ``_read_keys``).
    """
    if not _VARIABLE_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(NOT_A_NAME)
    return text


_ASCII_NUMBER_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?")


def ascii_seconds(text: str) -> float:
    """A number of seconds above 0 in ASCII (``float()`` also takes ``١٢``, ``1_0``, ``inf``).

    0 is refused: a connect timeout of 0 fails every connection with "Operation now in progress".
    """
    if not _ASCII_NUMBER_RE.fullmatch(text) or float(text) == 0:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a number of seconds above 0; use e.g. 10 or 2.5")
    return float(text)


LOGIN_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
"""A login name everything that logs in accepts (apply --user, checks --ssh-user, usage --ssh-user,
Pulumi's ``llmhost:sshUser``): POSIX portable characters, at most 32 (useradd's limit), never a
leading ``-`` or ``.`` (``ssh -l -oProxyCommand=...``). The one rule: use :func:`is_login_name`."""

LOGIN_NAME_ALLOWED = "use letters, digits, _ . - (at most 32), e.g. ubuntu or root"


def is_login_name(user: str) -> bool:
    """Whether ``user`` follows :data:`LOGIN_NAME_RE` in full (no trailing line break either)."""
    return LOGIN_NAME_RE.fullmatch(user) is not None


def login_name_problem(user: str) -> str | None:
    """None for a good login name; else the rest of a one-line error (after ``--option: ``)."""
    if is_login_name(user):
        return None
    return f"{user[:40]!r} is not a login name; {LOGIN_NAME_ALLOWED}"


def bounded_number(low: float, high: float, unit: str, example: str) -> Callable[[str], float]:
    """An argparse type: an ASCII decimal number from ``low`` to ``high`` (``float()`` also takes
    ``1e9``, ``inf``, ``nan``, ``١٢``, ``1_0``); the message gives the range and an example."""

    def parse(text: str) -> float:
        allowed = f"use a number from {low:g} to {high:g} ({unit}), e.g. {example}"
        digits = text[1:] if text.startswith("-") else text  # "-1" is a number, below the range
        if not _ASCII_NUMBER_RE.fullmatch(digits):
            raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a plain number; {allowed}")
        value = float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range; {allowed}")
        return value

    return parse
