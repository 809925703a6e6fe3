"""Can ``llmhost:serverType`` be ordered in ``llmhost:location``? Asked of Hetzner at preview.

infra/hetzner_types.py knows which types exist and where Hetzner sells them in general; what
a location sells *today* changes (types sold out for weeks, retired lines). The provider's
``hcloud.get_server_types()`` data source (pulumi-hcloud 1.43, Hetzner API ``GET
/server_types``) lists, per type, the locations it is offered in, each with
``available`` (false while temporarily not orderable there), ``is_deprecated`` and
``unavailable_after``. (The type-level ``is_deprecated`` is deprecated upstream in favour of
the per-location one, so only the latter is read.)

Orderable in a location = listed there, ``available`` and not deprecated. (``available``
is the API's own field, true when new servers can be created now; pulumi-hcloud's docstring
words it the other way round. It is a stock hint: a type reported unavailable may still be
ordered at times, and one reported available may be refused; llmhost follows the hint.)

* The user chose ``serverType`` and it is not orderable: stop, listing the llmhost types that are.
* The user did not choose: the default, else the next orderable one of
  ``hetzner_types.DEFAULT_FALLBACK``, with a warning naming both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from infra import hetzner_types
from infra.hetzner_types import HetznerTypeError, ServerType


@dataclass(frozen=True)
class Offer:
    """One server type in one location, as the API reports it."""

    available: bool
    deprecated: bool
    unavailable_after: str = ""

    @property
    def orderable(self) -> bool:
        return self.available and not self.deprecated


def offers_in(server_types: Iterable[object], location: str) -> dict[str, Offer]:
    """Type name -> Offer in ``location``, from ``GetServerTypesResult.server_types``.

    Types not listed in that location are absent."""
    found: dict[str, Offer] = {}
    for server_type in server_types:
        for place in getattr(server_type, "locations", None) or ():
            if place.name == location:
                found[str(server_type.name).lower()] = Offer(
                    available=bool(place.available),
                    deprecated=bool(place.is_deprecated),
                    unavailable_after=str(place.unavailable_after or ""),
                )
    return found


def _why_not(name: str, offer: Offer | None, location: str) -> str:
    if offer is None:
        return f"{name} is not sold in {location}"
    if offer.deprecated:
        after = f", unavailable after {offer.unavailable_after}" if offer.unavailable_after else ""
        return f"{name} is deprecated in {location}{after}"
    return f"{name} is temporarily unavailable in {location}"


def choose(requested: str, chosen: bool, location: str, offers: Mapping[str, Offer]) -> tuple[ServerType, list[str]]:
    """The type to create and any warnings; HetznerTypeError (key ``serverType``) when none fits.

    ``requested`` is a type of hetzner_types.SERVER_TYPES; ``chosen`` says whether the user set it.
    """
    orderable = [name for name in hetzner_types.SERVER_TYPES if name in offers and offers[name].orderable]
    offer = offers.get(requested)
    if offer is not None and offer.orderable:
        return hetzner_types.SERVER_TYPES[requested], []
    why = _why_not(requested, offer, location)
    listing = ", ".join(orderable) if orderable else "none of llmhost's types today: pick another llmhost:location"
    if chosen:
        raise HetznerTypeError(
            "serverType",
            f"{why} (Hetzner API, at preview), so pulumi up would fail",
            f"use one of the types orderable there: {listing}",
        )
    for name in hetzner_types.DEFAULT_FALLBACK:
        if name != requested and name in orderable:
            return hetzner_types.SERVER_TYPES[name], [
                f"llmhost:serverType: the default {requested} cannot be ordered ({why}); using {name} instead "
                f"({hetzner_types.SERVER_TYPES[name].vcpus} vCPU, {hetzner_types.SERVER_TYPES[name].ram_gib} GB); "
                "set llmhost:serverType to choose"
            ]
    raise HetznerTypeError(
        "serverType",
        f"{why}, and none of the fallbacks {', '.join(hetzner_types.DEFAULT_FALLBACK)} can be ordered there",
        f"set llmhost:serverType to one of: {listing}",
    )
