"""Command-line options for the capacity settings (``render``, ``local`` and ``apply``).

``--memory-gib`` and ``--cpus`` describe the server (both, or neither: without them the
memory check is skipped and only the values given explicitly are set); ``--parallel``,
``--context-length`` and ``--max-queue`` override the rule of bootstrap/sizing.py.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from bootstrap import runtime_capacity, sizing
from bootstrap.cli_values import ascii_int, bounded_number

OPTION_FOR_FIELD = {
    "parallel": "--parallel",
    "context_length": "--context-length",
    "max_queue": "--max-queue",
    "memory": "--memory-gib",
}


class CapacityOptionError(ValueError):
    """One line naming the option; the CLI turns it into its usage error (exit 2)."""


def add_capacity_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("capacity (see README: Concurrency and capacity)")
    low, high = sizing.MEMORY_GIB_RANGE
    group.add_argument(
        "--memory-gib",
        type=bounded_number(low, high, "GiB", "8"),
        metavar="GIB",
        help=f"the server's RAM (GPU: its GPU memory), for sizing ({low:g}-{high:g})",
    )
    group.add_argument("--cpus", type=ascii_int, metavar="N", help="the server's cores (vCPUs), for sizing")
    group.add_argument("--parallel", type=ascii_int, metavar="N", help="requests decoded at once (slots)")
    group.add_argument("--context-length", type=ascii_int, metavar="TOKENS", help="context per slot (default 4096)")
    group.add_argument("--max-queue", type=ascii_int, metavar="N", help="Ollama: waiting requests before 503 busy")


def capacity_from_args(
    args: argparse.Namespace, runtime: str, models: Sequence[str], gpu: bool = False
) -> sizing.Capacity | None:
    """The sized capacity, or None when neither the server nor an override was given."""
    memory, cpus = args.memory_gib, args.cpus
    if cpus is not None and not sizing.CPUS_RANGE[0] <= cpus <= sizing.CPUS_RANGE[1]:  # before "needs --memory-gib"
        raise CapacityOptionError(
            f"--cpus: {cpus} is not a core count; use a whole number from {sizing.CPUS_RANGE[0]} to "
            f"{sizing.CPUS_RANGE[1]}"
        )
    if (memory is None) != (cpus is None):
        given, missing = ("--memory-gib", "--cpus") if cpus is None else ("--cpus", "--memory-gib")
        raise CapacityOptionError(f"{given}: needs {missing} too; give both, or neither to skip the memory check")
    machine = None
    if memory is not None and cpus is not None:
        low, high = sizing.MEMORY_GIB_RANGE
        if not (low <= memory <= high and math.isfinite(memory)):  # the option's type checks it; callers may not
            raise CapacityOptionError(f"--memory-gib: {memory:g} is out of range; use {low:g} to {high:g} (GiB)")
        # With --gpu the models live in GPU memory: --memory-gib is that (see its help).
        machine = sizing.Machine(memory_gib=memory, cpus=cpus, gpu_memory_gib=memory if gpu else None)
    overrides = sizing.Overrides(parallel=args.parallel, context_length=args.context_length, max_queue=args.max_queue)
    machine, problem = runtime_capacity.for_runtime(runtime, machine, overrides)
    if problem is not None:
        raise CapacityOptionError(problem.render(OPTION_FOR_FIELD[problem.field]))
    try:
        return runtime_capacity.settle(runtime, sizing.size(runtime, models, machine, overrides))
    except sizing.SizingError as err:
        raise CapacityOptionError(err.render(OPTION_FOR_FIELD[err.field])) from None
