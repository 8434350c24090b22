"""Ledger part: outbox (being written)."""

from __future__ import annotations

from ledger.activity import ActivityMixin


class OutboxMixin(ActivityMixin):
    """Placeholder until this part lands."""
