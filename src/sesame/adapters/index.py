"""The outcome index: JSON records under ``index/`` in the mail bucket."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sesame.core.event import InboundMail
from sesame.core.index import index_key, index_record, to_json_line
from sesame.core.outcome import MessageReport


class S3OutcomeIndex:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        return self._prefix

    def record(self, mail: InboundMail, report: MessageReport, *, only_if_absent: bool = False) -> bool:
        """Write the record; with ``only_if_absent`` an existing record is left alone (False)."""
        request: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": index_key(self._prefix, mail),
            "Body": to_json_line(index_record(mail, report)),
            "ContentType": "application/json",
        }
        if only_if_absent:
            request["IfNoneMatch"] = "*"
        try:
            self._client.put_object(**request)
        except ClientError as exc:
            if only_if_absent and exc.response.get("Error", {}).get("Code") in {"PreconditionFailed", "412"}:
                return False
            raise
        return True
