"""The outbox: one ``.eml`` file per destination, the exact bytes SES would send."""

from __future__ import annotations

import re
import threading
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def safe_name(text: str, limit: int = 120) -> str:
    """``text`` reduced to characters safe in a file name on any system."""
    cleaned = _UNSAFE.sub("_", text).lstrip(".") or "_"
    return cleaned[:limit]


class Outbox:
    """``<received message id>--<destination>.eml`` per destination.

    A second copy of the same message for the same destination is written beside the first
    (``...--dest.2.eml``), never over it, so duplicate deliveries stay visible. Copies a relay
    refused move to ``bounced/``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, destination: str, data: bytes) -> Path:
        base = f"{safe_name(name, 80)}--{safe_name(destination)}"
        with self._lock:
            self.prepare()
            path = self.folder / f"{base}.eml"
            n = 1
            while path.exists():
                n += 1
                path = self.folder / f"{base}.{n}.eml"
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(data)
            partial.replace(path)
        return path

    def move_to_bounced(self, path: Path) -> Path:
        target = self.folder / "bounced" / path.name
        with self._lock:
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
        return target
