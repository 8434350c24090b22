"""Ledger part: orders (being written)."""

from __future__ import annotations

from ledger.activity import ActivityMixin


class OrdersMixin(ActivityMixin):
    """Placeholder until this part lands."""
