"""Ledger part: positions (being written)."""

from __future__ import annotations

from ledger.activity import ActivityMixin


class PositionsMixin(ActivityMixin):
    """Placeholder until this part lands."""
