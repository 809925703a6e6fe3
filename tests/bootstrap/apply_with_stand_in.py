"""``python -m bootstrap`` with install.sh replaced by the test stand-in (for test_apply_cli.py).

The command line, the exit codes and the output are the real ones; only the rendered
install.sh is swapped for tests/bootstrap/remote_stand_ins.py's INSTALL_SH, since Docker
cannot run here.
"""

from __future__ import annotations

import sys

from bootstrap import apply, cli
from bootstrap.bundle import Bundle, render_bundle
from bootstrap.spec import Spec
from tests.bootstrap.remote_stand_ins import with_stand_in


def _render(spec: Spec) -> Bundle:
    return with_stand_in(render_bundle(spec))


if __name__ == "__main__":
    apply.render_bundle = _render  # type: ignore[assignment]
    sys.exit(cli.main())
