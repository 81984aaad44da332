"""Sending through SES v2 with raw content (40 MB, at most 50 recipients a send)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from sesame.core.ports import Outgoing, SendRejected, outgoing_bytes
from sesame.core.settings import SES_MAX_RECIPIENTS

# Refusals about this message that no retry will change. Throttling, 5xx, and account-wide
# problems (sending paused, account suspended) raise instead, so Lambda retries and the
# dead-letter queue keeps the message until an operator fixes things.
PERMANENT_ERRORS = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})


class SesRawSender:
    def __init__(self, client: Any, configuration_set: str | None = None) -> None:
        self._client = client
        self._configuration_set = configuration_set

    def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
        if not 1 <= len(destinations) <= SES_MAX_RECIPIENTS:
            raise ValueError(f"SES takes 1 to {SES_MAX_RECIPIENTS} destinations a send, not {len(destinations)}")
        request: dict[str, Any] = {
            # No FromEmailAddress: on a raw send SES takes From from the message, and setting
            # it was reported to overwrite the header and lose the display name.
            "Destination": {"ToAddresses": list(destinations)},
            "Content": {"Raw": {"Data": outgoing_bytes(message)}},
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if code in PERMANENT_ERRORS:
                raise SendRejected(code, error.get("Message", "")) from exc
            raise
        return str(response["MessageId"])
