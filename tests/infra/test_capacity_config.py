"""llmhost:parallel / contextLength / maxQueue and the type tables -> the capacity in the bundle."""

from __future__ import annotations

import json

import pytest
import yaml

from bootstrap import layout
from bootstrap.bundle import render_bundle
from infra import config as cfg
from infra import hetzner_types
from infra.config_values import ConfigError
from infra.instance_types import INSTANCE_SIZES
from infra.prices import INSTANCE_HOURLY
from tests.infra import keymaterial as km
from tests.infra.config_helpers import KEY, DictSource

HETZNER = {"target": "hetzner", "apiKeys": json.dumps([KEY]), "adminCidrs": '["198.51.100.7/32"]'}
SSH = {
    "target": "ssh",
    "apiKeys": json.dumps([KEY]),
    "sshHost": "203.0.113.10",
    "sshPrivateKey": km.PRIVATE_KEY,
    "sshHostKey": km.HOST_KEY,
}
ENV = {"HCLOUD_TOKEN": "t" * 64}


def read(values: dict[str, str]) -> cfg.Settings:
    return cfg.read_settings(DictSource(values), "dev", present_keys=values.keys(), environ=ENV)  # type: ignore[arg-type]


def error_for(values: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        read(values)
    return str(caught.value)


def test_every_priced_instance_type_has_a_size() -> None:
    assert set(INSTANCE_SIZES) == set(INSTANCE_HOURLY)


@pytest.mark.parametrize("instance_type", sorted(INSTANCE_SIZES))
@pytest.mark.parametrize("runtime", ["ollama", "llamacpp"])
def test_every_aws_type_is_sized_from_its_row(instance_type: str, runtime: str) -> None:
    models = '["gemma3:1b"]' if runtime == "ollama" else '["ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"]'
    settings = read({"instanceType": instance_type, "runtime": runtime, "models": models})
    capacity = settings.spec.capacity
    row = INSTANCE_SIZES[instance_type]
    assert capacity is not None and capacity.fits
    assert capacity.memory_gib == (row.gpu_memory_gib or row.memory_gib)
    expected_slots = 4 if row.gpu_memory_gib else max(2, min(8, 2 * row.vcpus))
    assert capacity.parallel == expected_slots and capacity.context_length == 4096
    compose = yaml.safe_load(render_bundle(settings.spec).files[layout.COMPOSE_FILE].content)
    service = compose["services"][layout.RUNTIME_SERVICE]
    if runtime == "ollama":
        assert service["environment"]["OLLAMA_NUM_PARALLEL"] == str(expected_slots)
        assert service["environment"]["OLLAMA_MAX_QUEUE"] == str(4 * expected_slots)
    else:
        assert service["command"][-5:] == [
            "--parallel", str(expected_slots), "--kv-unified", "--ctx-size", str(4096 * expected_slots),
        ]  # fmt: skip


@pytest.mark.parametrize("server_type", sorted(hetzner_types.SERVER_TYPES))
def test_every_hetzner_type_is_sized_from_its_row(server_type: str) -> None:
    row = hetzner_types.SERVER_TYPES[server_type]
    location = "fsn1"
    settings = read({**HETZNER, "serverType": server_type, "location": location})
    capacity = settings.spec.capacity
    assert capacity is not None and capacity.memory_gib == row.ram_gib
    assert capacity.parallel == max(2, min(8, 2 * row.vcpus))


def test_overrides_are_read_and_validated_against_the_type() -> None:
    settings = read({"instanceType": "m7g.xlarge", "parallel": "2", "contextLength": "8192", "maxQueue": "5"})
    capacity = settings.spec.capacity
    assert capacity is not None
    assert (capacity.parallel, capacity.context_length, capacity.max_queue) == (2, 8192, 5)
    assert error_for({**HETZNER, "parallel": "16", "contextLength": "32768"}).startswith(
        "llmhost:parallel: 16 slots x 32768 tokens of context need 13.0 GiB for gemma3:1b, but 4 GiB of RAM leave"
    )
    assert error_for({"contextLength": "100"}) == (
        "llmhost:contextLength: 100 is out of range; use a whole number from 512 to 262144 (tokens per slot)"
    )
    assert error_for({"parallel": "two"}) == (
        "llmhost:parallel: 'two' is not a whole number; use ASCII digits 0-9 only, e.g. 20"
    )
    assert error_for({"runtime": "llamacpp", "models": '["a/b-GGUF"]', "maxQueue": "3"}).startswith(
        "llmhost:maxQueue: llama-server has no queue limit"
    )


def test_models_that_do_not_fit_warn_as_before() -> None:
    (warning,) = read({"instanceType": "c7g.large", "models": '["llama3.1:8b"]'}).warnings
    assert warning.startswith("llmhost:instanceType: keeping llama3.1:8b loaded takes ~")
    assert "more than the server's 4 GiB" in warning


def test_ssh_and_unknown_types_size_only_what_is_set() -> None:
    assert read(SSH).spec.capacity is None
    capacity = read({**SSH, "parallel": "6"}).spec.capacity
    assert capacity is not None and (capacity.parallel, capacity.memory_gib) == (6, None)
    assert read({"instanceType": "m6a.large"}).spec.capacity is None
