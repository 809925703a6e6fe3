"""A small, dated table of AWS list prices, for the stack's ``monthlyCostEstimate``.

An estimate, labelled as one: us-east-1 on-demand Linux prices as read in 2026-11, 730
hours a month. Other regions, savings plans and data transfer differ. Update the table
and PRICE_DATE together.
"""

from __future__ import annotations

PRICE_DATE = "2026-11"
PRICE_REGION = "us-east-1"
HOURS_PER_MONTH = 730

# USD per hour, on-demand, Linux, us-east-1.
INSTANCE_HOURLY: dict[str, float] = {
    "t3.large": 0.0832,
    "t3.xlarge": 0.1664,
    "t4g.large": 0.0672,
    "t4g.xlarge": 0.1344,
    "m7g.large": 0.0816,
    "m7g.xlarge": 0.1632,
    "m7g.2xlarge": 0.3264,
    "m8g.large": 0.0898,
    "m8g.xlarge": 0.1795,
    "c7g.large": 0.0725,
    "c7g.xlarge": 0.145,
    "c7g.2xlarge": 0.29,
    "r7g.large": 0.1071,
    "r7g.xlarge": 0.2142,
    "m7i.large": 0.1008,
    "m7i.xlarge": 0.2016,
    "m7i.2xlarge": 0.4032,
    "c7i.large": 0.0893,
    "c7i.xlarge": 0.1785,
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g6.xlarge": 0.8048,
    "g6.2xlarge": 0.9776,
    "g6e.xlarge": 1.861,
}
GP3_GB_MONTH = 0.08
PUBLIC_IPV4_HOURLY = 0.005
"""Every public IPv4 address, the Elastic IP included, is billed since 2024-02."""


def monthly_estimate(instance_type: str, models_volume_gib: int, root_volume_gib: int) -> dict[str, object]:
    """Stable keys; ``instance`` is None (and left out of the total) for a type not in the table."""
    hourly = INSTANCE_HOURLY.get(instance_type)
    instance = round(hourly * HOURS_PER_MONTH, 2) if hourly is not None else None
    volumes = round((models_volume_gib + root_volume_gib) * GP3_GB_MONTH, 2)
    public_ip = round(PUBLIC_IPV4_HOURLY * HOURS_PER_MONTH, 2)
    total = round((instance or 0.0) + volumes + public_ip, 2)
    note = (
        f"estimate: {PRICE_REGION} on-demand list prices as of {PRICE_DATE}, {HOURS_PER_MONTH} h/month, "
        "excluding data transfer; a stopped server costs only its volumes and IP"
    )
    if instance is None:
        note += f"; {instance_type} is not in the price table (infra/prices.py), so the total leaves it out"
    return {
        "currency": "USD",
        "instanceType": instance_type,
        "instance": instance,
        "volumes": volumes,
        "publicIpv4": public_ip,
        "total": total,
        "note": note,
    }
