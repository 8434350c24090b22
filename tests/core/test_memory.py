"""Specification of the heap's care on glibc: the allocator tuned at start, freed pages leaving the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_guard.core.memory import release_free_memory


def rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no RssAnon in /proc/self/status")


def test_freed_heap_pages_go_back_to_the_system() -> None:
    """64 MB in 1 KiB blocks (malloc's heap, not its mmap), every 64th kept (so the heap cannot shrink from
    its top alone): after they are freed, the trim gives back most of what they took."""
    if not release_free_memory():
        pytest.skip("not glibc: nothing to trim")
    before = rss_anon_mb()
    blocks = [bytes(1024) for _ in range(64 * 1024)]
    kept = blocks[::64]
    grown = rss_anon_mb()
    del blocks
    assert grown - before > 48, "the blocks took their memory"
    assert release_free_memory()
    after = rss_anon_mb()
    assert grown - after > 32, f"RSS {before:.0f} -> {grown:.0f} -> {after:.0f} MB after the trim"
    assert len(kept) == 1024


PROBE = """
import ctypes, sys
from kalshi_guard.core.memory import tune_allocator
class MI2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MI2
tuned = tune_allocator() if sys.argv[1] == "tune" else None
big = bytes(8 << 20)
del big
before = libc.mallinfo2().hblks
page = bytes(1 << 20)
print(tuned, libc.mallinfo2().hblks - before)
"""


def mapped_after_a_larger_free(mode: str, **env: str) -> tuple[str, int]:
    """In a fresh interpreter: free an 8 MiB buffer, then hold a 1 MiB one (a page of fills after the
    first pass); (tune_allocator's answer, how many mmapped blocks the 1 MiB buffer added)."""
    if not Path("/proc/self/status").exists() or not release_free_memory():
        pytest.skip("not glibc")
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}, timeout=60).stdout.split()
    return out[0], int(out[1])


class TestTuneAllocator:
    def test_untuned_glibc_puts_the_next_large_buffer_in_the_heap(self) -> None:
        """What the tuning is for: glibc raises its mmap threshold to the largest block freed, so the next
        large buffer lands in (and fragments) the heap."""
        assert mapped_after_a_larger_free("plain") == ("None", 0)

    def test_tuned_every_large_buffer_is_its_own_mapping(self) -> None:
        """Tuned, a buffer above 64 KiB is mapped on its own and unmapped when freed, whatever was freed
        before it."""
        assert mapped_after_a_larger_free("tune") == ("True", 1)

    def test_the_operators_environment_wins(self) -> None:
        """An mmap threshold set in the environment (here 16 MiB) is left as it is."""
        _tuned, mapped = mapped_after_a_larger_free("tune", MALLOC_MMAP_THRESHOLD_=str(16 << 20))
        assert mapped == 0
