"""Where a runtime may run, as a ``llmhost:runtime`` refusal: the runtime table's
``Runtime.targets`` and ``Runtime.requires_gpu`` (bootstrap/runtimes), in Pulumi's words.

vLLM runs on an NVIDIA GPU only: refused on Hetzner (no GPU server types), on an AWS CPU
instance type, and on ssh/local without ``llmhost:gpu true``. LM Studio runs on the host, not in a
container: refused on aws (not offered there: see bootstrap/runtimes) and with ``llmhost:gpu true``.
One line names the key, what was wrong and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bootstrap import layout, runtimes


def check_target(values: Mapping[str, object], target: str, error: Callable[[str, str, str], Exception]) -> None:
    """The target alone (before the target's own keys are read): e.g. vllm on hetzner."""
    info = layout.RUNTIMES.get(str(values.get("runtime") or "ollama"))
    if info is not None and target not in info.targets:
        check(values, target, None, error)


def check(
    values: Mapping[str, object],
    target: str,
    instance_type: str | None,
    error: Callable[[str, str, str], Exception],
) -> None:
    """Raise ``error("runtime", problem, allowed)`` when the runtime cannot run there (``"gpu"``: gpu on
    for a runtime that runs on the host)."""
    name = values.get("runtime") or "ollama"
    info = layout.RUNTIMES.get(str(name))
    if info is None:
        return  # the Spec names an unknown runtime with the choices
    gpu = bool(values.get("gpu"))
    problem = info.placement_problem(target, gpu)
    if problem is None:
        return
    cpu_runtimes = ", ".join(n for n, other in layout.RUNTIMES.items() if not other.requires_gpu)
    if target not in info.targets and not info.requires_gpu:  # e.g. lmstudio on aws
        here = ", ".join(n for n, other in layout.RUNTIMES.items() if target in other.targets)
        allowed = f"use target {' or '.join(info.targets)}, or a runtime that runs on {target}: {here}"
        raise error("runtime", problem, allowed)
    if target not in info.targets:
        raise error(
            "runtime",
            problem,
            f"use target {' or '.join(t for t in info.targets)} with a GPU, or a runtime for CPUs: {cpu_runtimes}",
        )
    if gpu and not info.in_container:  # a host daemon: no GPU is reserved for it
        raise error("gpu", problem, runtimes.host_gpu_allowed())
    if target == "aws":
        raise error(
            "runtime",
            f"{problem} and instance type {instance_type} has none",
            f"pick a GPU type for llmhost:instanceType (e.g. g5.xlarge, g6.xlarge), or use one of: {cpu_runtimes}",
        )
    raise error(
        "runtime",
        f"{problem} and llmhost:gpu is not true",
        f"set llmhost:gpu true for a host with an NVIDIA GPU and the container toolkit, or use one of: {cpu_runtimes}",
    )


def check_runtime_keys(values: Mapping[str, object], error: Callable[[str, str, str], Exception]) -> None:
    """Refuse a key that only another runtime reads (``keepAlive``: Ollama only), instead of ignoring it."""
    keep_alive = runtimes.keep_alive_refusal(str(values.get("runtime") or "ollama"))
    if keep_alive is not None and values.get("keep_alive") is not None:
        raise error("keepAlive", *keep_alive)
