"""The index records the functions write, caught on their way to S3.

A hook on the functions' S3 clients keeps the body of each successful ``PutObject`` under
the index prefix (the same bytes S3 stores), so local mode mirrors the record into the
state folder without reading it back. A record whose PutObject answer was lost is not seen
here; local mode then reads it from the bucket.
"""

from __future__ import annotations

import threading
from typing import Any


class IndexCatcher:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._pending = threading.local()
        self._caught: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        if client.meta.service_model.service_name != "s3":
            return
        client.meta.events.register("before-parameter-build.s3.PutObject", self._before)
        client.meta.events.register("after-call.s3.PutObject", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        key, body = params.get("Key"), params.get("Body")
        keep = isinstance(key, str) and key.startswith(self.prefix) and isinstance(body, bytes | bytearray)
        self._pending.put = (key, bytes(body)) if keep else None  # type: ignore[arg-type]

    def _after(self, http_response: Any, **_: Any) -> None:
        put = getattr(self._pending, "put", None)
        self._pending.put = None
        if put is not None and 200 <= getattr(http_response, "status_code", 0) < 300:
            with self._lock:
                self._caught[put[0]] = put[1]

    def take(self, key: str) -> bytes | None:
        with self._lock:
            return self._caught.pop(key, None)
