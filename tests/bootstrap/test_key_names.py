"""A key's name has one rule (bootstrap/layout.py is_key_name), used by the Spec, the SSM key parameter
and ``checks usage``: the three answer alike, and no other module compiles its own copy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bootstrap import access_log, key_parameter, layout
from bootstrap.spec import SpecError, validate_key_name
from checks import usage
from tests.bootstrap.specs import KEY_A

REPO = Path(__file__).resolve().parents[2]
NAMES = ["alice", "ci-bot", "key_1", "a" * 32, "a" * 33, "", "Alice", "ali ce", "alice\n", "al.ice", "ålice",
         "alice:x"]


def _spec_takes(name: str) -> bool:
    try:
        validate_key_name(name)
    except SpecError:
        return False
    return True


def _parameter_takes(name: str) -> bool:
    try:
        key_parameter.decode(json.dumps({"user": {name: KEY_A}}))
    except key_parameter.KeyParameterError:
        return False
    return True


def _usage_takes(name: str) -> bool:
    entry = {"logger": "http.log.access.log0", "status": 200, access_log.KEY_NAME_FIELD: name,
             access_log.ROLE_FIELD: "user"}
    good, _problems = usage.split_malformed([entry])
    return good == [entry]


@pytest.mark.parametrize("name", NAMES)
def test_spec_key_parameter_and_usage_agree_on_every_name(name: str) -> None:
    expected = re.fullmatch(r"[a-z0-9_-]{1,32}", name) is not None
    assert layout.is_key_name(name) is expected
    assert (_spec_takes(name), _parameter_takes(name), _usage_takes(name)) == (expected,) * 3


def test_only_layout_compiles_the_key_name_pattern() -> None:
    copies = [
        str(path.relative_to(REPO))
        for folder in ("bootstrap", "checks", "infra")
        for path in sorted((REPO / folder).rglob("*.py"))
        if re.search(r"re\.compile\([^)]*KEY_NAME_PATTERN", path.read_text(encoding="utf-8"))
    ]
    assert copies == ["bootstrap/layout.py"]
