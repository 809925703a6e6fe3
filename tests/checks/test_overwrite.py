"""An output file that is one of the run's own inputs is refused before anything runs or is written:
``--output`` equal to ``--api-key-file`` replaced the key with the report (exit 2, nothing said)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from checks.overwrite import clobbered_input
from tests.checks.test_cli_exit_codes import UNKNOWN, run

KEY_TEXT = "k" * 32 + "\n"
LOG_LINE = json.dumps({
    "level": "info", "ts": time.time(), "logger": "http.log.access.log0", "msg": "handled request",
    "status": 200, "duration": 0.1, "size": 10, "request": {"method": "POST", "uri": "/api/generate"},
    "llmhost_key": "alice", "llmhost_role": "user", "llmhost_auth": "ok",
}) + "\n"
TARGETS = "- url: https://127.0.0.1:1\n"


def test_the_same_file_by_another_name_or_a_link_is_found(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text(KEY_TEXT)
    (tmp_path / "link").symlink_to(key)
    assert clobbered_input(str(tmp_path / "." / "key"), [("--api-key-file", str(key))]) == "--api-key-file"
    assert clobbered_input(str(tmp_path / "link"), [("--ca-file", None), ("--api-key-file", str(key))]) == (
        "--api-key-file"
    )
    assert clobbered_input(str(tmp_path / "new.json"), [("--api-key-file", str(key))]) is None
    assert clobbered_input(None, [("--api-key-file", str(key))]) is None
    assert clobbered_input(str(key), [("--log", "-")]) is None


CASES = {
    "checks: --output is the key file": (
        "checks", {"key": KEY_TEXT},
        ("--url", "https://127.0.0.1:1", "--api-key-file", "key", "--output", "key"),
        "checks: error: --output key: is the --api-key-file file this run reads",
    ),
    "checks: --output is the targets file": (
        "checks", {"targets.yaml": TARGETS},
        ("--targets", "targets.yaml", "--format", "json", "--output", "./targets.yaml"),
        "checks: error: --output ./targets.yaml: is the --targets file this run reads",
    ),
    "checks: --output is a target's own api_key_file": (
        "checks", {"key": KEY_TEXT, "targets.yaml": "- url: https://127.0.0.1:1\n  api_key_file: key\n"},
        ("--targets", "targets.yaml", "--output", "key"),
        "checks: error: --output key: is the api_key_file file this run reads",
    ),
    "checks: --output is a target's own outputs_file": (
        "checks", {"out.json": '{"endpoint": "https://127.0.0.1:1"}\n', "targets.yaml": "- outputs_file: out.json\n"},
        ("--targets", "targets.yaml", "--output", "out.json"),
        "checks: error: --output out.json: is the outputs_file file this run reads",
    ),
    "schedule: --prometheus is a target's own api_key_file": (
        "checks.schedule", {"key": KEY_TEXT, "targets.yaml": "- url: https://127.0.0.1:1\n  api_key_file: key\n"},
        ("--prometheus", "key", "--targets", "targets.yaml"),
        "python -m checks.schedule: error: --prometheus key: is the api_key_file file this run reads",
    ),
    "usage: --output is the log": (
        "checks", {"proxy.log": LOG_LINE},
        ("usage", "--log", "proxy.log", "--output", "proxy.log"),
        "python -m checks usage: error: --output proxy.log: is the --log file this run reads",
    ),
    "schedule: --json is the key file": (
        "checks.schedule", {"key": KEY_TEXT},
        ("--json", "key", "--url", "https://127.0.0.1:1", "--api-key-file", "key"),
        "python -m checks.schedule: error: --json key: is the --api-key-file file this run reads",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(case: str, tmp_path: Path) -> None:
    module, files, args, line = CASES[case]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = run(module, *args, cwd=tmp_path)
    assert result.returncode == UNKNOWN, (result.stdout, result.stderr)
    assert result.stderr.startswith(line), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == files
