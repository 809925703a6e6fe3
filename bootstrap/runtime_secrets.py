"""Reading a runtime's download token (``--hf-token-env VAR``) from the environment, never from argv.

Like the API keys (bootstrap/cli.py ``--api-key-env``): the command line names a variable, the
value never appears in argv, in a message or in a log; a missing variable or a value that looks
pasted where the name belongs is one usage line (exit 2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from bootstrap.cli_values import looks_like_key

OPTION = "--hf-token-env"


class TokenOptionError(ValueError):
    """One line naming the option (the CLI turns it into a usage error)."""


def read_hf_token(variable: str | None, environ: Mapping[str, str] | os._Environ[str]) -> str | None:
    """The token in ``variable``, stripped; None when no variable is named. TokenOptionError otherwise."""
    if variable is None:
        return None
    if looks_like_key(variable) or (variable.startswith("hf_") and len(variable) >= 20):
        # Never echo what may be the token itself.
        raise TokenOptionError(
            f"{OPTION}: expects the NAME of a variable holding the token (the value given is not shown); "
            "export HF_TOKEN=... and pass --hf-token-env HF_TOKEN"
        )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", variable):
        raise TokenOptionError(f"{OPTION}: not an environment variable name; use e.g. HF_TOKEN")
    value = environ.get(variable)
    if value is None:
        raise TokenOptionError(f"{OPTION} {variable}: the variable is not set; export it with the token as its value")
    if not value.strip():
        raise TokenOptionError(f"{OPTION} {variable}: the variable is empty; export it with the token as its value")
    return value.strip()
