"""The message store: raw messages SES's S3 action wrote."""

from __future__ import annotations

from typing import Any

from sesame.core.event import InboundMail


class S3MessageStore:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    def key_for(self, mail: InboundMail) -> tuple[str, str]:
        """Where SES put the message: the event's S3 action if it has one, else prefix + id."""
        if mail.s3_bucket and mail.s3_key:
            return mail.s3_bucket, mail.s3_key
        return self._bucket, f"{self._prefix}{mail.message_id}"

    def location(self, mail: InboundMail) -> str:
        bucket, key = self.key_for(mail)
        return f"s3://{bucket}/{key}"

    def fetch(self, mail: InboundMail) -> bytes:
        bucket, key = self.key_for(mail)
        response = self._client.get_object(Bucket=bucket, Key=key)
        with response["Body"] as body:
            return body.read()
