"""``kalshi-guard order …``: the formatters in-process, and the real CLI as a subprocess against a real daemon."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_guard.control.cli import build_parser
from kalshi_guard.control.cmd_order import format_confirmation, format_order, format_orders, format_positions, run_place
from tests.waiting import wait_until

EXE = str(Path(sys.executable).with_name("kalshi-guard"))
TICKER = "KXSIMCPI-26DEC-T30"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningDaemon:
    """A ``kalshi-guard run`` subprocess (paper, static book) and the environment that points a CLI at it."""

    def __init__(self, root: Path) -> None:
        self.state = root / "state"
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        notify = root / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(notify))
        self.env = {**os.environ, "KALSHI_GUARD_STATE_DIR": str(self.state), "KALSHI_GUARD_CONTROL__PORT": str(port),
                    "KALSHI_GUARD_SIMULATOR__PORT": "0", "KALSHI_GUARD_SIMULATOR__LIQUIDITY_INTERVAL_S": "0"}
        self.log = open(root / "daemon.stderr", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([EXE, "run"], env={**self.env, "NOTIFY_SOCKET": str(notify)},
                                     stdout=self.log, stderr=self.log)
        self._wait_ready(root / "daemon.stderr")

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if b"READY=1" in self.sock.recv(65536):
                    return
            except TimeoutError:
                break
        pytest.fail(f"the daemon did not report READY=1; stderr:\n{log.read_text(errors='replace')[-3000:]}")

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        token = (self.state / "control-token").read_text().strip()
        return httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                             trust_env=False, **kw)

    def ask_bid(self) -> tuple[Decimal, Decimal]:
        base = self.api("GET", "/api/status").json()["exchange"]["base_url"]
        m = httpx.get(f"{base}/markets/{TICKER}", timeout=10, trust_env=False).json()["market"]
        return Decimal(m["yes_ask_dollars"]), Decimal(m["yes_bid_dollars"])

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EXE, *args], env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=60, check=False)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()
        self.sock.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path_factory.mktemp("cmd-order"))
    yield d
    d.close()


CONF = {"status": "FILLED", "order_id": "o-1", "client_order_id": "c-1", "filled_count": "2.00",
        "remaining_count": "0.00", "average_price": "0.4150", "fees": "0.033900",
        "slippage": {"vs_limit": {"dollars": "-0.070000", "cents_per_contract": "-3.5000"}, "vs_reference": None},
        "latency_ms": 12, "fills": [{"trade_id": "t-1", "count": "2.00", "price": "0.4150", "fee": "0.033900"}]}


class TestFormatting:
    def test_a_confirmation_shows_every_figure(self) -> None:
        """The readable confirmation shows status, ids, filled, average price, fees, slippage, latency and fills."""
        text = format_confirmation(CONF, {"action": "buy", "outcome": "yes", "ticker": TICKER, "count": "2",
                                          "price": "0.45", "time_in_force": "ioc"})
        assert text.startswith(f"FILLED  buy yes {TICKER} 2 @ 0.45 IOC")
        for needle in ("c-1", "o-1", "2.00 (unfilled 0.00, still open 0.00)", "0.4150", "$0.033900",
                       "vs limit $-0.070000", "-3.5000¢/contract", "12 ms", "trade t-1"):
            assert needle in text, needle

    def test_a_rejection_shows_reason_and_detail(self) -> None:
        """A REJECTED confirmation prints its reason code and detail; absent figures print as '-'."""
        text = format_confirmation({"status": "REJECTED", "reason": "GATE_HALTED", "detail": "operator stop",
                                    "client_order_id": "c-2", "order_id": None, "average_price": None,
                                    "slippage": None})
        assert "GATE_HALTED — operator stop" in text
        assert "order id:        -" in text
        assert "slippage:        n/a" in text

    def test_tables_for_orders_and_positions(self) -> None:
        """Orders and positions print as aligned tables, and empty lists say so."""
        orders = format_orders([{"created_at": 0, "client_order_id": "c-1", "ticker": TICKER, "action": "buy",
                                 "outcome": "no", "count": "1.00", "price": "0.4000", "time_in_force": "gtc",
                                 "status": "RESTING", "filled_count": "0.00"}])
        assert "1970-01-01 00:00:00" in orders
        assert "buy no" in orders
        assert "RESTING" in orders
        assert format_orders([]) == "no orders"
        assert format_positions([]) == "no open positions"
        positions = format_positions([{"ticker": TICKER, "net_count": "3.00", "avg_price": "0.41",
                                       "cost_basis": "1.23", "realized_pnl": "0", "fees": "0.05"}])
        assert positions.splitlines()[1].split() == [TICKER, "3.00", "0.41", "1.23", "0", "0.05"]
        assert "created_at:" in format_order({"created_at": 0, "reason": None})

    def test_the_parser_maps_buy_and_sell_to_place(self) -> None:
        """`order sell no T 1.5 --price 0.3 --tif gtc` parses to the place command with those values."""
        args = build_parser().parse_args(["order", "sell", "no", TICKER, "1.5", "--price", "0.3", "--tif", "gtc"])
        assert args.func is run_place
        assert (args.action, args.outcome, args.ticker, args.count, args.price, args.tif) == \
            ("sell", "no", TICKER, "1.5", "0.3", "gtc")
        with pytest.raises(SystemExit):
            build_parser().parse_args(["order", "buy", "maybe", TICKER, "1", "--price", "0.3"])


class TestPlace:
    def test_a_filled_buy_exits_0(self, daemon: RunningDaemon) -> None:
        """`order buy` at the ask prints a FILLED confirmation and exits 0; the order is in the ledger."""
        ask, _ = daemon.ask_bid()
        done = daemon.cli("order", "buy", "yes", TICKER, "1", "--price", str(ask), "--reference-price", str(ask),
                          "--client-order-id", "cli-buy-1")
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("FILLED")
        assert "cli-buy-1" in done.stdout
        assert daemon.api("GET", "/api/orders/cli-buy-1").json()["status"] == "FILLED"

    def test_json_output_is_the_confirmation(self, daemon: RunningDaemon) -> None:
        """`--json` prints the API's confirmation object."""
        ask, _ = daemon.ask_bid()
        done = daemon.cli("order", "buy", "yes", TICKER, "1", "--price", str(ask), "--json")
        assert done.returncode == 0, done.stderr
        conf = json.loads(done.stdout)
        assert conf["status"] == "FILLED"
        assert conf["filled_count"] == "1.00"

    def test_an_unfilled_ioc_exits_1_and_says_so(self, daemon: RunningDaemon) -> None:
        """An IOC below the bid ends CANCELED: exit 1 and the status named on stderr."""
        _, bid = daemon.ask_bid()
        done = daemon.cli("order", "buy", "yes", TICKER, "1", "--price", str(bid - Decimal("0.05")),
                          "--client-order-id", "cli-miss-1")
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stdout.startswith("CANCELED")
        assert "cli-miss-1 ended CANCELED" in done.stderr

    @pytest.mark.parametrize(("count", "price", "needle"), [
        ("1", "0.305", "price: must lie on the market's tick grid"),
        ("1.005", "0.30", "count: at most 2 decimal places"),
        ("-1", "0.30", "count: must be positive"),
        ("1", "1.20", "price: must be strictly between 0 and 1"),
    ])
    def test_a_request_error_exits_2_naming_field_and_rule(self, daemon: RunningDaemon, count: str, price: str,
                                                           needle: str) -> None:
        """A 4xx request error exits 2 and prints the field and the rule; nothing is written."""
        before = len(daemon.api("GET", "/api/orders?limit=1000").json()["orders"])
        done = daemon.cli("order", "buy", "yes", TICKER, count, "--price", price)
        assert done.returncode == 2, done.stdout + done.stderr
        assert needle in done.stderr
        assert "nothing was written or sent" in done.stderr
        assert len(daemon.api("GET", "/api/orders?limit=1000").json()["orders"]) == before

    def test_a_resting_order_can_be_cancelled_from_another_cli(self, daemon: RunningDaemon) -> None:
        """A GTC below the bid rests; `order cancel` exits 0 and the waiting `order buy` then exits 1 CANCELED."""
        _, bid = daemon.ask_bid()
        waiting = subprocess.Popen([EXE, "order", "buy", "yes", TICKER, "1", "--price", str(bid - Decimal("0.04")),
                                    "--tif", "gtc", "--client-order-id", "cli-rest-1"],
                                   env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: daemon.api("GET", "/api/orders/cli-rest-1").json().get("status") == "RESTING",
                       20, "the order to rest")
            shown = daemon.cli("order", "show", "cli-rest-1")
            assert shown.returncode == 0
            assert "RESTING" in shown.stdout
            cancel = daemon.cli("order", "cancel", "cli-rest-1")
            assert cancel.returncode == 0, cancel.stderr
            out, err = waiting.communicate(timeout=30)
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
        assert waiting.returncode == 1, out + err
        assert out.startswith("CANCELED")


class TestAsTheUserGaveIt:
    def test_an_unfilled_ioc_says_why_with_the_best_price(self, daemon: RunningDaemon) -> None:
        """An IOC buy below the ask ends CANCELED with reason NO_LIQUIDITY_AT_LIMIT naming the ask it met;
        the ledger agrees on remaining (0) and keeps the reason."""
        ask, _ = daemon.ask_bid()
        limit = ask - Decimal("0.01")
        done = daemon.cli("order", "buy", "yes", TICKER, "3", "--price", str(limit), "--client-order-id",
                          "cli-why-1", "--json")
        conf = json.loads(done.stdout)
        assert (conf["status"], conf["reason"]) == ("CANCELED", "NO_LIQUIDITY_AT_LIMIT")
        seen = re.search(r"best yes ask was (\d\.\d{4}) when checked", conf["detail"])
        assert seen, conf["detail"]
        assert Decimal(seen.group(1)) > limit, "the ask it names is the one the limit did not meet"
        assert (conf["filled_count"], conf["unfilled_count"], conf["remaining_count"]) == ("0.00", "3.00", "0.00")
        row = daemon.api("GET", "/api/orders/cli-why-1").json()
        assert (Decimal(row["remaining_count"]), row["reason"]) == (0, "NO_LIQUIDITY_AT_LIMIT")

    def test_a_no_order_shows_the_no_price_everywhere(self, daemon: RunningDaemon) -> None:
        """`sell no … --price P` is listed and shown at P on NO; the YES-book side and price are extras; the
        daemon's log line states it the same way."""
        ask, _ = daemon.ask_bid()
        no_price = Decimal(1) - ask - Decimal("0.01")  # sell NO a cent below its bid (1 − YES ask): fills at once
        done = daemon.cli("order", "sell", "no", TICKER, "2", "--price", f"{no_price:.2f}", "--client-order-id",
                          "cli-no-1")
        assert done.returncode == 0, done.stdout + done.stderr
        row = daemon.api("GET", "/api/orders/cli-no-1").json()
        assert (row["outcome"], row["action"], Decimal(row["price"])) == ("no", "sell", no_price)
        assert (row["book_side"], Decimal(row["book_price"])) == ("bid", 1 - no_price)
        listed = daemon.cli("order", "list", "--limit", "1").stdout.splitlines()[1]
        assert "sell no" in listed
        assert Decimal(listed.split()[7]) == no_price
        log = (daemon.state / "logs" / "kalshi-guard.jsonl").read_text()
        assert f"order cli-no-1 FILLED: sell no {TICKER} 2.00 @ {no_price:.4f} IOC (YES book: bid" in log


class TestQueries:
    def test_list_show_and_positions(self, daemon: RunningDaemon) -> None:
        """`order list`, `order list --status`, `order show` and `order positions` exit 0 with the ledger's rows."""
        ask, _ = daemon.ask_bid()
        assert daemon.cli("order", "buy", "yes", TICKER, "1", "--price", str(ask), "--client-order-id",
                          "cli-q-1").returncode == 0
        listed = daemon.cli("order", "list", "--limit", "5")
        assert listed.returncode == 0
        assert listed.stdout.splitlines()[1].split()[2] == "cli-q-1", "newest first"
        filled = daemon.cli("order", "list", "--status", "FILLED", "--json")
        assert {o["status"] for o in json.loads(filled.stdout)["orders"]} == {"FILLED"}
        shown = daemon.cli("order", "show", "cli-q-1", "--json")
        assert json.loads(shown.stdout)["client_order_id"] == "cli-q-1"
        positions = daemon.cli("order", "positions")
        assert positions.returncode == 0
        assert TICKER in positions.stdout

    def test_unknown_order_and_bad_status_fail_cleanly(self, daemon: RunningDaemon) -> None:
        """`show`/`cancel` of an unknown id exit 1 (404); a bad `--status` exits 2 naming the field."""
        for action in ("show", "cancel"):
            done = daemon.cli("order", action, "never-placed")
            assert done.returncode == 1
            assert "404" in done.stderr
        bad = daemon.cli("order", "list", "--status", "BOGUS")
        assert bad.returncode == 2
        assert "status:" in bad.stderr


class TestFailures:
    def test_no_daemon_exits_1(self, tmp_path: Path) -> None:
        """With a token but nothing listening, `order list` exits 1 saying the daemon does not answer."""
        state = tmp_path / "state"
        state.mkdir(mode=0o700)
        (state / "control-token").write_text("t" * 43)
        os.chmod(state / "control-token", 0o600)
        env = {**os.environ, "KALSHI_GUARD_STATE_DIR": str(state), "KALSHI_GUARD_CONTROL__PORT": str(_free_port())}
        done = subprocess.run([EXE, "order", "list"], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1
        assert "does not answer" in done.stderr
        assert "t" * 43 not in done.stderr

    def test_a_bad_config_exits_78(self, tmp_path: Path) -> None:
        """A configuration error exits 78 before anything is sent."""
        bad = tmp_path / "bad.toml"
        bad.write_text('mode = "sideways"\n')
        done = subprocess.run([EXE, "--config", str(bad), "order", "positions"], capture_output=True, text=True,
                              timeout=60, check=False, env={**os.environ, "KALSHI_GUARD_STATE_DIR": str(tmp_path)})
        assert done.returncode == 78, done.stderr
        assert "config error" in done.stderr
