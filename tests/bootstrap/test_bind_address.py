"""bootstrap/bind_address.py: --bind refuses addresses Docker cannot publish a port on, and keeps those that serve."""

from __future__ import annotations

import pytest

from bootstrap import bind_address
from bootstrap.spec import Spec, SpecError
from tests.bootstrap.specs import KEY_A

KEY = (KEY_A,)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "0.0.0.0", "::", "192.168.1.20", "fd00::20", "203.0.113.7",
                                     "2001:db8::7", "169.254.10.1"])
def test_addresses_that_serve_are_kept(address: str) -> None:
    assert bind_address.bind_problem(address) is None
    assert Spec(api_keys=KEY, listen_address=address).listen_address == address


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("fe80::1%eth0", "'fe80::1%eth0' is a zoned IPv6 address (%eth0)"),
        ("fd00::20%2", "is a zoned IPv6 address"),
        ("fe80::1", "is an IPv6 link-local address"),
        ("ff02::1", "is a multicast address"),
        ("224.0.0.1", "is a multicast address"),
        ("239.255.255.250", "is a multicast address"),
        ("255.255.255.255", "is the broadcast address"),
        ("0:0::0", "is the unspecified address in another spelling (all interfaces is 0.0.0.0 or ::)"),
        ("::0.0.0.0", "is the unspecified address in another spelling"),
        ("::ffff:192.0.2.1", "is an IPv4-mapped IPv6 address; write the IPv4 address itself (192.0.2.1)"),
    ],
)
def test_addresses_that_cannot_serve_are_refused_in_one_line_naming_the_field(address: str, words: str) -> None:
    problem = bind_address.bind_problem(address)
    assert problem is not None and words in problem
    with pytest.raises(SpecError) as caught:
        Spec(api_keys=KEY, listen_address=address)
    line = caught.value.render("--bind")
    assert line.startswith("--bind: ") and words in line and "\n" not in line
    assert line.endswith(bind_address.ALLOWED)
