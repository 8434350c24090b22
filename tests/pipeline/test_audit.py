"""The order audit trail: every decision and confirmation is a structured record under ``order_placer``."""

from __future__ import annotations

import io
import json

import pytest
from loguru import logger

from kalshi_guard.simulator.markets import DEFAULT_TICKERS


class TestAuditTrail:
    def test_filled_and_rejected_orders_are_structured_records(self, pipeline_factory) -> None:
        """A filled order leaves SENT and FILLED records, a refused one a REJECTED record, each with the
        order's fields and the actor name ``order_placer`` (what ``tail --actor order_placer`` filters)."""
        buf = io.StringIO()
        sink = logger.add(buf, serialize=True, level="INFO")
        try:
            p = pipeline_factory()
            ticker = DEFAULT_TICKERS[0]
            conf = p.trading.place_and_confirm(ticker, "yes", "buy", "2", "0.99", "ioc", wait_s=20)
            assert conf.status.value == "FILLED", conf
            refused = p.trading.place_and_confirm(ticker, "yes", "buy", "100000", "0.99", "ioc", wait_s=20)
            assert refused.status.value == "REJECTED", refused
        finally:
            logger.remove(sink)
        records = [json.loads(line)["record"] for line in buf.getvalue().splitlines()]
        orders = [r["extra"] for r in records if r["extra"].get("audit") == "order"]
        by_status = {(o["client_order_id"], o["status"]): o for o in orders}
        filled = by_status[(conf.client_order_id, "FILLED")]
        assert (conf.client_order_id, "SENT") in by_status
        assert filled["actor"] == "order_placer"
        assert (filled["ticker"], filled["outcome"], filled["action"], filled["count"]) == (ticker, "yes", "buy", "2")
        assert filled["latency_ms"] is not None
        rejected = by_status.get((refused.client_order_id, "REJECTED")) or pytest.fail(f"{refused} {sorted(by_status)}")
        assert rejected["actor"] == "order_placer"
        assert rejected["reason"]
        fills = [r["extra"] for r in records if r["extra"].get("audit") == "fill"]
        assert [f["actor"] for f in fills] == ["fill_watcher"]
        actors = {r["extra"].get("actor") for r in records}
        assert not {"OrderPlacer", "FillWatcher", "Guardian"} & actors


def test_tail_finds_the_filled_order(pipeline_factory, tmp_path, capsys) -> None:
    """`kalshi-guard tail --actor order_placer --grep FILLED` over the JSON log prints the filled order."""
    from kalshi_guard.control.cli import main

    log = tmp_path / "kalshi-guard.jsonl"
    sink = logger.add(log, serialize=True, level="INFO")
    try:
        p = pipeline_factory()
        conf = p.trading.place_and_confirm(DEFAULT_TICKERS[0], "yes", "buy", "1", "0.99", "ioc", wait_s=20)
        assert conf.status.value == "FILLED", conf
    finally:
        logger.remove(sink)
    capsys.readouterr()
    assert main(["tail", "--file", str(log), "--actor", "order_placer", "--grep", "FILLED", "-n", "50"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1
    assert conf.client_order_id in lines[0]
