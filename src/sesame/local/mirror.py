"""The records the functions write, mirrored into the state folder on their way to S3.

A hook on the functions' S3 clients writes the body of each successful ``PutObject`` under
the index or feedback prefix (the same bytes S3 stores) into the state folder, so local mode
has them without reading them back. A record whose PutObject answer was lost is not seen
here; local mode then reads it from the bucket.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sesame.local.state import StateDir


class StateMirror:
    """Writes what a client puts under some S3 prefixes into the state folder as soon as S3
    has it (``{prefix: folder}``): the index records and the feedback records, so
    ``sesame query --local`` reads what the bucket holds, also after a ``sesame redrive
    --local`` run in another process rewrote a record."""

    def __init__(self, state: StateDir, folders: Mapping[str, Path]) -> None:
        self.state = state
        self.folders = dict(folders)
        self._pending = threading.local()

    def attach(self, client: Any) -> None:
        if client.meta.service_model.service_name != "s3":
            return
        client.meta.events.register("before-parameter-build.s3.PutObject", self._before)
        client.meta.events.register("after-call.s3.PutObject", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        key, body = params.get("Key"), params.get("Body")
        self._pending.put = None
        if isinstance(key, str) and isinstance(body, bytes | bytearray):
            for prefix, folder in self.folders.items():
                if key.startswith(prefix):
                    self._pending.put = (self.state.mirror_path(folder, key, prefix), bytes(body))
                    return

    def _after(self, http_response: Any, **_: Any) -> None:
        put = getattr(self._pending, "put", None)
        self._pending.put = None
        if put is not None and 200 <= getattr(http_response, "status_code", 0) < 300:
            self.state.write(*put)


def mirrored_folders(state: StateDir, environments: Iterable[Mapping[str, str]]) -> dict[str, Path]:
    """``{prefix: folder}`` for the index and feedback records, by the functions' environments."""
    from sesame import config

    def prefix(name: str, default: str) -> str:
        return next((env[name] for env in environments if env.get(name)), default)

    environments = list(environments)
    return {
        prefix(config.INDEX_PREFIX, config.DEFAULT_INDEX_PREFIX): state.index,
        prefix(config.FEEDBACK_PREFIX, config.DEFAULT_FEEDBACK_PREFIX): state.feedback,
    }
