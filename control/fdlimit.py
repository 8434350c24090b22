"""The daemon's open-file limit: raise the soft ``RLIMIT_NOFILE`` to the hard limit at start and say what it got.

systemd starts services with a soft limit of 1,024 files unless the unit sets ``LimitNOFILE=`` (ours does);
a daemon that holds a ledger, log files, an embedded simulator, exchange connections and a control API can
run out of descriptors at that size, and then nothing accepts or connects (not even the kill switch's
cancel-all). Raising the soft limit needs no privilege: the hard limit is the ceiling.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from loguru import logger

log = logger.bind(actor="main")
UNLIMITED_TARGET = 1 << 20  # a hard limit of "infinity" is not a valid soft value for files on Linux


@dataclass(frozen=True, slots=True)
class FileLimit:
    """The soft limit before and after the attempt, the hard limit, and why it was not raised (or None)."""

    before: int
    soft: int
    hard: int
    problem: str | None = None


def raise_file_limit() -> FileLimit:
    """Set the soft ``RLIMIT_NOFILE`` to the hard limit and log the result.

    Never raises: when the kernel or a seccomp filter refuses (``OSError``/``ValueError``), the old limit is
    kept and a warning says so (the control server then fits its connection cap under it).
    """
    before, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if before != resource.RLIM_INFINITY and before >= target:
        log.info("open-file limit: {} (hard {})", before, _text(hard))
        return FileLimit(before, before, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        log.warning("open-file limit stays {} (hard {}): raising it failed ({}); set LimitNOFILE= in the unit",
                    before, _text(hard), problem)
        return FileLimit(before, before, hard, problem)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    log.info("open-file limit raised from {} to {} (hard {})", before, soft, _text(hard))
    return FileLimit(before, soft, hard)


def _text(limit: int) -> str:
    return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)
