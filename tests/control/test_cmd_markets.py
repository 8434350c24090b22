"""``kalshi-guard markets``: the exchange's markets with bid/ask and close time, filtered, as a table or JSON."""

from __future__ import annotations

import json
from decimal import Decimal

from kalshi_guard.control.cli import main
from kalshi_guard.control.cmd_markets import format_markets, matching
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import running_simulator


class TestAgainstTheSimulator:
    def test_json_lists_every_open_market_with_its_quotes(self, capsys):
        """`markets --json` has each open market: ticker, title, YES/NO bid and ask (NO = 1 − YES), close time."""
        with running_simulator() as sim:
            assert main(["markets", "--json", "--exchange-url", sim.rest_url]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["ticker"] for r in rows] == list(DEFAULT_TICKERS)
        for r in rows:
            assert r["title"]
            assert r["close_time"].endswith("Z")
            assert Decimal(r["no_ask"]) == 1 - Decimal(r["yes_bid"])
            assert Decimal(r["yes_bid"]) < Decimal(r["yes_ask"])

    def test_search_and_status_filter(self, capsys):
        """`--search` matches ticker, event or title case-insensitively; `--status settled` lists only those."""
        with running_simulator() as sim:
            sim.exchange.settle(DEFAULT_TICKERS[0], "yes")
            assert main(["markets", "--json", "--search", "RAIN", "--exchange-url", sim.rest_url]) == 0
            rain = json.loads(capsys.readouterr().out)
            assert main(["markets", "--json", "--status", "settled", "--exchange-url", sim.rest_url]) == 0
            settled = json.loads(capsys.readouterr().out)
            assert main(["markets", "--exchange-url", sim.rest_url]) == 0
            table = capsys.readouterr().out
        assert {r["ticker"] for r in rain} == {t for t in DEFAULT_TICKERS if "RAIN" in t}
        assert [r["ticker"] for r in settled] == [DEFAULT_TICKERS[0]]
        assert table.splitlines()[0].split()[:3] == ["TICKER", "TITLE", "YES"]
        assert DEFAULT_TICKERS[0] not in table, "settled markets are not open"
        assert "limit ≥ the outcome's ask" in table

    def test_an_exchange_that_does_not_answer_exits_1(self, capsys):
        """Nothing listening: exit 1 with one line saying where it looked."""
        assert main(["markets", "--exchange-url", "http://127.0.0.1:9/trade-api/v2"]) == 1
        assert "could not be read from http://127.0.0.1:9/trade-api/v2" in capsys.readouterr().err


class TestFormatting:
    def test_empty_and_long_titles(self):
        """No rows say so; a long title is cut with an ellipsis; missing quotes print as '-'."""
        assert format_markets([]) == "no markets"
        text = format_markets([{"ticker": "T", "title": "x" * 60, "yes_bid": None, "yes_ask": "0.5000",
                                "no_bid": "0.5000", "no_ask": None, "close_time": None}])
        assert "x" * 39 + "…" in text
        assert text.splitlines()[1].split()[2] == "-"
        assert matching([{"ticker": "A", "title": "Rain"}], "rain") == [{"ticker": "A", "title": "Rain"}]
