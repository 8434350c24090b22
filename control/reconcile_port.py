"""The daemon's reconciliation doors: a pass on demand, the last report, and the reset's clean check.

Mixed into ``control.daemon.Daemon`` (it provides ``sup``); the HTTP routes and the CLI call these.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from kalshi_guard.actors.messages import LastReconcile, ReconcileNow, ReconcileResult
from kalshi_guard.core.errors import ReconcileError

RECONCILE_TIMEOUT_S = 120.0


def report_of(result: ReconcileResult) -> dict[str, Any]:
    """The JSON report of a pass (a minimal one when the reconciler could not make one)."""
    if result.report is not None:
        return dict(result.report)  # type: ignore[call-overload]
    return {"ok": result.ok, "summary": result.summary, "error": None if result.ok else result.summary,
            "started_at": None, "duration_ms": 0, "pages": 0, "discrepancies": []}


class ReconcilePort:
    """Reconciliation methods of the daemon's ``ControlPort``."""

    sup: Any
    last_startup_reconcile: str | None = None  # why the start-up pass has not let the gate open (status)

    def _reconcile(self, reason: str) -> ReconcileResult:
        try:
            return self.sup.peers["reconciler"].ask(ReconcileNow(reason), timeout=RECONCILE_TIMEOUT_S)  # type: ignore[no-any-return]
        except Exception as exc:
            logger.error("reconciler unavailable: {!r}", exc)
            return ReconcileResult(False, f"reconciler unavailable: {type(exc).__name__}")

    def reconcile_now(self, source: str) -> dict[str, Any]:
        """Run a full pass now and return its JSON report."""
        return report_of(self._reconcile(f"on demand ({source})"))

    def reconcile_last(self) -> dict[str, Any] | None:
        """The last pass's report, or None before the first (or while the reconciler is down)."""
        try:
            report = self.sup.peers["reconciler"].ask(LastReconcile(), timeout=10)
        except Exception:
            return None
        return None if report is None else dict(report)

    def guardian_caught_up(self) -> None:
        """Wait until the guardian has handled what a pass told it (a trip lands before the gate opens)."""
        from kalshi_guard.actors.messages import ApiSuccess

        try:
            self.sup.peers["guardian"].ask(ApiSuccess("reconciler", 0), timeout=10)
        except Exception as exc:
            logger.error("guardian did not answer after reconciliation: {!r}", exc)

    def require_clean(self, source: str) -> None:
        """A reset's precondition: a pass now, complete and with nothing standing. Raises ReconcileError
        carrying the standing discrepancies otherwise (the HTTP API answers 409 with them)."""
        result = self._reconcile(f"reset requested by {source}")
        if not result.clean:
            rows = tuple(d for d in report_of(result).get("discrepancies", []) if not d.get("resolved", False))
            raise ReconcileError(f"reconciliation is not clean: {result.summary}", rows)
