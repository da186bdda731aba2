"""Latchkey's webhooks, verified as Standard Webhooks (https://www.standardwebhooks.com) have them.

Headers `webhook-id`, `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`: one
or more space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{raw body}">`, keyed with the
base64-decoded part of the secret after `whsec_`. The error codes are those of Latchkey's Node SDK.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOLERANCE = 300  # seconds either way: an older signature is a replay (or a clock far off)
SECRET_PREFIX = "whsec_"


class WebhookError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    timestamp: str
    data: dict[str, Any]


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret; ValueError when it is not one."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as err:
        raise ValueError("the webhook secret is not whsec_ followed by base64") from err
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def verify(key: bytes, headers: Mapping[str, str], body: bytes, now: float | None = None) -> Event:
    """The event of a genuine, fresh delivery; a WebhookError otherwise. `body` is the raw bytes received."""
    webhook_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not webhook_id or not timestamp or not signatures:
        raise WebhookError("webhook_missing_headers", "webhook-id, webhook-timestamp and webhook-signature are all required.")
    if not re.fullmatch(r"\d{1,12}", timestamp):
        raise WebhookError("webhook_timestamp_out_of_range", "webhook-timestamp is not a time in seconds.")
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE:
        raise WebhookError("webhook_timestamp_out_of_range", f"webhook-timestamp is more than {TOLERANCE} s from now: a replay, or a clock far off.")

    expected = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    matched = False
    for candidate in signatures.split(" "):
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        # Constant time, and every candidate compared (no early exit on a match).
        matched |= hmac.compare_digest(given, expected)
    if not matched:
        raise WebhookError("webhook_invalid_signature", "No webhook-signature matches the body under this secret.")

    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookError("webhook_invalid_payload", "The webhook body is not JSON.") from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("type"), str)
        or not isinstance(payload.get("timestamp"), str)
        or not isinstance(payload.get("data"), dict)
    ):
        raise WebhookError("webhook_invalid_payload", "The webhook body is not {type, timestamp, data}.")
    return Event(id=webhook_id, type=payload["type"], timestamp=payload["timestamp"], data=payload["data"])
