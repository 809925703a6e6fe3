"""What the server itself knows, for ``python -m checks --diagnose``.

Two sources, each called by ``checks.diagnostics`` and each failing with one ``DiagnoseError``
line, never a traceback:

``collect_ssh``: logs in with paramiko and runs a fixed list of read-only commands (cloud-init's
status, the readiness report, the compose project's containers and the last log lines of the
runtime and the proxy, the install log, disk and memory). The host key is **pinned**: it must
be in the ``known_hosts`` file given, or be the ``host_key`` given ("ssh-ed25519 AAAA..."), or,
when neither is given, in the user's own ``~/.ssh/known_hosts`` (as ``ssh`` would). An unknown
or different key is refused; a key is never added (the login is bootstrap/ssh_client.py, the
same as the deploy's). Each command has its own time limit, and its failure (not installed,
non-zero exit, timeout) is recorded in its entry; only a failure to log in stops the collection.

``collect_aws``: without SSH, through the EC2 API (boto3): the instance's state, its system and
instance status checks, and the last lines of its console output (cloud-init writes its
progress there, so a boot that hangs is visible).

Secrets: every line that sets the keys variable (``LLMHOST_API_KEYS=...``) and every bearer
token is replaced by ``[redacted]`` before anything is returned; ``checks.diagnostics`` also
removes the target's own key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import shlex
from collections import deque
from typing import Any

from bootstrap import layout, ssh_client
from bootstrap.runtimes import lmstudio as lmstudio_runtime
from checks.errors import one_line
from infra import naming

REDACTED = "[redacted]"
MAX_OUTPUT_CHARS = 16_000
"""Per command: the last characters are kept (the end of a log is what explains a failure)."""
LOG_LINES = 50
CONSOLE_LINES = 80
COMPOSE = f"docker compose --project-name {layout.COMPOSE_PROJECT}"


class DiagnoseError(Exception):
    """Diagnostics could not be collected at all; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    argv: tuple[str, ...]
    root: bool = False
    """Needs root (the Docker socket): run through ``sudo -n`` when the login user is not root."""

    @property
    def text(self) -> str:
        return shlex.join(self.argv)


COMMANDS: tuple[Command, ...] = (
    Command("cloud_init", ("cloud-init", "status", "--long")),
    Command("ready", ("cat", layout.READY_FILE)),
    Command("unit", ("systemctl", "status", "--no-pager", "--lines", "0", layout.UNIT_NAME)),
    Command("containers", (*COMPOSE.split(), "ps", "--all"), root=True),
    Command("runtime_log", (*COMPOSE.split(), "logs", "--no-color", "--tail", str(LOG_LINES),
                            layout.RUNTIME_SERVICE), root=True),
    Command("proxy_log", (*COMPOSE.split(), "logs", "--no-color", "--tail", str(LOG_LINES),
                          layout.PROXY_SERVICE), root=True),
    Command("install_log", ("tail", "-n", str(LOG_LINES), layout.INSTALL_LOG)),
    Command("disk", ("df", "-h")),
    Command("memory", ("free", "-m")),
)
"""What ``collect_ssh`` runs, in order; the names are the keys of its result."""

RUNTIME_COMMANDS: dict[str, tuple[Command, ...]] = {
    # LM Studio runs on the host under systemd, not in the compose project (bootstrap/runtimes/lmstudio.py):
    # its daemon's log is the unit's journal, and `compose logs runtime` has nothing.
    layout.RUNTIMES[lmstudio_runtime.RUNTIME].api: (
        Command("lmstudio_log", ("journalctl", "--unit", lmstudio_runtime.UNIT_NAME, "--no-pager", "--lines",
                                 str(LOG_LINES)), root=True),
    ),
}
"""Added after ``COMMANDS`` for a target whose API dialect (``Target.api``: ``--api`` or the stack's
``runtime`` output) names that runtime."""


def commands_for(api: str | None) -> tuple[Command, ...]:
    """``COMMANDS`` plus the runtime's own (LM Studio: its systemd journal)."""
    return COMMANDS + RUNTIME_COMMANDS.get(api or "", ())


# --- secrets ------------------------------------------------------------------------------------
_KEYS_LINE = re.compile(
    rf"((?:{re.escape(layout.KEYS_ENV_VAR)}|{re.escape(layout.ADMIN_KEYS_ENV_VAR)}|{re.escape(layout.KEY_MAP_ENV_VAR)})"
    r"\s*[=:]\s*).*"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """Blank the value of every ``LLMHOST_API_KEYS=`` (or ``:``) and every bearer token."""
    text = _KEYS_LINE.sub(lambda m: m.group(1) + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def _tail(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    return "[... cut ...]\n" + cut[cut.find("\n") + 1 :] if "\n" in cut else cut


# --- SSH ----------------------------------------------------------------------------------------
def remote_command(command: Command, seconds: int) -> str:
    """The shell line the server runs: bounded by coreutils ``timeout`` on the server itself (the
    process does not linger after we give up), through ``sudo -n`` for root-only commands when
    the login user is not root and may use sudo without a password, stderr folded into stdout."""
    bounded = f"timeout -k 2 {seconds} {command.text}"
    if command.root:
        sudo = f"sudo -n {bounded}"
        line = f'if [ "$(id -u)" != 0 ] && sudo -n true 2>/dev/null; then {sudo}; else {bounded}; fi'
    else:
        line = bounded
    return f"{line} 2>&1"


def _connect(
    host: str, user: str, port: int, identity: str | None, known_hosts: str | None, host_key: str | None,
    timeout: float,
) -> ssh_client.Connection:
    """Log in through bootstrap.ssh_client (the deploy's login, same pins and refusals)."""
    target = ssh_client.SshTarget(
        host=host, user=user, port=port, identity=identity, known_hosts=known_hosts, host_key=host_key,
        timeout=timeout,
    )
    try:
        return ssh_client.connect(target)
    except ssh_client.SshError as err:
        raise DiagnoseError(str(err)) from None


def run_command(conn: ssh_client.Connection, command: Command, seconds: float) -> str:
    """Run one command; its output, or a ``[failed: ...]`` first line and what it printed.

    Never raises for the command's own failure: only the text says it failed. The session,
    streaming and local deadline are bootstrap.ssh_client's (the deploy's); this keeps only
    the last ``4 * MAX_OUTPUT_CHARS`` characters while they arrive.
    """
    limit = max(1, int(seconds))
    kept: deque[str] = deque()
    size = 0

    def keep(line: str) -> None:
        nonlocal size
        kept.append(line)
        size += len(line) + 1
        while size > 4 * MAX_OUTPUT_CHARS and len(kept) > 1:
            size -= len(kept.popleft()) + 1

    try:  # the server-side timeout fires first; ours (+5 s) is the backstop
        result = conn.run(remote_command(command, limit), on_line=keep, timeout=limit + 5)
    except ssh_client.UnreachableError as err:  # a broken connection is this command's failure
        return f"[failed: could not start it: {err}]"
    if result.status is None and not result.timed_out and result.tail:
        return f"[failed: {result.tail[-1].strip('[]')}]"  # "connection lost: ..."
    output = redact(_tail("\n".join(kept).rstrip("\n")))
    status = result.status
    if result.timed_out or status == 124:
        head = f"[failed: timed out after {limit} s]"
    elif status == 127:
        head = f"[failed: exit 127: {command.argv[0]} is not installed or not on PATH]"
    elif status:
        head = f"[failed: exit {status}]"
    else:
        return output
    return f"{head}\n{output}" if output else head


def collect_ssh(
    host: str,
    user: str,
    port: int,
    identity: str | None,
    known_hosts: str | None = None,
    host_key: str | None = None,
    timeout: float = 10,
    command_timeout: float | None = None,
    api: str | None = None,
) -> dict[str, str]:
    """Log in (host key pinned) and run ``commands_for(api)``: ``{name: output}``, plus ``summary``.

    ``timeout`` bounds each network step of the login; ``command_timeout`` (default twice that)
    each command. A failed command's entry starts with ``[failed: ...]``.
    """
    try:
        import paramiko  # noqa: F401
    except ImportError:
        raise DiagnoseError("SSH diagnostics need paramiko: pip install -r requirements.txt") from None
    seconds = command_timeout if command_timeout is not None else 2 * timeout
    results: dict[str, str] = {}
    with _connect(host, user, port, identity, known_hosts, host_key, timeout) as conn:
        commands = commands_for(api)
        for command in commands:
            results[command.name] = run_command(conn, command, seconds)
    failed = [name for name, text in results.items() if text.startswith("[failed")]
    results["summary"] = (
        f"{user}@{host}:{port}: {len(commands)} commands, "
        + (f"{len(failed)} failed ({', '.join(failed)})" if failed else "all succeeded")
    )
    return results


# --- AWS ----------------------------------------------------------------------------------------
def _aws_error(err: Exception, instance_id: str, region: str) -> DiagnoseError:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    if isinstance(err, NoCredentialsError):
        return DiagnoseError(
            "AWS credentials not found (NoCredentialsError): run `aws configure` or set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(err, NoRegionError):
        return DiagnoseError("no AWS region (NoRegionError): give --region or set AWS_REGION")
    if isinstance(err, PartialCredentialsError | ProfileNotFound):
        return DiagnoseError(f"AWS credentials are unusable ({type(err).__name__}): {one_line(err, 200)}")
    if isinstance(err, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        endpoint = getattr(err, "kwargs", {}).get("endpoint_url", f"the EC2 API in {region}")
        return DiagnoseError(f"cannot reach {endpoint} ({type(err).__name__}): check the network and the region")
    if isinstance(err, ClientError):
        info = err.response.get("Error", {})
        code = str(info.get("Code", "Unknown"))
        message = one_line(info.get("Message", ""), 200)
        if code.startswith("InvalidInstanceID"):
            return DiagnoseError(f"instance {instance_id} not found in {region} ({code}): check --region and the "
                                 f"stack's instanceId")
        return DiagnoseError(f"AWS refused {getattr(err, 'operation_name', 'the call')} ({code}): {message}")
    if isinstance(err, BotoCoreError):
        return DiagnoseError(f"AWS call failed ({type(err).__name__}): {one_line(err, 200)}")
    return DiagnoseError(f"AWS diagnostics failed ({type(err).__name__}): {one_line(err, 200)}")


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def _decode_console(raw: str) -> str:
    """EC2 documents ``Output`` as base64 (one unbroken string) and sends it so; some emulators send
    the text itself, which has spaces and newlines. A serial console can emit bytes that are not
    UTF-8: they are replaced, never fatal."""
    if any(c.isspace() for c in raw):
        return raw
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return raw


def _console_text(response: dict[str, Any], lines: int) -> str:
    raw = response.get("Output")
    if not raw:
        return "(no console output yet: EC2 makes it available a few minutes after a boot)"
    text = _decode_console(str(raw))
    kept = text.replace("\r\n", "\n").rstrip("\n").split("\n")[-lines:]
    return redact("\n".join(kept))


def collect_aws(
    instance_id: str, region: str, session: Any = None, *, console_lines: int = CONSOLE_LINES
) -> dict[str, object]:
    """The instance's state, status checks and console tail, from the EC2 API only."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise DiagnoseError("AWS diagnostics need boto3: pip install -r requirements.txt") from None
    config = Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
    try:
        session = session or boto3.session.Session(region_name=region)
        ec2 = session.client("ec2", region_name=region, config=config)
        described = ec2.describe_instances(InstanceIds=[instance_id])
        instance = next(
            (i for r in described.get("Reservations", ()) for i in r.get("Instances", ())), None
        )
        if instance is None:
            raise DiagnoseError(f"instance {instance_id} not found in {region}: check --region and the stack's "
                                f"instanceId")
        statuses = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)
        status = next(iter(statuses.get("InstanceStatuses") or ()), {})
        try:
            console = ec2.get_console_output(InstanceId=instance_id, Latest=True)
        except ClientError as err:
            # Latest=True works on Nitro instances only; older types give the last boot's output.
            if err.response.get("Error", {}).get("Code", "").startswith("InvalidInstanceID"):
                raise
            console = ec2.get_console_output(InstanceId=instance_id)
    except DiagnoseError:
        raise
    except (BotoCoreError, ClientError) as err:
        raise _aws_error(err, instance_id, region) from None
    tags = {t.get("Key"): t.get("Value") for t in instance.get("Tags") or ()}

    def check(name: str) -> dict[str, object]:
        part = status.get(name) or {}
        return {
            "status": part.get("Status", "unknown"),
            "details": [f"{d.get('Name')}: {d.get('Status')}" for d in part.get("Details") or ()],
        }

    return {
        "instance_id": instance_id,
        "region": region,
        "state": (instance.get("State") or {}).get("Name", "unknown"),
        "state_reason": (instance.get("StateReason") or {}).get("Message"),
        "instance_type": instance.get("InstanceType"),
        "launch_time": _iso(instance.get("LaunchTime")),
        "public_ip": instance.get("PublicIpAddress"),
        "stack": tags.get(naming.TAG_STACK),
        "role": tags.get(naming.TAG_ROLE),
        "system_status": check("SystemStatus"),
        "instance_status": check("InstanceStatus"),
        "events": [
            f"{e.get('Code')}: {one_line(e.get('Description', ''), 200)} (not before {_iso(e.get('NotBefore'))})"
            for e in status.get("Events") or ()
        ],
        "console_timestamp": _iso(console.get("Timestamp")),
        "console_output": _console_text(console, console_lines),
    }
