"""Giving freed heap memory back to the operating system after bulk work.

A reconciliation pass parses every page of fills in its overlap window (thousands of objects a page) and
frees them again. glibc's allocator keeps most of what a thread frees inside its arena, and with one arena
per busy thread the daemon's resident memory ratchets up to the largest pass it has seen.
:func:`release_free_memory` asks glibc (``malloc_trim(0)``) to return the free pages of every arena; it is
called once after each pass (a few milliseconds). Elsewhere (musl, macOS) it does nothing.

Failure: never raises; returns False when the call is not available.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_loaded = False


def _load() -> Callable[[int], int] | None:
    global _trim, _loaded
    if not _loaded:
        _loaded = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            fn = libc.malloc_trim
            fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
            _trim = fn
        except (OSError, AttributeError):
            _trim = None
    return _trim


def release_free_memory() -> bool:
    """Return the heap's free pages to the operating system; True if glibc's ``malloc_trim`` ran."""
    fn = _load()
    if fn is None:
        return False
    fn(0)
    return True
