"""Specification of giving freed heap memory back: on glibc the free pages of the heap leave the process."""

from __future__ import annotations

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
