"""The Pulumi CLI release llmhost installs and tells people to install: one place.

``scripts/deploy.sh`` reads ``PULUMI_VERSION`` from this file (a ``sed`` on the line below, so
keep it one line of this form) as the default of ``LLMHOST_PULUMI_VERSION``; ``python -m checks
--stack`` names it in its install hint. It matches the ``pulumi`` SDK range in requirements.txt.
Installer: https://www.pulumi.com/docs/install/ (``sh -s -- --version X`` installs release X).
"""

from __future__ import annotations

PULUMI_VERSION = "3.272.0"

INSTALL_COMMAND = f"curl -fsSL https://get.pulumi.com | sh -s -- --version {PULUMI_VERSION}"
"""The vendor's installer, pinned to the release ``make deploy`` installs."""
