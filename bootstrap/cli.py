"""``python -m bootstrap``: render the bundle, run it on this machine with Docker (``local``), or
install it on an existing server over SSH (``apply``, bootstrap/apply.py).

Bad input ends with exit code 2 and one line on stderr that names the option, says what
was wrong and what is allowed; nothing is written. Keys are read from environment
variables named on the command line, never from argv (argv is visible to every user).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from bootstrap import apply, layout, local
from bootstrap.cli_options import (
    EXIT_USAGE,
    OPTION_FOR_FIELD,
    KeptKeys,
    SpecOptions,
    UsageError,
    add_spec_options,
    check_out_folder,
    generate_key,
    kept_keys,
    render_for_cli,
    spec_from_args,
    write_bundle,
)
from bootstrap.cli_unknown import unknown_argument_line
from bootstrap.cli_values import folder
from bootstrap.echo import cut_long_words

__all__ = [  # re-exported: the shared option parsing lives in bootstrap/cli_options.py
    "EXIT_USAGE",
    "OPTION_FOR_FIELD",
    "KeptKeys",
    "SpecOptions",
    "UsageError",
    "add_spec_options",
    "build_parser",
    "check_out_folder",
    "generate_key",
    "kept_keys",
    "main",
    "render_for_cli",
    "spec_from_args",
    "write_bundle",
]


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and exit 2 like ours."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {cut_long_words(message)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)

    def parse_args(self, args: Sequence[str] | None = None, namespace: object = None) -> argparse.Namespace:  # type: ignore[override]
        parsed, extra = self.parse_known_args(args, namespace)  # type: ignore[arg-type]
        if extra:  # a typo in an option, or a value with spaces pasted unquoted (bootstrap/cli_unknown.py)
            print(unknown_argument_line(self, getattr(parsed, "command", None), extra), file=sys.stderr)
            raise SystemExit(EXIT_USAGE)
        return parsed


def cmd_render(args: argparse.Namespace) -> int:
    out = Path(args.out)
    kept = kept_keys(args, out, "--out")
    spec = spec_from_args(args, os.environ, SpecOptions(overrides=kept.overrides() if kept else None))
    bundle = render_for_cli(spec)
    write_bundle(bundle, out, "--out")
    print(f"wrote {len(bundle.files)} files to {out} (bundle {bundle.digest[:12]}, site {spec.site_address})")
    if kept:
        print(kept.note())
    elif not args.api_key_env and not args.ssm_parameter:
        print(f"generated one API key: it is in {out / layout.PROXY_ENV_FILE} ({layout.KEYS_ENV_VAR}=...)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bootstrap",
        description="Render the llmhost server bundle, run it locally, or apply it to a server over SSH.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    render = sub.add_parser("render", help="write the bundle files into a directory")
    render.add_argument("--out", required=True, type=folder, help="directory to write into (created if missing)")
    add_spec_options(render)
    render.set_defaults(func=cmd_render)
    local.add_parser(sub)  # each has its own module: local runs Docker, apply SSH
    apply.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as err:
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
