"""Preview-time config (issue #11, bootstrap half): llama.cpp default model and keep-alive grammar."""

from __future__ import annotations

import pytest

from bootstrap import layout
from infra.config_values import ConfigError
from tests.infra.config_helpers import error_for, read


def test_llamacpp_without_models_previews_with_gemma_3_1b_instruct() -> None:
    spec = read({"runtime": "llamacpp"}).spec
    assert spec.models == ("ggml-org/gemma-3-1b-it-GGUF:Q4_K_M",)
    assert spec.models == (layout.RUNTIMES["llamacpp"].default_model,)


@pytest.mark.parametrize("value", ["1.5h", "-1m", "3600", "-1", "0"])
def test_keep_alive_in_ollamas_grammar_previews(value: str) -> None:
    assert read({"keepAlive": value}).spec.keep_alive == value


@pytest.mark.parametrize("value", ["1.5", "1d", "forever"])
def test_keep_alive_ollama_cannot_parse_is_refused_naming_the_key(value: str) -> None:
    err = error_for({"keepAlive": value})
    assert isinstance(err, ConfigError)
    assert "keepAlive" in str(err) and "1.5h" in str(err)


def test_a_mixed_case_ollama_model_is_normalised_with_a_warning() -> None:
    settings = read({"models": '["Llama3.2:1b"]'})
    assert settings.spec.models == ("llama3.2:1b",)
    assert any("llmhost:models" in w and "'Llama3.2:1b' is used as 'llama3.2:1b'" in w for w in settings.warnings)
