"""infra/fleet_config.py: llmhost:fleet parsed into FleetSettings; bad values named by field."""

from __future__ import annotations

import pytest

from infra.config import read_settings
from infra.fleet_config import FleetConfigError, FleetSettings, parse_fleet, read_fleet
from tests.infra.config_helpers import DictSource


def test_empty_object_gives_the_documented_defaults() -> None:
    assert parse_fleet("{}") == FleetSettings()
    assert FleetSettings().deregistration_delay_seconds == FleetSettings().idle_timeout_seconds == 900


def test_fields_and_derived_defaults() -> None:
    fleet = parse_fleet('{"minSize": 5, "maxGenerationMinutes": 40, "targetRequestsPerMinute": 12}')
    assert (fleet.min_size, fleet.max_size, fleet.desired_size) == (5, 5, 5), "maxSize defaults to at least minSize"
    assert (fleet.deregistration_delay_seconds, fleet.idle_timeout_seconds) == (2400, 2400)
    assert (fleet.target_in_flight, fleet.target_requests_per_minute) == (None, 12)
    assert parse_fleet('{"targetInFlightPerReplica": 1.5}').target_in_flight == 1.5


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"maxSize": 101}', "fleet.maxSize"),
        ('{"minSize": true}', "fleet.minSize"),
        ('{"targetInFlightPerReplica": "2"}', "fleet.targetInFlightPerReplica"),
        ('{"slowStartSeconds": 10, "algorithm": "round_robin"}', "fleet.slowStartSeconds"),
        ('"fleet"', "fleet"),
    ],
)
def test_bad_values_name_the_field(text: str, key: str) -> None:
    with pytest.raises(FleetConfigError) as caught:
        parse_fleet(text)
    assert caught.value.key == key
    assert "\n" not in str(caught.value)


def test_unset_is_no_fleet_and_settings_carry_it() -> None:
    assert (
        read_fleet(None, target="hetzner", domain=None, hosted_zone_id=None, subnet_id=None, idle_stop_minutes=None)
        is None
    )
    settings = read_settings(
        DictSource({"fleet": '{"maxSize": 3}', "domain": "llm.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}),
        "dev",
    )
    assert settings.fleet is not None and settings.fleet.max_size == 3
    assert settings.spec.balancer_port == 8000
    assert settings.spec.site_address == "http://:8000"
    plain = read_settings(DictSource({"domain": "llm.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}), "dev")
    assert plain.fleet is None and plain.spec.balancer_port is None
