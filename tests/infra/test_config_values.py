"""infra/config_values.py: the readers of single values, each error naming the ``llmhost:`` key."""

from __future__ import annotations

import pulumi
import pytest

from infra import config_values as cv
from infra.config_values import ConfigError
from tests.infra.config_helpers import DictSource, read


def test_empty_values_count_as_unset() -> None:
    # `pulumi config set llmhost:domain ''` is how people clear a value.
    settings = read({"domain": "", "models": "  ", "target": ""})
    assert settings.spec.domain is None
    assert settings.spec.models == ("gemma3:1b",)
    assert settings.target == "aws"


def test_a_single_bare_value_is_a_list_of_one() -> None:
    # `pulumi config set llmhost:models gemma3:4b` is what people type first.
    assert read({"models": "gemma3:4b"}).spec.models == ("gemma3:4b",)


def test_a_config_error_is_a_run_error_naming_the_full_key() -> None:
    err = ConfigError("models", "is bad", "use good")
    assert isinstance(err, pulumi.RunError)
    assert (err.key, str(err)) == ("llmhost:models", "llmhost:models: is bad; use good")
    # A key of another namespace is named as it is.
    assert ConfigError("hcloud:token", "is not set", "set it").key == "hcloud:token"


def test_a_value_that_is_not_text_is_a_broken_source() -> None:
    with pytest.raises(ConfigError, match=r"^llmhost:sshPort: got a int, expected text; "):
        cv.read_raw(DictSource({"sshPort": 22}), "sshPort")  # type: ignore[dict-item]


@pytest.mark.parametrize("value", ["1_0", "\u0661\u0662", "2.5", "0x10", "1" * 19])
def test_whole_numbers_are_ascii_digits_only(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^llmhost:maxBodyMb: .* is not a whole number; use ASCII digits"):
        cv.read_int(DictSource({"maxBodyMb": value}), "maxBodyMb")


def test_whole_numbers_and_booleans_are_parsed() -> None:
    source = DictSource({"n": " -12 ", "yes": "TRUE", "no": " false"})
    assert cv.read_int(source, "n") == -12
    assert (cv.read_bool(source, "yes"), cv.read_bool(source, "no"), cv.read_bool(source, "unset")) == (
        True,
        False,
        None,
    )


def test_a_cidr_with_host_bits_suggests_its_network() -> None:
    with pytest.raises(ConfigError) as info:
        cv.read_cidr_list(DictSource({"adminCidrs": '["198.51.100.7/24"]'}), "adminCidrs")
    assert str(info.value) == (
        "llmhost:adminCidrs: '198.51.100.7/24' is not a CIDR; use 198.51.100.0/24, or 198.51.100.7/32 for one address"
    )
    with pytest.raises(ConfigError, match=r"^llmhost:adminCidrs: the list is empty; "):
        cv.read_cidr_list(DictSource({"adminCidrs": "[]"}), "adminCidrs")


def test_named_keys_are_keys_and_names_and_a_bad_map_names_the_key() -> None:
    source = DictSource({"apiKeys": '{"alice": "k1", "ci": "k2"}', "adminApiKeys": '["a1"]'})
    assert cv.read_named_keys(source, "apiKeys", "key-") == (["k1", "k2"], ["alice", "ci"])
    assert cv.read_named_keys(source, "adminApiKeys", "admin-") == (["a1"], ["admin-1"])
    assert cv.read_named_keys(source, "unset", "key-") == (None, None)
    with pytest.raises(ConfigError, match=r"^llmhost:apiKeys: is not valid JSON \(") as info:
        cv.read_named_keys(DictSource({"apiKeys": '{"alice": "secret-value"'}), "apiKeys", "key-")
    assert "secret-value" not in str(info.value)
