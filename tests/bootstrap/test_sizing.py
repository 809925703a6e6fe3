"""bootstrap/sizing.py: server types x runtimes x model sets -> slots, context, queue; refusals."""

from __future__ import annotations

import itertools

import pytest

from bootstrap import sizing
from bootstrap.model_sizes import kv_bytes_per_token, model_gb, table_key
from bootstrap.sizing import Capacity, Machine, Overrides, SizingError, size

# (name, vCPUs, RAM GiB, GPU GiB): Hetzner cax11/cx33/ccx23, EC2 c7g.large/m7g.large/m7g.2xlarge/g5.xlarge.
MACHINES = {
    "cax11": Machine(4, 2),
    "cx33": Machine(8, 4),
    "ccx23": Machine(16, 4),
    "c7g.large": Machine(4, 2),
    "m7g.large": Machine(8, 2),
    "m7g.2xlarge": Machine(32, 8),
    "g5.xlarge": Machine(16, 4, 24),
}
MODEL_SETS = {
    "ollama": {
        "one-small": ("gemma3:1b",),
        "two": ("gemma3:1b", "llama3.2:3b"),
        "eight-b": ("llama3.1:8b",),
        "unknown": ("hf.co/acme/thing:Q4_K_M",),
    },
    "llamacpp": {
        "one-small": ("ggml-org/gemma-3-270m-GGUF:Q4_K_M",),
        "eight-b": ("bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M",),
    },
}
CASES = [
    (machine, runtime, models)
    for machine, runtime in itertools.product(MACHINES, MODEL_SETS)
    for models in MODEL_SETS[runtime]
]


def need(models: tuple[str, ...], capacity: Capacity, gpu: bool) -> float:
    """The memory rule, written out again from the README's words."""
    total = 0.0 if gpu else sizing.SYSTEM_GIB
    largest_first = sorted(models, key=model_gb, reverse=True)
    for model in largest_first[: capacity.max_loaded_models]:
        total += model_gb(model) * 1e9 / 2**30 + sizing.BUFFERS_GIB
        total += kv_bytes_per_token(model) * capacity.context_length * capacity.parallel / 2**30
    return total


@pytest.mark.parametrize(("machine_name", "runtime", "model_set"), CASES, ids=["-".join(c) for c in CASES])
def test_the_choice_fits_the_server_and_follows_the_rule(machine_name: str, runtime: str, model_set: str) -> None:
    machine = MACHINES[machine_name]
    models = MODEL_SETS[runtime][model_set]
    try:
        capacity = size(runtime, models, machine)
    except SizingError as err:
        # Only an 8B (or unknown, taken as 5 GB) model on a 4 GiB server cannot be loaded at all.
        assert machine.model_memory_gib == 4 and model_set in ("eight-b", "unknown"), err
        assert err.field == "memory"
        assert str(err).startswith(f"memory: {models[0]} needs ")
        assert "4 GiB of RAM" in str(err)
        return
    assert capacity is not None and capacity.fits
    gpu = machine.gpu_memory_gib is not None
    assert capacity.parallel <= sizing.auto_parallel(machine)
    assert capacity.parallel >= 1 and capacity.context_length >= sizing.MIN_AUTO_CONTEXT
    assert need(models, capacity, gpu) <= machine.model_memory_gib
    assert capacity.needed_gib == pytest.approx(need(models, capacity, gpu), abs=0.01)
    if runtime == "ollama":
        assert capacity.max_queue == sizing.QUEUE_PER_SLOT * capacity.parallel
    else:
        assert capacity.max_queue is None  # llama-server has no queue limit
        assert capacity.max_loaded_models == 1
    # Nothing was given up that would have fitted: one more slot (at the same context) would not fit
    # unless the rule's ceiling was reached.
    if capacity.parallel < sizing.auto_parallel(machine):
        bigger = Capacity(capacity.parallel * 2, capacity.context_length, None, capacity.max_loaded_models)
        assert need(models, bigger, gpu) > machine.model_memory_gib


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (Machine(8, 1), 2),  # at least 2 slots
        (Machine(8, 2), 4),
        (Machine(64, 3), 6),
        (Machine(64, 16), 8),  # at most 8 on a CPU
        (Machine(64, 16, 24), 4),  # GPU: 4
    ],
)
def test_slots_follow_the_cores(machine: Machine, expected: int) -> None:
    assert sizing.auto_parallel(machine) == expected
    capacity = size("ollama", ("gemma3:270m",), machine)
    assert capacity is not None and capacity.parallel == expected and capacity.context_length == 4096


def test_the_default_cpu_servers() -> None:
    # Hetzner cax11 (default) and EC2 m7g.large (default) with the default model: 4 slots of 4096 tokens.
    for machine in (MACHINES["cax11"], MACHINES["m7g.large"]):
        capacity = size("ollama", ("gemma3:1b",), machine)
        assert capacity == Capacity(4, 4096, 16, 1, machine.memory_gib, capacity.needed_gib if capacity else None)


def test_slots_shrink_before_the_context_then_loaded_models() -> None:
    # qwen3:0.6b: 112 KiB/token. 4 GiB - 1 system - 0.47 weights - 0.5 buffers = 2.03 GiB for the cache:
    # 4 x 4096 x 112 KiB = 1.75 GiB fits; on 3 GiB (1.03 GiB left) 2 x 4096 (0.875) fits.
    assert size("ollama", ("qwen3:0.6b",), Machine(4, 2)).parallel == 4  # type: ignore[union-attr]
    capacity = size("ollama", ("qwen3:0.6b",), Machine(3, 2))
    assert capacity is not None and (capacity.parallel, capacity.context_length) == (2, 4096)
    # 2.3 GiB: 0.33 left -> not even 1 x 4096 (0.44), so 2048 at... 1 x 2048 = 0.22 fits.
    capacity = size("ollama", ("qwen3:0.6b",), Machine(2.3, 2))
    assert capacity is not None and (capacity.parallel, capacity.context_length) == (1, 2048)
    # Two models that do not fit together: only the larger stays loaded.
    capacity = size("ollama", ("llama3.1:8b", "gemma3:1b"), Machine(7, 2))
    assert capacity is not None and capacity.max_loaded_models == 1


def test_overrides_are_taken_as_given_when_they_fit() -> None:
    capacity = size("ollama", ("gemma3:1b",), MACHINES["cx33"], Overrides(parallel=2, context_length=8192, max_queue=3))
    assert capacity == Capacity(2, 8192, 3, 1, 8, capacity.needed_gib if capacity else None)
    capacity = size("llamacpp", MODEL_SETS["llamacpp"]["one-small"], MACHINES["cax11"], Overrides(parallel=1))
    assert capacity is not None and capacity.total_context == 4096 and capacity.max_queue is None


def test_without_a_machine_only_the_overrides_are_set_and_nothing_is_checked() -> None:
    assert size("ollama", ("gemma3:1b",), None) is None
    capacity = size("ollama", ("llama3.1:70b",), None, Overrides(parallel=32))
    assert capacity == Capacity(32, 4096, 128, 1)


@pytest.mark.parametrize(
    ("runtime", "models", "machine", "overrides", "expected"),
    [
        (
            "ollama",
            ("gemma3:4b",),
            Machine(8, 2),
            Overrides(parallel=16, context_length=32768),
            "parallel: 16 slots x 32768 tokens of context need 68.0 GiB for gemma3:4b, but 8 GiB of RAM leave "
            "3.4 GiB after weights, buffers and system (4.6 GiB); not one slot of 32768 tokens fits, or at most "
            "1651 tokens per slot at 16 slots, or a larger server",
        ),
        (
            "ollama",
            ("gemma3:1b",),
            Machine(4, 2),
            Overrides(context_length=262144),
            "context_length: 1 slots x 262144 tokens of context need 6.5 GiB for gemma3:1b, but 4 GiB of RAM "
            "leave 1.8 GiB after weights, buffers and system (2.2 GiB); not one slot of 262144 tokens fits, "
            "or at most 70776 tokens per slot at 1 slots, or a larger server",
        ),
        (
            "ollama",
            ("llama3.1:8b",),
            Machine(4, 2),
            None,
            "memory: llama3.1:8b needs 6.3 GiB (6.1 GiB for weights, buffers and system, 0.2 GiB of context), "
            "more than the 4 GiB of RAM; pick a server with more memory, or a smaller model",
        ),
        (
            "llamacpp",
            ("ggml-org/gemma-3-270m-GGUF:Q4_K_M",),
            None,
            Overrides(max_queue=10),
            "max_queue: llama-server has no queue limit (requests wait for a free slot); remove it; with "
            "llama.cpp only the slots and the context length can be set",
        ),
        (
            "ollama",
            ("gemma3:1b",),
            None,
            Overrides(parallel=0),
            "parallel: 0 is out of range; use a whole number from 1 to 64 (slots)",
        ),
        (
            "ollama",
            ("gemma3:1b",),
            None,
            Overrides(context_length=100),
            "context_length: 100 is out of range; use a whole number from 512 to 262144 (tokens per slot)",
        ),
        (
            "ollama",
            ("gemma3:1b",),
            None,
            Overrides(max_queue=0),
            "max_queue: 0 is out of range; use a whole number from 1 to 65536 (waiting requests)",
        ),
    ],
)
def test_refusals_are_one_line_with_the_numbers(
    runtime: str, models: tuple[str, ...], machine: Machine | None, overrides: Overrides | None, expected: str
) -> None:
    with pytest.raises(SizingError) as caught:
        size(runtime, models, machine, overrides)
    assert str(caught.value) == expected
    assert "\n" not in str(caught.value)


def test_not_strict_keeps_models_that_do_not_fit_with_the_smallest_settings() -> None:
    capacity = size("ollama", ("llama3.1:8b",), Machine(4, 2), strict=False)
    assert capacity is not None and not capacity.fits
    assert (capacity.parallel, capacity.context_length, capacity.max_loaded_models) == (1, 2048, 1)
    # An override that does not fit is refused all the same.
    with pytest.raises(SizingError, match=r"^parallel: "):
        size("ollama", ("gemma3:1b",), Machine(4, 2), Overrides(parallel=64, context_length=32768), strict=False)


def test_model_table_keys_and_kv_estimates() -> None:
    assert table_key("ggml-org/gemma-3-270m-GGUF:Q4_K_M") == "gemma3:270m"
    assert table_key("https://example.com/m/Llama-3.1-8B-Instruct-Q4_K_M.gguf") == "llama3.1:8b"
    assert kv_bytes_per_token("llama3.1:8b") == 2 * 32 * 8 * 128 * 2
    assert kv_bytes_per_token("gemma3:1b") == 2 * 26 * 1 * 256 * 2
    # Unknown models: by the parameter count in the name, else a wide 7-8B-like cache.
    assert kv_bytes_per_token("someone/Model-13B-GGUF") == 13 * 36 * 1024
    assert kv_bytes_per_token("hf.co/acme/thing") == 256 * 1024


def test_capacity_output() -> None:
    assert sizing.capacity_output("ollama", size("ollama", ("gemma3:1b",), Machine(4, 2))) == {
        "slots": 4,
        "contextPerSlot": 4096,
        "maxQueue": 16,
        "maxLoadedModels": 1,
        "sizedForGib": 4,
        "source": "llmhost sizing (bootstrap/sizing.py)",
    }
    defaults = sizing.capacity_output("llamacpp", None)
    assert (defaults["slots"], defaults["contextPerSlot"], defaults["maxQueue"]) == (4, None, None)
    assert str(defaults["source"]).startswith("runtime defaults")
