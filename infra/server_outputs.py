"""The outputs every target's component carries: one place for their names and types.

``infra/__main__.py`` exports these attributes (``COMMON_OUTPUTS``) from whichever component
the target builds (infra/aws_server.py, infra/fleet_server.py, infra/hetzner_server.py,
infra/ssh_server.py); each target's class sets them in its ``__init__``, declares its own
extra outputs beside them and registers them all with ``register_target_outputs``.
"""

from __future__ import annotations

from typing import Any

import pulumi

COMMON_OUTPUTS = (
    ("endpoint", "endpoint"),
    ("apiKey", "api_key"),
    ("adminApiKey", "admin_api_key"),
    ("serverId", "server_id"),
    ("publicIp", "public_ip"),
    ("sshCommand", "ssh_command"),
    ("healthCheckCommand", "health_check_command"),
    ("monthlyCostEstimate", "monthly_cost_estimate"),
)
"""(stack output name, attribute) of every target's component."""


class ModelServer(pulumi.ComponentResource):
    """A ``pulumi.ComponentResource`` with the outputs common to every target (no behaviour of its own)."""

    endpoint: pulumi.Output[str]
    """The HTTPS URL clients call."""
    api_key: pulumi.Output[str]
    admin_api_key: pulumi.Output[str]
    server_id: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    ssh_command: pulumi.Output[str]
    health_check_command: pulumi.Output[str]
    monthly_cost_estimate: dict[str, object]

    def register_target_outputs(self, extra: dict[str, Any]) -> None:
        """``register_outputs`` with the common outputs (by their stack output names) and ``extra``."""
        self.register_outputs({**{name: getattr(self, attribute) for name, attribute in COMMON_OUTPUTS}, **extra})
