"""``kalshi-guard status``'s account lines: money formatting, the nearest trigger from either source."""

from __future__ import annotations

from kalshi_guard.control.account_text import format_account, limit_rows, money, nearest_trigger

ACCOUNT = {
    "balance": "1234.5", "portfolio_value": "10", "positions": [{"ticker": "T"}],
    "pnl_today": {"realized": "1.20", "fees": "0.30", "realized_net": "0.90", "unrealized": "-0.10",
                  "total": "0.80"},
    "limits": [{"name": "total_exposure", "value": "50", "limit": "500", "used": "0.1", "where": None},
               {"name": "market_exposure", "value": "40", "limit": "100", "used": "0.4", "where": "KXA"}],
    "exchange_error": None,
}


def test_money_is_dollars_with_cents_and_a_sign():
    """Dollars with two decimals and thousands separators; a missing figure is '?', never 0."""
    assert money("1234.5") == "$1,234.50"
    assert money("-0.1") == "-$0.10"
    assert money(None) == "?"


def test_lines_are_aligned_and_name_the_nearest_trigger():
    """Balance, P&L today (realised − fees + unrealised) and the trigger with the highest used fraction."""
    lines = format_account(ACCOUNT)
    assert lines[0] == "  balance:   $1,234.50 (portfolio $10.00)"
    assert lines[1] == "  P&L today: $0.80 = realised $1.20 − fees $0.30 + unrealised -$0.10"
    assert lines[2] == "  positions: 1 open"
    assert lines[3] == "  nearest:   market_exposure (KXA) 40 of 100 (40% used)"


def test_the_kill_switch_readings_win_over_the_account_limits():
    """When GET /api/limits answered ({"limits": [...]} with code/value/limit), its rows are used."""
    limits = {"limits": [{"code": "DAILY_LOSS", "value": "45", "limit": "50", "distance": "5"},
                         {"code": "LOSING_STREAK", "value": "1", "limit": "4", "distance": "3"}]}
    assert limit_rows(limits, ACCOUNT) == limits["limits"]
    assert nearest_trigger(limit_rows(limits, ACCOUNT))["code"] == "DAILY_LOSS"
    assert "nearest:   DAILY_LOSS 45 of 50 (90% used)" in "\n".join(format_account(ACCOUNT, limits))


def test_without_readings_or_figures_nothing_breaks():
    """No limits anywhere: no 'nearest' line; an exchange failure is printed as it is."""
    lines = format_account({"balance": None, "exchange_error": "exchange read failed: ConnectError"})
    assert lines[0].startswith("  balance:   ?")
    assert not any("nearest" in line for line in lines)
    assert lines[-1] == "  exchange:  exchange read failed: ConnectError"
