"""``python -m bootstrap apply``: the bundle on an existing server over SSH, without Pulumi.

Renders the bundle from the same options as ``render``, logs in with a pinned host key
(``--known-hosts`` or ``--host-key``; never trust on first use here: a person at a terminal
can pin the key with ``ssh-keyscan`` after checking it) and does the least that brings the
server to the bundle: nothing when the installed digest matches, a key refresh when only the
keys differ, else a full install whose log lines are printed as they arrive. ``--remove``
takes llmhost off the server again (``--purge``: the models too).

Keys: from ``--api-key-env`` variables (never argv). Without them, a server that has keys keeps
them, and a first install gets a generated key that stays on the server (this command never
prints a key: read it there, the final line says how).

Exit codes: 0 done, 1 the server could not be reached (refused, timed out, no route, name
not resolved, handshake cut) or the remote install or removal failed (its last log line is in
the error), 2 bad arguments, or a host key, login or sudo problem (fix the options and rerun).
Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from bootstrap import layout, remote, ssh_client
from bootstrap.bundle import render_bundle
from bootstrap.cli_options import SpecOptions, UsageError, add_spec_options, spec_from_args
from bootstrap.cli_values import ascii_int, ascii_seconds, login_name_problem, not_empty
from bootstrap.spec import is_ip

PROG = "python -m bootstrap apply"
EXIT_REMOTE = 1


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("apply", help="install (or update, or --remove) the bundle on an existing server over SSH")
    group = parser.add_argument_group("ssh")
    group.add_argument(
        "--host", required=True, type=not_empty, help="the server's address (an IP also names it in the bundle)"
    )
    group.add_argument("--port", type=ascii_int, default=22, help="SSH port (default 22)")
    group.add_argument(
        "--user", required=True, type=not_empty, help="login user: root, or a user with passwordless sudo"
    )
    group.add_argument("--identity", required=True, metavar="KEYFILE", help="private key file for the login")
    pin = group.add_mutually_exclusive_group(required=True)
    pin.add_argument("--known-hosts", metavar="FILE", help="known_hosts file that pins the server's host key")
    pin.add_argument("--host-key", metavar="LINE", help="the server's host key, 'ssh-ed25519 AAAA...'")
    group.add_argument(
        "--connect-timeout", type=ascii_seconds, default=ssh_client.CONNECT_TIMEOUT, metavar="SECONDS",
        help=f"bound on each step of the SSH login (default {ssh_client.CONNECT_TIMEOUT:g})",
    )
    group.add_argument("--root", default="", help=argparse.SUPPRESS)  # tests: a folder stands in for /
    group = parser.add_argument_group("removal")
    group.add_argument("--remove", action="store_true", help="stop llmhost and delete it from the server")
    group.add_argument("--purge", action="store_true", help="with --remove: delete the models too")
    add_spec_options(parser)
    parser.set_defaults(func=cmd_apply)


_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_NAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def _target(args: argparse.Namespace) -> ssh_client.SshTarget:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port: {args.port} is out of range; use 1-65535")
    if not (is_ip(args.host) or (len(args.host) <= 253 and _HOST_NAME_RE.fullmatch(args.host))):
        raise UsageError(f"--host: {args.host[:80]!r} is not a host name or IP address; use e.g. 203.0.113.7 or "
                         "llm.example.com (no user@, no port: --user, --port)")
    if problem := login_name_problem(args.user):
        raise UsageError(f"--user: {problem}")
    return ssh_client.SshTarget(
        host=args.host,
        port=args.port,
        user=args.user,
        identity=args.identity,
        known_hosts=args.known_hosts,
        host_key=args.host_key,
        timeout=args.connect_timeout,
        labels=ssh_client.Labels(user="--user"),
    )


def _print_line(line: str) -> None:
    print(line, flush=True)


def cmd_apply(args: argparse.Namespace) -> int:
    if args.purge and not args.remove:
        raise UsageError("--purge: only with --remove (it deletes the models)")
    target = _target(args)
    bundle = None
    keep_remote_keys = not args.api_key_env and not args.ssm_parameter
    if not args.remove:
        overrides = remote.host_overrides(
            args.host, public_ip=args.public_ip, domain=args.domain, site=args.site, tls=args.tls
        )
        # Over SSH no cloud reads user data: its size limit does not apply (remote.NO_USER_DATA).
        spec = spec_from_args(args, os.environ, SpecOptions(overrides={**overrides, **remote.NO_USER_DATA}))
        bundle = render_bundle(spec)
    try:
        conn = ssh_client.connect(target)
    except ssh_client.UnreachableError as err:  # the network, not the arguments: exit 1, not 2
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_REMOTE
    except ssh_client.SshError as err:
        raise UsageError(str(err)) from None
    try:
        with conn:
            if bundle is None:
                remote.remove(conn, purge=args.purge, on_line=_print_line, root=args.root)
                kept = "models purged" if args.purge else f"models kept in {layout.STATE_DIR}"
                print(f"llmhost: removed from {target.where} ({kept})")
                return 0
            result = remote.apply(conn, bundle, on_line=_print_line, root=args.root, keep_remote_keys=keep_remote_keys)
    except remote.PrivilegeError as err:
        raise UsageError(str(err)) from None
    except remote.RemoteError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_REMOTE
    except ssh_client.SshError as err:  # the session broke after the login
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_REMOTE
    print(_final_line(result, target, spec.public_url, keep_remote_keys))
    return 0


def _final_line(result: remote.ApplyResult, target: ssh_client.SshTarget, url: str, kept_keys: bool) -> str:
    bundle = result.digest[:12]
    if result.action == "unchanged":
        keys = "kept the server's keys" if kept_keys else "keys unchanged"
        return f"llmhost: unchanged: bundle {bundle} is already installed on {target.where}; {keys} ({url})"
    if result.action == "keys":
        line = f"llmhost: bundle {bundle} unchanged on {target.where}; keys refreshed, proxy reloaded ({url})"
    else:
        line = f"llmhost: installed bundle {bundle} on {target.where}: {url}"
    if kept_keys:
        if result.previous.keys_sha256 is None:
            sudo = "" if target.user == "root" else "sudo "
            path = f"{layout.INSTALL_DIR}/{layout.PROXY_ENV_FILE}"
            read = f"ssh -p {target.port} {target.user}@{target.host} {sudo}cat {path}"
            line += f"; generated one API key, read it on the server: {read}"
        else:
            line += "; kept the server's API keys"
    return line
