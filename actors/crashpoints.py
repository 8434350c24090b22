"""Named crash points for crash-safety tests: ``KALSHI_GUARD_TEST_CRASH_AT=<name>`` makes the process
SIGKILL itself when it reaches that point (optionally only at the N-th pass: ``<name>:N``).

Unset (always, in production) this is a dict lookup. The points sit where a real crash is most
dangerous: after the write-ahead INTENT, after the request left but before the response was read, after
the response but before anything was booked, and between the orders of a batch.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("KALSHI_GUARD_TEST_CRASH_AT", "")
_NAME, _, _NTH = _SPEC.partition(":")
_COUNTS: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process if the environment names this point (and this is its N-th pass)."""
    if not _NAME or name != _NAME:
        return
    _COUNTS[name] = _COUNTS.get(name, 0) + 1
    if _COUNTS[name] >= int(_NTH or 1):
        os.kill(os.getpid(), signal.SIGKILL)
