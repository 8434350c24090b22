"""Account state in a file: an append-only JSON-lines journal, one write per acknowledged mutation.

Each line is the full new state of one object (last line per key wins), so a SIGKILL loses nothing that
was acknowledged: the write happens under the exchange lock before the HTTP response leaves. On a clean
stop the journal is compacted to one line per live object. Synthetic makers are never journaled.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import fields
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_guard.simulator.accounts import Fill, Order, OrderStatus, Position, Settlement
from kalshi_guard.simulator.groups import OrderGroup
from kalshi_guard.simulator.markets import MarketStatus

if TYPE_CHECKING:
    from kalshi_guard.simulator.engine import Exchange

MAKER = "sim-maker"


def _v(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, deque):
        return [[t, str(q)] for t, q in value]
    return value


def encode(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A slotted dataclass as JSON-safe data (Decimals as strings)."""
    return {f.name: _v(getattr(obj, f.name)) for f in fields(obj) if f.name not in skip}


def decode(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a dataclass written by :func:`encode` (fields it does not know are ignored)."""
    kw: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        v = data[f.name]
        t = str(f.type)
        if v is not None and t.startswith("Decimal"):
            v = Decimal(v)
        elif t == "OrderStatus":
            v = OrderStatus(v)
        elif t == "MarketStatus":
            v = MarketStatus(v)
        kw[f.name] = v
    return cls(**kw)


class Journal:
    """The state file. ``write`` appends and hands the bytes to the kernel at once (survives SIGKILL).

    Raises OSError if the file cannot be opened or written (the mutation is then not acknowledged).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, items: dict[tuple[str, str], Any]) -> None:
        """Append one line per changed object."""
        lines = []
        for (kind, key), obj in items.items():
            rec = self._record(kind, key, obj)
            if rec is not None:
                lines.append(json.dumps(rec, separators=(",", ":")))
        if lines:
            os.write(self._fd, ("\n".join(lines) + "\n").encode())

    @staticmethod
    def _record(kind: str, key: str, obj: Any) -> dict[str, Any] | None:
        if kind == "acct":
            if obj.name == MAKER:
                return None
            return {"k": kind, "id": key, "cash": str(obj.cash)}
        if kind == "coid":  # a client_order_id replaced by amend stays spent
            return {"k": kind, "id": key, "account": obj}
        if kind == "order":
            return None if obj.account == MAKER else {"k": kind, "id": key, **encode(obj)}
        if kind == "fill":
            return {"k": kind, "id": key, **encode(obj)}
        if kind == "pos":
            account, pos = obj[0], obj[1]
            if account == MAKER:
                return None
            return {"k": kind, "id": key, "account": account, "pos": encode(pos) if pos is not None else None}
        if kind == "settle":
            return {"k": kind, "id": key, "account": obj[0], **encode(obj[1])}
        if kind == "market":
            return {"k": kind, "id": key, **encode(obj)}
        if kind == "group":
            return {"k": kind, "id": key, "group": encode(obj) if obj is not None else None}
        return None

    def replay_into(self, ex: Exchange) -> int:
        """Load the journal into a fresh exchange (before liquidity is seeded); returns lines read.

        A torn last line (the process died mid-write) is ignored; any other bad line raises ValueError.
        """
        if not self.path.exists():
            return 0
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        lines = self.path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                if i == len(lines) - 1:
                    break
                raise ValueError(f"{self.path}: line {i + 1} is not JSON") from None
            latest[(rec["k"], rec["id"])] = rec
        with ex.lock:
            journal, ex.journal = ex.journal, None  # no re-journaling while loading
            try:
                self._load(ex, latest)
            finally:
                ex.journal = journal
        return len(lines)

    @staticmethod
    def _load(ex: Exchange, latest: dict[tuple[str, str], dict[str, Any]]) -> None:
        recs = list(latest.values())
        for r in recs:
            if r["k"] == "market" and r["id"] in ex.markets:
                m = ex.markets[r["id"]]
                fresh = decode(type(m), r)
                for f in ("status", "result", "close_ts", "settled_ts", "determined_ts", "last_price", "volume"):
                    setattr(m, f, getattr(fresh, f))
        for r in recs:
            if r["k"] == "acct":
                acct = ex.account(r["id"])
                acct.cash = Decimal(r["cash"])
            elif r["k"] == "coid":
                ex.account(r["account"]).client_ids.add(r["id"])
        orders = sorted((decode(Order, r) for r in recs if r["k"] == "order"), key=lambda o: o.created_ts)
        for o in orders:
            acct = ex.account(o.account)
            ex.orders[o.order_id] = o
            acct.order_ids.append(o.order_id)
            if o.client_order_id:
                acct.client_ids.add(o.client_order_id)
            if o.status is OrderStatus.RESTING:
                ex.books[o.ticker].add(o)
                acct.reserved += o.remaining * o.side_price
        fills = sorted((r for r in recs if r["k"] == "fill"), key=lambda r: r["ts"])
        for r in fills:
            acct = ex.account(ex.orders[r["order_id"]].account if r["order_id"] in ex.orders else "sim-user")
            acct.fills.append(decode(Fill, r))
        for r in recs:
            if r["k"] == "pos" and r["pos"] is not None:
                ex.account(r["account"]).positions[r["pos"]["ticker"]] = decode(Position, r["pos"])
            elif r["k"] == "settle":
                ex.account(r["account"]).settlements.append(decode(Settlement, r))
            elif r["k"] == "group" and r["group"] is not None:
                g = r["group"]
                group = OrderGroup(g["group_id"], g["account"], Decimal(g["limit"]), g["triggered"],
                                   deque((t, Decimal(q)) for t, q in g["window"]), set(g["order_ids"]))
                ex.groups[group.group_id] = group
        for acct in ex.accounts.values():
            acct.settlements.sort(key=lambda s: s.ts)
        ex._created = 0

    def compact(self, ex: Exchange) -> None:
        """Rewrite the file as one line per live object (atomic rename); the journal stays usable."""
        items: dict[tuple[str, str], Any] = {}
        with ex.lock:
            for name, acct in ex.accounts.items():
                if acct.unlimited:
                    continue
                items[("acct", name)] = acct
                used = set()
                for oid in acct.order_ids:
                    items[("order", oid)] = ex.orders[oid]
                    used.add(ex.orders[oid].client_order_id)
                for cid in acct.client_ids - used:
                    items[("coid", cid)] = name
                for f in acct.fills:
                    items[("fill", f.fill_id)] = f
                for t, p in acct.positions.items():
                    items[("pos", f"{name}/{t}")] = (name, p)
                for s in acct.settlements:
                    items[("settle", f"{name}/{s.ticker}")] = (name, s)
            for t, m in ex.markets.items():
                items[("market", t)] = m
            for gid, g in ex.groups.items():
                items[("group", gid)] = g
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            lines = [json.dumps(r, separators=(",", ":")) for (k, key), obj in items.items()
                     if (r := self._record(k, key, obj)) is not None]
            tmp.write_text("".join(line + "\n" for line in lines))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def close(self) -> None:
        """Close the file descriptor (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
