"""semantic: with ``--prompt``/``--expect``, the generated answer matches the regular expression.

It judges the text of the generation probe (same prompt, temperature 0), so it costs no
extra request. ``re.search``: the pattern may match anywhere; use ``(?i)`` to ignore case.
Raise ``--max-tokens`` when the expected words come late in the answer.
"""

from __future__ import annotations

import re

from checks.errors import one_line
from checks.probes.context import ProbeContext
from checks.result import ProbeResult, critical, ok

NAME = "semantic"


async def probe(ctx: ProbeContext) -> ProbeResult:
    pattern = ctx.target.expect or ""
    answer = ctx.state.generation_text or ""
    match = re.search(pattern, answer)
    quoted = one_line(answer, 120)
    if match is None:
        return critical(NAME, f"the answer does not match /{one_line(pattern, 80)}/: {quoted!r}",
                        answer_chars=len(answer))
    return ok(NAME, f"the answer matches /{one_line(pattern, 80)}/ ({one_line(match.group(0), 60)!r})",
              answer_chars=len(answer))
