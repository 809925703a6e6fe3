"""infra/spec_keys.py: a SpecError is reported under the ``llmhost:`` key behind its field."""

from __future__ import annotations

import dataclasses

import pulumi
import pytest

from bootstrap.spec import Spec, SpecError
from infra import spec_keys
from infra.config_values import ConfigError


def test_a_spec_error_on_a_field_no_key_sets_is_an_internal_error() -> None:
    err = spec_keys.spec_error_to_config_error(SpecError("upstream", "bad", "use host:port"))
    assert isinstance(err, pulumi.RunError)
    assert not isinstance(err, ConfigError)
    assert str(err) == "llmhost internal error: upstream: bad; use host:port"


def test_a_spec_error_names_the_config_key_not_the_field() -> None:
    err = spec_keys.spec_error_to_config_error(SpecError("origins", "'x' is not an origin", "use https://host"))
    assert isinstance(err, ConfigError)
    assert err.key == "llmhost:allowedOrigins"
    assert str(err) == "llmhost:allowedOrigins: 'x' is not an origin; use https://host"


def test_build_spec_reports_a_bad_field_under_its_key() -> None:
    keys = {"api_keys": ("A" * 32,)}
    assert spec_keys.build_spec(models=("gemma3:1b",), **keys).models == ("gemma3:1b",)
    with pytest.raises(ConfigError) as info:
        spec_keys.build_spec(max_body_mb=0, **keys)
    assert info.value.key == "llmhost:maxBodyMb"


def test_every_field_in_the_table_is_a_spec_field() -> None:
    spec_fields = {f.name for f in dataclasses.fields(Spec)}
    assert set(spec_keys.FIELD_KEYS) <= spec_fields
