"""The options of a ``--api bedrock`` target: a model id and a region instead of a URL and a key.

``build_target`` (checks/targets.py) calls ``bedrock_options`` first; what it returns then goes
through the usual validation. The URL becomes the runtime endpoint (for reports), the default
name ``bedrock:<modelId>``; API-key options (from a targets file's defaults) do not apply to
Bedrock, which signs requests with AWS credentials, and are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from checks.targets import Namer

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
NOT_FOR_BEDROCK = ("url", "stack", "outputs_file")
DROPPED = ("api_key_env", "api_key_file")
EXAMPLE_MODEL = "meta.llama3-2-1b-instruct-v1:0"


def bedrock_options(given: Mapping[str, Any], name: Namer, environ: Mapping[str, str]) -> dict[str, Any]:
    """``given`` completed for Bedrock; a UsageError names the option that is missing or wrong."""
    options = {k: v for k, v in given.items() if k not in DROPPED}
    for key in NOT_FOR_BEDROCK:
        if key in options:
            raise name.error(f"{name(key)}: not used with {name('api')} bedrock (the endpoint is the region's "
                             "bedrock-runtime; give the model and the region)")
    model = str(options.get("model") or "").strip()
    if not model:
        raise name.error(f"{name('model')}: {name('api')} bedrock needs the model id, e.g. {EXAMPLE_MODEL} "
                         f"(or its cross-region inference profile us.{EXAMPLE_MODEL})")
    region = str(options.get("region") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "")
    if not region:
        raise name.error(f"{name('region')}: {name('api')} bedrock needs a region (or AWS_REGION), e.g. us-east-1")
    if not REGION.match(region):
        raise name.error(f"{name('region')}: {region!r} is not an AWS region name such as us-east-1")
    from checks.bedrock import endpoint_url

    options.update(model=model, region=region, url=endpoint_url(region, environ))
    options.setdefault("name", f"bedrock:{model}")
    return options
