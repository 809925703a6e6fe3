"""``python -m bootstrap``: render the bundle, run it on this machine with Docker (``local``), or
install it on an existing server over SSH (``apply``, bootstrap/apply.py).

Bad input ends with exit code 2 and one line on stderr that names the option, says what
was wrong and what is allowed; nothing is written. Keys are read from environment
variables named on the command line, never from argv (argv is visible to every user).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from bootstrap import capacity_options, layout, runtime_secrets, runtimes
from bootstrap.bundle import Bundle, render_bundle
from bootstrap.cli_values import NOT_A_NAME, ascii_int, looks_like_key, variable_name
from bootstrap.outdir import OutFile, OutputError, write_all
from bootstrap.spec import Spec, SpecError, default_key_names, model_case_warnings, validate_key, validate_key_name

EXIT_USAGE = 2

# Spec field -> the option a user typed, so errors speak the CLI's language.
OPTION_FOR_FIELD = {
    "runtime": "--runtime",
    "models": "--model",
    "origins": "--origin",
    "api_keys": "--api-key-env",
    "key_names": "--api-key-env",
    "admin_keys": "--admin-key-env",
    "admin_key_names": "--admin-key-env",
    "domain": "--domain",
    "site": "--site",
    "upstream": "--upstream",
    "ssm_parameter": "--ssm-parameter",
    "public_ip": "--public-ip",
    "tls": "--tls",
    "acme_email": "--acme-email",
    "versions": "--image-version",
    "max_body_mb": "--max-body-mb",
    "model_volume_id": "--volume-id",
    "keep_alive": "--keep-alive",
    "compress": "--compress",
    "idle_stop_minutes": "--idle-stop-minutes",
    "listen_address": "--bind",
    "http_port": "--http-port",
    "https_port": "--https-port",
    "hf_token": "--hf-token-env",
}


class UsageError(Exception):
    """A one-line complaint about the command line (exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and exit 2 like ours."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def generate_key() -> str:
    return secrets.token_urlsafe(32)


def _read_keys(variables: Sequence[str], environ: os._Environ[str] | dict[str, str]) -> tuple[str, ...]:
    keys = []
    for name in variables:
        value = environ.get(name)
        if value is None and looks_like_key(name):
            raise UsageError(f"--api-key-env: {NOT_A_NAME}")
        if value is None:
            raise UsageError(f"--api-key-env {name}: the variable is not set; export it with the key as its value")
        try:
            validate_key(value.strip())
        except SpecError as err:
            raise UsageError(err.render(f"--api-key-env {name}")) from None
        keys.append(value.strip())
    return tuple(keys)


def _read_named_keys(
    option: str, items: Sequence[str], environ: os._Environ[str] | dict[str, str], prefix: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``[NAME=]VAR`` items -> (names, keys); an item without a name gets key-N / admin-N."""
    names: list[str] = []
    variables: list[str] = []
    defaults = default_key_names(len(items), prefix)
    for item, default in zip(items, defaults, strict=True):
        name, sep, variable = item.partition("=") if "=" in item else ("", "", item)
        try:
            variable_name(variable)
        except argparse.ArgumentTypeError:
            raise UsageError(f"{option}: {NOT_A_NAME}") from None  # never echo what may be a key
        if sep:
            try:
                validate_key_name(name)
            except SpecError as err:
                raise UsageError(f"{option} {name[:40]!r}: {err.problem}; {err.allowed}") from None
        names.append(name if sep else default)
        variables.append(variable)
    try:
        keys = _read_keys(variables, environ)
    except UsageError as err:
        raise UsageError(str(err).replace("--api-key-env", option, 1)) from None
    return tuple(names), keys


def _parse_versions(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        component, sep, version = item.partition("=")
        if not sep:
            raise UsageError(
                f"--image-version: {item!r} is not COMPONENT=VERSION; "
                f"use one of {', '.join(layout.DEFAULT_VERSIONS)}, e.g. ollama=0.20.6"
            )
        pairs.append((component, version))
    return tuple(pairs)


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """The options that describe a server; shared by every subcommand that renders."""
    group = parser.add_argument_group("server")
    group.add_argument("--runtime", default="ollama", help=f"{runtimes.choices_text()} (default ollama)")
    group.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="M",
        help="model to serve (repeatable; default gemma3:1b). "
        + "; ".join(f"{name}: {info.model_help}" for name, info in list(layout.RUNTIMES.items())[1:]),
    )
    group.add_argument("--gpu", action="store_true", help="reserve NVIDIA GPUs for the runtime")
    group.add_argument(
        "--hf-token-env",
        metavar="VAR",
        help="environment variable holding a Hugging Face token for gated models (vllm; kept in runtime.env, 0600)",
    )
    group.add_argument("--keep-alive", default="-1", help="how long Ollama keeps a model loaded (default -1: always)")
    group.add_argument(
        "--image-version",
        action="append",
        default=[],
        metavar="COMPONENT=VERSION",
        help=f"pin another image version ({', '.join(f'{k}={v}' for k, v in layout.DEFAULT_VERSIONS.items())})",
    )
    group = parser.add_argument_group("proxy")
    group.add_argument("--domain", help="DNS name pointing at the server: automatic HTTPS from Let's Encrypt")
    group.add_argument("--public-ip", help="the server's public IP (for the IP-derived name or the internal CA)")
    group.add_argument("--tls", default="auto", help="auto (default), acme, ipdomain or internal")
    group.add_argument("--acme-email", help="contact address for the ACME account")
    group.add_argument(
        "--origin",
        action="append",
        dest="origins",
        default=[],
        metavar="URL",
        help="browser origin allowed by CORS, scheme://host[:port] (repeatable)",
    )
    group.add_argument(
        "--allow-null-origin",
        action="store_true",
        help="allow --origin null (file:// pages, sandboxed iframes, some webviews; the key still protects the API)",
    )
    group.add_argument(
        "--api-key-env",
        action="append",
        default=[],
        metavar="[NAME=]VAR",
        help="environment variable holding a user API key, optionally named for the log (alice=VAR; repeatable)",
    )
    group.add_argument(
        "--admin-key-env",
        action="append",
        default=[],
        metavar="[NAME=]VAR",
        help="environment variable holding an admin API key: every route, incl. model management (repeatable)",
    )
    group.add_argument(
        "--ssm-parameter", help="AWS SSM SecureString with the keys, fetched at boot (no key in any file)"
    )
    group.add_argument(
        "--max-body-mb",
        type=ascii_int,
        default=layout.DEFAULT_MAX_BODY_MB,
        help=f"request body cap in MB (default {layout.DEFAULT_MAX_BODY_MB}; larger bodies get 413)",
    )
    group.add_argument("--site", help="serve the proxy rules on another site address, e.g. http://127.0.0.1:8088")
    group.add_argument("--upstream", help="runtime address as the proxy sees it, e.g. 127.0.0.1:11434")
    group.add_argument(
        "--bind", metavar="IP", help="host address the proxy publishes on (default: all; local: 127.0.0.1)"
    )
    group.add_argument("--http-port", type=ascii_int, default=80, metavar="N", help="host port for HTTP (default 80)")
    group.add_argument(
        "--https-port", type=ascii_int, default=443, metavar="N", help="host port for HTTPS (default 443)"
    )
    group = parser.add_argument_group("host")
    group.add_argument("--volume-id", help="cloud volume id for the models (mounted at /var/lib/llmhost/models)")
    group.add_argument(
        "--compress", default="auto", help="user data gzip+base64: auto (default, only over 16 KB), always, never"
    )
    group.add_argument(
        "--idle-stop-minutes",
        type=ascii_int,
        metavar="N",
        help=f"power off after N minutes without an authenticated request ({layout.MIN_IDLE_STOP_MINUTES}-"
        f"{layout.MAX_IDLE_STOP_MINUTES}; on EC2 with shutdown behaviour stop, the instance stops)",
    )
    capacity_options.add_capacity_options(parser)


@dataclass(frozen=True)
class SpecOptions:
    """What ``spec_from_args`` needs besides the parsed options."""

    generate_key_if_missing: bool = True
    overrides: dict[str, object] | None = None


def _hf_token(args: argparse.Namespace, environ: dict[str, str] | os._Environ[str]) -> str | None:
    try:
        return runtime_secrets.read_hf_token(getattr(args, "hf_token_env", None), environ)
    except runtime_secrets.TokenOptionError as err:
        raise UsageError(str(err)) from None


def spec_from_args(args: argparse.Namespace, environ: dict[str, str] | os._Environ[str], options: SpecOptions) -> Spec:
    names, keys = _read_named_keys("--api-key-env", args.api_key_env, environ, "key-")
    admin_names, admin_keys = _read_named_keys("--admin-key-env", getattr(args, "admin_key_env", []), environ, "admin-")
    if not keys and not args.ssm_parameter and options.generate_key_if_missing:
        keys = (generate_key(),)
        names = ()
    fields: dict[str, object] = {
        "runtime": args.runtime,
        "models": tuple(args.models) if args.models else None,  # None: the runtime's default
        "gpu": args.gpu,
        "keep_alive": args.keep_alive,
        "versions": _parse_versions(args.image_version),
        "domain": args.domain,
        "public_ip": args.public_ip,
        "tls": args.tls,
        "acme_email": args.acme_email,
        "origins": tuple(args.origins),
        "api_keys": keys,
        "key_names": names,
        "admin_keys": admin_keys,
        "admin_key_names": admin_names,
        "allow_null_origin": getattr(args, "allow_null_origin", False),
        "ssm_parameter": args.ssm_parameter,
        "max_body_mb": args.max_body_mb,
        "site": args.site,
        "upstream": args.upstream,
        "model_volume_id": args.volume_id,
        "compress": args.compress,
        "idle_stop_minutes": args.idle_stop_minutes,
        "listen_address": args.bind,
        "http_port": args.http_port,
        "https_port": args.https_port,
        "hf_token": _hf_token(args, environ),
    }
    fields.update(options.overrides or {})
    try:
        spec = Spec(**fields)  # type: ignore[arg-type]
    except SpecError as err:
        raise UsageError(err.render(OPTION_FOR_FIELD.get(err.field, err.field))) from None
    for line in model_case_warnings(tuple(args.models or ()), spec.models):
        print(f"python -m bootstrap: warning: --model {line}", file=sys.stderr)
    try:
        capacity = capacity_options.capacity_from_args(args, spec.runtime, spec.models, gpu=spec.gpu)
    except capacity_options.CapacityOptionError as err:
        raise UsageError(str(err)) from None
    return dataclasses.replace(spec, capacity=capacity) if capacity is not None else spec


def render_for_cli(spec: Spec) -> Bundle:
    """``render_bundle`` with a bundle-level SpecError (user data too large) as one UsageError line."""
    try:
        return render_bundle(spec)
    except SpecError as err:
        raise UsageError(err.render(OPTION_FOR_FIELD.get(err.field, err.field))) from None


def cmd_render(args: argparse.Namespace) -> int:
    spec = spec_from_args(args, os.environ, SpecOptions())
    bundle = render_for_cli(spec)
    out = Path(args.out)
    write_bundle(bundle, out, "--out")
    print(f"wrote {len(bundle.files)} files to {out} (bundle {bundle.digest[:12]}, site {spec.site_address})")
    if not args.api_key_env and not args.ssm_parameter:
        print(f"generated one API key: it is in {out / layout.PROXY_ENV_FILE} ({layout.KEYS_ENV_VAR}=...)")
    return 0


def write_bundle(bundle: Bundle, folder: Path, option: str) -> None:
    """All of the bundle into ``folder`` or nothing (bootstrap/outdir.py); UsageError otherwise."""
    files = {name: OutFile(f.content, f.mode) for name, f in bundle.files.items()}
    try:
        write_all(folder, files, option)
    except OutputError as err:
        raise UsageError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bootstrap",
        description="Render the llmhost server bundle, run it locally, or apply it to a server over SSH.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    render = sub.add_parser("render", help="write the bundle files into a directory")
    render.add_argument("--out", required=True, help="directory to write into (created if missing)")
    add_spec_options(render)
    render.set_defaults(func=cmd_render)

    from bootstrap import apply, local  # each has its own module: local runs Docker, apply SSH

    local.add_parser(sub)
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
