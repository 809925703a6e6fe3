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
TAG_NAME = "Name"


def server_tags(stack: str, role: str = ROLE_SERVER) -> dict[str, str]:
    return {TAG_STACK: stack, TAG_ROLE: role, TAG_NAME: f"llmhost-{stack}-{role}"}
