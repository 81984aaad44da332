"""The forwarder's aliases in local mode: the real SSM alias store, refreshed when the file changes.

The deployed forwarder caches aliases for ``SESAME_ALIAS_CACHE_SECONDS``; re-reading SSM for
every message (a cache of 0) would cost a GetParametersByPath per message. Here the store
caches for a day and is replaced when the aliases file's modification time changes: the
file is written to SSM again and the next message reads it from there, through the
function's own (faulty, if asked) SSM client.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sesame.core.alias_config import AliasConfig, load_aliases_file
from sesame.core.aliases import AliasConfigError
from sesame.local.aws.resources import write_aliases

CACHE_SECONDS = 24 * 3600


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class FileBackedAliases:
    def __init__(
        self,
        file: Path,
        current: AliasConfig,
        *,
        ssm_admin: Any,
        alias_path: str,
        make_store: Callable[[], Any],
        note: Callable[[str], None],
    ) -> None:
        self.file = file
        self.current = current
        self.ssm_admin = ssm_admin
        self.alias_path = alias_path
        self.make_store = make_store
        self.note = note
        self._mtime = mtime(file)
        self._store = make_store()

    def load(self) -> AliasConfig:
        changed = mtime(self.file)
        if changed != self._mtime:
            self._mtime = changed
            try:
                config = load_aliases_file(self.file)
            except AliasConfigError as exc:
                self.note(f"aliases not reloaded, keeping the previous ones: {exc}")
            else:
                write_aliases(self.ssm_admin, config, self.alias_path)
                self.current = config
                self._store = self.make_store()
                self.note(f"aliases reloaded from {self.file} ({len(config.table.aliases)} aliases)")
        return self._store.load()
