"""A message's final state, written up: its outcomes (from its index record), its copies in
the outbox, and for a failure the kept copy and the operator report.

The index record is the forwarder's (or the dead-letter function's) own record, mirrored
into the state folder; the copies are found by the send's ``sesame-message`` tag, or by the
SES message ids the outcomes name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sesame import config as env_names
from sesame.local.sending.delivery import DeliveryAgent
from sesame.local.state import StateDir
from sesame.local.tracker import Tracked
from sesame.local.wiring import Wiring


class FinalStates:
    def __init__(
        self,
        wiring: Wiring,
        env: dict[str, dict[str, str]],
        state: StateDir,
        delivery: DeliveryAgent,
        get: Callable[[str, str], bytes | None],
        operator_email: str,
    ) -> None:
        self.wiring = wiring
        self.env = env
        self.state = state
        self.delivery = delivery
        self._get = get
        self.operator_email = operator_email
        # message id -> where its index record is mirrored, and the outcomes its line showed
        self._printed: dict[str, tuple[Path, list[Any] | None]] = {}

    def summarize(self, tracked: Tracked) -> dict[str, Any]:
        received = tracked.accepted.received
        record, index_path = self._mirror_index(received.message_id, received.received_at)
        outcomes = list(record.get("outcomes") or []) if record else []
        _, mirrored = self._index_place(received.message_id, received.received_at)
        self._printed[received.message_id] = (mirrored, record.get("outcomes") if record else None)
        if record is None and tracked.accepted.events:
            detail = tracked.error or "the forwarder wrote no index record"
            outcomes = [
                {"recipient": r.lower(), "status": "failed", "reason": "no-index-record", "detail": detail}
                for _, event in tracked.accepted.events
                for r in event["Records"][0]["ses"]["receipt"]["recipients"]
            ]
        outcomes += [
            {"recipient": r.lower(), "status": "dropped", "reason": "no-lambda-action", "detail": f"rule {rule}"}
            for r, rule in tracked.accepted.not_invoked
        ]
        summary: dict[str, Any] = {
            "message_id": received.message_id,
            "source": received.source,
            "recipients": list(received.recipients),
            "subject": record.get("subject") if record else None,
            "size": len(received.original),
            "outcomes": outcomes,
            "attempts": tracked.attempts,
            "outbox": [str(p) for p in self._outbox_files(received.message_id, outcomes)],
        }
        if index_path is not None:
            summary["index"] = str(index_path)
        if record and record.get("defects"):
            summary["defects"] = list(dict.fromkeys(d.get("kind") for d in record["defects"]))
        if tracked.error is not None:
            summary["error"] = tracked.error
            summary["kept"] = str(self._keep_failed(received.message_id, tracked.reported))
            if tracked.reported:
                reports = self._operator_reports(received.message_id)
                if reports:
                    summary["report"] = str(reports[-1])
            summary["unreported"] = tracked.unreported
        return summary

    def _outbox_files(self, message_id: str, outcomes: list[dict[str, Any]]) -> list[Path]:
        """The message's copies: by its ``sesame-message`` tag, or by the SES ids its outcomes name."""
        names = [message_id, *(i for o in outcomes for i in o.get("ses_message_ids") or ())]
        return list(dict.fromkeys(p for name in names for p in self.delivery.files_for(name)))

    def rewritten(self, message_id: str) -> list[dict[str, Any]] | None:
        """The outcomes of the message's index record as the state folder holds it now, when
        they differ from those its line showed: ``sesame redrive --local`` ran the message
        again since (its S3 client mirrors the record it rewrites). None when unchanged."""
        printed = self._printed.get(message_id)
        if printed is None:
            return None
        path, outcomes = printed
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        latest = record.get("outcomes") if isinstance(record, dict) else None
        if not isinstance(latest, list) or latest == outcomes:
            return None
        return [o for o in latest if isinstance(o, dict)]

    def _index_place(self, message_id: str, received_at: datetime) -> tuple[str, Path]:
        """The S3 key of the message's index record, and where the state folder mirrors it."""
        env = self.env[self.wiring.function_id]
        prefix = env.get(env_names.INDEX_PREFIX, env_names.DEFAULT_INDEX_PREFIX)
        key = f"{prefix}{received_at.astimezone(UTC):%Y/%m/%d}/{message_id}.json"
        return key, self.state.index_path(key, prefix)

    def _mirror_index(self, message_id: str, received_at: datetime) -> tuple[dict[str, Any] | None, Path | None]:
        env = self.env[self.wiring.function_id]
        key, path = self._index_place(message_id, received_at)
        try:  # mirrored as S3 took it (sesame.local.mirror.StateMirror)
            data: bytes | None = path.read_bytes()
        except FileNotFoundError:  # its PutObject answer was lost, so not seen: read it back
            data = self._get(env[env_names.BUCKET], key)
            if data is None:
                return None, None
            path = self.state.write(path, data)
        try:
            return json.loads(data), path
        except ValueError:
            return None, path

    def _keep_failed(self, message_id: str, reported: bool) -> Path:
        """The state folder's copy of a failed message: the dead-letter function's, else the stored one."""
        spec = self.wiring.dead_letter_function
        if reported and spec is not None:
            env = self.env[spec.logical_id]
            prefix = env.get(env_names.ERROR_PREFIX, env_names.DEFAULT_ERROR_PREFIX)
            kept = None
            for suffix in (".json", ".eml"):
                key = f"{prefix}{message_id}{suffix}"
                data = self._get(env[env_names.BUCKET], key)
                if data is not None:
                    kept = self.state.write(self.state.error_path(key, prefix), data)
            if kept is not None and kept.suffix == ".eml":
                return kept
        env = self.env[self.wiring.function_id]
        prefix = env.get(env_names.MESSAGE_PREFIX, env_names.DEFAULT_MESSAGE_PREFIX)
        data = self._get(env[env_names.BUCKET], f"{prefix}{message_id}") or b""
        return self.state.write(self.state.errors / f"{message_id}.eml", data)

    def _operator_reports(self, message_id: str) -> list[Path]:
        operator = self.operator_email
        needle = message_id.encode()
        return [p for p in self.delivery.files_to(operator) if needle in _read(p)]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
