"""Preview refuses what AWS, Hetzner or Let's Encrypt would refuse later (infra/preview_checks.py).

The configuration errors go through the real program under Pulumi's mocks (the same path as
``pulumi preview``); the pure counting functions are checked against hand-counted cases.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

from bootstrap import layout
from infra import preview_checks
from infra.config_values import ConfigError
from tests.infra import aws_mocks
from tests.infra.config_helpers import read
from tests.infra.pulumi_harness import ProgramRun

Program = Callable[..., ProgramRun]
KEY = "k" * 40
HETZNER = {"target": "hetzner", "apiKeys": f'["{KEY}"]', "adminCidrs": '["198.51.100.7/32"]'}
NARROW = '["198.51.100.7/32"]'
SSM_PARAMETER = "aws:ssm/parameter:Parameter"


def keys(count: int, length: int = 40) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest()[:length] for i in range(count)]


def refused(program: Program, config: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        program(config, calls=aws_mocks.CALLS)
    message = str(caught.value)
    assert "\n" not in message
    return message


def read_error(config: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        read(config, provider_keys={"hcloud:token"}, environ={})
    return str(caught.value)


# --- Let's Encrypt behind a narrow firewall ---------------------------------------------------


def test_aws_refuses_the_default_tls_behind_a_narrow_allowed_cidrs(pulumi_program: Program) -> None:
    message = refused(pulumi_program, {"target": "aws", "allowedCidrs": NARROW})
    assert message.startswith("llmhost:allowedCidrs: [198.51.100.7/32] does not admit the internet (0.0.0.0/0)")
    assert "llmhost:tls auto" in message
    assert "sslip.io" in message
    assert "set llmhost:tls internal" in message
    assert "open port 80" in message
    assert "llmhost:domain" in message


@pytest.mark.parametrize(
    ("extra", "mode"),
    [({}, "auto"), ({"domain": "llm.example.com"}, "auto"), ({"domain": "llm.example.com", "tls": "acme"}, "acme")],
)
def test_hetzner_refuses_every_lets_encrypt_mode_behind_a_narrow_list(extra: dict[str, str], mode: str) -> None:
    message = read_error({**HETZNER, "allowedCidrs": '["198.51.100.0/24", "2001:db8::/32"]', **extra})
    assert message.startswith("llmhost:allowedCidrs: [198.51.100.0/24, 2001:db8::/32] does not admit")
    assert f"llmhost:tls {mode} needs a Let's Encrypt certificate" in message


@pytest.mark.parametrize(
    "config",
    [
        {"allowedCidrs": NARROW, "tls": "internal"},
        {"allowedCidrs": '["198.51.100.7/32", "0.0.0.0/0"]'},
        {},  # the default admits everyone
    ],
)
def test_tls_internal_or_an_open_ipv4_list_passes(config: dict[str, str]) -> None:
    assert read({**HETZNER, **config}, provider_keys={"hcloud:token"}, environ={}).hetzner is not None


def test_ipv6_anywhere_alone_does_not_admit_the_internet() -> None:
    assert not preview_checks.admits_internet(["::/0"])
    assert preview_checks.admits_internet(["::/0", "0.0.0.0/0"])
    assert "does not admit the internet" in read_error({**HETZNER, "allowedCidrs": '["::/0"]'})


# --- security-group rule quota -----------------------------------------------------------------


def test_rules_are_counted_per_family_from_the_ingress_table() -> None:
    per_cidr = len(layout.PUBLIC_INGRESS)
    counts = preview_checks.security_group_rules(["0.0.0.0/0", "10.0.0.0/8", "::/0"], ["198.51.100.7/32"])
    assert counts == {4: 2 * per_cidr + 1, 6: per_cidr}


def cidrs(count: int) -> str:
    return json.dumps([f"10.{i // 256}.{i % 256}.0/24" for i in range(count)] + ["0.0.0.0/0"])


def test_the_security_group_quota_is_enforced_at_preview(pulumi_program: Program) -> None:
    per_cidr = len(layout.PUBLIC_INGRESS)
    fits = preview_checks.SG_RULES_PER_FAMILY // per_cidr - 1  # plus 0.0.0.0/0: exactly at the quota
    assert read({"target": "aws", "allowedCidrs": cidrs(fits)}).aws is not None
    message = refused(pulumi_program, {"target": "aws", "allowedCidrs": cidrs(500)})
    assert message.startswith("llmhost:allowedCidrs: the security group would get 1503 inbound IPv4 rules")
    assert "default quota of 60 per IP family" in message
    assert "at most 20 allowedCidrs per IP family" in message


def test_the_hetzner_firewall_limit_is_enforced_at_preview() -> None:
    fits = (preview_checks.HETZNER_EFFECTIVE_RULES - 1) // len(layout.PUBLIC_INGRESS) - 1  # 1 adminCidr
    assert read({**HETZNER, "allowedCidrs": cidrs(fits)}, provider_keys={"hcloud:token"}, environ={}).hetzner
    message = read_error({**HETZNER, "allowedCidrs": cidrs(500)})
    assert message.startswith("llmhost:allowedCidrs: the Hetzner firewall would get 1504 effective rules")
    assert "over Hetzner's limit of 500" in message
    assert "at most 166 allowedCidrs" in message


# --- the SSM keys parameter ----------------------------------------------------------------------


def test_keys_over_4kb_use_the_advanced_tier_with_the_price_in_a_warning(pulumi_program: Program) -> None:
    many = keys(150, 24)  # the shortest keys llmhost accepts (+ the generated admin key)
    assert len(",".join(many)) < preview_checks.SSM_STANDARD_MAX  # the names and the JSON count too
    run = pulumi_program(
        {"target": "aws", "apiKeys": json.dumps(many)}, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES
    )
    (parameter,) = run.resources_of(SSM_PARAMETER)
    assert parameter.inputs["tier"] == "Advanced"
    (warning,) = [m for m in run.messages() if "Advanced tier" in m]
    assert warning.startswith("llmhost:apiKeys: 151 keys take 5518 bytes, over the 4096-byte Standard tier")
    assert "USD 0.05 a month" in warning


def test_few_keys_stay_in_the_free_standard_tier(pulumi_program: Program) -> None:
    run = pulumi_program(
        {"target": "aws", "apiKeys": json.dumps(keys(2))}, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES
    )
    (parameter,) = run.resources_of(SSM_PARAMETER)
    assert parameter.inputs["tier"] == "Standard"
    assert not [m for m in run.messages() if "Advanced" in m]


def test_keys_over_8kb_are_refused(pulumi_program: Program) -> None:
    message = refused(pulumi_program, {"target": "aws", "apiKeys": json.dumps(keys(130, 64))})
    assert message.startswith(
        "llmhost:apiKeys: 131 keys take 9978 bytes in the SSM parameter (names and JSON included), over the 8192-byte"
    )


# --- user data: the key that adds the most is named -----------------------------------------------


def origins(count: int) -> str:
    return json.dumps(
        [f"https://app-{hashlib.sha256(str(i).encode()).hexdigest()[:24]}.example.com" for i in range(count)]
    )


def test_too_many_origins_are_reported_under_allowed_origins(pulumi_program: Program) -> None:
    message = refused(pulumi_program, {"target": "aws", "allowedOrigins": origins(600)})
    assert message.startswith("llmhost:allowedOrigins: the AWS user data would be ")
    assert "over its 16384-byte limit" in message
    assert "llmhost:allowedOrigins adds the most" in message


def test_too_many_origins_on_hetzner_name_the_hetzner_limit() -> None:
    message = read_error({**HETZNER, "allowedOrigins": origins(1500)})
    assert message.startswith("llmhost:allowedOrigins: the Hetzner user data would be ")
    assert "over its 32768-byte limit" in message


def test_too_many_models_are_reported_under_models(pulumi_program: Program) -> None:
    models = [f"m{hashlib.sha256(str(i).encode()).hexdigest()[:30]}:latest" for i in range(500)]
    message = refused(pulumi_program, {"target": "aws", "models": json.dumps(models), "volumeSize": "16000"})
    assert message.startswith("llmhost:models: the AWS user data would be ")
    assert "llmhost:models adds the most" in message


# --- numbers are ASCII ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["١٢", "1_0", "１２", "12.0", "0x10", "+ 5"])
def test_numbers_are_ascii_digits_only(value: str) -> None:
    message = read_error({**HETZNER, "volumeSize": value})
    assert message.startswith(f"llmhost:volumeSize: {value!r} is not a whole number")
    assert "ASCII digits" in message


def test_plain_digits_still_pass() -> None:
    settings = read({**HETZNER, "volumeSize": " 40 "}, provider_keys={"hcloud:token"}, environ={})
    assert settings.hetzner is not None and settings.hetzner.volume_size_gib == 40


def test_user_data_that_no_list_makes_large_blames_no_list() -> None:
    from bootstrap.cloudinit import UserDataTooLarge
    from bootstrap.spec import Spec

    spec = Spec(models=("gemma3:1b", "qwen3:0.6b"), api_keys=(KEY,), origins=("https://app.example.com",))
    error = preview_checks.user_data_error(UserDataTooLarge(20000, 16384), spec, lambda s: "x" * 20000, "AWS")
    assert (error.key, error.problem) == (
        "models",
        "the AWS user data would be 20000 bytes even compressed, over its 16384-byte limit",
    )
