"""Telling the operator: a plain-text email through SES v2."""

from __future__ import annotations

from typing import Any


class SesNotifier:
    def __init__(self, client: Any, from_address: str, to_address: str) -> None:
        self._client = client
        self._from = from_address
        self._to = to_address

    def notify(self, subject: str, text: str) -> str:
        response = self._client.send_email(
            FromEmailAddress=self._from,
            Destination={"ToAddresses": [self._to]},
            Content={
                "Simple": {
                    "Subject": {"Data": subject[:900], "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                }
            },
        )
        return str(response["MessageId"])
