#!/usr/bin/env python3
"""A small example bot: trades a few contracts on the paper exchange through kalshi-guard's HTTP API only.

Run it next to ``make paper`` (see examples/README.md)::

    python examples/simple_bot.py [--url http://127.0.0.1:8787] [--token-file PATH]

What it does: reads ``/api/status`` (and stops at once, exit 3, if the trading gate is HALTED), picks
the market with the tightest spread from the paper exchange's public market data, then places four
one-contract orders, each with the price it expected as ``reference_price``:

1. an IOC buy of YES at the ask,
2. a GTC buy of NO at the NO ask (marketable, so it fills at once),
3. a GTC buy of YES below the bid, which rests — the bot waits until the ledger says RESTING and
   cancels it,
4. an IOC sell of YES at the bid (closing the first order).

Every confirmation is printed (status, filled, average price, fees, slippage, latency), then the
open positions. Exit codes: 0 done, 1 the daemon is unreachable or refused a request, 3 the gate is
HALTED. Standard library only; the token never appears in the output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_HALTED = 0, 1, 3
TICK = Decimal("0.01")


class Halted(Exception):
    """The trading gate is HALTED: the bot must stop at once."""


class ApiError(Exception):
    """The daemon refused a request or did not answer."""


def default_token_file() -> Path:
    """``control-token`` in the state directory, found the way ``kalshi-guard status`` finds it
    (``$KALSHI_GUARD_STATE_DIR``, ``$STATE_DIRECTORY``, ``$XDG_STATE_HOME/kalshi-guard``,
    ``~/.local/state/kalshi-guard``)."""
    env = os.environ
    if env.get("KALSHI_GUARD_STATE_DIR"):
        state = Path(env["KALSHI_GUARD_STATE_DIR"]).expanduser()
    elif env.get("STATE_DIRECTORY"):
        state = Path(env["STATE_DIRECTORY"].split(":")[0])
    elif env.get("XDG_STATE_HOME"):
        state = Path(env["XDG_STATE_HOME"]) / "kalshi-guard"
    else:
        state = Path.home() / ".local" / "state" / "kalshi-guard"
    return state / "control-token"


def http(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 120) -> tuple[int, Any]:
    """One JSON request; returns (HTTP status, decoded body). Raises ApiError when nothing answers."""
    if not url.startswith(("http://", "https://")):
        raise ApiError(f"not an HTTP URL: {url}")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked above
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never send the token via a proxy
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:  # 4xx/5xx still carry a JSON body
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(f"{method} {url.split('?')[0]} did not answer ({exc})") from None


class Guard:
    """The kalshi-guard control API."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        status, reply = http(method, self.url + path, body, self.token)
        if status not in ok:
            detail = reply.get("error") if isinstance(reply, dict) else reply
            raise ApiError(f"{method} {path}: HTTP {status}: {detail}")
        return reply

    def place(self, order: dict[str, Any]) -> dict[str, Any]:
        """Place one order and wait for its confirmation; raises Halted if the gate refused it."""
        conf = self.call("POST", "/api/orders", order, ok=(200, 409))
        if conf.get("reason", "").startswith("GATE_"):
            raise Halted(conf.get("detail") or conf["reason"])
        return conf


def show(label: str, conf: dict[str, Any]) -> None:
    """Print one confirmation on a few lines."""
    slip = conf.get("slippage") or {}
    vs_ref, vs_limit = ((slip.get(k) or {}).get("cents_per_contract") for k in ("vs_reference", "vs_limit"))
    slippage = f"slippage {vs_ref}¢ vs reference / {vs_limit}¢ vs limit" if vs_limit is not None else "no slippage"
    print(f"{label}: {conf['status']}" + (f" ({conf['reason']}: {conf.get('detail')})" if conf.get("reason") else ""))
    print(f"    filled {conf['filled_count']} (remaining {conf['remaining_count']}) at avg "
          f"{conf['average_price'] or '-'}, fees ${conf['fees']}, {slippage}, {conf['latency_ms']} ms  "
          f"[{conf['client_order_id']}]")


def pick_market(exchange_url: str) -> dict[str, Any]:
    """The open market with the tightest two-sided book on the paper exchange (public market data)."""
    status, body = http("GET", exchange_url.rstrip("/") + "/markets?status=open&limit=200")
    if status != 200:
        raise ApiError(f"market data: HTTP {status}")
    best = None
    for m in body.get("markets", []):
        bid, ask = Decimal(m.get("yes_bid_dollars") or 0), Decimal(m.get("yes_ask_dollars") or 0)
        if m.get("status") not in ("active", "open") or not Decimal("0.05") <= bid < ask <= Decimal("0.95"):
            continue
        if best is None or ask - bid < best[0]:
            best = (ask - bid, m)
    if best is None:
        raise ApiError("no open market with a two-sided book on the paper exchange")
    return best[1]


def book(exchange_url: str, ticker: str) -> tuple[Decimal, Decimal]:
    """(best YES bid, best YES ask) right now."""
    status, body = http("GET", f"{exchange_url.rstrip('/')}/markets/{ticker}")
    if status != 200:
        raise ApiError(f"market {ticker}: HTTP {status}")
    return Decimal(body["market"]["yes_bid_dollars"]), Decimal(body["market"]["yes_ask_dollars"])


def order(ticker: str, outcome: str, action: str, price: Decimal, tif: str) -> dict[str, Any]:
    """An order body: one contract, money as decimal strings, the limit as the reference price."""
    return {"ticker": ticker, "outcome": outcome, "action": action, "count": "1", "price": str(price),
            "time_in_force": tif, "reference_price": str(price)}


def rest_then_cancel(guard: Guard, body: dict[str, Any], coid: str) -> dict[str, Any]:
    """Place a GTC order that should rest, cancel it once the ledger says RESTING, return its confirmation.

    ``POST /api/orders`` answers when the order is confirmed, so the bot places it from a thread.
    """
    result: dict[str, Any] = {}

    def place() -> None:
        try:
            result["conf"] = guard.place({**body, "client_order_id": coid})
        except (ApiError, Halted) as exc:
            result["error"] = exc

    worker = threading.Thread(target=place, daemon=True)
    worker.start()
    pause = threading.Event()
    for _ in range(100):  # up to ~10 s
        status, row = http("GET", f"{guard.url}/api/orders/{coid}", token=guard.token)
        if status == 200 and row.get("status") == "RESTING":
            print(f"    {coid} is resting; cancelling it")
            guard.call("POST", f"/api/orders/{coid}/cancel", ok=(202,))
            break
        if not worker.is_alive():
            break
        pause.wait(0.1)
    worker.join(130)
    if "error" in result:
        raise result["error"]
    if "conf" not in result:
        raise ApiError(f"no confirmation for {coid}")
    return result["conf"]


def run(guard: Guard) -> int:
    status = guard.call("GET", "/api/status")
    gate = status.get("gate", {})
    print(f"kalshi-guard {status.get('mode')} mode, gate {gate.get('state')}")
    if gate.get("state") == "HALTED":
        print(f"the gate is HALTED ({gate.get('reason')}); not trading")
        return EXIT_HALTED
    exchange_url = (status.get("exchange") or {}).get("base_url")
    if status.get("mode") != "paper" or not exchange_url:
        print("this example trades on the paper exchange only")
        return EXIT_FAIL
    market = pick_market(exchange_url)
    ticker = market["ticker"]
    print(f"trading {ticker}: {market.get('title', '')}")

    bid, ask = book(exchange_url, ticker)
    show("1. IOC buy YES at the ask", guard.place(order(ticker, "yes", "buy", ask, "ioc")))
    bid, ask = book(exchange_url, ticker)
    show("2. GTC buy NO at the NO ask", guard.place(order(ticker, "no", "buy", 1 - bid, "gtc")))
    bid, ask = book(exchange_url, ticker)
    low = max(TICK, bid - 3 * TICK)
    coid = f"example-rest-{uuid.uuid4().hex[:12]}"
    show("3. GTC buy YES below the bid, then cancel", rest_then_cancel(guard, order(ticker, "yes", "buy", low, "gtc"),
                                                                       coid))
    bid, ask = book(exchange_url, ticker)
    show("4. IOC sell YES at the bid", guard.place(order(ticker, "yes", "sell", bid, "ioc")))

    print("open positions:")
    for p in guard.call("GET", "/api/positions")["positions"]:
        print(f"    {p['ticker']}: net {p['net_count']} at avg {p['avg_price']}, cost {p['cost_basis']}, "
              f"realized {p['realized_pnl']}, fees {p['fees']}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A small bot trading through kalshi-guard's HTTP API.")
    port = os.environ.get("KALSHI_GUARD_CONTROL__PORT", "8787")  # the override every CLI command honours
    parser.add_argument("--url", default=f"http://127.0.0.1:{port}", help="the control API (default %(default)s)")
    parser.add_argument("--token-file", type=Path, default=None,
                        help="the control token file (default: <state dir>/control-token)")
    args = parser.parse_args(argv)
    token_file = args.token_file or default_token_file()
    try:
        token = token_file.read_text().strip()
    except OSError as exc:
        print(f"cannot read the control token from {token_file}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAIL
    try:
        return run(Guard(args.url, token))
    except Halted as exc:
        print(f"the gate is HALTED ({exc}); stopping at once", file=sys.stderr)
        return EXIT_HALTED
    except ApiError as exc:
        print(f"stopping: {exc}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
