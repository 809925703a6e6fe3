"""``llmhost:wakeUrl``: read and validated here, called from infra/aws_config.py with a few lines.

``true`` deploys a Lambda function URL that starts the stopped server for a valid API key
(infra/wake.py). It only makes sense on AWS with ``llmhost:idleStopMinutes`` (a server that
never stops needs no wake-up).
"""

from __future__ import annotations

from infra.config_values import ConfigError, ConfigSource, read_bool

KEY = "wakeUrl"
DESCRIPTION = (
    "true: a Lambda function URL that starts the stopped server for a valid API key "
    "(aws, with idleStopMinutes; default false)"
)


def read(source: ConfigSource, idle_stop_minutes: object) -> bool:
    """The setting; ConfigError (naming llmhost:wakeUrl) when it is not a boolean or lacks idle stop."""
    wanted = bool(read_bool(source, KEY))
    if wanted and idle_stop_minutes is None:
        raise ConfigError(KEY, "is true but llmhost:idleStopMinutes is not set",
                          "set llmhost:idleStopMinutes (a server that never stops needs no wake URL), "
                          "or remove llmhost:wakeUrl")
    return wanted
