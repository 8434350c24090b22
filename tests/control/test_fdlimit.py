"""The daemon's open-file limit: the soft RLIMIT_NOFILE is raised to the hard limit at start."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from kalshi_guard.control.fdlimit import raise_file_limit


@pytest.fixture
def low_soft_limit() -> Iterator[int]:
    """This process's soft limit lowered to 512 for the test (the hard limit untouched), then restored."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 512:
        pytest.skip(f"the hard file limit here ({hard}) leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class TestRaiseFileLimit:
    def test_the_soft_limit_is_raised_to_the_hard_one(self, low_soft_limit: int) -> None:
        """From 512, the soft limit becomes the hard limit and the result says both."""
        got = raise_file_limit()
        assert got.before == 512
        assert got.problem is None
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == got.soft
        if low_soft_limit != resource.RLIM_INFINITY:
            assert got.soft == low_soft_limit

    def test_an_already_raised_limit_is_left_alone(self, low_soft_limit: int) -> None:
        """A second call changes nothing (the unit's LimitNOFILE= sets soft = hard: no system call needed)."""
        first = raise_file_limit()
        second = raise_file_limit()
        assert second.before == second.soft == first.soft
