"""The options every bootstrap subcommand that renders shares, and the Spec they make.

``add_spec_options`` adds the server/proxy/host argument groups to a subparser;
``spec_from_args`` turns the parsed options (and the environment variables they name) into a
``Spec``; ``kept_keys``, ``check_out_folder``, ``render_for_cli`` and ``write_bundle`` are the
steps ``render`` (bootstrap/cli.py) and ``local`` (bootstrap/local.py) share. Split out of
bootstrap/cli.py so that the subcommand modules (local, apply) import this module and
bootstrap/cli.py imports them, with no import cycle (tests/bootstrap/test_import_graph.py).

Every problem is a ``UsageError``: one line naming the option, exit 2 (``EXIT_USAGE``). Keys
are read from environment variables named on the command line, never from argv.
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

from bootstrap import acme_ports, capacity_options, layout, plain_http, runtime_secrets, runtimes
from bootstrap.bundle import Bundle, render_bundle
from bootstrap.cli_values import ascii_int, looks_like_key, not_a_name, variable_name
from bootstrap.cloudinit import UserDataTooLarge
from bootstrap.echo import shown
from bootstrap.outdir import OutFile, OutputError, check_folder, write_all
from bootstrap.proxy_env import parse_named_keys
from bootstrap.spec import Spec, SpecError, default_key_names, model_case_warnings, validate_key, validate_key_name

EXIT_USAGE = 2

# Spec field -> the option a user typed, so errors speak the CLI's language.
OPTION_FOR_FIELD = {
    "runtime": "--runtime",
    "gpu": "--gpu",
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


def generate_key() -> str:
    return secrets.token_urlsafe(32)


def _read_keys(
    variables: Sequence[str], environ: os._Environ[str] | dict[str, str], option: str = "--api-key-env"
) -> tuple[str, ...]:
    keys = []
    for name in variables:
        value = environ.get(name)
        if value is None and looks_like_key(name):
            raise UsageError(f"{option}: {not_a_name(option)}")
        if value is None:
            raise UsageError(f"{option} {name}: the variable is not set; export it with the key as its value")
        try:
            validate_key(value.strip())
        except SpecError as err:
            raise UsageError(err.render(f"{option} {name}")) from None
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
            raise UsageError(f"{option}: {not_a_name(option)}") from None  # never echo what may be a key
        if sep:
            try:
                validate_key_name(name)
            except SpecError as err:
                raise UsageError(f"{option} {shown(name)}: {err.problem}; {err.allowed}") from None
        names.append(name if sep else default)
        variables.append(variable)
    return tuple(names), _read_keys(variables, environ, option)


def _parse_versions(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        component, sep, version = item.partition("=")
        if not sep:
            raise UsageError(
                f"--image-version: {shown(item)} is not COMPONENT=VERSION; "
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
        help="model to serve (repeatable where the runtime serves several; default: "
        + ", ".join(f"{name} {info.default_model}" for name, info in layout.RUNTIMES.items())
        + "). "
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
    group.add_argument(
        acme_ports.FORWARDED_OPTION,
        action="store_true",
        help="a NAT or load balancer forwards public 80/443 to --http-port/--https-port (for Let's Encrypt)",
    )
    group = parser.add_argument_group("host")
    group.add_argument("--volume-id", help="cloud volume id for the models (mounted at /var/lib/llmhost/models)")
    group.add_argument(
        "--compress",
        default="auto",
        help="user data: auto (default) and always check 16 KB on the gzipped document EC2 receives, never on the text",
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
    keep_alive = runtimes.keep_alive_refusal(spec.runtime)
    if keep_alive is not None and args.keep_alive != "-1":  # only Ollama reads it (OLLAMA_KEEP_ALIVE)
        raise UsageError(f"--keep-alive: {keep_alive[0]}; {keep_alive[1]}")
    forwarded = getattr(args, "ports_forwarded", False)
    problem = acme_ports.unused_option_problem(spec, ports_forwarded=forwarded)
    problem = problem or (None if forwarded else acme_ports.unreachable_acme_problem(spec))
    problem = problem or plain_http.plain_http_site_problem(spec)
    if problem:
        raise UsageError(problem)
    for line in model_case_warnings(tuple(args.models or ()), spec.models):
        print(f"python -m bootstrap: warning: --model {line}", file=sys.stderr)
    try:
        capacity = capacity_options.capacity_from_args(args, spec.runtime, spec.models, gpu=spec.gpu)
    except capacity_options.CapacityOptionError as err:
        raise UsageError(str(err)) from None
    return dataclasses.replace(spec, capacity=capacity) if capacity is not None else spec


@dataclass(frozen=True)
class KeptKeys:
    """The user keys (and their names) of an earlier render that this run keeps."""

    proxy_env: Path
    names: tuple[str, ...]
    keys: tuple[str, ...] = dataclasses.field(repr=False)
    dropped_admin: tuple[str, ...] = ()
    """Names of the admin keys in that proxy.env that this run does not keep (no --admin-key-env)."""

    def overrides(self) -> dict[str, object]:
        return {"api_keys": self.keys, "key_names": self.names}

    def note(self) -> str:
        """What was kept, by name (never the key)."""
        plural = "s" if len(self.keys) > 1 else ""
        return (
            f"kept the API key{plural} already in {self.proxy_env} ({', '.join(self.names)}); "
            "--api-key-env replaces them"
        ) + (
            f"; its admin key(s) ({', '.join(self.dropped_admin)}) are NOT kept: give them again with --admin-key-env"
            if self.dropped_admin
            else ""
        )


def kept_keys(args: argparse.Namespace, folder: Path, option: str) -> KeptKeys | None:
    """The user keys in ``folder``'s proxy.env when this run names none (no --api-key-env or --ssm-parameter).

    A re-render (``render --out``, ``local --dir``) thus keeps the key that apps and servers
    already use instead of generating a new one each run. Admin keys are not kept: they only
    come from ``--admin-key-env``. UsageError naming ``option`` when proxy.env is there but
    cannot be read (a new key would silently replace the one in use).
    """
    if args.api_key_env or args.ssm_parameter:
        return None
    check_out_folder(folder, option)  # a name too long or a file in the way: one line, before any stat below
    existing = folder / layout.PROXY_ENV_FILE
    try:
        if not existing.is_file():
            return None
    except OSError:  # the folder passed, its proxy.env path does not (e.g. over PATH_MAX): write_all will say why
        return None
    try:
        text = existing.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise UsageError(
            f"{option} {folder}: {layout.PROXY_ENV_FILE} is there but cannot be read ({reason}); "
            "fix its permissions or give the keys with --api-key-env"
        ) from None
    pairs = parse_named_keys(text)
    if not pairs:
        if _unknown_lines(text):  # e.g. `export LLMHOST_API_KEYS=...`: a new key would replace the one in use
            raise UsageError(
                f"{option} {folder}: {layout.PROXY_ENV_FILE} has no {layout.KEYS_ENV_VAR}= line this run could "
                f"keep its keys from, but other text; fix {existing} ({layout.KEYS_ENV_VAR}=name:key|name:key, "
                "no export, no quotes), delete it for a new key, or give the keys with --api-key-env"
            )
        return None
    names, keys = tuple(name for name, _ in pairs), tuple(key for _, key in pairs)
    try:  # a hand-edited proxy.env: name the file, not --api-key-env (which this run was not given)
        for name, key in pairs:
            validate_key(key)
            validate_key_name(name)
        if len(set(keys)) != len(keys) or len(set(names)) != len(names):
            raise SpecError("api_keys", "a key or a key name is there twice", "give each once")
    except SpecError as err:
        raise UsageError(
            f"{option} {folder}: {layout.PROXY_ENV_FILE} has a key this run would keep, but {err.problem} "
            f"({err.allowed}); fix {existing}, delete it for a new key, or give the keys with --api-key-env"
        ) from None
    admin = () if getattr(args, "admin_key_env", None) else parse_named_keys(text, layout.ADMIN_KEYS_ENV_VAR)
    return KeptKeys(existing, names, keys, tuple(name for name, _ in admin))


def _unknown_lines(env_text: str) -> bool:
    """Whether a proxy.env text has a line other than a comment, a blank or one of the two key variables."""
    known = (layout.KEYS_ENV_VAR, layout.ADMIN_KEYS_ENV_VAR)
    return any(
        line.strip() and not line.lstrip().startswith("#") and line.partition("=")[0].strip() not in known
        for line in env_text.splitlines()
    )


def render_for_cli(spec: Spec) -> Bundle:
    """``render_bundle`` with a bundle-level SpecError (user data too large) as one UsageError line."""
    try:
        return render_bundle(spec)
    except SpecError as err:
        line = err.render(OPTION_FOR_FIELD.get(err.field, err.field))
        if isinstance(err, UserDataTooLarge):  # e.g. LM Studio + idle stop: the cause is not the model
            idle = ", drop --idle-stop-minutes" if spec.idle_stop_minutes else ""
            line += f"{idle}, or install over SSH (python -m bootstrap apply renders no user data)"
        raise UsageError(line) from None


def write_bundle(bundle: Bundle, folder: Path, option: str) -> None:
    """All of the bundle into ``folder`` or nothing (bootstrap/outdir.py); UsageError otherwise."""
    files = {name: OutFile(f.content, f.mode) for name, f in bundle.files.items()}
    try:
        write_all(folder, files, option)
    except OutputError as err:
        raise UsageError(str(err)) from None


def check_out_folder(folder: Path, option: str) -> None:
    """UsageError naming ``option`` when ``folder`` is a file or lies under one (bootstrap/outdir.py)."""
    try:
        check_folder(folder, option)
    except OutputError as err:
        raise UsageError(str(err)) from None
