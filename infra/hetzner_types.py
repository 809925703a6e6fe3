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
prices for the same type) are the list prices after Hetzner's change of 2026-06-15 (shared
types +30-38 %, dedicated +113-175 %). Each row says where its number comes from
(:data:`PRICES`): three are the published before/after pairs (CX23 3.99 -> 5.49, CX33
6.49 -> 8.49, CCX13 15.99 -> 42.99; /work/shared/DESIGN.md "Hetzner prices" and issue #11,
quoting Hetzner's announcement and price list); every other one is an **estimate**: the
price before the change (Hetzner's 2026-04/05 list, confirmed for cx33 from the pricing API
on 2026-05-27) times the factor stated in its row. Treat ``monthlyCostEstimate`` as an
estimate and check ``GET /v1/pricing`` or the console.

Availability: CX (cost-optimized) and CAX (Arm) are sold in the EU locations only; CPX and
CCX everywhere. A type can be temporarily sold out in one location (the API then refuses
the server); pick another location or type.
"""

from __future__ import annotations

from dataclasses import dataclass

from bootstrap.echo import shown
from infra.setting_error import SettingError

PRICE_DATE = "2026-06-15"
CURRENCY = "EUR"
PRICE_SOURCE = (
    "Hetzner Cloud list prices for fsn1/nbg1/hel1, net of VAT, after the 2026-06-15 change: cx23, cx33 and "
    "ccx13 as published, the others estimated (infra/hetzner_types.py PRICES); "
    "check `hcloud server-type describe <type>`"
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
"""2 Arm (Ampere Altra) vCPU, 4 GB, about 6.6 EUR a month (estimated, see PRICES): the cheapest type that runs the
default model well. gemma3:1b is an 815 MB Q4 file and takes ~1.5 GB of RAM loaded, which
leaves ~2 GB for the system, Docker and Caddy. On CAX each vCPU is a whole physical core
(Altra has no SMT), whereas the cheaper cx23's two vCPUs are shared hyper-threads: prompt
processing and token generation on a CPU are compute-bound, and the CAX11 does clearly more
multi-core work for a little more (not measured by llmhost: benchmark if it matters).
Ollama, llama.cpp's server image and Caddy all publish arm64 images. For several concurrent
users or a 4B model pick cax21 (4 cores, 8 GB)."""

VOLUME_GB_MONTH = 0.0572
PRIMARY_IPV4_MONTH = 0.65
"""A primary IPv4 is billed on its own (IPv6 is free)."""


class HetznerTypeError(SettingError):
    """A server type or location that cannot be used; ``key`` is the config key at fault
    (``serverType`` or ``location``). A SettingError like every pure ``llmhost:`` check, so it
    reaches the user as the one-line ConfigError (``from_setting_error``) naming the key."""


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


@dataclass(frozen=True)
class Price:
    """One type's monthly list price (EUR, net, EU locations) around the 2026-06-15 change."""

    before: float
    after: float
    source: str
    """``published`` (both numbers from Hetzner's announcement/price list) or ``estimated: ...``."""

    @property
    def estimated(self) -> bool:
        return self.source != PUBLISHED


PUBLISHED = "published"
SHARED_FACTOR = 1.34
"""Midpoint of the announced +30-38 % for shared types; used only where no price was published."""
CX_FACTOR = round(8.49 / 6.49, 3)
"""The published cx33 step (+30.8 %), applied to the larger sizes of the same line."""
DEDICATED_FACTOR = 2.44
"""Midpoint of the announced +113-175 % for dedicated types (ccx13 itself: +169 %)."""


def _estimate(before: float, factor: float, why: str) -> Price:
    return Price(before, round(before * factor, 2), f"estimated: {before} x {factor} ({why})")


_SHARED = "shared +30-38 %, midpoint"
_CX = "the published cx33 step, same line"
_DEDICATED = "dedicated +113-175 %, midpoint"
PRICES: dict[str, Price] = {
    "cax11": _estimate(4.93, SHARED_FACTOR, _SHARED),
    "cax21": _estimate(8.44, SHARED_FACTOR, _SHARED),
    "cax31": _estimate(16.24, SHARED_FACTOR, _SHARED),
    "cax41": _estimate(31.84, SHARED_FACTOR, _SHARED),
    "cx23": Price(3.99, 5.49, PUBLISHED),
    "cx33": Price(6.49, 8.49, PUBLISHED),
    "cx43": _estimate(11.69, CX_FACTOR, _CX),
    "cx53": _estimate(22.09, CX_FACTOR, _CX),
    "cpx22": _estimate(7.79, SHARED_FACTOR, _SHARED),
    "cpx32": _estimate(13.64, SHARED_FACTOR, _SHARED),
    "cpx42": _estimate(25.34, SHARED_FACTOR, _SHARED),
    "cpx52": _estimate(35.74, SHARED_FACTOR, _SHARED),
    "cpx62": _estimate(50.69, SHARED_FACTOR, _SHARED),
    "ccx13": Price(15.99, 42.99, PUBLISHED),
    "ccx23": _estimate(31.84, DEDICATED_FACTOR, _DEDICATED),
    "ccx33": _estimate(63.04, DEDICATED_FACTOR, _DEDICATED),
    "ccx43": _estimate(125.44, DEDICATED_FACTOR, _DEDICATED),
    "ccx53": _estimate(250.24, DEDICATED_FACTOR, _DEDICATED),
    "ccx63": _estimate(375.04, DEDICATED_FACTOR, _DEDICATED),
}
"""Name -> price before and after 2026-06-15, and where the numbers come from."""


def _row(name: str, vcpus: int, ram: int, disk: int, arch: str, locations: tuple[str, ...], **kw: bool) -> ServerType:
    return ServerType(name, vcpus, ram, disk, arch, PRICES[name].after, locations, **kw)


SERVER_TYPES: dict[str, ServerType] = _types(
    # Arm64, Ampere Altra, shared: one vCPU is one physical core.
    _row("cax11", 2, 4, 40, "arm", EU),
    _row("cax21", 4, 8, 80, "arm", EU),
    _row("cax31", 8, 16, 160, "arm", EU),
    _row("cax41", 16, 32, 320, "arm", EU),
    # x86 "cost-optimized" (Intel or AMD), shared, EU only.
    _row("cx23", 2, 4, 40, "x86", EU),
    _row("cx33", 4, 8, 80, "x86", EU),
    _row("cx43", 8, 16, 160, "x86", EU),
    _row("cx53", 16, 32, 320, "x86", EU),
    # x86 "regular performance" (AMD EPYC), shared. cpx12 (1 vCPU, 2 GB) is left out: too small.
    _row("cpx22", 2, 4, 80, "x86", ALL),
    _row("cpx32", 4, 8, 160, "x86", ALL),
    _row("cpx42", 8, 16, 320, "x86", ALL),
    _row("cpx52", 12, 24, 480, "x86", ALL),
    _row("cpx62", 16, 32, 640, "x86", ALL),
    # x86 dedicated vCPU (AMD EPYC).
    _row("ccx13", 2, 8, 80, "x86", ALL, dedicated=True),
    _row("ccx23", 4, 16, 160, "x86", ALL, dedicated=True),
    _row("ccx33", 8, 32, 240, "x86", ALL, dedicated=True),
    _row("ccx43", 16, 64, 360, "x86", ALL, dedicated=True),
    _row("ccx53", 32, 128, 600, "x86", ALL, dedicated=True),
    _row("ccx63", 48, 192, 960, "x86", ALL, dedicated=True),
)

DEFAULT_FALLBACK: tuple[str, ...] = (DEFAULT_SERVER_TYPE, "cx23", "cpx22", "cax21", "cx33", "cpx32")
"""When the default type cannot be ordered in the location, the next of these that can (all
run the default model: 4 GB or more); infra/hetzner_availability.py asks the API."""


def lookup(server_type: str, location: str) -> ServerType:
    """The type, if it exists and ``location`` offers it; else a HetznerTypeError naming both.

    Names are matched without regard to case (the console shows CAX11); callers pass on the
    lower-case spelling the API uses."""
    location = location.lower()
    if location not in LOCATIONS:
        raise HetznerTypeError(
            "location", f"{shown(location)} is not a Hetzner Cloud location", f"use one of: {', '.join(LOCATIONS)}"
        )
    found = SERVER_TYPES.get(server_type.lower())
    if found is None:
        raise HetznerTypeError(
            "serverType",
            f"{shown(server_type)} is not a Hetzner Cloud server type llmhost knows",
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
    price = PRICES.get(server_type)
    kind = "estimated" if price is None or price.estimated else "published"
    note = (
        f"estimate: Hetzner list prices after the {PRICE_DATE} change (fsn1/nbg1/hel1, net of VAT; "
        f"{server_type}: {kind}), "
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
