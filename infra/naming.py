"""Names and tags that llmhost's resources carry, decided in one place.

The ops tools (``python -m infra.ops``, the health checks' diagnostics) find a stack's
server by these tags, so the component that sets them and the tools that search for them
must read the same constants.
"""

from __future__ import annotations

TAG_STACK = "llmhost:stack"
TAG_ROLE = "llmhost:role"
ROLE_SERVER = "model-server"
ROLE_MODELS_VOLUME = "models-volume"
ROLE_FLEET = "fleet-replica"
"""A fleet's Auto Scaling group and every replica it launches (infra/fleet_server.py)."""
TAG_NAME = "Name"


def server_tags(stack: str, role: str = ROLE_SERVER) -> dict[str, str]:
    return {TAG_STACK: stack, TAG_ROLE: role, TAG_NAME: f"llmhost-{stack}-{role}"}


# Hetzner labels: keys are ``[prefix/]name`` where the prefix is a DNS name and the name and
# the value are at most 63 of ``A-Z a-z 0-9 - _ .``, beginning and ending alphanumeric (the
# value may be empty). ``llmhost:stack`` is not a valid key, ``llmhost/stack`` is.
HETZNER_LABEL_STACK = TAG_STACK.replace(":", "/")
HETZNER_LABEL_ROLE = TAG_ROLE.replace(":", "/")
_LABEL_VALUE_MAX = 63


def hetzner_label_value(text: str) -> str:
    """``text`` as a valid Hetzner label value: other characters become ``-``, cut to 63."""
    value = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in text)
    return value[:_LABEL_VALUE_MAX].strip("-_.")


def hetzner_labels(stack: str, role: str = ROLE_SERVER) -> dict[str, str]:
    """The same facts as :func:`server_tags`, spelled the way Hetzner labels allow."""
    return {HETZNER_LABEL_STACK: hetzner_label_value(stack), HETZNER_LABEL_ROLE: role}
