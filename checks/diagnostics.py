"""--diagnose: add what the server itself knows, through ``checks.diagnose``.

``checks.diagnose`` (SSH with paramiko, AWS with boto3) is imported only when asked for, so
a check without --diagnose never loads paramiko or boto3. Each source ends up as a section:
its collected data, ``{"error": "<one line>"}`` or ``{"skipped": "<why>"}``. Diagnostics
never change the exit code.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from checks.errors import one_line, redact
from checks.targets import Target


def _scrub(value: Any, secrets: list[str | None]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {str(k): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value), secrets)


def collect(target: Target) -> dict[str, Any]:
    try:
        # import_module honours sys.modules (tests put a stand-in there); `from checks import`
        # would take the package attribute once the real module has been imported anywhere.
        diagnose = importlib.import_module("checks.diagnose")
    except ImportError as err:
        return {"error": f"diagnostics are not available in this installation: {one_line(err, 160)}"}
    sections: dict[str, Any] = {}
    ssh = target.ssh
    if ssh.host:
        try:
            sections["ssh"] = diagnose.collect_ssh(
                ssh.host, ssh.user, ssh.port, ssh.identity, known_hosts=ssh.known_hosts, host_key=ssh.host_key,
                api=target.api,
            )
        except diagnose.DiagnoseError as err:
            sections["ssh"] = {"error": one_line(err)}
        except Exception as err:
            sections["ssh"] = {"error": f"SSH diagnostics failed: {type(err).__name__}: {one_line(err, 200)}"}
    else:
        sections["ssh"] = {"skipped": "no SSH host: give --ssh-host (a stack with an ssh sshCommand sets it)"}
    if target.instance_id and target.region:
        try:
            sections["aws"] = diagnose.collect_aws(target.instance_id, target.region)
        except diagnose.DiagnoseError as err:
            sections["aws"] = {"error": one_line(err)}
        except Exception as err:
            sections["aws"] = {"error": f"AWS diagnostics failed: {type(err).__name__}: {one_line(err, 200)}"}
    elif target.instance_id:
        sections["aws"] = {"skipped": f"instance {target.instance_id}: no region (give --region or set AWS_REGION)"}
    else:
        sections["aws"] = {"skipped": "no instance id (it comes from --stack or --outputs-file)"}
    return _scrub(sections, [target.api_key])


async def collect_async(target: Target) -> dict[str, Any]:
    return await asyncio.to_thread(collect, target)
