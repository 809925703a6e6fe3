"""What ``python -m infra.ops`` (infra/ops.py) and its fleet half (infra/fleet_ops.py) share.

``OpsError`` carries the exit status and the one line printed for it (the statuses are listed
in infra/ops.py); ``clients`` makes boto3 clients with the short timeouts an operator at a
terminal wants (botocore ``Config``: connect 10 s, read 30 s, the ``standard`` retry mode).
"""

from __future__ import annotations

from typing import Any

Client = Any
"""A boto3 client (boto3 ships no type stubs)."""


class OpsError(Exception):
    """A failure with its exit status and the one line that explains it."""

    def __init__(self, status: int, line: str) -> None:
        super().__init__(line)
        self.status = status
        self.line = line


def clients(region: str | None, *services: str) -> tuple[Client, ...]:
    """One boto3 client per service name (e.g. ``"ec2"``), in order, from one session in ``region``."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=region)
    config = Config(connect_timeout=10, read_timeout=30, retries={"mode": "standard"})
    return tuple(session.client(service, config=config) for service in services)
