"""The ``kalshi-guard order …`` subcommand: manual trades and order/position queries through the control API.

``order buy|sell yes|no TICKER COUNT --price P`` posts to the running daemon's ``POST /api/orders`` (the
same path a bot takes: pre-trade checks, write-ahead, the gate, confirmation) and prints the
confirmation. ``order list``, ``order show ID``, ``order cancel ID`` and ``order positions`` read or act
on the ledger through the API. The URL and token are found like ``kalshi-guard status`` finds them.

Exit codes: 0 FILLED or PARTIAL (and every successful query); 1 REJECTED, CANCELED, TIMEOUT, UNKNOWN
(the status is printed), an unreachable daemon or a refused call; 2 a request error (4xx naming the
field and the rule: nothing was written or sent); 78 configuration error (raised as ``ConfigError``).
The CLI picks the client_order_id when none is given, so an order whose reply is lost can be looked
up with ``order show``.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from kalshi_guard.control.cmd_ops import Target, _client, _err, _no_token, _refusal, resolve_target

EX_OK = 0
EX_FAIL = 1
EX_REQUEST = 2
SUCCESS = frozenset({"FILLED", "PARTIAL"})
# An order's reply waits for its confirmation: up to orders.confirm_timeout_s (60 s by default) plus the
# facade's margin. The CLI waits a little longer than that by default.
DEFAULT_WAIT_S = 120.0
HELP = "place a manual order, or list / show / cancel orders and show positions"


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``order`` with its actions ``buy``, ``sell``, ``list``, ``show``, ``cancel``, ``positions``."""
    p = subparsers.add_parser(name, parents=[common], help=HELP, description=HELP)
    actions = p.add_subparsers(dest="order_action", metavar="ACTION", required=True)
    for action in ("buy", "sell"):
        a = actions.add_parser(action, parents=[common], help=f"{action} contracts of an outcome and wait for "
                               "the confirmation")
        a.add_argument("outcome", choices=("yes", "no"), help="the outcome to trade")
        a.add_argument("ticker", help="market ticker")
        a.add_argument("count", help="contracts, a decimal string (at most 2 decimals)")
        a.add_argument("--price", required=True, help="limit price of the outcome, e.g. 0.45")
        a.add_argument("--tif", choices=("ioc", "gtc", "fok"), default="ioc", help="time in force (default ioc)")
        a.add_argument("--reference-price", help="the price you expected (slippage is reported against it)")
        a.add_argument("--client-order-id", help="your id for the order (default: a fresh UUID)")
        a.add_argument("--wait", type=float, default=DEFAULT_WAIT_S, metavar="SECONDS",
                       help=f"how long to wait for the confirmation (default {DEFAULT_WAIT_S:g})")
        a.add_argument("--json", action="store_true", help="print the confirmation as JSON")
        a.set_defaults(func=run_place, action=action)
    ls = actions.add_parser("list", parents=[common], help="recent orders from the ledger")
    ls.add_argument("--status", help="only this status (INTENT, SENT, RESTING, PARTIAL, UNKNOWN, FILLED, "
                    "CANCELED, REJECTED)")
    ls.add_argument("--limit", type=int, default=100, help="at most this many (1-1000, default 100)")
    ls.add_argument("--json", action="store_true", help="print the raw JSON")
    ls.set_defaults(func=run_list)
    show = actions.add_parser("show", parents=[common], help="one order from the ledger")
    show.add_argument("client_order_id")
    show.add_argument("--json", action="store_true", help="print the raw JSON")
    show.set_defaults(func=run_show)
    cancel = actions.add_parser("cancel", parents=[common], help="cancel what remains of an order")
    cancel.add_argument("client_order_id")
    cancel.set_defaults(func=run_cancel)
    pos = actions.add_parser("positions", parents=[common], help="open positions from the ledger")
    pos.add_argument("--json", action="store_true", help="print the raw JSON")
    pos.set_defaults(func=run_positions)


# -- formatting -------------------------------------------------------------------------------------


def _when(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(ts)


def _slippage(slip: Any) -> str:
    if not isinstance(slip, Mapping):
        return "n/a"
    parts = []
    for key, label in (("vs_limit", "vs limit"), ("vs_reference", "vs reference")):
        value = slip.get(key)
        if isinstance(value, Mapping):
            parts.append(f"{label} ${value.get('dollars')} ({value.get('cents_per_contract')}¢/contract)")
    return "; ".join(parts) or "n/a"


def format_confirmation(conf: Mapping[str, Any], order: Mapping[str, Any] | None = None) -> str:
    """A readable confirmation (``order`` is the request, for the headline); missing keys show as ``?``."""
    status = str(conf.get("status", "?"))
    head = status
    if order:
        head += (f"  {order.get('action')} {order.get('outcome')} {order.get('ticker')} {order.get('count')} "
                 f"@ {order.get('price')} {str(order.get('time_in_force', '')).upper()}")
    lines = [head]
    if conf.get("reason"):
        lines.append(f"  reason:          {conf['reason']}" + (f" — {conf['detail']}" if conf.get("detail") else ""))
    lines.append(f"  client order id: {conf.get('client_order_id', '?')}")
    lines.append(f"  order id:        {conf.get('order_id') or '-'}")
    unfilled = conf.get("unfilled_count", conf.get("remaining_count", "?"))
    lines.append(f"  filled:          {conf.get('filled_count', '?')} (unfilled {unfilled}, still open "
                 f"{conf.get('remaining_count', '?')})")
    lines.append(f"  average price:   {conf.get('average_price') or '-'}")
    lines.append(f"  fees:            ${conf.get('fees', '?')}")
    lines.append(f"  slippage:        {_slippage(conf.get('slippage'))}")
    if conf.get("latency_ms") is not None:
        lines.append(f"  latency:         {conf['latency_ms']} ms")
    fills = conf.get("fills")
    if isinstance(fills, list) and fills:
        lines.append("  fills:")
        lines.extend(f"    {f.get('count')} @ {f.get('price')}  fee ${f.get('fee')}  (trade {f.get('trade_id')})"
                     for f in fills if isinstance(f, Mapping))
    return "\n".join(lines)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def format_orders(orders: Sequence[Mapping[str, Any]]) -> str:
    """One line per ledger order (newest first as given)."""
    if not orders:
        return "no orders"
    rows = [["CREATED (UTC)", "CLIENT ORDER ID", "TICKER", "ORDER", "COUNT", "PRICE", "TIF", "STATUS", "FILLED",
             "REASON"]]
    for o in orders:
        rows.append([_when(o.get("created_at")), str(o.get("client_order_id")), str(o.get("ticker")),
                     f"{o.get('action')} {o.get('outcome')}", str(o.get("count")), str(o.get("price")),
                     str(o.get("time_in_force")), str(o.get("status")), str(o.get("filled_count")),
                     str(o.get("reason") or "")])
    return _table(rows)


def format_order(order: Mapping[str, Any]) -> str:
    """Every field of one ledger order, one per line (timestamps shown in UTC)."""
    lines = []
    for key, value in order.items():
        shown = _when(value) + " UTC" if key.endswith("_at") and value is not None else value
        lines.append(f"{key + ':':<23} {'-' if shown is None else shown}")
    return "\n".join(lines)


def format_positions(positions: Sequence[Mapping[str, Any]]) -> str:
    """One line per open position."""
    if not positions:
        return "no open positions"
    rows = [["TICKER", "NET", "AVG PRICE", "COST BASIS", "REALIZED P&L", "FEES"]]
    for p in positions:
        rows.append([str(p.get("ticker")), str(p.get("net_count")), str(p.get("avg_price")),
                     str(p.get("cost_basis")), str(p.get("realized_pnl")), str(p.get("fees"))])
    return _table(rows)


# -- calls ------------------------------------------------------------------------------------------


def _call(args: argparse.Namespace, method: str, path: str, *, timeout: float | None = None,
          **kw: Any) -> tuple[Target, httpx.Response | None]:
    """Resolve the daemon and make one call; None (with the reason printed) when no token or no answer."""
    target = resolve_target(args)
    if target.token is None:
        _no_token(target)
        return target, None
    try:
        with _client(target, timeout=timeout) as client:
            return target, client.request(method, path, **kw)
    except httpx.TimeoutException:
        _err(f"no answer from {target.base_url} within {timeout or target.timeout:g} s")
    except httpx.HTTPError as exc:
        _err(f"the daemon does not answer at {target.base_url} ({type(exc).__name__})")
    return target, None


def _request_error(response: httpx.Response, suffix: str = "") -> int | None:
    """Print a 400/422 request error (field and rule) and return 2; None for any other response."""
    if response.status_code not in (400, 422):
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if isinstance(body, Mapping) and body.get("field"):
        _err(f"request refused (HTTP {response.status_code}): {body['field']}: {body.get('rule', 'invalid')}{suffix}")
    else:
        _err(f"request refused: {_refusal(response)}{suffix}")
    return EX_REQUEST


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def order_body(args: argparse.Namespace) -> dict[str, Any]:
    """The ``POST /api/orders`` body for a buy/sell invocation (a fresh client_order_id if none given)."""
    body: dict[str, Any] = {"ticker": args.ticker, "outcome": args.outcome, "action": args.action,
                            "count": args.count, "price": args.price, "time_in_force": args.tif,
                            "client_order_id": args.client_order_id or str(uuid.uuid4())}
    if args.reference_price is not None:
        body["reference_price"] = args.reference_price
    return body


def run_place(args: argparse.Namespace) -> int:
    """``order buy|sell``: 0 FILLED/PARTIAL, 1 any other outcome or no answer, 2 a request error."""
    body = order_body(args)
    _, response = _call(args, "POST", "/api/orders", json=body, timeout=args.wait)
    if response is None:
        _err(f"the outcome of order {body['client_order_id']} is not known here; check it with "
             f"`kalshi-guard order show {body['client_order_id']}`")
        return EX_FAIL
    bad = _request_error(response, " — nothing was written or sent")
    if bad is not None:
        return bad
    if response.status_code not in (200, 409):
        _err(f"order refused: {_refusal(response)}")
        return EX_FAIL
    conf = response.json()
    if args.json:
        _print_json(conf)
    else:
        print(format_confirmation(conf, body))
    status = str(conf.get("status"))
    if status in SUCCESS:
        return EX_OK
    _err(f"order {body['client_order_id']} ended {status}" + (f" ({conf['reason']})" if conf.get("reason") else ""))
    return EX_FAIL


def _read(args: argparse.Namespace, path: str, **kw: Any) -> Any:
    """GET ``path``; the decoded body, or an exit code (int) after printing why."""
    _, response = _call(args, "GET", path, **kw)
    if response is None:
        return EX_FAIL
    bad = _request_error(response)
    if bad is not None:
        return bad
    if response.status_code != 200:
        _err(f"refused: {_refusal(response)}")
        return EX_FAIL
    return response.json()


def run_list(args: argparse.Namespace) -> int:
    """``order list [--status S] [--limit N]``: 0 with the orders printed (newest first)."""
    params: dict[str, Any] = {"limit": args.limit}
    if args.status:
        params["status"] = args.status
    body = _read(args, "/api/orders", params=params)
    if isinstance(body, int):
        return body
    if args.json:
        _print_json(body)
    else:
        print(format_orders(body.get("orders", [])))
    return EX_OK


def run_show(args: argparse.Namespace) -> int:
    """``order show ID``: 0 with the order printed, 1 when there is no such order."""
    body = _read(args, f"/api/orders/{quote(args.client_order_id, safe='')}")
    if isinstance(body, int):
        return body
    if args.json:
        _print_json(body)
    else:
        print(format_order(body))
    return EX_OK


def run_cancel(args: argparse.Namespace) -> int:
    """``order cancel ID``: 0 when the cancel was accepted (the order's confirmation reports the result)."""
    _, response = _call(args, "POST", f"/api/orders/{quote(args.client_order_id, safe='')}/cancel")
    if response is None:
        return EX_FAIL
    if response.status_code == 202:
        print(f"cancel of {args.client_order_id} accepted; check it with "
              f"`kalshi-guard order show {args.client_order_id}`")
        return EX_OK
    _err(f"cancel refused: {_refusal(response)}")
    return EX_FAIL


def run_positions(args: argparse.Namespace) -> int:
    """``order positions``: 0 with the open positions printed."""
    body = _read(args, "/api/positions")
    if isinstance(body, int):
        return body
    if args.json:
        _print_json(body)
    else:
        print(format_positions(body.get("positions", [])))
    return EX_OK
