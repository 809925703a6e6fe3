"""Which addresses the proxy can publish on (``--bind``, Spec ``listen_address``).

Docker publishes a port with ``bind(2)`` on the host address (compose short syntax
``ADDR:HOST:CONTAINER``). Some addresses parse as IPs but cannot serve there:

- a zoned IPv6 address (``fe80::1%eth0``): the compose port syntax has no zone, and without one
  an IPv6 link-local address cannot be bound (Linux: EINVAL, "Cannot assign requested address");
- any IPv6 link-local address (``fe80::/10``) for the same reason;
- a multicast address (``224.0.0.0/4``, ``ff00::/8``) or the IPv4 broadcast ``255.255.255.255``:
  no unicast socket listens there;
- the unspecified address in another spelling (``0:0::0``, ``::0.0.0.0``) and IPv4-mapped IPv6
  (``::ffff:192.0.2.1``): write ``0.0.0.0``/``::`` or the plain IPv4 address, the forms the
  "listens on all interfaces" note and the printed URL are built from.

What serves: 127.0.0.1, ::1, 0.0.0.0, ::, and a host's unicast address (192.168.1.20, fd00::20).
"""

from __future__ import annotations

import ipaddress

ALLOWED = "use 127.0.0.1, ::1, 0.0.0.0 (all interfaces), :: or one of this host's unicast addresses"
"""The second half of each one-line error."""

UNSPECIFIED = ("0.0.0.0", "::")  # noqa: S104 - the spellings accepted, not a bind


def bind_problem(text: str) -> str | None:
    """None for an address the proxy can publish on; else what is wrong with it (one line, no
    option name: the caller adds ``--bind: `` or ``listen_address: ``). ``text`` is a valid IP
    (``ipaddress.ip_address`` takes it, zone included)."""
    shown = repr(text[:60])
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return f"{shown} is a zoned IPv6 address (%{ip.scope_id[:20]}); Docker cannot publish a port on it"
    if ip.is_multicast:
        return f"{shown} is a multicast address; nothing can listen there for connections"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return f"{shown} is the broadcast address; nothing can listen there for connections"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_link_local:
        return f"{shown} is an IPv6 link-local address; it cannot be bound without a zone, which Docker cannot take"
    if ip.is_unspecified and text not in UNSPECIFIED:
        return f"{shown} is the unspecified address in another spelling (all interfaces is 0.0.0.0 or ::)"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"{shown} is an IPv4-mapped IPv6 address; write the IPv4 address itself ({ip.ipv4_mapped})"
    return None
