"""``llmhost:fleet``: the settings of a fleet of model servers behind an AWS load balancer.

A JSON object, read and validated here (infra/config.py calls :func:`read_fleet` once);
every problem is one :class:`FleetConfigError` naming the field as ``llmhost:fleet.<field>``
(or the other key that is missing), which infra/config.py turns into a ConfigError (infra/config_values.py).

Fields (all optional; ``{}`` is a valid fleet of two):

- ``minSize`` / ``maxSize`` (default 2 / 4; 1 to 100): bounds of the Auto Scaling group;
- ``desiredSize`` (default ``minSize``): the size at creation; afterwards the scaling policy
  and ``python -m infra.ops scale`` own it (``pulumi up`` does not reset it);
- ``targetInFlightPerReplica`` (default 2, when no signal is given) or ``targetRequestsPerMinute``
  (one of the two): the target-tracking signal, see infra/fleet_server.py;
- ``warmupMinutes`` (default 20; 5 to 120): a cold boot (Docker, images, model pull, first
  token) must fit; the ASG health-check grace period and the instance warm-up;
- ``maxGenerationMinutes`` (default 15; 1 to 60): the longest request the fleet promises to
  finish; the target group's deregistration delay (ELB allows at most 3600 s), so scale-in
  and instance refresh never cut a stream shorter than this;
- ``idleTimeoutSeconds`` (default: ``maxGenerationMinutes`` in seconds; 1 to 4000, the ALB's
  range): a non-streamed generation sends nothing until it is done, and the ALB cuts a
  connection idle this long (its own default, 60 s, cuts long answers);
- ``algorithm`` (default ``least_outstanding_requests``, or ``round_robin``): how the ALB picks a
  replica; least outstanding requests suits requests of very different lengths;
- ``slowStartSeconds`` (default 0 = off; 30 to 900, the target group's range): only with
  ``round_robin``: AWS refuses slow start together with least outstanding requests ("You cannot
  enable both slow start mode and least outstanding requests", Application Load Balancer guide,
  target groups, slow start mode). A cold replica is protected either way: it gets no traffic
  before ``/readyz`` says its models are present and have answered.

Valid only with ``llmhost:target aws``, ``llmhost:domain`` and ``llmhost:hostedZoneId``: the ALB's
certificate comes from ACM with DNS validation in that zone (ACM cannot issue for sslip.io
names). Not with ``llmhost:subnetId`` (the fleet spans the default VPC's subnets in every zone)
nor ``llmhost:idleStopMinutes`` (a stopped replica fails its health check and is replaced).
Facts: ALB idle timeout 1-4000 s, deregistration delay 0-3600 s, slow start 30-900 s
(docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

from bootstrap.echo import shown
from infra.setting_error import SettingError

KEY = "fleet"
MAX_REPLICAS = 100
MAX_DEREGISTRATION_SECONDS = 3600
MAX_IDLE_TIMEOUT_SECONDS = 4000
SLOW_START_RANGE = (30, 900)
ALGORITHMS = ("least_outstanding_requests", "round_robin")

FIELDS: dict[str, str] = {
    "minSize": "fewest replicas (default 2)",
    "maxSize": "most replicas (default 4)",
    "desiredSize": "replicas at creation (default minSize)",
    "targetInFlightPerReplica": "target concurrent requests per replica (default 2)",
    "targetRequestsPerMinute": "target requests per replica and minute (instead of targetInFlightPerReplica)",
    "warmupMinutes": "a cold boot's length: health-check grace and warm-up (default 20)",
    "maxGenerationMinutes": "longest request the fleet finishes on scale-in (default 15)",
    "idleTimeoutSeconds": "ALB idle timeout (default maxGenerationMinutes x 60)",
    "algorithm": "least_outstanding_requests (default) or round_robin",
    "slowStartSeconds": "ramp-up of a new replica's share of traffic (default 0 = off; round_robin only)",
}


class FleetConfigError(SettingError):
    """One bad value: ``key`` is ``fleet.<field>`` or another llmhost key (``domain``)."""


@dataclass(frozen=True)
class FleetSettings:
    """A validated fleet; every duration in seconds unless its name says otherwise."""

    min_size: int = 2
    max_size: int = 4
    desired_size: int = 2
    target_in_flight: float | None = 2.0
    """Concurrent requests per replica (metric math over the ALB's metrics); None with rpm."""
    target_requests_per_minute: int | None = None
    """ALBRequestCountPerTarget (a per-minute sum); None with target_in_flight."""
    warmup_seconds: int = 20 * 60
    deregistration_delay_seconds: int = 15 * 60
    idle_timeout_seconds: int = 15 * 60
    algorithm: str = "least_outstanding_requests"
    slow_start_seconds: int = 0


def _field(name: str) -> str:
    return f"{KEY}.{name}"


def _int(doc: dict[str, object], name: str, default: int, lo: int, hi: int, unit: str = "") -> int:
    value = doc.get(name, default)
    allowed = f"use a whole number from {lo} to {hi}{unit}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise FleetConfigError(_field(name), f"{shown(value)} is not a whole number", allowed)
    if not lo <= value <= hi:
        raise FleetConfigError(_field(name), f"{value} is out of range", allowed)
    return value


def parse_fleet(text: str) -> FleetSettings:
    """``llmhost:fleet``'s JSON text -> FleetSettings; raises FleetConfigError."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise FleetConfigError(
            KEY, f"is not valid JSON ({err.msg} at column {err.colno})", "give an object such as '{\"maxSize\": 4}'"
        ) from None
    if not isinstance(doc, dict):
        raise FleetConfigError(KEY, "is not a JSON object", 'give an object such as \'{"minSize": 2, "maxSize": 4}\'')
    for name in doc:
        if name not in FIELDS:
            close = difflib.get_close_matches(str(name), list(FIELDS), n=1)
            hint = f"did you mean {close[0]}?" if close else f"known fields: {', '.join(FIELDS)}"
            raise FleetConfigError(_field(str(name)), "is not a known fleet setting", hint)
    min_size = _int(doc, "minSize", 2, 1, MAX_REPLICAS)
    max_size = _int(doc, "maxSize", max(4, min_size), 1, MAX_REPLICAS)
    if max_size < min_size:
        raise FleetConfigError(_field("maxSize"), f"{max_size} is under minSize {min_size}", f"use {min_size} or more")
    desired = _int(doc, "desiredSize", min_size, min_size, max_size, " (between minSize and maxSize)")
    if "targetInFlightPerReplica" in doc and "targetRequestsPerMinute" in doc:
        raise FleetConfigError(
            _field("targetRequestsPerMinute"),
            "is set together with targetInFlightPerReplica",
            "choose one scaling signal",
        )
    in_flight: float | None = None
    rpm: int | None = None
    if "targetRequestsPerMinute" in doc:
        rpm = _int(doc, "targetRequestsPerMinute", 0, 1, 100_000, " requests per replica and minute")
    else:
        value = doc.get("targetInFlightPerReplica", 2)
        allowed = "use a number above 0 and at most 1000 (concurrent requests per replica)"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FleetConfigError(_field("targetInFlightPerReplica"), f"{shown(value)} is not a number", allowed)
        if not 0 < value <= 1000:
            raise FleetConfigError(_field("targetInFlightPerReplica"), f"{value} is out of range", allowed)
        in_flight = float(value)
    warmup = _int(doc, "warmupMinutes", 20, 5, 120, " minutes")
    generation = _int(doc, "maxGenerationMinutes", 15, 1, MAX_DEREGISTRATION_SECONDS // 60, " minutes")
    idle = _int(doc, "idleTimeoutSeconds", generation * 60, 1, MAX_IDLE_TIMEOUT_SECONDS, " seconds")
    algorithm = doc.get("algorithm", ALGORITHMS[0])
    if algorithm not in ALGORITHMS:
        raise FleetConfigError(
            _field("algorithm"), f"{shown(algorithm)} is not supported", f"use {' or '.join(ALGORITHMS)}"
        )
    slow = _int(doc, "slowStartSeconds", 0, 0, SLOW_START_RANGE[1], " seconds")
    if 0 < slow < SLOW_START_RANGE[0]:
        raise FleetConfigError(
            _field("slowStartSeconds"), f"{slow} is out of range", "use 0 (off) or 30 to 900 seconds"
        )
    if slow and algorithm != "round_robin":
        raise FleetConfigError(
            _field("slowStartSeconds"),
            "is set, but AWS does not allow slow start with least_outstanding_requests",
            'remove it, or set "algorithm": "round_robin"',
        )
    return FleetSettings(
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        target_in_flight=in_flight,
        target_requests_per_minute=rpm,
        warmup_seconds=warmup * 60,
        deregistration_delay_seconds=generation * 60,
        idle_timeout_seconds=idle,
        algorithm=str(algorithm),
        slow_start_seconds=slow,
    )


def read_fleet(
    text: str | None,
    *,
    target: str,
    domain: str | None,
    hosted_zone_id: str | None,
    subnet_id: str | None,
    idle_stop_minutes: int | None,
) -> FleetSettings | None:
    """The fleet, or None when ``llmhost:fleet`` is unset; checks what else a fleet needs."""
    if text is None:
        return None
    if target != "aws":
        raise FleetConfigError(KEY, f"is set but target is {target}", "a fleet runs on target aws only; remove it")
    fleet = parse_fleet(text)
    if not domain:
        raise FleetConfigError(
            "domain",
            "is not set, and llmhost:fleet needs it (ACM issues the load balancer's certificate; not for sslip.io)",
            "set llmhost:domain to a name in your Route 53 zone, e.g. llm.example.com",
        )
    if not hosted_zone_id:
        raise FleetConfigError(
            "hostedZoneId",
            "is not set, and llmhost:fleet needs it (the certificate is validated through Route 53)",
            "set it to the id of the zone that holds llmhost:domain, e.g. Z0123456789ABCDEFGHIJ",
        )
    if subnet_id:
        raise FleetConfigError(
            "subnetId", "is set, but a fleet spans the default VPC's subnets in every zone", "remove llmhost:subnetId"
        )
    if idle_stop_minutes is not None:
        raise FleetConfigError(
            "idleStopMinutes",
            "is set, but a stopped replica fails its health check and is replaced",
            "remove it; set llmhost:fleet.minSize to the replicas you always want",
        )
    return fleet
