"""The Bedrock stand-in's framing, checked by botocore's own event-stream parser (botocore/eventstream.py)."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from tests.fakes.bedrock import encode_message, event, exception


def test_botocore_parses_the_framing() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
                    + exception("throttlingException", "slow down"))
    first, second = list(buffer)
    assert first.headers == {":event-type": "contentBlockDelta", ":content-type": "application/json",
                             ":message-type": "event"}
    assert json.loads(first.payload) == {"contentBlockIndex": 0, "delta": {"text": "Hi"}}
    assert first.to_response_dict()["status_code"] == 200
    assert second.headers[":exception-type"] == "throttlingException"
    assert second.to_response_dict()["status_code"] == 400


@pytest.mark.parametrize("offset", [-1, 20])
def test_a_flipped_byte_fails_botocores_crc_check(offset: int) -> None:
    raw = bytearray(encode_message({":event-type": "messageStop"}, b'{"stopReason":"end_turn"}'))
    raw[offset] ^= 0xFF
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(raw))
    with pytest.raises(ChecksumMismatch):
        list(buffer)
