"""The chosen capacity reaches compose.yaml: Ollama's environment, llama-server's flags."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
import yaml

from bootstrap import layout, sizing
from bootstrap.capacity_render import capacity_arguments
from bootstrap.compose import render_compose
from bootstrap.spec import Spec
from tests.bootstrap.specs import KEY_A
from tests.llama_server import run_llama_server
from tests.tools import SCHEMAS

COMPOSE_SCHEMA = json.loads((SCHEMAS / "compose-spec.json").read_text())


def runtime_service(spec: Spec) -> dict[str, object]:
    document = yaml.safe_load(render_compose(spec))
    jsonschema.Draft7Validator(COMPOSE_SCHEMA).validate(document)
    return document["services"][layout.RUNTIME_SERVICE]


def test_ollama_gets_the_four_settings() -> None:
    capacity = sizing.size("ollama", ("gemma3:1b", "llama3.2:3b"), sizing.Machine(16, 4))
    assert capacity is not None
    env = runtime_service(Spec(api_keys=(KEY_A,), models=("gemma3:1b", "llama3.2:3b"), capacity=capacity))[
        "environment"
    ]
    assert env["OLLAMA_NUM_PARALLEL"] == "8"
    assert env["OLLAMA_CONTEXT_LENGTH"] == "4096"
    assert env["OLLAMA_MAX_QUEUE"] == "32"
    assert env["OLLAMA_MAX_LOADED_MODELS"] == "2"


def test_without_capacity_the_runtime_defaults_stay() -> None:
    env = runtime_service(Spec(api_keys=(KEY_A,)))["environment"]
    assert not any(name in env for name in ("OLLAMA_NUM_PARALLEL", "OLLAMA_MAX_QUEUE", "OLLAMA_CONTEXT_LENGTH"))
    command = runtime_service(
        Spec(api_keys=(KEY_A,), runtime="llamacpp", models=("ggml-org/gemma-3-270m-GGUF:Q4_K_M",))
    )["command"]
    assert not {"--parallel", "--ctx-size", "--kv-unified"} & set(command)  # type: ignore[arg-type]


def test_llama_server_gets_slots_and_the_total_context() -> None:
    model = "ggml-org/gemma-3-270m-GGUF:Q4_K_M"
    capacity = sizing.size("llamacpp", (model,), sizing.Machine(4, 2), sizing.Overrides(context_length=8192))
    command = runtime_service(Spec(api_keys=(KEY_A,), runtime="llamacpp", models=(model,), capacity=capacity))[
        "command"
    ]
    assert isinstance(command, list)
    # --ctx-size is the KV cache of all slots together (4 slots x 8192 tokens), in one buffer
    # shared by the slots, the layout llama-server uses when it picks the slots itself.
    assert command[command.index("--parallel") + 1] == "4"
    assert command[command.index("--ctx-size") + 1] == "32768"
    assert "--kv-unified" in command


def test_the_real_llama_server_takes_the_rendered_flags(tmp_path: Path) -> None:
    """The flags as rendered start the real llama-server (tests/llama_server.py) with the sized
    slot count; later flags win over the harness's own ``--parallel 1 --ctx-size 2048``."""
    model = "ggml-org/gemma-3-270m-GGUF:Q4_K_M"
    capacity = sizing.size("llamacpp", (model,), sizing.Machine(8, 2))
    assert capacity is not None and capacity.parallel == 4
    with run_llama_server(tmp_path, extra_args=capacity_arguments(capacity)) as server:
        props = httpx.get(f"{server.url}/props", timeout=30).json()
        assert props["total_slots"] == capacity.parallel
        log = server.log()
    assert "error while handling argument" not in log and "invalid argument" not in log
