"""compose.yaml: only the proxy publishes ports; schema-valid for every spec in the matrix."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from bootstrap import layout
from bootstrap.compose import render_compose
from bootstrap.spec import Spec
from tests.bootstrap.specs import KEY_A, matrix
from tests.tools import SCHEMAS

COMPOSE_SCHEMA = json.loads((SCHEMAS / "compose-spec.json").read_text())


@pytest.mark.parametrize(("name", "spec"), matrix(), ids=[n for n, _ in matrix()])
def test_compose_valid_against_compose_spec(name: str, spec: Spec) -> None:
    document = yaml.safe_load(render_compose(spec))
    jsonschema.Draft7Validator(COMPOSE_SCHEMA).validate(document)
    if not spec.runtime_info.in_container:  # a host daemon (tests/bootstrap/test_lmstudio_render.py)
        assert list(document["services"]) == [layout.PROXY_SERVICE]
        return
    runtime = document["services"][layout.RUNTIME_SERVICE]
    proxy = document["services"][layout.PROXY_SERVICE]
    # The runtime never publishes a port; the proxy publishes exactly 80 and 443.
    assert "ports" not in runtime
    assert runtime["expose"] == [str(spec.runtime_info.port)]
    assert [p.split(":")[-1] for p in proxy["ports"]] == ["80", "443", "443/udp"]
    assert not any(str(spec.runtime_info.port) in p for p in proxy["ports"])
    assert ":latest" not in runtime["image"] and ":latest" not in proxy["image"]
    assert runtime["restart"] == proxy["restart"] == "unless-stopped"
    assert "caddy_data:/data" in proxy["volumes"]
    assert any(v.endswith(spec.runtime_info.container_models_dir) for v in runtime["volumes"])
    gpu = runtime.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    assert bool(gpu) == spec.gpu
    test = runtime["healthcheck"]["test"]
    if spec.runtime == "ollama":
        assert test == ["CMD", "ollama", "list"]  # the image has no curl
    else:
        assert "curl" in test and test[-1].endswith("/health")


def test_no_key_in_compose() -> None:
    assert KEY_A not in render_compose(Spec(api_keys=(KEY_A,)))


def test_local_mode_binds_loopback_and_uses_named_volume() -> None:
    spec = Spec(api_keys=(KEY_A,), listen_address="127.0.0.1", models_dir=None, compose_project="llmhost-local")
    document = yaml.safe_load(render_compose(spec))
    jsonschema.Draft7Validator(COMPOSE_SCHEMA).validate(document)
    assert all(p.startswith("127.0.0.1:") for p in document["services"]["proxy"]["ports"])
    assert "models" in document["volumes"]
    assert document["name"] == "llmhost-local"


def test_llamacpp_command_names_model_source() -> None:
    url = "https://example.com/models/m-Q4_K_M.gguf"
    document = yaml.safe_load(render_compose(Spec(api_keys=(KEY_A,), runtime="llamacpp", models=(url,))))
    command = document["services"]["runtime"]["command"]
    assert command[command.index("--model-url") + 1] == url
    assert command[command.index("--host") + 1] == "0.0.0.0"
