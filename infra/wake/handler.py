"""Wake on request: a Lambda function URL that starts this stack's stopped EC2 instance.

Deployed as this one file (boto3 only, from the Lambda Python runtime) by infra/wake.py when
``llmhost:wakeUrl`` is true. A client calls the URL with the same API key the proxy accepts
(``Authorization: Bearer KEY`` or ``X-Api-Key: KEY``); the key is checked against the stack's SSM
SecureString (decrypted through SSM) in constant time: a key of either role (user or admin) wakes the
server. The value's format is bootstrap/key_parameter.py's (read here by :func:`stored_keys`).

Answers (JSON, ``Cache-Control: no-store``):

- ``401 {"error": ...}``: no key or a wrong one (nothing is started, nothing else is said);
- ``200 {"status": "running"}``: the instance runs; call the API;
- ``202 {"status": "starting", "retryAfter": N}`` (+ ``Retry-After``): it was stopped and is
  now starting, or it is already starting (``pending``: no second StartInstances);
- ``202 {"status": "stopping", "retryAfter": N}``: it is still stopping; call wake again;
- ``410``: the instance is terminated; ``502``: EC2 or SSM refused (the error code only).

Environment: ``INSTANCE_ID``, ``PARAMETER_NAME``, ``RETRY_AFTER`` (seconds, default 30).
Event: the Lambda function URL payload (version 2.0: lower-case ``headers``,
``requestContext.http.method``).
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

DEFAULT_RETRY_AFTER = 30


def presented_key(event: dict[str, Any]) -> str | None:
    """The key in ``Authorization: Bearer`` or ``X-Api-Key``; None when there is none."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    auth = headers.get("authorization", "").strip()
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


def stored_keys(value: str) -> list[str]:
    """Every key in the parameter value, of any role: ``{"user": {name: key} | [key], "admin": ...}``
    or the pre-roles comma/newline list (bootstrap/key_parameter.py; an unreadable value: none)."""
    text = value.strip()
    if not text.startswith("{"):
        return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    keys: list[str] = []
    for entries in doc.values() if isinstance(doc, dict) else ():
        values = entries.values() if isinstance(entries, dict) else entries if isinstance(entries, list) else ()
        keys.extend(k.strip() for k in values if isinstance(k, str) and k.strip())
    return keys


def key_matches(presented: str, stored: str) -> bool:
    """Constant-time comparison against every stored key (:func:`stored_keys`)."""
    matched = False
    for key in stored_keys(stored):
        if hmac.compare_digest(presented.encode(), key.encode()):
            matched = True
    return matched


def respond(status: int, body: dict[str, Any], retry_after: int | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/json", "cache-control": "no-store"}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    return {"statusCode": status, "headers": headers, "body": json.dumps(body)}


def wake(event: dict[str, Any], ec2: Any, ssm: Any, instance_id: str, parameter: str,
         retry_after: int = DEFAULT_RETRY_AFTER) -> dict[str, Any]:
    """Check the key, then start the instance if it is stopped; see the module docstring."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST")
    if method not in ("GET", "POST"):
        return respond(405, {"error": "use POST"})
    key = presented_key(event)
    if key is None:
        return respond(401, {"error": "missing API key (Authorization: Bearer KEY)"})
    try:
        stored = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
        if not key_matches(key, stored):
            return respond(401, {"error": "invalid API key"})
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        state = reservations[0]["Instances"][0]["State"]["Name"]
        if state == "running":
            return respond(200, {"status": "running"})
        if state == "pending":
            return respond(202, {"status": "starting", "retryAfter": retry_after}, retry_after)
        if state == "stopped":
            ec2.start_instances(InstanceIds=[instance_id])
            return respond(202, {"status": "starting", "retryAfter": retry_after}, retry_after)
        if state == "stopping":
            return respond(202, {"status": "stopping", "retryAfter": retry_after}, retry_after)
        return respond(410, {"status": state, "error": "the instance is gone; redeploy the stack"})
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "Unknown")
        print(f"wake: {code}")  # CloudWatch Logs; never the key
        return respond(502, {"error": f"AWS refused the request ({code})"})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (``handler.handler``)."""
    return wake(
        event,
        boto3.client("ec2"),
        boto3.client("ssm"),
        os.environ["INSTANCE_ID"],
        os.environ["PARAMETER_NAME"],
        int(os.environ.get("RETRY_AFTER") or DEFAULT_RETRY_AFTER),
    )
