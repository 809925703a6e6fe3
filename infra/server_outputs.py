"""The outputs every target's component carries: one place for their names and types.

``infra/__main__.py`` exports these attributes (``COMMON_OUTPUTS``) from whichever component
the target builds (infra/aws_server.py, infra/fleet_server.py, infra/hetzner_server.py,
infra/ssh_server.py); each target's class sets them in its ``__init__`` and declares its own
extra outputs beside them.
"""

from __future__ import annotations

import pulumi


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
