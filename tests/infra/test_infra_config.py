"""infra/config.py: stack configuration -> Spec, and every mistake reported under its config key.

The readers of single values are tested in test_config_values.py, each target's own keys in
test_aws_config.py, test_hetzner_config.py and test_ssh_config.py.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pytest

from bootstrap.spec import Spec
from infra import capacity_config, spec_keys
from infra import config as cfg
from infra.config import read_settings
from tests.infra.config_helpers import KEY, KEY2, TARGET_MINIMUM, DictSource, error_for, read
from tests.infra.keymaterial import PRIVATE_KEY

# --- defaults -----------------------------------------------------------------------------


def test_defaults_give_ollama_gemma_on_aws_with_keys_from_ssm() -> None:
    settings = read({})
    assert settings.target == "aws"
    spec = settings.spec
    assert spec.runtime == "ollama"
    assert spec.models == ("gemma3:1b",)
    assert spec.gpu is False
    assert spec.domain is None
    assert spec.tls == "auto"
    assert spec.origins == ()
    assert spec.api_keys == ()
    assert spec.ssm_parameter == "/llmhost/dev/api-keys"
    assert spec.keep_alive == "-1"
    assert spec.max_body_mb == 20
    assert settings.warnings == ()


# --- values ---------------------------------------------------------------------------------


def test_lists_are_given_as_json() -> None:
    settings = read(
        {
            "models": '["gemma3:1b", "qwen3:0.6b"]',
            "allowedOrigins": '["https://app.example.com", "http://localhost:3000"]',
            "apiKeys": f'["{KEY}", "{KEY2}"]',
        }
    )
    spec = settings.spec
    assert spec.models == ("gemma3:1b", "qwen3:0.6b")
    assert spec.origins == ("https://app.example.com", "http://localhost:3000")
    # On AWS the keys go into the SSM SecureString, never into the bundle.
    assert spec.api_keys == ()
    assert spec.ssm_parameter == "/llmhost/dev/api-keys"
    assert settings.aws is not None and settings.aws.api_keys == (KEY, KEY2)


def test_scalars_are_parsed() -> None:
    spec = read(
        {
            "runtime": "llamacpp",
            "models": '["ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"]',
            "instanceType": "g5.xlarge",
            "domain": "llm.example.com",
            "tls": "acme",
            "acmeEmail": "ops@example.com",
            "maxBodyMb": "64",
        }
    ).spec
    assert (spec.runtime, spec.gpu, spec.domain, spec.tls) == ("llamacpp", True, "llm.example.com", "acme")
    assert (spec.acme_email, spec.max_body_mb) == ("ops@example.com", 64)
    assert spec.site_address == "llm.example.com"
    assert read({"keepAlive": "30m"}).spec.keep_alive == "30m"  # Ollama's (another runtime refuses it)


def test_acme_email_is_refused_where_no_acme_certificate_is_requested_and_kept_where_one_is() -> None:
    message = str(error_for({"tls": "internal", "acmeEmail": "ops@example.com"}))
    assert message.startswith("llmhost:acmeEmail: not used, no ACME certificate is requested (TLS internal")
    assert read({"tls": "auto", "acmeEmail": "ops@example.com"}).spec.acme_email == "ops@example.com"
    assert read({"tls": "acme", "domain": "llm.example.com", "acmeEmail": "ops@example.com"}).spec.acme_email


@pytest.mark.parametrize("target", ["hetzner", "ssh", "local"])
def test_targets_without_a_parameter_store_need_inline_keys(target: str) -> None:
    err = error_for({"target": target})
    assert str(err).startswith("llmhost:apiKeys: no key is configured")
    values = {"target": target, "apiKeys": f'["{KEY}"]', **TARGET_MINIMUM[target]}
    settings = read(values, provider_keys={"hcloud:token"})
    assert settings.target == target
    assert settings.spec.api_keys == (KEY,)
    assert settings.spec.ssm_parameter is None


def test_plain_text_api_keys_are_flagged() -> None:
    values = {"apiKeys": f'["{KEY}"]'}
    assert read(values, secret_keys=["llmhost:apiKeys"]).warnings == ()
    (warning,) = read(values, secret_keys=[]).warnings
    assert "llmhost:apiKeys" in warning and "--secret" in warning


# --- errors name the config key ------------------------------------------------------------

BAD_VALUES = [
    # (config key, bad value, words the message must contain)
    ("models", '["Gemma 3"]', "not an Ollama model reference"),
    ("models", "[]", "the list is empty"),
    ("models", '["gemma3:1b", "gemma3:1b"]', "listed twice"),
    ("models", '["gemma3:1b"', "not valid JSON"),
    ("models", "[1, 2]", "list of strings"),
    ("models", '{"name": "gemma3:1b"}', "is not a list"),
    ("allowedOrigins", '["https://app.example.com/path"]', "is not an origin"),
    ("allowedOrigins", '["app.example.com"]', "is not an origin"),
    ("allowedOrigins", '["https://[::1"]', "is not an origin"),  # urlsplit: ValueError, was a traceback
    ("runtime", "tgi", "'tgi' is not supported"),
    ("target", "gcp", "'gcp' is not supported; use one of: aws, hetzner, ssh, local"),
    ("gpu", "yes", "is not a boolean"),
    ("maxBodyMb", "big", "is not a whole number"),
    ("maxBodyMb", "5000", "out of range"),
    ("keepAlive", "forever", "is not a duration"),
    ("tls", "letsencrypt", "is not supported"),
    ("domain", "https://llm.example.com", "is not a DNS hostname"),
    ("acmeEmail", "ops-at-example.com", "is not an email address"),
    ("apiKeys", '["short"]', "only 5 characters long"),
    ("apiKeys", f'["{KEY}", "{KEY}"]', "given twice"),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD_VALUES, ids=[f"{k}={v}" for k, v, _ in BAD_VALUES])
def test_each_bad_value_is_one_line_naming_the_config_key(key: str, value: str, words: str) -> None:
    err = error_for({key: value})
    message = str(err)
    assert isinstance(err, pulumi.RunError), "Pulumi prints a RunError without a traceback"
    assert message.startswith(f"llmhost:{key}: "), message
    assert words in message
    assert "\n" not in message
    assert err.key == f"llmhost:{key}"


def test_a_rule_spanning_two_keys_is_reported_on_the_key_that_changes_its_meaning() -> None:
    message = str(error_for({"tls": "acme"}))
    assert message.startswith("llmhost:tls: acme needs a domain")


def test_a_bad_key_does_not_leak_into_the_message() -> None:
    secret = "short-secret"
    message = str(error_for({"apiKeys": f'["{secret}"]'}))
    assert secret not in message


def test_an_unknown_key_is_a_typo_with_a_suggestion() -> None:
    message = str(error_for({"allowedOrigin": '["https://a.example.com"]'}))
    assert message == "llmhost:allowedOrigin: is not a known setting; did you mean llmhost:allowedOrigins?"
    message = str(error_for({"zzz": "1"}))
    assert message.startswith("llmhost:zzz: is not a known setting; known keys: target, runtime, models")


def test_every_unknown_key_is_named_in_one_run_each_with_its_suggestion() -> None:
    error = error_for({"instanceTyp": "t3.large", "allowedOrigin": '["https://a.example.com"]', "modle": "x"})
    assert str(error).splitlines() == [
        "llmhost:allowedOrigin: is not a known setting; did you mean llmhost:allowedOrigins?",
        "llmhost:instanceTyp: is not a known setting; did you mean llmhost:instanceType?",
        "llmhost:modle: is not a known setting; did you mean llmhost:models?",
    ]
    assert error.key == "llmhost:allowedOrigin"


def test_unknown_keys_are_only_checked_when_the_caller_lists_the_present_keys() -> None:
    settings = read_settings(DictSource({"zzz": "1"}), "dev")
    assert settings.target == "aws"


# --- the tables stay complete --------------------------------------------------------------


def test_every_spec_field_an_operator_sets_has_a_config_key() -> None:
    spec_fields = {f.name for f in dataclasses.fields(Spec)}
    assert set(spec_keys.FIELD_KEYS) <= spec_fields, "FIELD_KEYS names a field Spec does not have"
    target_keys = {key for keys in cfg.TARGET_KEYS.values() for key in keys}
    # The capacity keys feed one Spec field together (capacity), read by infra/capacity_config.py.
    keys = set(spec_keys.FIELD_KEYS.values()) | {"target"} | target_keys | set(capacity_config.KEYS)
    assert keys == set(cfg.KEYS), "a key without a field, or the reverse"
    assert set(cfg.TARGET_KEYS) == set(cfg.TARGETS)


@pytest.mark.parametrize(
    "values",
    [
        {"subnetId": "s" * 10_000},
        {"acmeEmail": "a" * 10_000 + "@example.com", "domain": "llm.example.com"},
        {"target": "t" * 10_000},
        {"instanceType": "m" * 10_000},
        {"target": "ssh", "sshHost": "h" * 10_000, "sshPrivateKey": PRIVATE_KEY, "sshTrustOnFirstUse": "true",
         "apiKeys": f'["{KEY}"]'},
    ],
    ids=lambda values: next(iter(values)) if "target" not in values or len(values) == 1 else "sshHost",
)
def test_a_10_kb_value_is_cut_in_its_error(values: dict[str, str]) -> None:
    message = str(error_for(values))
    assert len(message) < 400 and "characters)" in message, message
