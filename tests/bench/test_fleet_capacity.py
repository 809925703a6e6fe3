"""bench/fleet_capacity.py: the queue simulation against queueing theory, its inputs, its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks.report import render_json
from checks.result import ProbeResult, RunReport, Status, TargetReport
from tests.bench.bench_module import load

REPO = Path(__file__).resolve().parents[2]


fc = load("fleet_capacity", "fleet_capacity")
ONE_SECOND = fc.Speed(tokens_per_second=10.0, prompt_tokens_per_second=100.0)
FIXED = [fc.RequestClass(prompt_tokens=0, output_tokens=10, weight=1.0)]
"""Every request takes exactly 1 s: M/D/c."""


def test_one_replica_matches_the_m_d_1_mean_wait() -> None:
    # Pollaczek-Khinchine for deterministic service: Wq = rho / (2 mu (1 - rho)); rho 0.5, mu 1/s -> 0.5 s.
    result = fc.simulate(1, ONE_SECOND, 30.0, FIXED, minutes=2000, seed=7)
    assert result.utilisation == pytest.approx(0.5, abs=0.02)
    assert result.wait_mean == pytest.approx(0.5, rel=0.1)
    assert result.completed > 50_000


def test_exponential_like_mix_matches_m_m_1() -> None:
    # Service drawn from many classes approximating Exp(1 s): Wq = rho / (mu - lambda) = 0.5 / 0.5 = 1 s for rho 0.5.
    import math

    classes = [fc.RequestClass(0, max(1, round(-10 * math.log((k + 0.5) / 200))), 1.0) for k in range(200)]
    result = fc.simulate(1, ONE_SECOND, 30.0 * 10 / sum(c.output_tokens for c in classes) * 200, classes, minutes=2000)
    assert result.utilisation == pytest.approx(0.5, abs=0.03)
    assert result.wait_mean == pytest.approx(1.0, rel=0.15)


def test_more_replicas_wait_less_and_share_the_load() -> None:
    one, two, four = (fc.simulate(n, ONE_SECOND, 50.0, FIXED, minutes=600) for n in (1, 2, 4))
    assert one.wait_p95 > two.wait_p95 > four.wait_p95 >= 0
    assert one.utilisation == pytest.approx(2 * two.utilisation, rel=0.05)
    assert two.utilisation == pytest.approx(2 * four.utilisation, rel=0.05)


def test_an_overloaded_fleet_builds_a_backlog() -> None:
    result = fc.simulate(1, ONE_SECOND, 120.0, FIXED, minutes=60)  # 2 requests/s on 1 request/s
    assert result.utilisation > 0.99
    assert result.backlog > 1000
    assert fc.simulate(3, ONE_SECOND, 120.0, FIXED, minutes=60).backlog < 5


def test_seeded_and_deterministic() -> None:
    mix = fc.parse_mix(fc.DEFAULT_MIX)
    first = fc.simulate(2, ONE_SECOND, 6.0, mix, minutes=120, seed=3)
    assert fc.simulate(2, ONE_SECOND, 6.0, mix, minutes=120, seed=3) == first
    assert fc.simulate(2, ONE_SECOND, 6.0, mix, minutes=120, seed=4) != first


def test_slots_share_the_replica() -> None:
    # Two slots at half speed each: the same throughput, so the same utilisation.
    single = fc.simulate(1, ONE_SECOND, 30.0, FIXED, minutes=600)
    double = fc.simulate(1, ONE_SECOND, 30.0, FIXED, slots=2, minutes=600)
    assert double.utilisation == pytest.approx(single.utilisation, abs=0.03)


def test_speed_from_a_checks_report(tmp_path: Path) -> None:
    generation = ProbeResult("generation", Status.OK, "ok", metrics={"tokens_per_second": 24.5, "ttft_seconds": 0.8})
    report = TargetReport("dev", "2026-01-15T10:04:05.123Z", 100.0, (generation,))
    path = tmp_path / "report.json"
    path.write_text(render_json(RunReport("2026-01-15T10:04:05.123Z", 100.0, (report,)), multi=False))
    speed = fc.speed_from_report(path)
    assert (speed.tokens_per_second, speed.overhead_seconds) == (24.5, 0.8)
    path.write_text(render_json(RunReport("2026-01-15T10:04:05.123Z", 100.0, (report, report)), multi=True))
    assert fc.speed_from_report(path).tokens_per_second == 24.5


def test_speed_from_llama_server_timings(tmp_path: Path) -> None:
    path = tmp_path / "completion.json"
    path.write_text(json.dumps({"content": "x", "timings": {"predicted_per_second": 31.0, "prompt_per_second": 410.0}}))
    speed = fc.speed_from_timings(path)
    assert (speed.tokens_per_second, speed.prompt_tokens_per_second) == (31.0, 410.0)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--tokens-per-second", "0"], "--tokens-per-second must be above 0"),
        (["--measure", "--tokens-per-second", "10"], "--tokens-per-second goes without"),
        (["--tokens-per-second", "10", "--mix", "300:200"], "--mix"),
        (["--tokens-per-second", "10", "--per-minute", "0"], "--per-minute must be above 0"),
        (["--tokens-per-second", "inf"], "--tokens-per-second must be above 0 and finite"),
        (["--tokens-per-second", "10", "--per-minute", "1e9"], "--per-minute x --minutes"),  # ran for hours
        (["--timings", "/nonexistent.json"], "cannot read JSON"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert fc.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_prints_a_row_per_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert fc.main(["--tokens-per-second", "20", "--per-minute", "4", "--max-replicas", "3", "--minutes", "60"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(out) if line.startswith("replicas"))
    assert [line.split()[0] for line in out[header + 1 : header + 4]] == ["1", "2", "3"]
    assert out[-1].startswith("smallest fleet")


def test_without_a_source_it_measures_the_real_llama_server(capsys: pytest.CaptureFixture[str]) -> None:
    """``make bench`` runs every script without options: the default source is --measure
    (tests/llama_server.py: the real llama-server and Gemma 3 270M), not an exit 2."""
    assert fc.main(["--max-replicas", "1", "--minutes", "10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no --report, --timings or --tokens-per-second: measuring")
    speed_line = next(line for line in out.splitlines() if line.startswith("speed: "))
    assert "llama-server" in speed_line and float(speed_line.split()[1]) > 0
    assert out.splitlines()[-1].startswith("smallest fleet")
