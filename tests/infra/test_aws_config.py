"""infra/aws_config.py: the AWS target's own keys, the SSM parameter and the early checks."""

from __future__ import annotations

from infra import aws_config
from tests.infra.config_helpers import KEY, error_for, read


def test_the_ssm_parameter_is_per_stack() -> None:
    assert read({}, stack="prod").spec.ssm_parameter == "/llmhost/prod/api-keys"


def test_aws_defaults() -> None:
    aws = read({}).aws
    assert aws is not None
    assert (aws.instance.name, aws.instance.arch, aws.instance.gpu) == ("m7g.large", "arm64", False)
    assert aws.volume_size_gib == aws_config.DEFAULT_VOLUME_GIB
    assert aws.allowed_cidrs == ("0.0.0.0/0", "::/0")
    assert aws.admin_cidrs == ()
    assert (aws.ssh_public_key, aws.hosted_zone_id, aws.subnet_id, aws.api_keys) == (None, None, None, None)
    assert aws.retain_volume is False


def test_cidrs_are_canonical_and_a_bare_address_is_one_host() -> None:
    values = {"adminCidrs": '["198.51.100.7", "2001:DB8::/32"]', "allowedCidrs": "203.0.113.0/24", "tls": "internal"}
    aws = read(values).aws
    assert aws is not None
    assert aws.admin_cidrs == ("198.51.100.7/32", "2001:db8::/32")
    assert aws.allowed_cidrs == ("203.0.113.0/24",)


def test_the_gpu_follows_the_instance_type() -> None:
    assert read({"instanceType": "g6.xlarge"}).spec.gpu is True
    assert read({"instanceType": "g6.xlarge", "gpu": "true"}).spec.gpu is True
    assert read({"instanceType": "m7i.large"}).spec.gpu is False


def test_the_volume_must_hold_the_models() -> None:
    err = error_for({"models": '["gemma3:27b", "llama3.1:70b"]', "volumeSize": "50"})
    assert str(err).startswith("llmhost:volumeSize: 50 GiB is smaller than the ~")
    assert read({"models": '["gemma3:27b"]', "volumeSize": "30"}).aws is not None


def test_other_targets_have_no_aws_settings() -> None:
    settings = read({"target": "local", "apiKeys": f'["{KEY}"]'})
    assert (settings.aws, settings.hetzner, settings.ssh) == (None, None, None)


def test_aws_has_no_hetzner_or_ssh_settings() -> None:
    settings = read({})
    assert settings.aws is not None
    assert (settings.hetzner, settings.ssh) == (None, None)
