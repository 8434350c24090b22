"""The ``Ledger`` facade: opening and schema versioning, the persisted gate and daemon runs.

The other parts (activity, orders, fills/positions, outbox) are mixins in their own modules; every public
method runs in one short transaction and raises :class:`actors.errors.LedgerError` on failure, with
nothing partial committed. A ``Ledger`` is thread-safe: actors on several threads may share one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, func, insert, inspect, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.core.gate import GateSnapshot, GateState
from kalshi_guard.ledger.activity import ActivityMixin, insert_for
from kalshi_guard.ledger.engine import create_ledger_engine, describe_error
from kalshi_guard.ledger.journal import JournalMixin
from kalshi_guard.ledger.orders import OrdersMixin
from kalshi_guard.ledger.outbox import OutboxMixin
from kalshi_guard.ledger.positions import PositionsMixin
from kalshi_guard.ledger.reconcile import ReconcileMixin
from kalshi_guard.ledger.records import RunStatus
from kalshi_guard.ledger.reports import ReportsMixin
from kalshi_guard.ledger.risk import RiskMixin
from kalshi_guard.ledger.schema import SCHEMA_VERSION, Base, GateHistoryRow, GateRow, RunRow, SchemaVersion
from kalshi_guard.ledger.types import to_utc

_GATE_ROW = 1
_PG_SCHEMA_LOCK = 7_420_001  # advisory lock key serialising concurrent schema creation


class Ledger(RiskMixin, PositionsMixin, OrdersMixin, OutboxMixin, ReconcileMixin, ActivityMixin, JournalMixin,
             ReportsMixin):
    """The daemon's durable memory. Build one with :meth:`Ledger.open`."""

    _run_id: int | None = None

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], float] = time.time, synchronous: str = "NORMAL") -> Ledger:
        """Open (creating idempotently) the ledger at ``url`` and return it.

        ``sqlite:///path/ledger.sqlite`` (parent directories are created) or
        ``postgresql+psycopg://user@host/db`` (``postgresql://`` means the same). Raises ``LedgerError``
        when the database cannot be reached or created, or when its recorded schema version is newer than
        this code's (or older, with no migration): nothing is changed in that case. ``synchronous`` is
        SQLite's ``NORMAL`` or ``FULL`` (see ``ledger.engine``); PostgreSQL ignores it.
        """
        engine = create_ledger_engine(url, synchronous)
        try:
            with engine.begin() as conn:
                _ensure_schema(conn, clock())
        except LedgerError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            raise LedgerError(f"opening the ledger failed: {describe_error(exc)}") from exc
        return cls(engine, clock)

    def schema_version(self) -> int:
        """The newest schema version recorded in the database; raises ``LedgerError`` on failure."""
        with self._read("schema_version") as s:
            return int(s.scalar(select(func.max(SchemaVersion.version))) or 0)

    # -- the trading gate --------------------------------------------------------------------------

    def load_gate(self) -> GateSnapshot | None:
        """The persisted gate, or ``None`` when none was ever saved.

        Raises ``LedgerError`` when the database cannot be read or holds an unknown state (the caller
        must then treat the gate as HALTED: fail closed).
        """
        with self._read("load_gate") as s:
            row = s.get(GateRow, _GATE_ROW)
            if row is None:
                return None
            try:
                state = GateState(row.state)
            except ValueError:
                raise LedgerError(f"the persisted gate holds an unknown state {row.state!r}") from None
            return GateSnapshot(state, row.reason, row.source, row.changed_at.timestamp())

    def save_gate(self, snap: GateSnapshot) -> None:
        """Persist ``snap`` as the gate and append it to the gate history (usable as the gate's ``persist``).

        Saves can race (the gate calls ``persist`` outside its lock), so a non-HALTED snapshot older than a
        stored HALTED one is only recorded in the history, never applied: a late write cannot unlatch the
        gate. Raises ``LedgerError`` (nothing written) on failure.
        """
        with self._write("save_gate") as s:
            s.add(
                GateHistoryRow(
                    state=snap.state.value,
                    reason=snap.reason,
                    source=snap.source,
                    changed_at=to_utc(snap.changed_at),
                    recorded_at=self._now(),
                )
            )
            s.execute(
                insert_for(self.dialect, GateRow)
                .values(id=_GATE_ROW, state=snap.state.value, reason=snap.reason, source=snap.source,
                        changed_at=to_utc(snap.changed_at))
                .on_conflict_do_nothing(index_elements=["id"])
            )
            row = s.scalars(select(GateRow).where(GateRow.id == _GATE_ROW).with_for_update()).one()
            stale = (
                row.state == GateState.HALTED.value
                and snap.state is not GateState.HALTED
                and snap.changed_at < row.changed_at.timestamp()
            )
            if stale:
                return
            row.state, row.reason, row.source = snap.state.value, snap.reason, snap.source
            row.changed_at = to_utc(snap.changed_at)

    def gate_history(self, limit: int = 100) -> list[GateSnapshot]:
        """The newest ``limit`` saved gate snapshots, newest first; raises ``LedgerError`` on failure."""
        q = select(GateHistoryRow).order_by(GateHistoryRow.id.desc()).limit(max(0, int(limit)))
        with self._read("gate_history") as s:
            return [
                GateSnapshot(GateState(r.state), r.reason, r.source, r.changed_at.timestamp())
                for r in s.scalars(q)
            ]

    # -- daemon runs -------------------------------------------------------------------------------

    def begin_run(self, pid: int) -> int:
        """Record this process's run as ``RUNNING`` and return its id.

        Any run still marked ``RUNNING`` is marked ``UNCLEAN`` first (it never ended). Call
        :meth:`previous_run_unclean` before or after this: it ignores the current run. Raises
        ``LedgerError`` (nothing written) on failure or when this ledger already began a run.
        """
        if self._run_id is not None:
            raise LedgerError("begin_run called twice on the same ledger")
        with self._write("begin_run") as s:
            s.execute(
                update(RunRow)
                .where(RunRow.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.UNCLEAN.value)
            )
            row = RunRow(pid=int(pid), status=RunStatus.RUNNING.value, started_at=self._now())
            s.add(row)
            s.flush()
            run_id = row.id
        self._run_id = run_id
        return run_id

    def end_run(self, clean: bool) -> None:
        """Mark the current run ended: ``CLEAN`` only when ``clean`` is True.

        Raises ``LedgerError`` when no run was begun or the write fails (the run then stays RUNNING, and the
        next start treats it as unclean: fail closed).
        """
        if self._run_id is None:
            raise LedgerError("end_run without begin_run")
        status = RunStatus.CLEAN if clean else RunStatus.UNCLEAN
        with self._write("end_run") as s:
            s.execute(
                update(RunRow)
                .where(RunRow.id == self._run_id)
                .values(status=status.value, ended_at=self._now())
            )

    def run_hours(self, now: float) -> float:
        """Hours of daemon runs recorded in this ledger (a run still going counts up to ``now``; an unclean one
        up to its start only). Raises ``LedgerError`` on failure."""
        with self._read("run_hours") as s:
            total = 0.0
            for row in s.scalars(select(RunRow)):
                if row.ended_at is not None:
                    total += max(0.0, row.ended_at.timestamp() - row.started_at.timestamp())
                elif row.status == RunStatus.RUNNING.value:
                    total += max(0.0, now - row.started_at.timestamp())
            return total / 3600.0

    def previous_run_unclean(self) -> bool:
        """True when the latest run before this process's own never ended cleanly (False on first boot).

        Raises ``LedgerError`` when the database cannot be read (the caller should boot HALTED then).
        """
        q = select(RunRow.status).order_by(RunRow.id.desc()).limit(1)
        if self._run_id is not None:
            q = q.where(RunRow.id != self._run_id)
        with self._read("previous_run_unclean") as s:
            status = s.scalar(q)
        return status is not None and status != RunStatus.CLEAN.value


def _ensure_schema(conn: Connection, now: float) -> None:
    """Create missing tables and record the schema version, refusing a newer or unmigratable database."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK})
    current: int | None = None
    if inspect(conn).has_table(SchemaVersion.__tablename__):
        current = conn.scalar(select(func.max(SchemaVersion.version)))
    if current is not None and current > SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger's schema version {current} is newer than this code's {SCHEMA_VERSION}: "
            "upgrade kalshi-guard"
        )
    if current is not None and current < SCHEMA_VERSION:
        raise LedgerError(f"no migration from ledger schema version {current} to {SCHEMA_VERSION}")
    Base.metadata.create_all(conn)
    if current is None:
        conn.execute(insert(SchemaVersion).values(version=SCHEMA_VERSION, applied_at=now))
