"""Crash safety: a process killed mid-way through writing leaves every committed row readable."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kalshi_guard.ledger import Ledger, OrderStatus

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import os, sys
    from decimal import Decimal
    from kalshi_guard.ledger import FillRecord, Ledger
    led = Ledger.open(sys.argv[1])
    led.begin_run(os.getpid())
    i = 0
    while True:
        coid = f"c{i}"
        led.insert_intent(client_order_id=coid, ticker="KXA-26-T1", event_ticker="KXA-26", book_side="bid",
                          outcome="yes", action="buy", count=Decimal("1"), price=Decimal("0.5"),
                          time_in_force="good_till_canceled")
        led.transition(coid, "SENT")
        led.book_fill(FillRecord(f"t{i}", coid, None, "KXA-26-T1", "bid", Decimal("1"), Decimal("0.5"),
                                 Decimal("0.01"), True, 1780000000.0))
        print(i, flush=True)
        i += 1
    """
)


class TestCrash:
    @pytest.mark.timeout(60)
    def test_sigkill_keeps_committed_rows(self, tmp_path):
        """SIGKILL while writing: every reported commit survives, the run reads as unclean, books balance."""
        url = f"sqlite:///{tmp_path}/crash/ledger.sqlite"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, url], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            seen = -1
            assert proc.stdout is not None
            for line in proc.stdout:
                seen = int(line)
                if seen >= 30:
                    break
            assert seen >= 30, proc.stderr.read() if proc.stderr else ""
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)
        led = Ledger.open(url)
        try:
            assert led.previous_run_unclean() is True
            filled = led.orders([OrderStatus.FILLED])
            assert len(filled) >= seen + 1
            pos = led.position("KXA-26-T1")
            # Fill, order and position moved together: the position equals the booked fills exactly.
            booked = sum(o.filled_count for o in led.orders())
            assert pos is not None
            assert pos.net_count == booked >= seen + 1
            assert all(o.status in (OrderStatus.FILLED, OrderStatus.SENT, OrderStatus.INTENT) for o in led.orders())
        finally:
            led.close()
