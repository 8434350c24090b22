"""The paper/live switch: two audited steps to LIVE, one step back to PAPER, and the mode that survives restarts.

- ``POST /api/mode {"mode": "live"}`` — step one: runs the pre-live checklist and answers it with a one-time
  ``challenge`` that expires after ``CHALLENGE_TTL_S`` (two minutes).
- ``POST /api/mode {"mode": "live", "challenge": …, "confirm": "LIVE"}`` — step two: accepted only with that
  challenge (once: any confirm attempt spends it), the typed word ``LIVE``, and a checklist that passes
  again now. Refusals: 409 (checklist fails), 400 (wrong word), 410 (unknown, expired or spent challenge).
- ``POST /api/mode {"mode": "paper"}`` — always allowed, one step.

An accepted switch never happens mid-order: the gate closes (HALTED, persisted) first, the mode is recorded
(activity row ``MODE``; the latest row wins at every start), and the daemon re-executes itself so every
actor, client and stream is rebuilt on the chosen exchange; its start-up reconciliation runs there and the
gate stays HALTED until the operator's audited reset — a second, separate decision.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kalshi_guard.config.schema import Mode, Settings
from kalshi_guard.core.errors import ConfigError

MODE = "MODE"
CHALLENGE_TTL_S = 120.0
CONFIRM_WORD = "LIVE"


class SwitchRefused(Exception):
    """A refused step: ``status`` is the HTTP status to answer, ``reason`` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Challenge:
    """A step-one answer: the secret to send back and when it stops being accepted (monotonic seconds)."""

    token: str
    expires_at: float


class Challenges:
    """One-time challenges: issued by step one, spent by the first confirm attempt, void after the TTL.
    Thread-safe (requests arrive on the server's threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl_s: float = CHALLENGE_TTL_S) -> None:
        self._clock, self._ttl = clock, ttl_s
        self._open: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> Challenge:
        now = self._clock()
        with self._lock:
            self._open = {k: v for k, v in self._open.items() if v > now}  # forget the expired
            token = secrets.token_urlsafe(24)
            self._open[token] = now + self._ttl
        return Challenge(token, now + self._ttl)

    def spend(self, token: str) -> None:
        """Accept ``token`` once. Raises ``SwitchRefused(410)`` when it is unknown, spent or expired."""
        now = self._clock()
        with self._lock:
            found = next((k for k in self._open if hmac.compare_digest(k.encode(), token.encode())), None)
            expires = self._open.pop(found, None) if found is not None else None
        if expires is None:
            raise SwitchRefused(410, "the challenge is unknown or was already used: start again with step one")
        if now > expires:
            raise SwitchRefused(410, "the challenge expired (two minutes): start again with step one")


def recorded_mode(ledger: Any) -> Mode | None:
    """The mode the last switch chose (None when there never was a switch: the config decides)."""
    rows = ledger.activity(MODE, limit=1)
    if not rows or not rows[0].details:
        return None
    try:
        return Mode(rows[0].details.get("mode"))
    except ValueError:
        return None


def settings_for(settings: Settings, mode: Mode) -> Settings:
    """``settings`` trading in ``mode``: LIVE trades on ``golive.exchange`` (a ConfigError when none is set:
    the daemon refuses to start rather than trade somewhere unintended); PAPER as the config says, on the
    simulator when the config's own exchange is a live one."""
    if mode is settings.mode:
        return settings
    if mode is Mode.LIVE:
        if settings.golive.exchange is None:
            raise ConfigError(["golive.exchange: required — the ledger records a switch to LIVE, but the config "
                               "names no live exchange (set it, or switch back with POST /api/mode {mode: paper})"])
        return settings.model_copy(update={"mode": Mode.LIVE, "exchange": settings.golive.exchange})
    from kalshi_guard.config.schema import ExchangeSettings

    paper_exchange = settings.exchange if settings.exchange.environment.value == "simulator" else ExchangeSettings()
    return settings.model_copy(update={"mode": Mode.PAPER, "exchange": paper_exchange})


def record_mode(ledger: Any, mode: Mode, source: str, reason: str, preflight: dict[str, Any] | None) -> None:
    """The audited ``MODE`` row the next start reads."""
    ledger.log_activity(MODE, "WARNING", f"mode switched to {mode.value.upper()} by {source}: {reason}",
                        {"mode": mode.value, "source": source, "reason": reason, "preflight": preflight})


_CHALLENGES = Challenges()


def switch_step(daemon: Any, body: dict[str, Any], source: str, challenges: Challenges | None = None) -> dict[str, Any]:
    """Run one step of the switch against the running ``daemon`` (its settings, ledger and stop). Raises
    ``SwitchRefused`` with the HTTP status of the refusal."""
    from kalshi_guard.control.preflight import run_preflight

    challenges = challenges or _CHALLENGES
    try:
        raw_mode = body.get("mode")
        target = Mode(raw_mode if isinstance(raw_mode, str) else "")
    except ValueError:
        raise SwitchRefused(400, "field 'mode' must be 'live' or 'paper'") from None
    if target is Mode.PAPER:
        if daemon.settings.mode is Mode.PAPER:
            raise SwitchRefused(409, "already in PAPER mode")
        _accept(daemon, Mode.PAPER, source, "back to paper", None)
        return {"ok": True, "mode": "paper", "switching": True,
                "next": "the daemon restarts in paper mode; the gate stays HALTED until a reset"}
    if daemon.settings.mode is Mode.LIVE:
        raise SwitchRefused(409, "already in LIVE mode")
    if "challenge" not in body:
        report = run_preflight(daemon.settings, daemon.ledger)
        issued = challenges.issue()
        return {"step": 1, "preflight": report.to_json(), "challenge": issued.token,
                "expires_in_s": CHALLENGE_TTL_S, "confirm_with": CONFIRM_WORD,
                "next": "POST /api/mode again with this challenge and confirm = LIVE within two minutes"}
    challenge, word = body.get("challenge"), body.get("confirm")
    if not isinstance(challenge, str) or not challenge:
        raise SwitchRefused(400, "field 'challenge' must be the string step one returned")
    challenges.spend(challenge)  # spent by any attempt, right or wrong
    if word != CONFIRM_WORD:
        raise SwitchRefused(400, "field 'confirm' must be the word LIVE, typed exactly")
    report = run_preflight(daemon.settings, daemon.ledger)
    if not report.ok:
        failed = [c.name for c in report.checks if c.verdict.value == "FAIL"]
        raise SwitchRefused(409, f"the pre-live checklist fails: {', '.join(failed)}")
    _accept(daemon, Mode.LIVE, source, "pre-live checklist passed; confirmed with LIVE", report.to_json())
    return {"ok": True, "mode": "live", "switching": True, "preflight": report.to_json(),
            "next": "the daemon restarts on the live exchange, reconciles there, and stays HALTED until a reset"}


def _accept(daemon: Any, mode: Mode, source: str, reason: str, preflight: dict[str, Any] | None) -> None:
    """Close the gate (the emergency-stop path: halt, cancel resting orders, audit) before anything else,
    then record the mode and ask the main loop to re-execute."""
    daemon.emergency_stop(source, f"switching to {mode.value.upper()}: {reason}")
    record_mode(daemon.ledger, mode, source, reason, preflight)
    daemon.switch_to = mode
    wake = getattr(daemon.router, "wake", None)
    if callable(wake):
        wake()


# -- HTTP and CLI -------------------------------------------------------------------------------------


def mode_routes(port: Any) -> list[Any]:
    """``POST /api/mode`` (token like every route): the steps above, refusals with their status."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from kalshi_guard.control.request_body import parse_json

    async def mode(request: Request) -> Response:
        body, problem = parse_json(await request.body())
        if problem is not None:
            return JSONResponse({"error": problem}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, 400)
        try:
            return JSONResponse(await run_in_threadpool(port.switch_mode, body, "http"))
        except SwitchRefused as exc:
            return JSONResponse({"error": exc.reason}, exc.status)

    return [Route("/api/mode", mode, methods=["POST"])]


def add_parser(subparsers: Any, name: str, common: Any) -> None:
    """Register ``go-live`` (two steps: the checklist, then the typed word) and ``go-paper`` (one step)."""
    helps = {"go-live": "switch the running daemon to LIVE: pre-live checklist, then type LIVE to confirm",
             "go-paper": "switch the running daemon back to PAPER (always allowed)"}
    p = subparsers.add_parser(name, parents=[common], help=helps[name], description=__doc__)
    p.set_defaults(func=_go_live if name == "go-live" else _go_paper)


def _post(args: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from kalshi_guard.control.cmd_ops import _client, resolve_target

    target = resolve_target(args)
    with _client(target, timeout=60) as client:
        r = client.post("/api/mode", json=body)
    try:
        answer = r.json()
    except ValueError:
        answer = {"error": r.text[:200]}
    return r.status_code, answer


def _go_paper(args: Any) -> int:
    import sys

    status, answer = _post(args, {"mode": "paper"})
    if status != 200:
        print(f"kalshi-guard go-paper: refused ({status}): {answer.get('error')}", file=sys.stderr)
        return 1
    print(answer.get("next", "switching to paper"))
    return 0


def _go_live(args: Any) -> int:
    import sys

    from kalshi_guard.control.preflight import Check, Report, Verdict, format_report

    status, answer = _post(args, {"mode": "live"})
    if status != 200:
        print(f"kalshi-guard go-live: refused ({status}): {answer.get('error')}", file=sys.stderr)
        return 1
    checks = tuple(Check(c["name"], Verdict(c["verdict"]), c["detail"], c.get("fix", ""))
                   for c in answer["preflight"]["checks"])
    sys.stdout.write(format_report(Report(checks)))
    if not answer["preflight"]["ok"]:
        return 1
    print("Type LIVE (in capitals) to switch this daemon to live trading, anything else to stop: ", end="", flush=True)
    word = sys.stdin.readline().strip()
    status, answer = _post(args, {"mode": "live", "challenge": answer["challenge"], "confirm": word})
    if status != 200:
        print(f"kalshi-guard go-live: refused ({status}): {answer.get('error')}", file=sys.stderr)
        return 1
    print(answer["next"])
    return 0
