"""Keeping the daemon's heap from creeping: an allocator tuned at start, and freed memory given back after
bulk work.

:func:`tune_allocator` (called once by ``kalshi-guard run``, before any thread starts) limits glibc to two
malloc arenas and fixes its mmap threshold at 64 KiB. By default glibc gives every busy thread an arena of
its own and raises the mmap threshold to the largest block it has freed, so the pages of fills a
reconciliation reads (hundreds of KiB each) land in the heap after the first pass and leave it
fragmented; with a fixed threshold each such buffer is its own mapping, returned whole when freed. An
operator's ``MALLOC_ARENA_MAX`` / ``MALLOC_MMAP_THRESHOLD_`` in the environment wins over these defaults.

A reconciliation pass parses every page of fills in its overlap window (thousands of objects a page) and
frees them again. glibc's allocator keeps most of what a thread frees inside its arena, and with one arena
per busy thread the daemon's resident memory ratchets up to the largest pass it has seen.
:func:`release_free_memory` asks glibc (``malloc_trim(0)``) to return the free pages of every arena; it is
called once after each pass (a few milliseconds). Elsewhere (musl, macOS) it does nothing.

Failure: neither function raises; each returns False when the call is not available.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable

ARENA_MAX = 2
MMAP_THRESHOLD = 64 * 1024
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # glibc's mallopt parameter numbers (malloc.h)

_trim: Callable[[int], int] | None = None
_mallopt: Callable[[int, int], int] | None = None
_loaded = False


def _load() -> Callable[[int], int] | None:
    global _trim, _mallopt, _loaded
    if not _loaded:
        _loaded = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            trim, opt = libc.malloc_trim, libc.mallopt
            trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
            opt.argtypes, opt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            _trim, _mallopt = trim, opt
        except (OSError, AttributeError):
            _trim = _mallopt = None
    return _trim


def tune_allocator(arena_max: int = ARENA_MAX, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Limit glibc's malloc arenas and fix its mmap threshold (see the module's text); a setting the
    environment already makes is left as it is. True if glibc took the settings it was given."""
    _load()
    if _mallopt is None:
        return False
    ok = True
    if "MALLOC_ARENA_MAX" not in os.environ:
        ok = _mallopt(_M_ARENA_MAX, arena_max) == 1 and ok
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        ok = _mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1 and ok
    return ok


def release_free_memory() -> bool:
    """Return the heap's free pages to the operating system; True if glibc's ``malloc_trim`` ran."""
    fn = _load()
    if fn is None:
        return False
    fn(0)
    return True
