"""Run the Pulumi program in-process, exactly the way ``pulumi up`` runs it, against mocks.

What the Pulumi CLI does (``pulumi-language-python-exec``): load the stack config into the
runtime, configure the runtime settings, create a fresh event loop, chdir into the program
directory (``main: infra/``) and run
``run_in_stack(lambda: runpy.run_path(PROGRAM, run_name="__main__"))`` on that loop.
:func:`run_program` does the same, with ``pulumi.runtime.set_mocks`` in place of the engine
connection, and records what the engine would have received: every resource registration
(``MockResourceArgs``: ``.typ``, ``.name``, ``.inputs`` in camelCase), every provider call,
the stack outputs the program registered, and the messages it logged.

Use it through the ``pulumi_program`` fixture (tests/infra/conftest.py), which resets the global Pulumi state
(config, root resource, event loop) around each test::

    def test_something(pulumi_program):
        run = pulumi_program({"target": "aws", "models": '["gemma3:1b"]'})
        assert run.outputs["runtime"] == "ollama"
        assert run.resources_of("aws:ec2/instance:Instance")

Config keys without a namespace are put in ``llmhost:``. To answer provider calls (e.g.
``aws:ssm/getParameter:getParameter``), pass ``calls={token: handler}`` where the handler
takes ``MockCallArgs`` and returns the result dict; ``resources={type: handler}`` returns
extra output properties for a resource type.

Two extensions for components that are not (yet) wired into the program: ``program=``
runs a callable in place of ``infra/__main__.py`` (same runtime, same recording), and
``numeric_ids=("hcloud:",)`` gives resources whose type starts with one of those prefixes
sequential numeric ids, as Hetzner's API does (their ids reach other resources as ints).
"""

from __future__ import annotations

import asyncio
import logging
import os
import runpy
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.stack import run_in_stack, wait_for_rpcs
from pulumi.runtime.sync_await import _ensure_event_loop

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
PROJECT = "llmhost"
STACK_TYPE = "pulumi:pulumi:Stack"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
GENERATED_KEY = "Gen" + "x" * 40
GENERATED_ADMIN_KEY = "Adm" + "y" * 40
"""What a RandomPassword answers under the mocks (pulumi_random computes ``result`` in its provider):
the admin key (a resource named ``*-admin-key``, infra/generated_keys.py) differs from a user key."""


def generated_password(args: MockResourceArgs) -> dict[str, Any]:
    return {"result": GENERATED_ADMIN_KEY if args.name.endswith("-admin-key") else GENERATED_KEY}

CallHandler = Callable[[MockCallArgs], dict[str, Any]]
ResourceHandler = Callable[[MockResourceArgs], dict[str, Any]]


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource and call; state = inputs plus what a handler adds."""

    def __init__(
        self,
        calls: Mapping[str, CallHandler] | None = None,
        resources: Mapping[str, ResourceHandler] | None = None,
        numeric_ids: Collection[str] = (),
    ) -> None:
        self.call_handlers = dict(calls or {})
        self.resource_handlers = dict(resources or {})
        self.numeric_ids = tuple(numeric_ids)
        self.next_numeric_id = 4_200_001
        self.resources: list[MockResourceArgs] = []
        self.calls: list[MockCallArgs] = []
        self.ids: dict[str, str] = {}
        """Resource name -> the id the mock gave it."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        state = dict(args.inputs)
        handler = self.resource_handlers.get(args.typ, generated_password if args.typ == RANDOM_PASSWORD else None)
        if handler is not None:
            state.update(handler(args))
        if args.typ.startswith(self.numeric_ids):
            self.next_numeric_id += 1
            self.ids[args.name] = str(self.next_numeric_id)
        else:
            self.ids[args.name] = f"{args.name}-id"
        return self.ids[args.name], state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args)
        handler = self.call_handlers.get(args.token)
        if handler is None:
            # An unanswered call would silently return {}: make the test say what it expects.
            raise AssertionError(f"unexpected provider call {args.token}; pass calls={{token: handler}}")
        return handler(args), []


class RecordingMonitor(MockMonitor):
    """MockMonitor that also keeps the stack outputs (the stock one drops them)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.stack_outputs: dict[str, Any] | None = None
        self.secret_outputs: set[str] = set()

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn.split("::")[2] == STACK_TYPE:
            _ensure_event_loop()
            outputs = rpc.deserialize_properties(request.outputs) or {}
            self.secret_outputs = {key for key, value in outputs.items() if rpc.is_rpc_secret(value)}
            self.stack_outputs = {key: rpc.unwrap_rpc_secret(value) for key, value in outputs.items()}
        return super().RegisterResourceOutputs(request)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class ProgramRun:
    """What the engine received from one run of the program."""

    outputs: dict[str, Any]
    secret_outputs: set[str]
    resources: list[MockResourceArgs]
    calls: list[MockCallArgs]
    log: list[logging.LogRecord] = field(default_factory=list)
    options: dict[str, pulumi.ResourceOptions] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def types(self) -> list[str]:
        return [resource.typ for resource in self.resources]

    def resources_of(self, typ: str) -> list[MockResourceArgs]:
        return [resource for resource in self.resources if resource.typ == typ]

    def messages(self, level: int = logging.WARNING) -> list[str]:
        return [record.getMessage() for record in self.log if record.levelno >= level]


def _full_config(config: Mapping[str, str]) -> dict[str, str]:
    return {(key if ":" in key else f"{PROJECT}:{key}"): value for key, value in config.items()}


def run_program(
    config: Mapping[str, str] | None = None,
    *,
    secret_keys: tuple[str, ...] = (),
    stack: str = "dev",
    preview: bool = False,
    calls: Mapping[str, CallHandler] | None = None,
    resources: Mapping[str, ResourceHandler] | None = None,
    program_dir: Path = INFRA_DIR,
    mocks: RecordingMocks | None = None,
    program: Callable[[], None] | None = None,
    numeric_ids: Collection[str] = (),
) -> ProgramRun:
    """Run ``program_dir`` as the Pulumi CLI would; exceptions (RunError...) propagate.

    Pass your own ``mocks`` to look at what was registered even when the program raises.
    Resource options (ignore_changes, retain_on_delete ...) never reach the engine's mock,
    so a stack transformation records them: ``ProgramRun.options[name]``.
    """
    full = _full_config(config or {})
    pulumi.runtime.set_all_config(full, [key if ":" in key else f"{PROJECT}:{key}" for key in secret_keys])

    if mocks is None:
        mocks = RecordingMocks(calls=calls, resources=resources, numeric_ids=numeric_ids)
    options: dict[str, pulumi.ResourceOptions] = {}

    def record_options(args: pulumi.ResourceTransformationArgs) -> None:
        options[args.name] = args.opts

    def run() -> None:
        pulumi.runtime.register_stack_transformation(record_options)
        if program is not None:
            program()
        else:
            runpy.run_path(str(program_dir), run_name="__main__")

    monitor = RecordingMonitor(mocks)
    handler = _ListHandler()
    logger = logging.getLogger(f"llmhost.tests.pulumi.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Pulumi sends each RPC through the loop's default executor, and the mock monitor gives
    # each worker thread an event loop of its own. Create those loops here so that they can
    # be closed afterwards instead of leaking a socket pair per thread and test.
    worker_loops: list[asyncio.AbstractEventLoop] = []

    def init_worker() -> None:
        worker_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(worker_loop)
        worker_loops.append(worker_loop)

    executor = ThreadPoolExecutor(thread_name_prefix="pulumi-mock", initializer=init_worker)
    loop.set_default_executor(executor)
    cwd = Path.cwd()
    try:
        settings.ROOT.set(None)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, logger=logger, monitor=monitor)
        # set_mocks registers a root Stack of its own (for tests that build resources
        # directly). Let that registration finish, then retire it: like the engine-run
        # program, run_in_stack below creates the root Stack that owns the outputs.
        loop.run_until_complete(wait_for_rpcs())
        settings.ROOT.set(None)
        mocks.resources.clear()
        mocks.ids.clear()
        monitor.stack_outputs = None

        os.chdir(program_dir)
        loop.run_until_complete(run_in_stack(run))
    finally:
        os.chdir(cwd)
        executor.shutdown(wait=True)
        for worker_loop in worker_loops:
            worker_loop.close()
        loop.close()
        asyncio.set_event_loop(None)
        logger.removeHandler(handler)

    assert monitor.stack_outputs is not None, "the program finished without registering stack outputs"
    return ProgramRun(
        outputs=monitor.stack_outputs,
        secret_outputs=monitor.secret_outputs,
        resources=list(mocks.resources),
        calls=list(mocks.calls),
        log=handler.records,
        options=options,
        ids=dict(mocks.ids),
    )


def reset_pulumi() -> None:
    """Forget the config and root resource a previous run left in Pulumi's globals."""
    pulumi.runtime.set_all_config({}, [])
    settings.ROOT.set(None)
