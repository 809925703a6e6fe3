"""Hetzner Cloud server types, locations and list prices: one small, dated table.

Why a table and not an API call: the configuration is validated before ``pulumi up``
creates anything (and in unit tests, offline), so a typo in ``llmhost:serverType`` or a
type that a location does not offer must be caught from data we carry. The Hetzner API
stays the source of truth: ``hcloud server-type list``, ``hcloud location list`` and
``GET /v1/pricing``. Update ``SERVER_TYPES``, the unit prices and ``PRICE_DATE`` together.

Names: in October 2025 Hetzner replaced its shared x86 lines. CX22-CX52 (Intel) became the
"cost-optimized" CX23-CX53 (Intel or AMD, EU only), CPX11-CPX51 became the "regular
performance" CPX12-CPX62 (AMD). The Arm CAX and dedicated-vCPU CCX names did not change.
The retired names can no longer be ordered, so they are not offered here.

Prices (EUR per month, net of VAT, for fsn1/nbg1/hel1; US and Singapore list higher
prices for the same type) are approximate. Hetzner raised cloud prices by about 30% on
2026-04-01: confirmed from the pricing API on 2026-05-27 are cx33 at 6.49 and volumes at
0.0572 per GB; the others are the 2025 list prices with the same ~30% added, rounded.
Hetzner also repriced new orders on 2026-06-15 without publishing a table with the
announcement. Treat ``monthlyCostEstimate`` as an estimate and check the console.

Availability: CX (cost-optimized) and CAX (Arm) are sold in the EU locations only; CPX and
CCX everywhere. A type can be temporarily sold out in one location (the API then refuses
the server); pick another location or type.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICE_DATE = "2026-11"
CURRENCY = "EUR"
PRICE_SOURCE = (
    "Hetzner Cloud list prices for fsn1/nbg1/hel1, net of VAT, approximate after the 2026-04-01 "
    "adjustment (infra/hetzner_types.py); check `hcloud server-type describe <type>`"
)

EU = ("fsn1", "nbg1", "hel1")
LOCATIONS: dict[str, str] = {
    "fsn1": "Falkenstein, DE",
    "nbg1": "Nuremberg, DE",
    "hel1": "Helsinki, FI",
    "ash": "Ashburn, VA, US",
    "hil": "Hillsboro, OR, US",
    "sin": "Singapore, SG",
}
ALL = tuple(LOCATIONS)

DEFAULT_LOCATION = "fsn1"
"""Falkenstein: Hetzner's largest site, which offers every type in the table."""

DEFAULT_SERVER_TYPE = "cax11"
"""2 Arm (Ampere Altra) vCPU, 4 GB, about 5 EUR a month: the cheapest type that runs the
default model well. gemma3:1b is an 815 MB Q4 file and takes ~1.5 GB of RAM loaded, which
leaves ~2 GB for the system, Docker and Caddy. On CAX each vCPU is a whole physical core
(Altra has no SMT), whereas the cheaper cx23's two vCPUs are shared hyper-threads: prompt
processing and token generation on a CPU are compute-bound, and the CAX11 does clearly more
multi-core work for about 1 EUR more (not measured by llmhost: benchmark if it matters).
Ollama, llama.cpp's server image and Caddy all publish arm64 images. For several concurrent
users or a 4B model pick cax21 (4 cores, 8 GB)."""

VOLUME_GB_MONTH = 0.0572
PRIMARY_IPV4_MONTH = 0.65
"""A primary IPv4 is billed on its own (IPv6 is free)."""


class HetznerTypeError(ValueError):
    """A server type or location that cannot be used; ``key`` is the config key at fault."""

    def __init__(self, key: str, problem: str, allowed: str) -> None:
        self.key = key
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{problem}; {allowed}")


@dataclass(frozen=True)
class ServerType:
    name: str
    vcpus: int
    ram_gib: int
    disk_gb: int
    arch: str
    """x86 or arm, as Hetzner names it."""
    monthly_eur: float
    locations: tuple[str, ...]
    dedicated: bool = False


def _types(*rows: ServerType) -> dict[str, ServerType]:
    return {row.name: row for row in rows}


SERVER_TYPES: dict[str, ServerType] = _types(
    # Arm64, Ampere Altra, shared: one vCPU is one physical core.
    ServerType("cax11", 2, 4, 40, "arm", 4.93, EU),
    ServerType("cax21", 4, 8, 80, "arm", 8.44, EU),
    ServerType("cax31", 8, 16, 160, "arm", 16.24, EU),
    ServerType("cax41", 16, 32, 320, "arm", 31.84, EU),
    # x86 "cost-optimized" (Intel or AMD), shared, EU only.
    ServerType("cx23", 2, 4, 40, "x86", 3.89, EU),
    ServerType("cx33", 4, 8, 80, "x86", 6.49, EU),
    ServerType("cx43", 8, 16, 160, "x86", 11.69, EU),
    ServerType("cx53", 16, 32, 320, "x86", 22.09, EU),
    # x86 "regular performance" (AMD EPYC), shared. cpx12 (1 vCPU, 2 GB) is left out: too small.
    ServerType("cpx22", 2, 4, 80, "x86", 7.79, ALL),
    ServerType("cpx32", 4, 8, 160, "x86", 13.64, ALL),
    ServerType("cpx42", 8, 16, 320, "x86", 25.34, ALL),
    ServerType("cpx52", 12, 24, 480, "x86", 35.74, ALL),
    ServerType("cpx62", 16, 32, 640, "x86", 50.69, ALL),
    # x86 dedicated vCPU (AMD EPYC).
    ServerType("ccx13", 2, 8, 80, "x86", 16.24, ALL, dedicated=True),
    ServerType("ccx23", 4, 16, 160, "x86", 31.84, ALL, dedicated=True),
    ServerType("ccx33", 8, 32, 240, "x86", 63.04, ALL, dedicated=True),
    ServerType("ccx43", 16, 64, 360, "x86", 125.44, ALL, dedicated=True),
    ServerType("ccx53", 32, 128, 600, "x86", 250.24, ALL, dedicated=True),
    ServerType("ccx63", 48, 192, 960, "x86", 375.04, ALL, dedicated=True),
)


def lookup(server_type: str, location: str) -> ServerType:
    """The type, if it exists and ``location`` offers it; else a HetznerTypeError naming both.

    Names are matched without regard to case (the console shows CAX11); callers pass on the
    lower-case spelling the API uses."""
    location = location.lower()
    if location not in LOCATIONS:
        raise HetznerTypeError(
            "location", f"{location!r} is not a Hetzner Cloud location", f"use one of: {', '.join(LOCATIONS)}"
        )
    found = SERVER_TYPES.get(server_type.lower())
    if found is None:
        raise HetznerTypeError(
            "serverType",
            f"{server_type!r} is not a Hetzner Cloud server type llmhost knows",
            f"use one of: {', '.join(SERVER_TYPES)} (GPU types do not exist in Hetzner Cloud)",
        )
    if location not in found.locations:
        offered = [name for name, row in SERVER_TYPES.items() if location in row.locations]
        raise HetznerTypeError(
            "serverType",
            f"{found.name} is not offered in {location} ({LOCATIONS[location]})",
            f"use {found.name} in {', '.join(found.locations)}, or in {location} one of: {', '.join(offered)}",
        )
    return found


def monthly_estimate(server_type: str, volume_gib: int) -> dict[str, object]:
    """Server + primary IPv4 + models volume, shaped like ``infra.prices.monthly_estimate``."""
    row = SERVER_TYPES.get(server_type)
    server = row.monthly_eur if row is not None else None
    volumes = round(volume_gib * VOLUME_GB_MONTH, 2)
    public_ip = PRIMARY_IPV4_MONTH
    total = round((server or 0.0) + volumes + public_ip, 2)
    note = (
        f"estimate: Hetzner list prices as of {PRICE_DATE} (fsn1/nbg1/hel1, net of VAT, approximate), "
        "monthly caps, 20 TB traffic included; a powered-off server is billed in full"
    )
    if server is None:
        note += f"; {server_type} is not in the price table (infra/hetzner_types.py), so the total leaves it out"
    return {
        "currency": CURRENCY,
        "instanceType": server_type,
        "instance": server,
        "volumes": volumes,
        "publicIpv4": public_ip,
        "total": total,
        "note": note,
        "source": PRICE_SOURCE,
        "date": PRICE_DATE,
    }
