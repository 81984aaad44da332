"""The state folder (default ``.sesame-local/``): what outlives a local run.

::

    endpoints.json                  the running stack: endpoints, names, environments (removed at stop)
    index/YYYY/MM/DD/<id>.json      every index record the functions wrote, the S3 object's bytes
    feedback/YYYY/MM/DD/<kind>-*.json every feedback record the feedback function wrote, likewise
    error/<id>.eml, error/<id>.json the dead-letter function's copy of a failed message and its context
    faults.jsonl                    every injected fault (this run)
    deliveries.jsonl                every delivery result of the SES stand-in (this run)
    moto.log                        the moto child's stderr (this run)

The bucket lives in the moto child and goes when local mode stops; these stay, so
``sesame query --local`` can read the index and a failed message can be looked at later.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENDPOINTS = "endpoints.json"


class StateDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def endpoints(self) -> Path:
        return self.root / ENDPOINTS

    @property
    def faults_log(self) -> Path:
        return self.root / "faults.jsonl"

    @property
    def deliveries_log(self) -> Path:
        return self.root / "deliveries.jsonl"

    @property
    def moto_log(self) -> Path:
        return self.root / "moto.log"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def errors(self) -> Path:
        return self.root / "error"

    def prepare(self) -> None:
        for folder in (self.root, self.index, self.feedback, self.errors):
            folder.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# sesame local's state: nothing here belongs in version control\n*\n")
        for log in (self.faults_log, self.deliveries_log, self.moto_log):
            log.write_bytes(b"")

    def index_path(self, key: str, prefix: str) -> Path:
        """Where the S3 index object ``key`` (under ``prefix``) is mirrored."""
        return self.index / _relative(key.removeprefix(prefix))

    def mirror_path(self, folder: Path, key: str, prefix: str) -> Path:
        """Where the S3 object ``key`` (under ``prefix``) is mirrored inside ``folder``."""
        return folder / _relative(key.removeprefix(prefix))

    def error_path(self, key: str, prefix: str) -> Path:
        return self.errors / _relative(key.removeprefix(prefix))

    def write(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, path)
        return path

    def write_endpoints(self, data: dict[str, Any]) -> None:
        self.write(self.endpoints, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def remove_endpoints(self) -> None:
        self.endpoints.unlink(missing_ok=True)


def read_endpoints(root: str | Path = ".sesame-local") -> dict[str, Any] | None:
    """The running local stack's description, or None when none runs from ``root``."""
    try:
        data = json.loads((Path(root) / ENDPOINTS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _relative(key: str) -> Path:
    parts = [p for p in key.split("/") if p not in ("", ".", "..")]
    return Path(*parts) if parts else Path("_")
