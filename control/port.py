"""What the control server needs from the running daemon (implemented by ``supervisor.Supervisor``).

The server holds a ``ControlPort`` and never touches actors directly. Every method is thread-safe and
returns JSON-safe values; none blocks longer than a few seconds.
"""

from __future__ import annotations

from typing import Any, Protocol


class ControlPort(Protocol):
    """The daemon as seen by the operator doors."""

    def status(self) -> dict[str, Any]:
        """Gate (state, reason, source, changed_at), children, restarts, mode, exchange URLs."""
        ...

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        """Close the gate now (before returning) and have the guardian halt, cancel, alert and audit."""
        ...

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        """Lift a HALTED gate after a clean reconciliation; audited. Raises ValueError on empty reason."""
        ...

    def limits(self) -> list[dict[str, Any]]:
        """Every kill-switch trigger: code, config key, value, limit, distance, action (optional method)."""
        ...
