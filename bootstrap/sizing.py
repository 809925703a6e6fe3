"""How many requests a server runs at once, with how much context, and how many may wait.

One pure function, :func:`size`, decides it for both runtimes from the server's memory and
cores and the configured models; the CLI (``--memory-gib``, ``--cpus``, ``--parallel``,
``--context-length``, ``--max-queue``) and the Pulumi program (instance/server type tables,
``llmhost:parallel``, ``llmhost:contextLength``, ``llmhost:maxQueue``) only feed it.

The rule (all sizes in GiB):

1. **Slots** (requests decoded together): on a CPU ``2 x cores``, between 2 and 8; on a GPU 4.
   On a CPU, token generation is bound by memory bandwidth, so decoding several streams in
   one batch raises the aggregate tokens/s at some cost to each stream (measured in
   ``bench/concurrency.py``); past ~2 streams per core the batch only shares the same cores.
   On the default 2-core server this is 4, the same count llama-server picks by itself
   (``-np -1`` = auto = 4 slots, PR ggml-org/llama.cpp#16736). Threads are left to the
   runtime: llama-server's ``--threads`` default (-1) is the number of physical cores
   (``cpu_get_num_math()`` in ``common/common.cpp``), which is what a dedicated server wants.
2. **Context per slot**: 4096 tokens, Ollama's own default below 24 GiB of VRAM
   (``server/routes.go`` at v0.20.6: 4k / 32k / 256k by VRAM). llama-server without
   ``--ctx-size`` would take the model's training context (32k-128k), mostly unused memory.
3. **Memory check**: ``system (1) + sum over loaded models of (weights + buffers (0.5) +
   KV bytes/token x context x slots)`` must fit in the memory that holds the model: RAM on a
   CPU server, GPU memory on a GPU server. Each slot multiplies the context memory: Ollama
   allocates ``KvSize = NumCtx x NumParallel`` per loaded model (``llm/server.go``), and
   llama-server's ``--ctx-size`` is the KV cache of all slots together, so llmhost passes
   ``--ctx-size = slots x context`` with ``--kv-unified`` (one buffer shared by the slots,
   the layout llama-server's own default uses; bootstrap/capacity_render.py). KV bytes/token per
   model: ``bootstrap/model_sizes.py``. When the automatic choice does not fit, slots halve
   first (down to 1), then the context (down to 2048), then fewer models stay loaded; a
   value the operator set is never lowered: it is refused with the numbers instead.
4. **Queue**: Ollama ``OLLAMA_MAX_QUEUE = 4 x slots`` (default 512): a caller further back
   would wait several full generations, so it gets a quick 503 "server busy" and retries
   instead. In v0.20.6 this queue (``server/sched.go`` ``pendingReqCh``) holds the requests
   waiting for a model (re)load, e.g. right after a start or when switching models; a request
   for a model already loaded skips it and waits for a slot without limit (``llm/server.go``,
   a semaphore of NUM_PARALLEL). llama-server has no queue limit (requests wait for a free
   slot), so there is none to set; ``--max-queue`` with llama.cpp is refused.
5. **Loaded models** (Ollama ``OLLAMA_MAX_LOADED_MODELS``): all configured models
   (keep_alive -1 keeps them loaded) when they fit, else as many of the largest as fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bootstrap.echo import shown
from bootstrap.model_sizes import kv_bytes_per_token, model_gb

GIB = 2**30
SYSTEM_GIB = 1.0
"""The OS, Docker and Caddy."""
BUFFERS_GIB = 0.5
"""Per loaded model: the runtime process and its compute buffers."""
SLOTS_PER_CPU = 2
MIN_CPU_SLOTS = 2
MAX_CPU_SLOTS = 8
GPU_SLOTS = 4
DEFAULT_CONTEXT = 4096
MIN_AUTO_CONTEXT = 2048
QUEUE_PER_SLOT = 4

PARALLEL_RANGE = (1, 64)
CONTEXT_RANGE = (512, 262144)
QUEUE_RANGE = (1, 65536)
MEMORY_GIB_RANGE = (0.5, 32768.0)
"""--memory-gib: half a GiB up to 32 TiB, the largest EC2 memory (u7in-32tb.224xlarge: 32 TiB, 896
vCPUs; aws.amazon.com/ec2/instance-types/high-memory); 8 x H200 GPU memory (1,128 GiB) is inside."""
CPUS_RANGE = (1, 4096)
"""--cpus: the largest EC2 instance has 896 vCPUs (u7in-32tb.224xlarge); 4096 leaves room."""


@dataclass(frozen=True)
class RuntimeDefaults:
    """What a runtime does when llmhost sets nothing (for outputs, docs and the benchmark)."""

    parallel: int
    context_length: int | None
    """Per slot; None: the model's training context (llama-server without --ctx-size)."""
    max_queue: int | None
    """None: no limit."""
    source: str


RUNTIME_DEFAULTS: dict[str, RuntimeDefaults] = {
    "ollama": RuntimeDefaults(
        1,
        4096,
        512,
        "Ollama v0.20.6 envconfig/config.go (NUM_PARALLEL 1, MAX_QUEUE 512), "
        "server/routes.go (4k context below 24 GiB VRAM)",
    ),
    "llamacpp": RuntimeDefaults(
        4,
        None,
        None,
        "llama-server: --parallel -1 = auto = 4 slots sharing one unified KV cache (PR #16736), "
        "--ctx-size 0 = the model's training context, --threads -1 = physical cores, continuous batching on, "
        "--batch-size 2048, --ubatch-size 512 (common/arg.cpp); no queue limit (tools/server)",
    ),
    "lmstudio": RuntimeDefaults(
        4,
        None,
        None,
        "LM Studio: Max Concurrent Predictions 4 (docs 0_app/5_advanced/parallel-requests.md), the model's "
        "default context; no queue limit to set (lms load has --parallel and --context-length only)",
    ),
    "vllm": RuntimeDefaults(
        256,
        4096,
        None,
        "vLLM v0.33.0 engine/arg_utils.py get_batch_defaults: --max-num-seqs 256 for the OpenAI server "
        "below 70 GiB of GPU memory (1024 above), batched continuously; KV cache sized from "
        "--gpu-memory-utilization; no queue limit. llmhost sets --max-model-len 4096 unless told otherwise",
    ),
}


class SizingError(ValueError):
    """A setting that cannot work on this server. ``field`` is one of parallel,
    context_length, max_queue, memory; each front end names its own key for it."""

    def __init__(self, field: str, problem: str, allowed: str) -> None:
        self.field = field
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{field}: {problem}; {allowed}")

    def render(self, name: str | None = None) -> str:
        return f"{name or self.field}: {self.problem}; {self.allowed}"


@dataclass(frozen=True)
class Machine:
    """What the server offers: memory in GiB, cores (vCPUs), GPU memory in GiB (None: CPU only)."""

    memory_gib: float
    cpus: int
    gpu_memory_gib: float | None = None

    @property
    def model_memory_gib(self) -> float:
        """Where the weights and the KV cache live: GPU memory on a GPU server, else RAM."""
        return self.gpu_memory_gib if self.gpu_memory_gib is not None else self.memory_gib


@dataclass(frozen=True)
class Overrides:
    """Values the operator set; None = let the rule decide."""

    parallel: int | None = None
    context_length: int | None = None
    max_queue: int | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.parallel, self.context_length, self.max_queue))


@dataclass(frozen=True)
class Capacity:
    """The chosen settings. ``context_length`` is per slot; ``max_queue`` None = the runtime
    has no limit (llama-server); ``memory_gib`` None = not checked (no machine given)."""

    parallel: int
    context_length: int
    max_queue: int | None
    max_loaded_models: int
    memory_gib: float | None = None
    needed_gib: float | None = None
    """Memory the rule expects the runtime to use (weights, buffers, KV) plus the system."""
    fits: bool = True
    """False: even one model at 1 slot does not fit (only with ``strict=False``); the smallest
    settings are rendered and the caller warns."""

    @property
    def total_context(self) -> int:
        """llama-server's --ctx-size: the KV cache of all slots together."""
        return self.parallel * self.context_length


def _check_range(field: str, value: int | None, bounds: tuple[int, int], unit: str) -> None:
    if value is None:
        return
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SizingError(field, f"{shown(value)} is out of range", f"use a whole number from {lo} to {hi} ({unit})")


def _gib(value: float) -> str:
    return f"{value:.1f} GiB"


def _need(models: Sequence[str], parallel: int, context: int) -> float:
    total = SYSTEM_GIB
    for model in models:
        total += model_gb(model) * 1e9 / GIB + BUFFERS_GIB + kv_bytes_per_token(model) * context * parallel / GIB
    return total


def auto_parallel(machine: Machine) -> int:
    if machine.gpu_memory_gib is not None:
        return GPU_SLOTS
    return max(MIN_CPU_SLOTS, min(MAX_CPU_SLOTS, SLOTS_PER_CPU * machine.cpus))


def size(
    runtime: str,
    models: Sequence[str],
    machine: Machine | None,
    overrides: Overrides | None = None,
    *,
    strict: bool = True,
) -> Capacity | None:
    """Choose the capacity settings; None when there is neither a machine nor an override
    (the bundle then leaves every runtime default in place).

    Raises SizingError naming the override at fault (or ``memory``) with the numbers. With
    ``strict=False`` models that do not fit even at 1 slot are not an error (the Pulumi
    program warns instead: the estimate is rough and the operator may know better); the
    smallest settings are returned with ``fits=False``. Overrides that do not fit are
    always refused.
    """
    overrides = overrides or Overrides()
    _check_range("parallel", overrides.parallel, PARALLEL_RANGE, "slots")
    _check_range("context_length", overrides.context_length, CONTEXT_RANGE, "tokens per slot")
    _check_range("max_queue", overrides.max_queue, QUEUE_RANGE, "waiting requests")
    if runtime == "llamacpp" and overrides.max_queue is not None:
        raise SizingError(
            "max_queue",
            "llama-server has no queue limit (requests wait for a free slot)",
            "remove it; with llama.cpp only the slots and the context length can be set",
        )
    if runtime == "lmstudio" and overrides.max_queue is not None:
        raise SizingError(
            "max_queue",
            "LM Studio has no queue limit to set",
            "remove it; with lmstudio only the slots (lms load --parallel) and the context length can be set",
        )
    if machine is None and not overrides.any:
        return None
    defaults = RUNTIME_DEFAULTS[runtime]
    if machine is None:
        parallel = overrides.parallel or defaults.parallel
        context = overrides.context_length or DEFAULT_CONTEXT
        return Capacity(
            parallel=parallel,
            context_length=context,
            max_queue=_queue(runtime, parallel, overrides),
            max_loaded_models=len(models),
        )
    if machine.memory_gib <= 0 or machine.cpus < 1:
        raise SizingError("memory", f"{machine.memory_gib:g} GiB and {machine.cpus} cores", "use positive numbers")
    return _fit(runtime, list(models), machine, overrides, strict)


def _queue(runtime: str, parallel: int, overrides: Overrides) -> int | None:
    if runtime in ("llamacpp", "lmstudio"):
        return None
    return overrides.max_queue if overrides.max_queue is not None else QUEUE_PER_SLOT * parallel


def _fit(runtime: str, models: list[str], machine: Machine, overrides: Overrides, strict: bool) -> Capacity:
    available = machine.model_memory_gib
    where = "GPU memory" if machine.gpu_memory_gib is not None else "RAM"
    # Largest first: when not all fit, the ones kept loaded are sized for the worst case.
    ordered = sorted(models, key=lambda m: (model_gb(m), kv_bytes_per_token(m)), reverse=True)
    slot_choices = [overrides.parallel] if overrides.parallel else _halving(auto_parallel(machine), 1)
    context_choices = (
        [overrides.context_length] if overrides.context_length else _halving(DEFAULT_CONTEXT, MIN_AUTO_CONTEXT)
    )
    system = 0.0 if machine.gpu_memory_gib is not None else SYSTEM_GIB
    for loaded in range(len(ordered), 0, -1):
        kept = ordered[:loaded]
        for context in context_choices:
            for parallel in slot_choices:
                need = _need(kept, parallel, context) - SYSTEM_GIB + system
                if need <= available:
                    return Capacity(
                        parallel=parallel,
                        context_length=context,
                        max_queue=_queue(runtime, parallel, overrides),
                        max_loaded_models=loaded,
                        memory_gib=available,
                        needed_gib=round(need, 2),
                    )
    refusal = _refusal(ordered[:1], machine, overrides, available, where, system)
    if strict or refusal.field != "memory":
        raise refusal
    parallel = overrides.parallel or 1
    return Capacity(
        parallel=parallel,
        context_length=overrides.context_length or MIN_AUTO_CONTEXT,
        max_queue=_queue(runtime, parallel, overrides),
        max_loaded_models=1,
        memory_gib=available,
        needed_gib=round(_need(ordered[:1], parallel, overrides.context_length or MIN_AUTO_CONTEXT), 2),
        fits=False,
    )


def _halving(start: int, floor: int) -> list[int]:
    values = [start]
    while values[-1] // 2 >= floor:
        values.append(values[-1] // 2)
    return values


def _refusal(
    kept: list[str], machine: Machine, overrides: Overrides, available: float, where: str, system: float
) -> SizingError:
    model = kept[0]
    weights = model_gb(model) * 1e9 / GIB + BUFFERS_GIB + system
    parallel = overrides.parallel or 1
    context = overrides.context_length or MIN_AUTO_CONTEXT
    kv = kv_bytes_per_token(model) * context * parallel / GIB
    on = f"{available:g} GiB of {where}"
    if weights >= available or not (overrides.parallel or overrides.context_length):
        return SizingError(
            "memory",
            f"{model} needs {_gib(weights + kv)} ({_gib(weights)} for weights, buffers and system, "
            f"{_gib(kv)} of context), more than the {on}",
            "pick a server with more memory, or a smaller model",
        )
    room = available - weights
    per_slot = kv_bytes_per_token(model) * context / GIB
    max_slots = int(room // per_slot) if per_slot else 0
    max_context = int(room * GIB // (kv_bytes_per_token(model) * parallel))
    field = "parallel" if overrides.parallel else "context_length"
    hints = [
        f"use at most {max_slots} slots at {context} tokens" if max_slots else f"not one slot of {context} tokens fits"
    ]
    if max_context >= CONTEXT_RANGE[0]:
        hints.append(f"at most {max_context} tokens per slot at {parallel} slots")
    hints.append("a larger server")
    return SizingError(
        field,
        f"{parallel} slots x {context} tokens of context need {_gib(kv)} for {model}, but {on} "
        f"leave {_gib(room)} after weights, buffers and system ({_gib(weights)})",
        "; ".join(hints[:1]) + "".join(f", or {hint}" for hint in hints[1:]),
    )


def capacity_output(runtime: str, capacity: Capacity | None) -> dict[str, object]:
    """The stack output ``capacity``: slots, context per slot, queue (None = no limit)."""
    if capacity is None:
        defaults = RUNTIME_DEFAULTS[runtime]
        return {
            "slots": defaults.parallel,
            "contextPerSlot": defaults.context_length,
            "maxQueue": defaults.max_queue,
            "maxLoadedModels": None,
            "sizedForGib": None,
            "source": f"runtime defaults ({defaults.source})",
        }
    return {
        "slots": capacity.parallel,
        "contextPerSlot": capacity.context_length,
        "maxQueue": capacity.max_queue,
        "maxLoadedModels": capacity.max_loaded_models,
        "sizedForGib": capacity.memory_gib,
        "source": "llmhost sizing (bootstrap/sizing.py)"
        if capacity.memory_gib is not None
        else "llmhost settings, memory not checked (no server size known)",
    }
