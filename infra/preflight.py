"""``python -m infra.preflight``: can ``pulumi up`` find credentials for the target?

A missing credential otherwise shows up minutes into ``pulumi up`` as a provider stack
trace. This check runs before it, offline (it never opens a connection: the EC2 instance
metadata and container credential endpoints are recognised from local evidence instead of
being called), and prints one line: what was found, or what is missing and how to provide it.

Exit status: 0 when the target can be deployed to, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.config import DEFAULT_TARGET, TARGETS, reject_unknown_keys
from infra.config_values import NAMESPACE, ConfigError, full_key

# Local evidence that this machine is an EC2 instance (Nitro and Xen instance types).
EC2_EVIDENCE_FILES: tuple[tuple[Path, str], ...] = (
    (Path("/sys/devices/virtual/dmi/id/sys_vendor"), "Amazon EC2"),
    (Path("/sys/devices/virtual/dmi/id/board_asset_tag"), "i-"),
    (Path("/sys/hypervisor/uuid"), "ec2"),
)
CONTAINER_CREDENTIAL_VARS = ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
# Providers that would make a network call while resolving; recognised locally instead.
NETWORK_PROVIDERS = ("iam-role", "container-role")

StackConfig = Mapping[str, "str | None"]
"""Stack config keys (``aws:region``) -> value; None for a secret whose value is hidden."""


LOCAL_HINT = "; or run `make local` to run the same server on this machine with Docker (no cloud account)"
"""Appended to a missing-credentials line: the one alternative that needs no cloud at all."""


@dataclass(frozen=True)
class Result:
    ok: bool
    line: str


def running_on_ec2(evidence: Sequence[tuple[Path, str]] | None = None) -> bool:
    """True when the DMI/hypervisor files say EC2: the instance role is then a credential."""
    for path, prefix in EC2_EVIDENCE_FILES if evidence is None else evidence:
        try:
            if path.read_text(encoding="utf-8", errors="replace").strip().startswith(prefix):
                return True
        except OSError:
            continue
    return False


def check_aws(config: StackConfig, *, on_ec2: Callable[[], bool] = running_on_ec2) -> Result:
    """Credentials through botocore's chain (minus network providers) and a region."""
    import botocore.session
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    profile = config.get("aws:profile") or None
    try:
        session = botocore.session.Session(profile=profile)
        source = _aws_credential_source(session, config, on_ec2)
        region = (
            config.get("aws:region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or session.get_config_variable("region")
        )
    except ProfileNotFound as err:
        name = getattr(err, "kwargs", {}).get("profile", profile or os.environ.get("AWS_PROFILE", ""))
        return Result(
            False,
            f"AWS profile {name!r} not found: create it with `aws configure --profile {name}` "
            "or unset AWS_PROFILE / aws:profile",
        )
    except BotoCoreError as err:
        return Result(False, f"AWS credentials are unusable: {_one_line(str(err))}")
    if source is None:
        return Result(
            False,
            "AWS credentials not found: run `aws configure` or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE)" + LOCAL_HINT,
        )
    if not region:
        return Result(
            False,
            "AWS region not set: run `pulumi config set aws:region us-east-1` or set AWS_REGION "
            "(or a region in your AWS profile)",
        )
    return Result(True, f"preflight: AWS credentials found ({source}), region {region}")


def _aws_credential_source(session: object, config: StackConfig, on_ec2: Callable[[], bool]) -> str | None:
    """Name of the first credential source that resolves, or None."""
    if "aws:accessKey" in config and "aws:secretKey" in config:
        return "stack config aws:accessKey"
    resolver = session.get_component("credential_provider")  # type: ignore[attr-defined]
    for name in NETWORK_PROVIDERS:
        resolver.remove(name)
    credentials = resolver.load_credentials()
    if credentials is not None:
        return str(credentials.method)
    if any(os.environ.get(var) for var in CONTAINER_CREDENTIAL_VARS):
        return "container credentials endpoint"
    if on_ec2():
        return "EC2 instance role"
    return None


def check_hetzner(config: StackConfig) -> Result:
    """The hcloud provider reads HCLOUD_TOKEN or the hcloud:token stack setting."""
    if os.environ.get("HCLOUD_TOKEN"):
        return Result(True, "preflight: Hetzner Cloud token found (HCLOUD_TOKEN)")
    if "hcloud:token" in config:
        return Result(True, "preflight: Hetzner Cloud token found (stack config hcloud:token)")
    return Result(
        False,
        "Hetzner Cloud token not found: run `pulumi config set --secret hcloud:token <token>` or set HCLOUD_TOKEN "
        "(create a token in the Hetzner Cloud Console under Security > API tokens)" + LOCAL_HINT,
    )


def check(target: str, config: StackConfig) -> Result:
    if target == "aws":
        return check_aws(config)
    if target == "hetzner":
        return check_hetzner(config)
    if target in TARGETS:
        return Result(True, f"preflight: target {target} needs no cloud credentials")
    return Result(False, f"{full_key('target')}: {target!r} is not supported; use one of: {', '.join(TARGETS)}")


def read_stack_config(path: Path) -> dict[str, str | None]:
    """Parse ``pulumi config --json``: ``{key: {"value": ..., "secret": bool}}``.

    Without ``--show-secrets`` a secret's value is hidden; its key still counts as set.
    """
    data = json.loads(path.read_text(encoding="utf-8") or "{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    config: dict[str, str | None] = {}
    for key, entry in data.items():
        if isinstance(entry, dict):
            value = entry.get("value")
            config[key] = None if entry.get("secret") or value is None else str(value)
        else:
            config[key] = None if entry is None else str(entry)
    return config


def unknown_key_line(config: StackConfig) -> str | None:
    """The one line for a ``llmhost:`` key that is not a setting (a typo), before any credential
    check: otherwise it shows only at preview, after the credentials are fixed. None when all known."""
    prefix = f"{NAMESPACE}:"
    try:
        reject_unknown_keys(key.removeprefix(prefix) for key in config if key.startswith(prefix))
    except ConfigError as err:
        return str(err)
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.preflight", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target", help=f"one of {', '.join(TARGETS)} (default: llmhost:target, else {DEFAULT_TARGET})"
    )
    parser.add_argument("--stack-config", type=Path, help="output of `pulumi config --json` for the stack")
    args = parser.parse_args(argv)

    config: dict[str, str | None] = {}
    if args.stack_config is not None:
        try:
            config = read_stack_config(args.stack_config)
        except (OSError, ValueError) as err:
            problem = _one_line(str(err))
            print(f"preflight: cannot read the stack config {args.stack_config}: {problem}", file=sys.stderr)
            return 1
    typo = unknown_key_line(config)
    if typo is not None:
        print(typo, file=sys.stderr)
        return 1
    target = args.target or config.get(full_key("target")) or DEFAULT_TARGET
    result = check(target, config)
    print(result.line, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
