"""The message store: raw messages SES's S3 action wrote."""

from __future__ import annotations

from typing import Any

from sesame.core.event import InboundMail


class S3MessageStore:
    def __init__(self, client: Any, bucket: str, prefix: str, quarantine_prefix: str = "quarantine/") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._quarantine_prefix = quarantine_prefix

    def quarantine(self, mail: InboundMail) -> str:
        """Copy the raw message under the quarantine prefix (kept longer than messages/ by the
        bucket's lifecycle, and out of the forwarder's reach)."""
        bucket, key = self.key_for(mail)
        target = f"{self._quarantine_prefix}{mail.message_id}"
        self._client.copy_object(Bucket=self._bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
        return f"s3://{self._bucket}/{target}"

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
