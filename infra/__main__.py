"""Pulumi entry point: configuration -> spec -> one ComponentResource for the target -> outputs.

Pulumi runs this file with ``runpy.run_path`` and ``run_name="__main__"`` (see
``infra/__init__.py`` for what that means for imports); the in-process tests in
``tests/infra`` run it exactly the same way under Pulumi's mocks.
"""

from __future__ import annotations

import pulumi

from infra.config import ConfigError, load

OUTPUTS = (
    ("endpoint", "endpoint"),
    ("apiKey", "api_key"),
    ("instanceId", "instance_id"),
    ("publicIp", "public_ip"),
    ("sshCommand", "ssh_command"),
    ("healthCheckCommand", "health_check_command"),
    ("monthlyCostEstimate", "monthly_cost_estimate"),
)


def main() -> None:
    settings = load()
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    if settings.target == "local":
        raise ConfigError("target", "local runs without Pulumi", "run `make local` (python -m bootstrap local) instead")
    if settings.target != "aws" or settings.aws is None:
        raise ConfigError("target", f"{settings.target} is not available in this version yet", "use aws")

    # Imported here: pulumi_aws is large, and a configuration error should not wait for it.
    from infra.aws_server import AwsModelServer, AwsServerArgs

    server = AwsModelServer(
        "llmhost", AwsServerArgs(stack=pulumi.get_stack(), spec=settings.spec, settings=settings.aws)
    )
    for output, attribute in OUTPUTS:
        pulumi.export(output, getattr(server, attribute))
    pulumi.export("runtime", settings.spec.runtime)
    pulumi.export("models", list(settings.spec.models))


if __name__ == "__main__":
    main()
