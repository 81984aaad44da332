"""Message-sized buffers for the adapters."""

from __future__ import annotations

import mmap


def anonymous_buffer(size: int) -> mmap.mmap | bytearray:
    """``size`` writable bytes of fresh process memory, not zero-filled by Python (an empty
    ``bytearray`` for 0: a map cannot be empty).

    A ``bytearray(size)`` is zero-filled before anything is written: one more pass over
    tens of megabytes, and a message-sized allocation (over glibc's 32 MiB mmap threshold
    ceiling) is a fresh mapping anyway. An anonymous map is zeroed page by page by the
    kernel as it is first written. MAP_PRIVATE makes it plain process memory (a shared
    anonymous map is shmem); Windows has no ``flags`` argument and maps privately anyway.
    """
    if size == 0:
        return bytearray()
    flags = getattr(mmap, "MAP_PRIVATE", None)
    return mmap.mmap(-1, size) if flags is None else mmap.mmap(-1, size, flags=flags)
