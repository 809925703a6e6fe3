"""Pulumi entry point: configuration -> spec -> one ComponentResource for the target -> outputs.

Pulumi runs this file with ``runpy.run_path`` and ``run_name="__main__"`` (see
``infra/__init__.py`` for what that means for imports); the in-process tests in
``tests/infra`` run it exactly the same way under Pulumi's mocks.
"""

from __future__ import annotations

import pulumi

from bootstrap.sizing import capacity_output
from infra.config import Settings, load
from infra.config_values import ConfigError
from infra.server_outputs import COMMON_OUTPUTS

# Outputs only some targets have. ``instanceId`` stays AWS-only: the health checks'
# --diagnose reads it as an EC2 instance id.
TARGET_OUTPUTS = {
    "aws": (("instanceId", "instance_id"),),
    "hetzner": (("sshHostKey", "ssh_host_key"),),
    "ssh": (("sshHostKey", "host_key"),),
}
FLEET_OUTPUTS = (("replicas", "replicas"), ("loadBalancerName", "load_balancer_name"))
"""A fleet (llmhost:fleet, infra/fleet_server.py) has no single instance: these replace instanceId."""


def build(settings: Settings, stack: str) -> object:
    """The target's component. Imported lazily: each cloud SDK is large, and a configuration
    error should not wait for it."""
    if settings.target == "aws" and settings.aws is not None and settings.fleet is not None:
        from infra.fleet_server import FleetArgs, FleetModelServer

        return FleetModelServer(
            "llmhost", FleetArgs(stack=stack, spec=settings.spec, settings=settings.aws, fleet=settings.fleet)
        )
    if settings.target == "aws" and settings.aws is not None:
        from infra.aws_server import AwsModelServer, AwsServerArgs

        return AwsModelServer("llmhost", AwsServerArgs(stack=stack, spec=settings.spec, settings=settings.aws))
    if settings.target == "hetzner" and settings.hetzner is not None:
        from infra.hetzner_server import HetznerModelServer, HetznerServerArgs

        return HetznerModelServer(
            "llmhost", HetznerServerArgs(stack=stack, spec=settings.spec, settings=settings.hetzner)
        )
    if settings.target == "ssh" and settings.ssh is not None:
        from infra.ssh_server import SshModelServer, SshServerArgs

        return SshModelServer("llmhost", SshServerArgs(stack=stack, spec=settings.spec, settings=settings.ssh))
    if settings.target == "local":
        raise ConfigError("target", "local runs without Pulumi", "run `make local` (python -m bootstrap local) instead")
    raise pulumi.RunError(f"llmhost internal error: no settings were read for target {settings.target}")


def main() -> None:
    settings = load()
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    server = build(settings, pulumi.get_stack())
    extra = FLEET_OUTPUTS if settings.fleet is not None else TARGET_OUTPUTS[settings.target]
    for output, attribute in (*COMMON_OUTPUTS, *extra):
        pulumi.export(output, getattr(server, attribute))
    pulumi.export("target", settings.target)
    pulumi.export("runtime", settings.spec.runtime)
    pulumi.export("models", list(settings.spec.models))
    from infra.cost_comparison import summary

    if getattr(server, "wake_url", None) is not None:
        pulumi.export("wakeUrl", server.wake_url)
    pulumi.export("costComparison", summary(server.monthly_cost_estimate, settings.spec.models, pulumi.get_stack()))
    pulumi.export("capacity", capacity_output(settings.spec.runtime, settings.spec.capacity))


if __name__ == "__main__":
    main()
