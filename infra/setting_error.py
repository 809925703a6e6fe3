"""The error shape of the pure ``llmhost:`` checks (infra/fleet_config.py, infra/preview_checks.py).

``key`` names the setting (without the ``llmhost:`` namespace), ``problem`` what is wrong and
``allowed`` what is allowed; the message is ``key: problem; allowed``.
infra/config_values.py (``from_setting_error``) turns it into its ConfigError (a
``pulumi.RunError`` naming the full key).
"""

from __future__ import annotations


class SettingError(ValueError):
    """One bad setting: ``key``, ``problem``, ``allowed`` (all strings)."""

    def __init__(self, key: str, problem: str, allowed: str) -> None:
        self.key = key
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{key}: {problem}; {allowed}")
