"""``--memory-gib``, ``--cpus``, ``--parallel``, ``--context-length``, ``--max-queue`` on the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bootstrap import layout
from tests.bootstrap.test_cli import run_cli


def runtime(out: Path) -> dict[str, object]:
    return yaml.safe_load((out / layout.COMPOSE_FILE).read_text())["services"][layout.RUNTIME_SERVICE]


def test_render_sizes_from_memory_and_cores(tmp_path: Path) -> None:
    result = run_cli("render", "--out", str(tmp_path), "--memory-gib", "8", "--cpus", "2")
    assert result.returncode == 0, result.stderr
    env = runtime(tmp_path)["environment"]
    assert isinstance(env, dict)
    assert (env["OLLAMA_NUM_PARALLEL"], env["OLLAMA_CONTEXT_LENGTH"], env["OLLAMA_MAX_QUEUE"]) == ("4", "4096", "16")


def test_overrides_without_a_server_size_are_rendered_unchecked(tmp_path: Path) -> None:
    model = "ggml-org/gemma-3-270m-GGUF:Q4_K_M"
    result = run_cli(
        "render", "--out", str(tmp_path), "--runtime", "llamacpp", "--model", model, "--parallel", "3",
        "--context-length", "2048",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    command = runtime(tmp_path)["command"]
    assert isinstance(command, list)
    assert command[-5:] == ["--parallel", "3", "--kv-unified", "--ctx-size", "6144"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--memory-gib", "8"], "--memory-gib: needs --cpus too; give both, or neither to skip the memory check"),
        (["--memory-gib", "inf", "--cpus", "4"], "argument --memory-gib: 'inf' is not a plain number; use a number "
         "from 0.5 to 32768 (GiB), e.g. 8"),
        (["--memory-gib", "nan", "--cpus", "4"], "argument --memory-gib: 'nan' is not a plain number"),
        # 1e9 GiB was accepted; "abc" got argparse's "invalid float value" without the range
        (["--memory-gib", "1e9", "--cpus", "4"], "argument --memory-gib: '1e9' is not a plain number; use a number "
         "from 0.5 to 32768 (GiB)"),
        (["--memory-gib", "abc", "--cpus", "4"], "argument --memory-gib: 'abc' is not a plain number; use a number "
         "from 0.5 to 32768 (GiB), e.g. 8"),
        (["--memory-gib", "999999", "--cpus", "4"], "argument --memory-gib: 999999 is out of range; use a number "
         "from 0.5 to 32768 (GiB), e.g. 8"),
        (["--memory-gib", "0", "--cpus", "4"], "argument --memory-gib: 0 is out of range"),
        (["--memory-gib", "8", "--cpus", "100000"], "--cpus: 100000 is not a core count; use a whole number from 1 "
         "to 4096"),
        (["--parallel", "9" * 20], "argument --parallel: '99999999999999999999' is not a whole number of at most 18"),
        (["--cpus", "0", "--memory-gib", "8"], "--cpus: 0 is not a core count; use a whole number from 1 to 4096"),
        # a negative size is below the range, not "not a plain number"; in both spellings
        (["--memory-gib=-1", "--cpus", "4"], "argument --memory-gib: -1 is out of range; use a number "
         "from 0.5 to 32768 (GiB), e.g. 8"),
        (["--memory-gib", "-1", "--cpus", "4"], "argument --memory-gib: -1 is out of range; use a number "
         "from 0.5 to 32768 (GiB)"),
        (["--memory-gib=-0.5"], "argument --memory-gib: -0.5 is out of range"),
        (["--memory-gib=-x", "--cpus", "4"], "argument --memory-gib: '-x' is not a plain number"),
        # --cpus 0 alone: its own range first, not "needs --memory-gib too"
        (["--cpus", "0"], "--cpus: 0 is not a core count; use a whole number from 1 to 4096"),
        (["--cpus", "99999"], "--cpus: 99999 is not a core count"),
        (
            ["--memory-gib", "4", "--cpus", "2", "--parallel", "8", "--context-length", "65536"],
            "--parallel: 8 slots x 65536 tokens of context need 13.0 GiB for gemma3:1b, but 4 GiB of RAM leave "
            "1.8 GiB after weights, buffers and system (2.2 GiB); use at most 1 slots at 65536 tokens, or at most "
            "8847 tokens per slot at 8 slots, or a larger server",
        ),
        (
            ["--memory-gib", "4", "--cpus", "2", "--model", "llama3.1:8b"],
            "--memory-gib: llama3.1:8b needs 6.3 GiB (6.1 GiB for weights, buffers and system, 0.2 GiB of "
            "context), more than the 4 GiB of RAM; pick a server with more memory, or a smaller model",
        ),
        (["--max-queue", "0"], "--max-queue: 0 is out of range; use a whole number from 1 to 65536"),
        (  # LM Studio has no --max-num-seqs (vLLM's flag): the message names no runtime's own flag
            ["--runtime", "lmstudio", "--max-queue", "5"],
            "--max-queue: LM Studio has no queue limit (waiting requests are scheduled as slots free up); "
            "remove it; with LM Studio only the slots and the context length can be set",
        ),
        (
            ["--runtime", "llamacpp", "--model", "a/b-GGUF", "--max-queue", "5"],
            "--max-queue: llama-server has no queue limit",
        ),
    ],
)
def test_bad_capacity_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), *args)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("python -m bootstrap render: error: ")
    assert expected in line
    assert not out.exists()


@pytest.mark.parametrize("command", ["render", "local", "apply"])
def test_every_rendering_command_has_the_capacity_options(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--memory-gib", "--cpus", "--parallel", "--context-length", "--max-queue"):
        assert option in result.stdout
