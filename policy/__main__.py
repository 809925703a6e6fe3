"""Entry point of the llmhost-security policy pack: ``pulumi preview --policy-pack policy``.

Pulumi starts a Python pack as ``python -m pulumi.policy <engine> <this directory>``, which
runs this file with ``runpy.run_path(..., run_name="__main__")``. Two consequences:

* only this directory is on ``sys.path``, but the rules read the runtime ports from
  ``bootstrap/layout.py`` (one source of truth) and import as ``policy.rules``: the
  repository root is put on the path first;
* ``PolicyPack(...)`` starts the analyzer's gRPC server, prints its port and never returns.
  So it is only constructed under ``__name__ == "__main__"``; :func:`build_policies` returns
  the policies without starting anything, and that is what the tests import.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyPack,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from policy.rules import RULES, Rule

PACK_NAME = "llmhost-security"
PACK_DESCRIPTION = (
    "llmhost on AWS: no model runtime port and no SSH from anywhere in security groups, only 22/80/443 inbound, "
    "IMDSv2, encrypted disks, SecureString parameters, least-privilege IAM."
)


def _validator(rule: Rule) -> ResourceValidation:
    """Adapt a pure rule to pulumi_policy: filter on the resource type, hand over the props."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type in rule.resource_types:
            rule.check(args.resource_type, args.props, lambda message: report_violation(message, None))

    validate.__name__ = rule.check.__name__
    return validate


def build_policies() -> list[ResourceValidationPolicy]:
    """Every rule of :data:`policy.rules.RULES` as a ResourceValidationPolicy."""
    return [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=_validator(rule),
            enforcement_level=EnforcementLevel(rule.enforcement),
            severity=Severity(rule.severity),
        )
        for rule in RULES
    ]


def main() -> None:
    """Serve the pack to the Pulumi engine (blocks until the engine stops it)."""
    policies: list[Policy] = [*build_policies()]
    PolicyPack(
        name=PACK_NAME,
        policies=policies,
        enforcement_level=EnforcementLevel.MANDATORY,
        description=PACK_DESCRIPTION,
    )


if __name__ == "__main__":
    main()
