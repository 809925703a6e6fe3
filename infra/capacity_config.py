"""``llmhost:parallel``, ``llmhost:contextLength``, ``llmhost:maxQueue`` and the server's size
-> the capacity the bundle renders (bootstrap/sizing.py decides; this module only reads).

The server's memory and cores come from the type tables: ``infra/instance_types.py``
(INSTANCE_SIZES, AWS) and ``infra/hetzner_types.py`` (SERVER_TYPES). On target ssh, and for
an EC2 type not in the table, the size is unknown: the memory check is skipped and only the
keys that are set are rendered (a warning says so when a key is set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bootstrap import runtime_capacity, sizing
from bootstrap.spec import Spec
from infra.instance_types import INSTANCE_SIZES

KEYS = {
    "parallel": "requests decoded at once per model (slots; default: 2 per core, 2-8, GPU 4; see README)",
    "contextLength": "tokens of context per slot (default 4096)",
    "maxQueue": "Ollama: requests that may wait before a 503 busy answer (default 4 x slots)",
}


_KEY_FOR_FIELD = {"parallel": "parallel", "context_length": "contextLength", "max_queue": "maxQueue"}


class _Source(Protocol):
    def get(self, key: str) -> str | None: ...


def machine_for(target: str, instance_type: str | None, hetzner_row: object | None) -> sizing.Machine | None:
    """The sizing's view of the server, or None when its size is not known."""
    if target == "aws" and instance_type is not None:
        row = INSTANCE_SIZES.get(instance_type)
        if row is None:
            return None
        return sizing.Machine(memory_gib=row.memory_gib, cpus=row.vcpus, gpu_memory_gib=row.gpu_memory_gib)
    if target == "hetzner" and hetzner_row is not None:
        return sizing.Machine(memory_gib=hetzner_row.ram_gib, cpus=hetzner_row.vcpus)  # type: ignore[attr-defined]
    return None


def read_capacity(
    read_int: Callable[[_Source, str], int | None],
    source: _Source,
    spec: Spec,
    machine: sizing.Machine | None,
    memory_key: str,
    error: Callable[[str, str, str], Exception],
) -> sizing.Capacity | None:
    """Size the server; an impossible setting raises ``error(key, problem, allowed)`` where key
    is the override at fault, or ``memory_key`` (instanceType / serverType) when the models
    alone do not fit."""
    overrides = sizing.Overrides(
        parallel=read_int(source, "parallel"),
        context_length=read_int(source, "contextLength"),
        max_queue=read_int(source, "maxQueue"),
    )
    machine, problem = runtime_capacity.for_runtime(spec.runtime, machine, overrides)
    if problem is not None:
        raise error(_KEY_FOR_FIELD.get(problem.field, memory_key), problem.problem, problem.allowed)
    try:
        # Not strict: models that do not fit at all stay a warning (config.py's RAM warning
        # on Hetzner, :func:`memory_warning` on AWS), as they were before the sizing existed.
        return runtime_capacity.settle(
            spec.runtime, sizing.size(spec.runtime, spec.models, machine, overrides, strict=False)
        )
    except sizing.SizingError as err:
        key = _KEY_FOR_FIELD.get(err.field, memory_key)
        raise error(key, err.problem, err.allowed) from None


def memory_warning(capacity: sizing.Capacity | None, spec: Spec, memory_key: str) -> list[str]:
    """A warning when the models do not fit the server even at one slot (AWS; Hetzner has its own)."""
    if capacity is None or capacity.fits:
        return []
    return [
        f"llmhost:{memory_key}: keeping {', '.join(spec.models)} loaded takes ~{capacity.needed_gib} GiB "
        f"at 1 slot, more than the server's {capacity.memory_gib:g} GiB; pick a larger type or smaller models"
    ]
