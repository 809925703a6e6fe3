"""--targets --deadline (issue #11): one bound on the whole run; what is not done is unknown."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import runner
from tests.checks.certs import make_ca, make_leaf
from tests.checks.helpers import KEY_VAR, run_checks

TIMEOUT = 1.0


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A loopback listener that never accepts: connections complete in the backlog, then hang."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4096)
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the with ends: connections are refused


def targets_file(tmp_path: Path, hanging: int, refused: int, count: int = 300) -> Path:
    entries = []
    for i in range(count):
        port = hanging if i % 2 else refused
        entries.append({"name": f"t{i:03d}", "url": f"http://127.0.0.1:{port}", "api_key_env": KEY_VAR})
    path = tmp_path / "targets.yaml"
    path.write_text(json.dumps({"defaults": {"timeout": TIMEOUT}, "targets": entries}))  # JSON is YAML
    return path


def test_default_deadline_keeps_300_targets_half_hanging_under_1_5x_the_timeout(
    tmp_path: Path, hanging_port: int, closed_port: int
) -> None:
    outcome = run_checks("--targets", str(targets_file(tmp_path, hanging_port, closed_port)))
    # 1.5 s of deadline plus loading 300 targets and rendering on a shared machine; without a
    # deadline the same file takes ~8.5 s here (hanging targets queue behind --concurrency 32).
    assert outcome.seconds < runner.DEADLINE_FACTOR * TIMEOUT + 3.0, outcome.seconds
    targets = outcome.report["targets"]
    assert len(targets) == 300
    statuses = {t["status"] for t in targets}
    assert statuses <= {"critical", "unknown"}
    unknown = [t for t in targets if t["status"] == "unknown"]
    assert unknown, "the hanging targets cannot all have finished"
    reason = f"not done within the run's --deadline of {runner.DEADLINE_FACTOR * TIMEOUT:g} s"
    for target in unknown:  # what finished keeps its result (http: no certificate to check), then the cut
        checks = target["checks"]
        finished = [c for c in checks if c["detail"] != reason]  # none for a target still queued for a slot
        assert all(c["name"] == "tls" and c["detail"].startswith("plain HTTP") for c in finished), finished
        cut = checks[len(finished):]
        assert [(c["status"], c["detail"]) for c in cut] == [("unknown", reason)] + [("skipped", reason)] * (
            len(cut) - 1
        )
    assert outcome.code == 2  # the refused ones are critical


def test_explicit_deadline_bounds_the_run(tmp_path: Path, hanging_port: int, closed_port: int) -> None:
    outcome = run_checks("--targets", str(targets_file(tmp_path, hanging_port, closed_port, 20)), "--deadline", "0.5")
    assert outcome.seconds < 0.5 + 3.0
    unknown = [t for t in outcome.report["targets"] if t["status"] == "unknown"]
    assert {t["name"] if "name" in t else t["target"] for t in unknown} >= {f"t{i:03d}" for i in range(1, 20, 2)}
    assert {t["duration_ms"] for t in unknown} == {500.0}, "a target cut short ran until the deadline, not 0 ms"


@pytest.mark.parametrize("value", ["١٢", "1_0", "-1", "0", "soon"])
def test_bad_deadline_is_one_line(tmp_path: Path, value: str) -> None:
    outcome = run_checks("--url", "http://127.0.0.1:9", "--deadline", value, fmt=None)
    assert outcome.code == 3
    assert "--deadline" in outcome.stderr and len(outcome.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["١٢", "1_0", "٣٠"])
def test_non_ascii_numbers_in_target_options_are_refused(value: str) -> None:
    outcome = run_checks("--url", "http://127.0.0.1:9", "--timeout", value, fmt=None)
    assert outcome.code == 3
    assert outcome.stderr.startswith("checks: error: --timeout: expected a number")


def test_a_target_cut_short_keeps_the_probes_that_finished(tmp_path: Path) -> None:
    """Everything was "skipped: not done" before, even a TLS check that had passed in milliseconds.
    Here a TLS front that completes the handshake and then never answers HTTP: tls ok, the rest cut."""
    ca = make_ca()
    ca_cert, _ = ca.write(tmp_path, "ca")
    leaf_cert, leaf_key = make_leaf(ca).write(tmp_path, "leaf")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(leaf_cert, leaf_key)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[ssl.SSLSocket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
                held.append(context.wrap_socket(conn, server_side=True))  # handshake, then silence
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        outcome = run_checks("--url", f"https://127.0.0.1:{server.getsockname()[1]}", "--ca-file", str(ca_cert),
                             "--api-key-env", KEY_VAR, "--deadline", "2", "--timeout", "30")
    finally:
        server.close()
        for conn in held:
            conn.close()
    checks = outcome.report["checks"]
    assert [c["name"] for c in checks][:2] == ["tls", "auth_required"]
    assert checks[0]["status"] == "ok", checks[0]
    assert (checks[1]["status"], checks[1]["detail"]) == ("unknown", "not done within the run's --deadline of 2 s")
    assert {c["status"] for c in checks[2:]} == {"skipped"}
    assert outcome.report["status"] == "unknown" and outcome.code == 3
