"""infra/hetzner_config.py (through read_settings): defaults, the server-type table, credentials, adminCidrs."""

from __future__ import annotations

import json

import pytest

from bootstrap.spec import SpecError
from infra import config as cfg
from infra import hetzner_bundle, hetzner_config, hetzner_types
from infra.config_values import ConfigError
from tests.infra.config_helpers import KEY, DictSource

TOKEN = {"hcloud:token"}
OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn0d3vK2mJwQ0p5Q9nY1lqkqvYp8uTtX0N0sF9mE0xL ops@laptop"
BASE = {"target": "hetzner", "apiKeys": json.dumps([KEY]), "adminCidrs": '["198.51.100.7/32"]'}


def read(values: dict[str, str], **kwargs: object) -> cfg.Settings:
    kwargs.setdefault("provider_keys", TOKEN)
    kwargs.setdefault("environ", {})
    return cfg.read_settings(DictSource(values), "dev", present_keys=values.keys(), **kwargs)  # type: ignore[arg-type]


def error_for(values: dict[str, str], **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        read(values, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return info.value


def test_defaults() -> None:
    settings = read(BASE)
    hetzner = settings.hetzner
    assert hetzner is not None
    assert (settings.aws, settings.ssh) == (None, None)
    assert hetzner.server_type.name == hetzner_types.DEFAULT_SERVER_TYPE == "cax11"
    assert (hetzner.server_type.arch, hetzner.server_type.ram_gib) == ("arm", 4)
    assert hetzner.location == "fsn1"
    assert hetzner.volume_size_gib == hetzner_config.DEFAULT_HETZNER_VOLUME_GIB == 20
    assert hetzner.retain_volume is False
    assert hetzner.allowed_cidrs == ("0.0.0.0/0", "::/0")
    assert hetzner.admin_cidrs == ("198.51.100.7/32",)
    assert hetzner.ssh_public_key is None
    # The keys stay inline (they travel over SSH), and the user data may be 32 KiB.
    spec = settings.spec
    assert spec.api_keys == (KEY,)
    assert spec.ssm_parameter is None
    assert spec.user_data_limit == hetzner_bundle.HETZNER_USER_DATA_LIMIT == 32 * 1024
    assert spec.user_data_gzip is False  # Hetzner's API takes text: no gzip document
    assert spec.gpu is False
    assert settings.warnings == ()


def test_settings_are_read() -> None:
    settings = read(
        {
            **BASE,
            "serverType": "ccx23",
            "location": "ash",
            "volumeSize": "100",
            "retainVolume": "true",
            "allowedCidrs": '["203.0.113.0/24"]',
            "tls": "internal",  # a narrow allowedCidrs: Let's Encrypt could not reach the server
            "adminCidrs": '["198.51.100.7", "2001:db8::/64"]',
            "sshPublicKey": OPERATOR_KEY,
        }
    )
    hetzner = settings.hetzner
    assert hetzner is not None
    assert (hetzner.server_type.name, hetzner.location, hetzner.volume_size_gib) == ("ccx23", "ash", 100)
    assert hetzner.retain_volume is True
    assert hetzner.allowed_cidrs == ("203.0.113.0/24",)
    assert hetzner.admin_cidrs == ("198.51.100.7/32", "2001:db8::/64")
    assert hetzner.ssh_public_key is not None and hetzner.ssh_public_key.endswith("ops@laptop")


def test_names_are_matched_without_regard_to_case() -> None:
    hetzner = read({**BASE, "serverType": "CAX21", "location": "NBG1"}).hetzner
    assert hetzner is not None and (hetzner.server_type.name, hetzner.location) == ("cax21", "nbg1")


def test_the_token_may_come_from_the_environment() -> None:
    assert read(BASE, provider_keys=set(), environ={"HCLOUD_TOKEN": "t" * 64}).hetzner is not None


@pytest.mark.parametrize("environ", [{}, {"HCLOUD_TOKEN": ""}, {"HCLOUD_TOKEN": "  "}])
def test_without_a_token_the_error_says_how_to_set_it(environ: dict[str, str]) -> None:
    err = error_for(BASE, provider_keys={"aws:region"}, environ=environ)
    message = str(err)
    assert err.key == "hcloud:token"
    assert message.startswith("hcloud:token: is not set")
    assert "pulumi config set --secret hcloud:token" in message
    assert "HCLOUD_TOKEN" in message


def test_admin_cidrs_are_required_because_keys_travel_over_ssh() -> None:
    values = {key: value for key, value in BASE.items() if key != "adminCidrs"}
    message = str(error_for(values))
    assert message.startswith("llmhost:adminCidrs: is not set")
    assert "over SSH" in message and "rotated" in message
    assert "198.51.100.7/32" in message


def test_ssh_from_anywhere_needs_the_explicit_switch() -> None:
    message = str(error_for({**BASE, "adminCidrs": '["0.0.0.0/0"]'}))
    assert message.startswith("llmhost:adminCidrs: 0.0.0.0/0 opens SSH to the whole internet")
    assert "allowSshFromAnywhere" in message and "SSM" not in message
    assert read({**BASE, "adminCidrs": '["0.0.0.0/0"]', "allowSshFromAnywhere": "true"}).hetzner is not None


def test_an_unknown_server_type_lists_the_allowed_ones() -> None:
    err = error_for({**BASE, "serverType": "cx22"})
    message = str(err)
    assert err.key == "llmhost:serverType"
    assert message.startswith("llmhost:serverType: 'cx22' is not a Hetzner Cloud server type")
    for name in hetzner_types.SERVER_TYPES:
        assert name in message


def test_an_unknown_location_lists_the_allowed_ones() -> None:
    err = error_for({**BASE, "location": "fra1"})
    assert err.key == "llmhost:location"
    assert str(err) == (
        "llmhost:location: 'fra1' is not a Hetzner Cloud location; use one of: fsn1, nbg1, hel1, ash, hil, sin"
    )


def test_a_type_the_location_does_not_offer_names_both() -> None:
    message = str(error_for({**BASE, "serverType": "cax11", "location": "ash"}))
    assert message.startswith("llmhost:serverType: cax11 is not offered in ash")
    assert "fsn1, nbg1, hel1" in message and "cpx22" in message and "cax21" not in message.split("in ash one of")[-1]


def test_hetzner_has_no_gpu() -> None:
    message = str(error_for({**BASE, "gpu": "true"}))
    assert message.startswith("llmhost:gpu: is true but Hetzner Cloud has no GPU server types")


@pytest.mark.parametrize(
    ("size", "words"),
    [
        ("5", "5 GiB is under the Hetzner volume minimum of 10 GiB; use 10 to 10240 (GiB)"),
        ("20000", "20000 GiB is over the Hetzner volume maximum; use 10 to 10240 (GiB)"),
    ],
)
def test_volume_size_limits(size: str, words: str) -> None:
    assert str(error_for({**BASE, "volumeSize": size})) == f"llmhost:volumeSize: {words}"


def test_the_volume_must_hold_the_models() -> None:
    message = str(error_for({**BASE, "models": '["llama3.1:70b"]', "volumeSize": "20", "serverType": "ccx53"}))
    assert message.startswith("llmhost:volumeSize: 20 GiB is smaller than the ~")


def test_a_model_that_does_not_fit_in_ram_is_a_warning() -> None:
    settings = read({**BASE, "models": '["gemma3:12b"]'})
    (warning,) = settings.warnings
    assert warning.startswith("llmhost:serverType: cax11 has 4 GiB of RAM")
    assert "gemma3:12b" in warning and "cax31" in warning
    assert read({**BASE, "models": '["gemma3:12b"]', "serverType": "cax31"}).warnings == ()


def test_keys_of_other_targets_are_ignored_with_a_warning() -> None:
    settings = read({**BASE, "instanceType": "m7g.large", "sshHost": "203.0.113.10"})
    assert settings.warnings == (
        "llmhost:instanceType is ignored by target hetzner (only aws read it)",
        "llmhost:sshHost is ignored by target hetzner (only ssh read it)",
    )
    (warning,) = cfg.read_settings(DictSource({"serverType": "cax21"}), "dev").warnings
    assert warning == "llmhost:serverType is ignored by target aws (only hetzner read it)"


def test_idle_stop_on_hetzner_saves_nothing() -> None:
    (warning,) = read({**BASE, "idleStopMinutes": "60"}).warnings
    assert warning.startswith("llmhost:idleStopMinutes: Hetzner bills a powered-off server in full")


def test_the_user_data_is_rendered_before_anything_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def fake_render(spec: object, **kwargs: object) -> None:
        seen.append(spec.user_data_limit)  # type: ignore[attr-defined]
        raise SpecError("models", "user data is 40000 bytes even compressed, over the 32768-byte limit", "fewer")

    monkeypatch.setattr(hetzner_bundle, "render", fake_render)
    message = str(error_for(BASE))
    assert message.startswith("llmhost:models: user data is 40000 bytes")
    assert seen == [32 * 1024]


def test_the_real_render_fits() -> None:
    spec = read(BASE).spec
    files = hetzner_bundle.render(
        spec, public_ip="203.0.113.9", volume_id="987654", host_key=hetzner_bundle.placeholder_host_key()
    )
    assert len(files.user_data.encode()) <= hetzner_bundle.HETZNER_USER_DATA_LIMIT
    assert KEY not in files.user_data
    assert KEY in files.proxy_env
