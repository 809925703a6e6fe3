"""``llmhost:runtime`` against the target and the GPU: what the runtime table allows (vLLM: GPU only)."""

from __future__ import annotations

import pytest

from infra.config_values import ConfigError
from tests.infra import keymaterial as km
from tests.infra.config_helpers import KEY, error_for, read

SSH = {"target": "ssh", "apiKeys": f'["{KEY}"]', "sshHost": "203.0.113.10", "sshPrivateKey": km.PRIVATE_KEY,
       "sshHostKey": km.HOST_KEY}


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"runtime": "vllm"}, "vllm runs on an NVIDIA GPU only and instance type m7g.large has none; pick a GPU type"),
        ({"runtime": "vllm", "instanceType": "m7i.large"}, "instance type m7i.large has none"),
        ({"runtime": "vllm", "target": "hetzner", "apiKeys": f'["{KEY}"]'}, "does not run on target hetzner"),
        ({**SSH, "runtime": "vllm"}, "llmhost:gpu is not true; set llmhost:gpu true"),
    ],
)
def test_vllm_is_refused_without_a_gpu_in_one_line(values: dict[str, str], fragment: str) -> None:
    err = error_for(values)
    message = str(err)
    assert err.key == "llmhost:runtime"
    assert fragment in message and "\n" not in message
    assert message.startswith("llmhost:runtime: ")


@pytest.mark.parametrize(
    "values",
    [
        {"runtime": "vllm", "instanceType": "g4dn.xlarge"},
        {"runtime": "vllm", "instanceType": "g5.xlarge", "models": '["meta-llama/Llama-3.1-8B-Instruct"]'},
        {**SSH, "runtime": "vllm", "gpu": "true"},
    ],
)
def test_vllm_is_accepted_on_gpu_hosts(values: dict[str, str]) -> None:
    spec = read(values).spec
    assert spec.runtime == "vllm" and spec.gpu is True
    assert spec.capacity is None or spec.capacity.parallel != 4  # no automatic slots: vLLM batches itself


def test_vllm_takes_explicit_capacity_and_refuses_a_queue_limit() -> None:
    spec = read({"runtime": "vllm", "instanceType": "g5.xlarge", "parallel": "32", "contextLength": "8192"}).spec
    assert spec.capacity is not None
    assert (spec.capacity.parallel, spec.capacity.context_length) == (32, 8192)
    err = error_for({"runtime": "vllm", "instanceType": "g5.xlarge", "maxQueue": "10"})
    assert err.key == "llmhost:maxQueue" and "no queue limit" in str(err)


def test_the_runtime_help_names_every_runtime() -> None:
    from infra.config import KEYS

    assert "vllm" in KEYS["runtime"]
    with pytest.raises(ConfigError, match="use one of: ollama, llamacpp, vllm"):
        read({"runtime": "tgi", "instanceType": "g5.xlarge"})


HF_TOKEN = "hf_" + "Xy9" * 11


def test_hf_token_reaches_the_vllm_spec_on_ssh_and_warns_when_stored_in_plain_text() -> None:
    values = {**SSH, "runtime": "vllm", "gpu": "true", "hfToken": HF_TOKEN}
    settings = read(values, secret_keys=["llmhost:apiKeys", "llmhost:sshPrivateKey"])
    assert settings.spec.hf_token == HF_TOKEN
    assert any("llmhost:hfToken is stored in plain text" in w for w in settings.warnings)
    quiet = read(values, secret_keys=["llmhost:apiKeys", "llmhost:sshPrivateKey", "llmhost:hfToken"])
    assert not any("hfToken" in w for w in quiet.warnings)
    assert HF_TOKEN not in repr(settings.spec)


def test_hf_token_is_refused_on_aws_and_for_runtimes_without_one() -> None:
    err = error_for({"runtime": "vllm", "instanceType": "g5.xlarge", "hfToken": HF_TOKEN})
    assert err.key == "llmhost:hfToken" and "user data" in str(err) and HF_TOKEN not in str(err)
    err = error_for({**SSH, "hfToken": HF_TOKEN})
    assert err.key == "llmhost:hfToken" and "ollama reads no Hugging Face token" in str(err)
    assert HF_TOKEN not in str(err)


def test_vllm_capacity_output_says_what_the_bundle_renders() -> None:
    from bootstrap.sizing import capacity_output

    default = read({"runtime": "vllm", "instanceType": "g5.xlarge"}).spec
    assert default.capacity is None
    assert capacity_output("vllm", None)["contextPerSlot"] == 4096  # --max-model-len 4096
    assert capacity_output("vllm", None)["maxQueue"] is None
    sized = read({"runtime": "vllm", "instanceType": "g5.xlarge", "parallel": "48"}).spec
    assert sized.capacity is not None and sized.capacity.max_queue is None
    assert capacity_output("vllm", sized.capacity)["slots"] == 48


@pytest.mark.parametrize(
    "values",
    [
        {**SSH, "runtime": "llamacpp", "keepAlive": "10m"},
        {**SSH, "runtime": "lmstudio", "keepAlive": "-1"},  # even the default value: nothing would read it
        {"runtime": "vllm", "instanceType": "g5.xlarge", "keepAlive": "5m"},
    ],
    ids=lambda values: values["runtime"],
)
def test_keep_alive_is_refused_for_a_runtime_that_has_none(values: dict[str, str]) -> None:
    err = error_for(values)
    assert err.key == "llmhost:keepAlive"
    assert str(err) == (
        f"llmhost:keepAlive: {values['runtime']} has no keep-alive setting (it keeps its model loaded); "
        "remove it (used by: ollama)"
    )


def test_keep_alive_is_read_for_ollama() -> None:
    assert read({**SSH, "keepAlive": "10m"}).spec.keep_alive == "10m"
