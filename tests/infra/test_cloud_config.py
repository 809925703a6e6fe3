"""infra/cloud_config.py: what aws and hetzner read alike (CIDRs, the operator's SSH key, the
models volume, the early render); through read_settings in test_aws_config.py and
test_hetzner_config.py, directly here."""

from __future__ import annotations

import pytest

from bootstrap.cloudinit import UserDataTooLarge
from bootstrap.spec import Spec, SpecError
from infra import cloud_config
from infra.config_values import ConfigError
from tests.infra import keymaterial as km
from tests.infra.config_helpers import KEY, DictSource

OPERATOR_KEY = f"{km.PUBLIC_KEY} ops@laptop"
SPEC = Spec(models=("gemma3:1b",), api_keys=(KEY,))


def test_cidrs_default_to_everyone_on_443_and_nobody_on_ssh() -> None:
    assert cloud_config.read_cidrs(DictSource({}), "") == (("0.0.0.0/0", "::/0"), ())


@pytest.mark.parametrize("anywhere", ["0.0.0.0/0", "::/0"])
def test_ssh_from_anywhere_is_refused_with_the_target_hint_unless_switched_on(anywhere: str) -> None:
    values = {"adminCidrs": f'["198.51.100.7/32", "{anywhere}"]'}
    with pytest.raises(ConfigError) as info:
        cloud_config.read_cidrs(DictSource(values), ", use SSM Session Manager instead")
    assert str(info.value) == (
        f"llmhost:adminCidrs: {anywhere} opens SSH to the whole internet; name your own network "
        "(e.g. 198.51.100.7/32), use SSM Session Manager instead, "
        "or set llmhost:allowSshFromAnywhere true if you really mean it"
    )
    allowed, admin = cloud_config.read_cidrs(DictSource({**values, "allowSshFromAnywhere": "true"}), "")
    assert (allowed, admin) == (("0.0.0.0/0", "::/0"), ("198.51.100.7/32", anywhere))


def test_the_operator_ssh_key_is_one_public_key_line() -> None:
    assert cloud_config.read_ssh_public_key(DictSource({"sshPublicKey": f" {OPERATOR_KEY} "})) == OPERATOR_KEY
    assert cloud_config.read_ssh_public_key(DictSource({})) is None
    with pytest.raises(ConfigError, match=r"^llmhost:sshPublicKey: is not an OpenSSH public key; paste one line"):
        cloud_config.read_ssh_public_key(DictSource({"sshPublicKey": km.PRIVATE_KEY}))


@pytest.mark.parametrize(
    "line",
    [
        "ssh-rsa AAAA",  # the pattern alone took these; AWS ImportKeyPair and Hetzner refuse them at `up`
        OPERATOR_KEY[:50],  # cut short in a copy-paste
        OPERATOR_KEY.replace("ssh-ed25519", "ssh-rsa", 1),  # the type does not match the key data
    ],
    ids=["no-key-data", "cut-short", "wrong-type"],  # the key is made at test time: no key text in the ids
)
def test_an_operator_ssh_key_whose_key_data_does_not_parse_is_refused(line: str) -> None:
    with pytest.raises(ConfigError) as info:
        cloud_config.read_ssh_public_key(DictSource({"sshPublicKey": line}))
    message = str(info.value)
    assert message.startswith("llmhost:sshPublicKey: is not an OpenSSH public key (its key data is cut short")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        (5, "5 GiB is under the disk minimum of 10 GiB; use 10 to 100 (GiB)"),
        (101, "101 GiB is over the disk maximum; use 10 to 100 (GiB)"),
    ],
)
def test_the_volume_is_within_the_targets_limits(size: int, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        cloud_config.check_volume(SPEC, size, 10, 100, "disk")
    assert str(info.value) == f"llmhost:volumeSize: {problem}"
    cloud_config.check_volume(SPEC, 10, 10, 100, "disk")


def test_the_volume_must_hold_the_models() -> None:
    big = Spec(models=("llama3.1:70b",), api_keys=(KEY,))
    with pytest.raises(ConfigError, match=r"^llmhost:volumeSize: 20 GiB is smaller than the ~\d+ GiB the models need"):
        cloud_config.check_volume(big, 20, 10, 10240, "disk")


def test_a_render_that_fails_names_the_key_behind_the_field() -> None:
    def refuse(spec: Spec) -> str:
        raise SpecError("origins", "is bad", "fix it")

    with pytest.raises(ConfigError, match=r"^llmhost:allowedOrigins: is bad; fix it$"):
        cloud_config.check_renders(SPEC, refuse, "AWS")
    cloud_config.check_renders(SPEC, lambda spec: "#cloud-config\n", "AWS")


def test_user_data_over_the_limit_names_the_cloud() -> None:
    def too_large(spec: Spec) -> str:
        if spec.user_data_limit < 10**9:  # the measuring renders in preview_checks have no limit
            raise UserDataTooLarge(20000, 16384)
        return "x" * 20000

    with pytest.raises(ConfigError) as info:
        cloud_config.check_renders(SPEC, too_large, "Hetzner")
    assert str(info.value).startswith(
        "llmhost:models: the Hetzner user data would be 20000 bytes even compressed, over its 16384-byte limit"
    )
