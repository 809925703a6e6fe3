"""How long the Pulumi program takes to evaluate: the default AWS stack under Pulumi's mocks.

Why: `pulumi preview` and `pulumi up` pay this on every run, before the engine does any
cloud work. Target: under 2 s here. Runs the program exactly as the tests do
(tests/infra/pulumi_harness.py: runpy of infra/ inside Pulumi's stack, mocks for the
engine and the AWS provider calls), in a fresh interpreter for the cold number (imports
included) and then repeatedly in-process for the warm one. Prints numbers; exits 0.

    .venv/bin/python bench/program_eval.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 2.0

COLD = """
import time
started = time.perf_counter()
from tests.infra import aws_mocks
from tests.infra.pulumi_harness import reset_pulumi, run_program
reset_pulumi()
run = run_program({}, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)
assert run.outputs["endpoint"].startswith("https://")
print(time.perf_counter() - started)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluation time of the default Pulumi program under mocks.")
    parser.add_argument("--runs", type=int, default=10, help="warm runs in one process (default 10)")
    args = parser.parse_args(argv)

    cold = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", COLD], cwd=REPO, capture_output=True, text=True, check=True)
        cold.append(float(out.stdout.strip().splitlines()[-1]))

    sys.path.insert(0, str(REPO))
    from tests.infra import aws_mocks
    from tests.infra.pulumi_harness import reset_pulumi, run_program

    warm = []
    resources = 0
    for _ in range(args.runs):
        reset_pulumi()
        started = time.perf_counter()
        run = run_program({}, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)
        warm.append(time.perf_counter() - started)
        resources = len(run.resources)
    reset_pulumi()

    cold_median = statistics.median(cold)
    print("llmhost program evaluation (default config: aws, m7g.large, ollama gemma3:1b), Pulumi mocks")
    print(f"  resources registered   {resources}")
    print(f"  cold (new interpreter, imports included), median of 3   {cold_median:.3f} s")
    print(f"  warm (in-process), median of {args.runs}                  {statistics.median(warm):.3f} s")
    verdict = "within target" if cold_median < TARGET_SECONDS else "OVER TARGET"
    print(f"  target < {TARGET_SECONDS:.1f} s (cold): {verdict}  (ratio {cold_median / TARGET_SECONDS:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
