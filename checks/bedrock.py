"""Amazon Bedrock as a check target (``--api bedrock --model ID --region R``): the same probe
names, report and exit codes as a self-hosted server, answered by ``bedrock-runtime``.

One ``ConverseStream`` request (botocore, credentials from the standard AWS chain) carries the
whole check, as a real client would see it:

- ``reachable``: credentials resolve and the runtime endpoint answers. No credentials is
  ``unknown`` with the fix; credentials the service refuses (UnrecognizedClient, expired token,
  bad signature) or no connection is ``critical``.
- ``model_present``: the call was accepted. ``AccessDeniedException`` (model access not granted
  in this account and region, or no IAM permission) and an unknown model id
  (``ValidationException`` / ``ResourceNotFoundException``) are ``critical`` with the fix;
  throttling is ``warn``.
- ``generation``: the event stream read to its end. TTFT from the first ``contentBlockDelta``
  (Bedrock has no such field); tokens/s = ``metadata.usage.outputTokens`` over the streaming time
  (first delta -> end of the stream); a stream that ends without its ``metadata`` event is
  ``critical``; a ``throttlingException`` event is ``warn``.
- ``tls``, ``auth_required``, ``openai_chat`` and ``cors`` are skipped with the reason;
  ``semantic`` (``--expect``) judges the generated text as for any target.

Shapes: botocore's ``bedrock-runtime`` service model (ConverseStream output: messageStart,
contentBlockDelta{delta{text}}, contentBlockStop, messageStop{stopReason},
metadata{usage{inputTokens, outputTokens, totalTokens}, metrics{latencyMs}}). The endpoint is
``https://bedrock-runtime.<region>.amazonaws.com`` unless ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
(botocore's per-service endpoint variable) names another one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)

from checks import bedrock_prices
from checks.errors import one_line
from checks.numbers import usd
from checks.probes import auth, cors, generation, models, openai_chat, reachable, semantic, tls
from checks.probes.context import State
from checks.probes.generation import GENERATION_DEADLINE_FACTOR, prompt_of
from checks.result import Metric, ProbeResult, Status, critical, ok, skipped, warn
from checks.targets import Target

API = "bedrock"
SERVICE = "bedrock-runtime"
ENDPOINT_ENV = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
CREDENTIALS_FIX = (
    "no AWS credentials found: run `aws configure` or `aws sso login`, set AWS_PROFILE, or export "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
THROTTLE_CODES = frozenset({"ThrottlingException", "throttlingException", "ServiceQuotaExceededException",
                            "TooManyRequestsException"})
UNKNOWN_MODEL_CODES = frozenset({"ValidationException", "ResourceNotFoundException"})
REFUSED_CREDENTIAL_CODES = frozenset({"UnrecognizedClientException", "InvalidSignatureException",
                                      "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch"})


def endpoint_url(region: str, environ: Mapping[str, str] | None = None) -> str:
    """The URL botocore will call: ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` or the regional endpoint."""
    environ = os.environ if environ is None else environ
    return (environ.get(ENDPOINT_ENV) or f"https://{SERVICE}.{region}.amazonaws.com").rstrip("/")


def make_client(target: Target) -> Any:
    """A ``bedrock-runtime`` client for the target's region; one attempt (the check reports throttling)."""
    session = boto3.session.Session(region_name=target.region)
    config = Config(
        connect_timeout=target.timeout,
        read_timeout=target.timeout * GENERATION_DEADLINE_FACTOR,
        retries={"max_attempts": 1, "mode": "standard"},
        user_agent_extra="llmhost-checks",
    )
    return session.client(SERVICE, config=config)


def credentials_present(target: Target) -> bool:
    """Whether the standard chain (env, profile, SSO, container, instance role) yields credentials."""
    return boto3.session.Session(region_name=target.region).get_credentials() is not None


@dataclasses.dataclass
class BedrockState(State):
    started: float | None = None
    """perf_counter just before the request was sent."""
    response: dict[str, Any] | None = None
    error: ClientError | None = None
    """The service's refusal of the request (judged by model_present)."""
    throttled: str | None = None


class BedrockContext:
    """One Bedrock target: its client (made lazily) and what earlier probes found."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.state = BedrockState(api=API, model=target.model)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.target)
        return self._client

    @property
    def where(self) -> str:
        return f"{self.target.model} in {self.target.region}"


# --- reachable -----------------------------------------------------------------------------------
async def probe_reachable(ctx: BedrockContext) -> ProbeResult:
    name = reachable.NAME
    target = ctx.target
    if not await asyncio.to_thread(credentials_present, target):
        ctx.state.runtime_down = CREDENTIALS_FIX
        return ProbeResult(name, Status.UNKNOWN, CREDENTIALS_FIX)
    request = {
        "modelId": target.model,
        "messages": [{"role": "user", "content": [{"text": prompt_of(ctx)}]}],  # type: ignore[arg-type]
        "inferenceConfig": {"maxTokens": target.max_tokens, "temperature": 0},
    }
    url = endpoint_url(target.region or "")
    client = await asyncio.to_thread(lambda: ctx.client)  # loads the service model: not part of the TTFT
    ctx.state.started = time.perf_counter()
    try:
        ctx.state.response = await asyncio.to_thread(lambda: client.converse_stream(**request))
    except NoCredentialsError:
        ctx.state.runtime_down = CREDENTIALS_FIX
        return ProbeResult(name, Status.UNKNOWN, CREDENTIALS_FIX)
    except ClientError as err:
        code, message, status = error_parts(err)
        if code in REFUSED_CREDENTIAL_CODES:
            ctx.state.runtime_down = f"the credentials were refused ({code})"
            return critical(name, f"{url} refused the AWS credentials: {code}: {message}; check AWS_PROFILE "
                                  "or the access key, and that the session token has not expired",
                            http_status=status)
        ctx.state.error = err
        return ok(name, f"{url} answered (HTTP {status} {code}; see model_present)", http_status=status)
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as err:
        ctx.state.runtime_down = ctx.state.unreachable = one_line(err, 200)
        return critical(name, f"no answer from {url}: {one_line(err, 200)}")
    except NoRegionError:
        ctx.state.runtime_down = "no region"
        return ProbeResult(name, Status.UNKNOWN, "no AWS region: give --region or set AWS_REGION")
    except BotoCoreError as err:
        ctx.state.runtime_down = one_line(err, 200)
        return critical(name, f"{url}: {type(err).__name__}: {one_line(err, 200)}")
    status = ctx.state.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
    return ok(name, f"{url} answered ConverseStream (HTTP {status})", http_status=status)


def error_parts(err: ClientError) -> tuple[str, str, int | None]:
    """(error code, one-line message, HTTP status) of a botocore ClientError."""
    error = err.response.get("Error", {})
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code") or "Unknown"), one_line(error.get("Message") or "no message", 240), status


# --- model_present -------------------------------------------------------------------------------
async def probe_model(ctx: BedrockContext) -> ProbeResult:
    name = models.NAME
    target = ctx.target
    price = bedrock_prices.price_for(target.model or "")
    price_metrics: dict[str, Metric] = {}
    if price is not None:
        price_metrics = {"usd_per_million_input": price.input_per_million,
                         "usd_per_million_output": price.output_per_million}
    if ctx.state.error is None:
        return ok(name, f"{ctx.where}: the request was accepted (model access granted)", model=target.model,
                  **price_metrics)
    code, message, status = error_parts(ctx.state.error)
    if code in THROTTLE_CODES:
        ctx.state.throttled = f"throttled ({code})"
        return warn(name, f"{ctx.where}: throttled ({code}: {message}); the account's on-demand quota is used "
                          "up: retry later or request a quota increase (Service Quotas, Amazon Bedrock)",
                    http_status=status)
    if code == "AccessDeniedException":
        ctx.state.model_missing = f"access denied to {target.model}"
        return critical(
            name,
            f"{ctx.where}: access denied ({message}); grant it in the Bedrock console (Model access, region "
            f"{target.region}) and allow bedrock:InvokeModelWithResponseStream for this identity",
            http_status=status,
        )
    if code in UNKNOWN_MODEL_CODES:
        ctx.state.model_missing = f"{target.model} is not available"
        return critical(
            name,
            f"{ctx.where}: not a model this region serves ({code}: {message}); list them with "
            f"`aws bedrock list-foundation-models --region {target.region}` (some need an inference profile "
            "id such as us.<modelId>)",
            http_status=status,
        )
    ctx.state.model_missing = f"{code}"
    return critical(name, f"{ctx.where}: the request failed: {code}: {message}", http_status=status)


# --- generation ----------------------------------------------------------------------------------
@dataclasses.dataclass
class StreamRead:
    """What one ConverseStream event stream held, with client-clock times (perf_counter)."""

    started: float
    text: str = ""
    events: int = 0
    deltas: int = 0
    first_delta: float | None = None
    ended: float | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] | None = None
    latency_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None


def read_stream(events: Iterable[Mapping[str, Any]], started: float,
                clock: Callable[[], float] = time.perf_counter) -> StreamRead:
    """Read a ConverseStream ``stream`` to its end; an exception event is recorded, not raised."""
    read = StreamRead(started=started)
    try:
        for event in events:
            now = clock()
            read.events += 1
            if "contentBlockDelta" in event:
                text = (event["contentBlockDelta"].get("delta") or {}).get("text")
                if isinstance(text, str):
                    if read.first_delta is None:
                        read.first_delta = now
                    read.deltas += 1
                    read.text += text
            elif "messageStop" in event:
                read.stop_reason = event["messageStop"].get("stopReason")
            elif "metadata" in event:
                read.usage = dict(event["metadata"].get("usage") or {})
                read.latency_ms = (event["metadata"].get("metrics") or {}).get("latencyMs")
            else:
                exception = next((k for k in event if k.endswith("Exception")), None)
                if exception is not None:
                    read.error_code = exception
                    read.error_message = str((event[exception] or {}).get("message", ""))
    except ClientError as err:  # botocore's EventStreamError: an exception event in the stream
        read.error_code, read.error_message, _ = error_parts(err)
    read.ended = clock()
    return read


def stream_metrics(read: StreamRead, price: bedrock_prices.BedrockPrice | None) -> dict[str, Metric]:
    """The generation metrics of a Bedrock stream, named like a self-hosted target's."""
    usage = read.usage or {}
    output_tokens = usage.get("outputTokens")
    input_tokens = usage.get("inputTokens")
    ended = read.ended if read.ended is not None else read.started
    ttft = read.first_delta - read.started if read.first_delta is not None else None
    streaming = ended - read.first_delta if read.first_delta is not None else None
    tps = None
    if isinstance(output_tokens, int) and output_tokens and streaming:
        tps = output_tokens / streaming
    metrics: dict[str, Metric] = {
        "ttft_seconds": _round(ttft),
        "tokens_per_second": _round(tps),
        "tokens_per_second_source": "client",
        "client_tokens_per_second": _round(tps),
        "load_seconds": None,
        "prompt_eval_seconds": None,
        "eval_count": output_tokens if isinstance(output_tokens, int) else None,
        "prompt_eval_count": input_tokens if isinstance(input_tokens, int) else None,
        "server_latency_seconds": _round(read.latency_ms / 1000) if isinstance(read.latency_ms, int | float)
        else None,
        "stop_reason": read.stop_reason,
        "total_seconds": _round(ended - read.started),
    }
    if price is not None:
        metrics["usd_per_million_tokens"] = round(price.blended_per_million(), 4)
        if isinstance(output_tokens, int) and isinstance(input_tokens, int):
            cost = (input_tokens * price.input_per_million + output_tokens * price.output_per_million) / 1e6
            metrics["usd_this_request"] = round(cost, 8)
    return metrics


async def probe_generation(ctx: BedrockContext) -> ProbeResult:
    name = generation.NAME
    response = ctx.state.response or {}
    stream = response.get("stream")
    if stream is None:
        ctx.state.generation_failed = "no stream"
        return critical(name, "ConverseStream answered without an event stream")
    started = ctx.state.started if ctx.state.started is not None else time.perf_counter()
    deadline = ctx.target.timeout * GENERATION_DEADLINE_FACTOR
    try:
        async with asyncio.timeout(deadline):
            read = await asyncio.to_thread(read_stream, stream, started)
    except TimeoutError:
        ctx.state.generation_failed = "timeout"
        return critical(name, f"the ConverseStream stream did not finish within {deadline:g} s")
    except (BotoCoreError, OSError) as err:
        ctx.state.generation_failed = "broken stream"
        return critical(name, f"the ConverseStream stream broke: {type(err).__name__}: {one_line(err, 200)}")
    ctx.state.generation_text = read.text
    price = bedrock_prices.price_for(ctx.target.model or "")
    metrics = stream_metrics(read, price)
    events = f"after {read.events} event{'s' if read.events != 1 else ''} ({read.deltas} text deltas)"
    if read.error_code in THROTTLE_CODES:
        return warn(name, f"throttled in the middle of the stream {events}: {read.error_code}: "
                          f"{one_line(read.error_message, 200)}", **metrics)
    if read.error_code is not None:
        ctx.state.generation_failed = read.error_code
        return critical(name, f"the stream ended with {read.error_code} {events}: "
                              f"{one_line(read.error_message, 200)}", **metrics)
    if read.usage is None:
        ctx.state.generation_failed = "no metadata"
        return critical(name, f"the ConverseStream stream ended without its metadata event {events}: "
                              "the generation did not complete (no usage)", **metrics)
    result = generation.judge(ctx, metrics, "ConverseStream")  # type: ignore[arg-type]
    cost = metrics.get("usd_per_million_tokens")
    if isinstance(cost, float):
        result = dataclasses.replace(result, detail=f"{result.detail}; {usd(cost)} per 1M tokens, Bedrock list "
                                                    f"price of {bedrock_prices.PRICE_DATE}")
    return result


def _round(value: float | None) -> float | None:
    return round(value, 4) if isinstance(value, float) else value


# --- the probe table -----------------------------------------------------------------------------
async def probe_semantic(ctx: BedrockContext) -> ProbeResult:
    return await semantic.probe(ctx)  # type: ignore[arg-type]


def _skip(reason: str) -> Callable[[BedrockContext], Awaitable[ProbeResult]]:
    async def probe(ctx: BedrockContext) -> ProbeResult:
        return skipped("", reason)

    return probe


PROBES: tuple[tuple[str, Callable[[BedrockContext], Awaitable[ProbeResult]]], ...] = (
    (tls.NAME, _skip("Bedrock: the AWS SDK verifies the certificate of the AWS endpoint itself")),
    (auth.NAME, _skip("Bedrock: every request is signed with AWS credentials (SigV4), there is no API key")),
    (reachable.NAME, probe_reachable),
    (models.NAME, probe_model),
    (generation.NAME, probe_generation),
    (openai_chat.NAME, _skip("Bedrock: no OpenAI-style /v1/chat/completions here; "
                             "the generation probe uses ConverseStream")),
    (cors.NAME, _skip("Bedrock: called with AWS credentials from servers, not from browsers")),
    (semantic.NAME, probe_semantic),
)


def skip_reason(name: str, target: Target, state: BedrockState) -> str | None:
    """Why ``name`` cannot tell anything new for a Bedrock target, or None when it should run."""
    if name in (reachable.NAME,) or name not in (models.NAME, generation.NAME, semantic.NAME):
        return None
    if name == semantic.NAME and not target.expect:
        return "no --expect given"
    if state.runtime_down:
        return "not run: Bedrock could not be called (see reachable)"
    if name == models.NAME:
        return None
    if state.model_missing:
        return f"not run: {state.model_missing} (see model_present)"
    if state.throttled:
        return f"not run: {state.throttled} (see model_present)"
    if name == semantic.NAME and state.generation_failed:
        return "not run: the generation failed (see generation)"
    return None
