"""The forwarder's aliases in local mode: written to SSM again when the aliases file changes.

The deployed forwarder caches aliases for ``SESAME_ALIAS_CACHE_SECONDS``; re-reading SSM for
every message (a cache of 0) would cost a GetParametersByPath per message. Here each
execution environment keeps its SSM alias store for a day
(:class:`sesame.local.lambdas.container.GenerationAliases`) and makes it again when the
generation handed along with an event changes. Before each event is handed over,
:meth:`AliasFile.generation` looks at the aliases file's modification time: on a change it
loads the file, writes it to SSM and only then moves to the next generation, so the event
that sees the new generation reads the new aliases from SSM, through the function's own
(faulty, if asked) SSM client.
"""

from __future__ import annotations

import threading
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


class AliasFile:
    def __init__(
        self,
        file: Path,
        current: AliasConfig,
        *,
        ssm_admin: Any,
        alias_path: str,
        note: Callable[[str], None],
    ) -> None:
        self.file = file
        self.current = current
        self.ssm_admin = ssm_admin
        self.alias_path = alias_path
        self.note = note
        self._mtime = mtime(file)
        self._generation = 0
        self._lock = threading.Lock()  # one writer to SSM at a time, whichever event comes first

    def generation(self) -> int:
        """The aliases' generation, after writing a changed file to SSM."""
        with self._lock:
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
                    self._generation += 1
                    self.note(f"aliases reloaded from {self.file} ({len(config.table.aliases)} aliases)")
            return self._generation
