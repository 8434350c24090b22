"""``SimulatorServer``: the exchange, REST, WebSocket and admin routes on one loopback port (uvicorn thread)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from kalshi_guard.exchange.keys import generate_private_key, load_private_key, public_pem, write_private_key
from kalshi_guard.simulator.auth import KeyRegistry
from kalshi_guard.simulator.buckets import Buckets
from kalshi_guard.simulator.context import SimContext
from kalshi_guard.simulator.engine import DEFAULT_ACCOUNT, Exchange
from kalshi_guard.simulator.handlers import TABLE
from kalshi_guard.simulator.liquidity import Liquidity
from kalshi_guard.simulator.rest import routes, unrouted
from kalshi_guard.web.quiet_server import QuietServer

KEY_FILE = "sim-private-key.pem"
KEY_ID_FILE = "sim-key-id.json"
ADMIN_TOKEN_FILE = "sim-admin-token"  # noqa: S105 - a file name, not a secret


def load_or_create_key(key_dir: Path) -> tuple[rsa.RSAPrivateKey, Path, str]:
    """The simulator's client key pair in ``key_dir`` (created 0600 on first use) and its persisted key id.

    Raises ConfigError if an existing key file is unreadable or too open.
    """
    import uuid

    key_dir.mkdir(parents=True, exist_ok=True)
    path = key_dir / KEY_FILE
    id_path = key_dir / KEY_ID_FILE
    if path.exists():
        key = load_private_key(path, "simulator key")
    else:
        key = generate_private_key()
        write_private_key(path, key)
    if id_path.exists():
        key_id = json.loads(id_path.read_text())["key_id"]
    else:
        key_id = str(uuid.uuid4())
        id_path.write_text(json.dumps({"key_id": key_id}) + "\n")
    return key, path, key_id


def load_or_create_admin_token(key_dir: Path) -> tuple[str, Path]:
    """The ``/_sim`` admin token in ``key_dir/sim-admin-token`` (created 0600 from its first byte on first
    use, kept across restarts like the key). Raises ``OSError`` when it cannot be read or written."""
    path = key_dir / ADMIN_TOKEN_FILE
    key_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        token = path.read_text(encoding="ascii").strip()
        if token:
            return token, path
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW)
    token = secrets.token_urlsafe(24)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode("ascii"))
    finally:
        os.close(fd)
    return token, path


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SimulatorServer:
    """A running simulator: ``start()`` returns once the port listens; ``stop()`` shuts it down.

    ``port=0`` picks a free port. ``state_file`` makes the account state survive restarts (journal).
    ``key_dir`` keeps the client key pair (and its id) across restarts; a temporary dir otherwise.
    ``admin_token`` is what the ``/_sim`` admin routes require (``Authorization: Bearer``); by default one
    is generated into ``key_dir/sim-admin-token`` (0600) and kept there (``admin_token_path``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 0, state_file: Path | None = None,
                 key_dir: Path | None = None, *, tier: str = "unlimited", auth_window_s: float = 10.0,
                 ping_interval_s: float = 10.0, liquidity_interval_s: float | None = 1.0,
                 tick_interval_s: float = 0.25, starting_balance: Decimal = Decimal("10000"),
                 exchange: Exchange | None = None, admin_token: str | None = None) -> None:
        import tempfile

        self.host = host
        self.port = port or _free_port(host)
        self.seed = seed
        self.ping_interval_s = ping_interval_s
        self.liquidity_interval_s = liquidity_interval_s
        self.tick_interval_s = tick_interval_s
        self._tmp = None
        if key_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kalshi-sim-")
            key_dir = Path(self._tmp.name)
        self.key_dir = Path(key_dir)
        self.private_key, self.private_key_path, self.key_id = load_or_create_key(self.key_dir)
        self.admin_token_path: Path | None = None
        if admin_token is None:
            admin_token, self.admin_token_path = load_or_create_admin_token(self.key_dir)
        self.admin_token = admin_token
        journal = None
        if state_file is not None:
            from kalshi_guard.simulator.persist import Journal

            journal = Journal(Path(state_file))
        self.state_file = state_file
        self.exchange = exchange or Exchange(seed, starting_balance=starting_balance, journal=journal)
        if journal is not None:
            journal.replay_into(self.exchange)
        keys = KeyRegistry(window_s=auth_window_s)
        keys.register(public_pem(self.private_key), DEFAULT_ACCOUNT, self.key_id)
        self.ctx = SimContext(self.exchange, keys, Buckets(tier))
        self.ctx.liquidity = Liquidity(self.exchange, seed)
        self.ctx.liquidity.seed_books()
        self.app = self._build_app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def rest_url(self) -> str:
        """``http://HOST:PORT/trade-api/v2``."""
        return f"http://{self.host}:{self.port}/trade-api/v2"

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/trade-api/ws/v2``."""
        return f"ws://{self.host}:{self.port}/trade-api/ws/v2"

    @property
    def admin_url(self) -> str:
        """``http://HOST:PORT/_sim``."""
        return f"http://{self.host}:{self.port}/_sim"

    def register_key(self, public_pem_bytes: bytes, account: str = DEFAULT_ACCOUNT) -> str:
        """Register another public key for ``account``; returns its key id."""
        return self.ctx.keys.register(public_pem_bytes, account)

    def _build_app(self) -> Any:
        from kalshi_guard.simulator.admin import admin_routes
        from kalshi_guard.simulator.ws import WsHub

        self.ctx.hub = WsHub(self.ctx, ping_interval_s=self.ping_interval_s)
        app = Starlette(routes=[*routes(self.ctx, TABLE), *self.ctx.hub.routes(), *admin_routes(self)],
                        exception_handlers={404: unrouted, 405: unrouted})

        async def outer(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                scope["sim.transport"] = getattr(getattr(receive, "__self__", None), "transport", None)
            elif scope["type"] == "websocket":
                scope["sim.ws_protocol"] = getattr(send, "__self__", None)
            await app(scope, receive, send)

        return outer

    def start(self) -> SimulatorServer:
        """Start serving in a daemon thread; returns once listening. Raises RuntimeError if it cannot."""
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off",
                                ws_ping_interval=None, ws_ping_timeout=None, timeout_graceful_shutdown=2,
                                access_log=False, log_config=None)  # leave the host process's logging alone
        self._server = QuietServer(config)
        self._server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
        started = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self.ctx.stopping = asyncio.Event()
            self.ctx.hub.bind(loop)
            tasks = [loop.create_task(self._housekeeping())]
            try:
                loop.run_until_complete(self._serve(started))
            except BaseException as exc:
                failed.append(exc)
            finally:
                for t in tasks:
                    t.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                started.set()
                loop.close()

        self._thread = threading.Thread(target=run, name=f"kalshi-sim:{self.port}", daemon=True)
        self._thread.start()
        started.wait(30)
        if failed or not self._server.started:
            raise RuntimeError(f"simulator failed to start on {self.host}:{self.port}: {failed[:1]}")
        return self

    async def _serve(self, started: threading.Event) -> None:
        assert self._server is not None
        task = asyncio.create_task(self._server.serve())
        while not self._server.started and not task.done():
            await asyncio.sleep(0.005)
        started.set()
        await task

    async def _housekeeping(self) -> None:
        liq_due = 0.0
        while True:
            await asyncio.sleep(self.tick_interval_s)
            self.exchange.tick()
            if self.liquidity_interval_s:
                liq_due += self.tick_interval_s
                if liq_due >= self.liquidity_interval_s and self.ctx.liquidity is not None:
                    liq_due = 0.0
                    self.ctx.liquidity.step()

    def stop(self) -> None:
        """Stop serving, close connections, compact the journal. Idempotent."""
        if self._server is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.ctx.stopping.set)
                loop.call_soon_threadsafe(self.ctx.hub.close_all)
            except RuntimeError:
                pass
        self._server.request_exit()
        if self._thread is not None:
            self._thread.join(10)
        self._server = None
        journal = self.exchange.journal
        if journal is not None:
            journal.compact(self.exchange)
            journal.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
