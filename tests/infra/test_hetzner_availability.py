"""Hetzner availability at preview: the mocked ``hcloud.get_server_types`` says what a location sells.

The component (HetznerModelServer) is built under Pulumi's mocks after the configuration is
read like ``pulumi up`` reads it; the mock answers the data source in the provider's shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

import pulumi
import pytest

from infra import config as cfg
from infra import hetzner_availability, hetzner_types
from infra.config_values import ConfigError, from_setting_error
from infra.hetzner_server import HetznerModelServer, HetznerServerArgs
from infra.setting_error import SettingError
from tests.infra import hetzner_mocks
from tests.infra.config_helpers import DictSource
from tests.infra.pulumi_harness import ProgramRun

KEY = "hetzner-key-" + "1" * 30
BASE = {"target": "hetzner", "apiKeys": json.dumps([KEY]), "adminCidrs": '["198.51.100.7/32"]'}
SERVER = "hcloud:index/server:Server"
Build = Callable[..., ProgramRun]


@pytest.fixture
def build(pulumi_program: Build) -> Build:
    def run(values: dict[str, str], **catalogue: Collection[tuple[str, str]]) -> ProgramRun:
        settings = cfg.read_settings(DictSource({**BASE, **values}), "dev", provider_keys={"hcloud:token"}, environ={})
        assert settings.hetzner is not None

        def program() -> None:
            server = HetznerModelServer(
                "llmhost", HetznerServerArgs(stack="dev", spec=settings.spec, settings=settings.hetzner)
            )
            pulumi.export("monthlyCostEstimate", server.monthly_cost_estimate)

        return pulumi_program(
            program=program,
            calls={hetzner_mocks.SERVER_TYPES_TOKEN: hetzner_mocks.server_types(**catalogue)},
            resources=hetzner_mocks.RESOURCES,
            numeric_ids=hetzner_mocks.NUMERIC,
        )

    return run


def server_type(run: ProgramRun) -> str:
    (server,) = run.resources_of(SERVER)
    return str(server.inputs["serverType"])


def test_the_data_source_is_asked_and_an_orderable_default_is_kept(build: Build) -> None:
    run = build({})
    assert [call.token for call in run.calls] == [hetzner_mocks.SERVER_TYPES_TOKEN]
    assert server_type(run) == hetzner_types.DEFAULT_SERVER_TYPE
    assert not [m for m in run.messages() if "serverType" in m]


@pytest.mark.parametrize(
    "catalogue",
    [
        {"unavailable": [("cax11", "fsn1")]},
        {"deprecated": [("cax11", "fsn1")]},
        {"unlisted": [("cax11", "fsn1")]},
    ],
    ids=["sold-out", "deprecated", "not-sold"],
)
def test_an_unorderable_default_falls_back_to_the_next_type_with_a_warning(
    build: Build, catalogue: dict[str, Any]
) -> None:
    run = build({}, **catalogue)
    assert server_type(run) == "cx23" == hetzner_types.DEFAULT_FALLBACK[1]
    (warning,) = [m for m in run.messages() if "llmhost:serverType" in m]
    assert warning.startswith("llmhost:serverType: the default cax11 cannot be ordered (cax11 ")
    assert "using cx23 instead" in warning
    assert run.outputs["monthlyCostEstimate"]["instanceType"] == "cx23"
    assert run.outputs["monthlyCostEstimate"]["instance"] == hetzner_types.PRICES["cx23"].after


def test_the_fallback_skips_types_that_are_not_orderable_either(build: Build) -> None:
    run = build({}, unavailable=[("cax11", "nbg1"), ("cx23", "nbg1")], deprecated=[("cpx22", "nbg1")])
    assert server_type(run) == "cax11"  # the location is fsn1: nbg1's problems do not matter
    run = build({"location": "nbg1"}, unavailable=[("cax11", "nbg1"), ("cx23", "nbg1")], deprecated=[("cpx22", "nbg1")])
    assert server_type(run) == "cax21"


def test_a_chosen_type_that_cannot_be_ordered_stops_with_the_types_that_can(build: Build) -> None:
    sold_out = [(name, "hel1") for name in hetzner_types.SERVER_TYPES if name.startswith("cx")]
    with pytest.raises(ConfigError) as caught:
        build({"serverType": "cx33", "location": "hel1"}, unavailable=sold_out)
    message = str(caught.value)
    assert message.startswith("llmhost:serverType: cx33 is temporarily unavailable in hel1 (Hetzner API, at preview)")
    assert "use one of the types orderable there: cax11, cax21, cax31, cax41, cpx22" in message
    assert not {"cx23", "cx33", "cx43", "cx53"} & set(message.split("orderable there: ")[1].split(", "))


def test_a_deprecated_chosen_type_names_its_end_date(build: Build) -> None:
    with pytest.raises(ConfigError, match=r"ccx13 is deprecated in fsn1, unavailable after 2026-12-01"):
        build({"serverType": "ccx13"}, deprecated=[("ccx13", "fsn1")])


def test_nothing_orderable_says_so() -> None:
    with pytest.raises(hetzner_types.HetznerTypeError) as caught:
        hetzner_availability.choose("cax11", False, "fsn1", {})
    assert "none of the fallbacks" in caught.value.problem
    assert "pick another llmhost:location" in caught.value.allowed


def test_a_type_error_is_a_setting_error_naming_its_key() -> None:
    """HetznerTypeError was a bare ValueError without the key in its text: a path that forgot to
    convert it would have printed a traceback, or a line not naming llmhost:serverType."""
    with pytest.raises(SettingError) as caught:
        hetzner_availability.choose("cax11", False, "fsn1", {})
    assert isinstance(caught.value, hetzner_types.HetznerTypeError)
    assert str(caught.value).startswith("serverType: ")
    converted = from_setting_error(caught.value)
    assert isinstance(converted, pulumi.RunError) and str(converted).startswith("llmhost:serverType: ")
    with pytest.raises(SettingError, match=r"^location: "):
        hetzner_types.lookup("cax11", "mars1")


def test_orderable_means_listed_available_and_not_deprecated() -> None:
    assert hetzner_availability.Offer(available=True, deprecated=False).orderable
    assert not hetzner_availability.Offer(available=False, deprecated=False).orderable
    assert not hetzner_availability.Offer(available=True, deprecated=True).orderable


# --- the dated price table ----------------------------------------------------------------------


def test_the_published_prices_of_the_2026_06_15_change() -> None:
    assert hetzner_types.PRICE_DATE == "2026-06-15"
    published = {name: (p.before, p.after) for name, p in hetzner_types.PRICES.items() if not p.estimated}
    assert published == {"cx23": (3.99, 5.49), "cx33": (6.49, 8.49), "ccx13": (15.99, 42.99)}


def test_every_type_has_a_price_with_its_source_and_estimates_stay_in_the_announced_range() -> None:
    assert set(hetzner_types.PRICES) == set(hetzner_types.SERVER_TYPES)
    for name, price in hetzner_types.PRICES.items():
        assert hetzner_types.SERVER_TYPES[name].monthly_eur == price.after
        rise = price.after / price.before - 1
        if hetzner_types.SERVER_TYPES[name].dedicated:
            assert 1.13 <= rise <= 1.75, name
        else:
            assert 0.30 <= rise <= 0.38, name
        if price.estimated:
            assert price.source.startswith(f"estimated: {price.before} x ")


def test_the_fallback_list_starts_with_the_default_and_fits_the_default_model() -> None:
    assert hetzner_types.DEFAULT_FALLBACK[0] == hetzner_types.DEFAULT_SERVER_TYPE
    assert all(hetzner_types.SERVER_TYPES[name].ram_gib >= 4 for name in hetzner_types.DEFAULT_FALLBACK)
