"""The operator subcommands ``status [--json]``, ``stop [--reason]`` and ``reset --reason`` (control API client).

They load the settings like the daemon does, find the control API at ``control.host:control.port``
and the token with :func:`control.auth.read_token_for_cli`. ``stop`` is an emergency stop: through the
API first; if the API does not answer or refuses, it sends ``SIGUSR1`` to the pid in
``<state dir>/kalshi-guard.pid`` and says so. Exit codes: 0 ok, 1 daemon unreachable or the request
was refused, 78 configuration error (raised as ``ConfigError`` and reported by the dispatcher).
The HTTP client ignores proxy environment variables, so the token only ever goes to the daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

EX_OK = 0
EX_FAIL = 1
DEFAULT_STOP_REASON = "emergency stop (CLI)"
_HELP = {
    "status": "show the running daemon's gate, children, mode, balance, P&L today and nearest trigger",
    "stop": "emergency stop: close the trading gate (API, falling back to SIGUSR1)",
    "reset": "lift a HALTED gate after review (needs --reason)",
}


@dataclass(frozen=True, slots=True)
class Target:
    """Where the daemon is and how to talk to it."""

    base_url: str
    token: str | None
    state_dir: Path
    timeout: float = 5.0


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``status``, ``stop`` or ``reset`` (called once per name by the dispatcher)."""
    p = subparsers.add_parser(name, parents=[common], help=_HELP[name], description=_HELP[name])
    if name == "status":
        p.add_argument("--json", action="store_true", help="print the raw status as JSON")
        p.set_defaults(func=run_status)
    elif name == "stop":
        p.add_argument("--reason", default=DEFAULT_STOP_REASON, help="why (recorded in the audit log)")
        p.set_defaults(func=run_stop)
    elif name == "reset":
        p.add_argument("--reason", required=True, help="why trading may resume (required, audited)")
        p.set_defaults(func=run_reset)
    else:  # pragma: no cover - the dispatcher only passes the three names above
        raise ValueError(f"cmd_ops does not implement {name!r}")


# -- target resolution ------------------------------------------------------------------------------


def _connect_host(host: str) -> str:
    """The address to connect to for a bind address (a wildcard bind is reached over loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def resolve_target(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Target:
    """Load the settings (``--config``) and find the daemon's URL, token and state directory.

    Raises ``ConfigError`` for a bad configuration or an unsafe token file.
    """
    from kalshi_guard.config.loader import load_settings
    from kalshi_guard.config.paths import resolve_state_dir
    from kalshi_guard.control.auth import read_token_for_cli

    env = os.environ if env is None else env
    config = getattr(args, "config", None)
    settings = load_settings(Path(config) if config else None, env=env)
    state = resolve_state_dir(settings, env)
    token = read_token_for_cli(settings, state, env=env)
    base = f"http://{_connect_host(settings.control.host)}:{settings.control.port}"
    return Target(base, token, state)


def _client(target: Target, timeout: float | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    return httpx.Client(
        base_url=target.base_url, headers=headers, timeout=timeout or target.timeout, trust_env=False
    )


def _err(text: str) -> None:
    print(f"kalshi-guard: {text}", file=sys.stderr)


def _no_token(target: Target) -> None:
    _err(
        f"no control token: none configured and {target.state_dir / 'control-token'} does not exist "
        "(has the daemon started with this configuration and state directory?)"
    )


def _refusal(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("error")
        if detail:
            return f"HTTP {response.status_code}: {detail}"
    return f"HTTP {response.status_code}"


# -- status -----------------------------------------------------------------------------------------


def _when(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(ts)


def _sim_admin_token(status: Mapping[str, Any]) -> str | None:
    """The embedded paper simulator's ``/_sim`` admin token, read from the file the status names (the API
    answers the file, never the token); None when there is none or this user cannot read it."""
    exchange = status.get("exchange")
    path = exchange.get("sim_admin_token_file") if isinstance(exchange, Mapping) else None
    if not isinstance(path, str):
        return None
    try:
        return Path(path).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def format_status(status: Mapping[str, Any], url: str) -> str:
    """A readable multi-line summary of ``GET /api/status`` (unknown keys are listed at the end)."""
    lines = [f"kalshi-guard at {url}"]
    shown = {"mode", "ready", "pid", "uptime_s", "gate", "children", "restart_incidents", "healthy", "limits"}
    if "mode" in status:
        lines.append(f"  mode:      {status['mode']}")
    gate = status.get("gate")
    if isinstance(gate, Mapping):
        line = f"  gate:      {gate.get('state', '?')}"
        if gate.get("reason"):
            line += f" — {gate['reason']}"
        extra = [f"by {gate['source']}"] if gate.get("source") else []
        if gate.get("changed_at") is not None:
            extra.append(f"since {_when(gate['changed_at'])}")
        if extra:
            line += f" ({', '.join(extra)})"
        lines.append(line)
    for key, label in (("ready", "ready"), ("healthy", "healthy"), ("pid", "pid"), ("uptime_s", "uptime")):
        if key in status:
            value = status[key]
            if key == "uptime_s":
                value = f"{value} s"
            lines.append(f"  {label + ':':<10} {value}")
    if "restart_incidents" in status:
        lines.append(f"  restarts:  {status['restart_incidents']}")
    limits = status.get("limits")
    if isinstance(limits, Mapping):
        for key, label in (("max_daily_loss", "daily loss"), ("max_order_loss", "order loss")):
            if isinstance(limits.get(key), Mapping):
                lines.append(f"  {label + ':':<10} limit {limits[key].get('shown', '?')}")
        if "max_open_positions" in limits:
            lines.append(f"  {'positions:':<10} at most {limits['max_open_positions']} markets")
        rollout = limits.get("rollout")
        if isinstance(rollout, Mapping) and "name" in rollout:
            lines.append(f"  {'rollout:':<10} stage {rollout['stage'] + 1}/{rollout['of']} {rollout['name']} "
                         f"({'may advance' if rollout.get('may_advance') else rollout.get('advance', '')})")
    children = status.get("children")
    if isinstance(children, list) and children:
        lines.append("  children:")
        for child in children:
            if isinstance(child, Mapping):
                bits = [str(child.get("status", "?"))]
                if child.get("restarts"):
                    bits.append(f"restarts {child['restarts']}")
                if child.get("last_exit"):
                    bits.append(f"last exit: {child['last_exit']}")
                lines.append(f"    {child.get('name', '?'):<14} {', '.join(bits)}")
            else:
                lines.append(f"    {child}")
    elif isinstance(children, Mapping):
        lines.append("  children:")
        lines.extend(f"    {name:<14} {state}" for name, state in children.items())
    sim_token = _sim_admin_token(status)
    if sim_token is not None:
        lines.append(f"  sim admin token: {sim_token}  (paper simulator's /_sim routes: Authorization: Bearer)")
    for key, value in status.items():
        if key not in shown:
            rendered = json.dumps(value, default=str) if isinstance(value, dict | list) else value
            lines.append(f"  {key + ':':<10} {rendered}")
    return "\n".join(lines)


def run_status(args: argparse.Namespace) -> int:
    """``kalshi-guard status [--json]``: 0 with the status printed, 1 if unreachable or refused."""
    target = resolve_target(args)
    if target.token is None:
        _no_token(target)
        return EX_FAIL
    from kalshi_guard.control.account_text import fetch_account_lines

    try:
        with _client(target) as client:
            response = client.get("/api/status")
            account = fetch_account_lines(client) if response.status_code == 200 else []
    except httpx.HTTPError as exc:
        _err(f"the daemon does not answer at {target.base_url} ({type(exc).__name__})")
        return EX_FAIL
    if response.status_code != 200:
        _err(f"status refused: {_refusal(response)}")
        return EX_FAIL
    status = response.json()
    limits = _limits(target)
    if getattr(args, "json", False):
        print(json.dumps({**status, "limits": limits} if limits is not None else status, indent=2, sort_keys=True))
    else:
        print("\n".join([format_status(status, target.base_url), *account]))
        if limits is not None:
            print(format_limits(limits))
    return EX_OK


def _limits(target: Target) -> list[dict[str, Any]] | None:
    """``GET /api/limits``, or None when the daemon does not serve it (an older daemon) or fails."""
    try:
        with _client(target) as client:
            response = client.get("/api/limits")
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    body = response.json()
    return body.get("limits") if isinstance(body, dict) else None


def format_limits(limits: list[dict[str, Any]]) -> str:
    """The kill-switch triggers as a table: code, value, limit, distance, action, config key."""
    lines = ["  kill switch:"]
    if not limits:
        lines.append("    (not evaluated yet)")
    for r in limits:
        flag = "TRIPPED" if r.get("tripped") else "ok"
        lines.append(f"    {r.get('code', '?'):<15} {flag:<8} value {r.get('value', '?'):>10}  limit "
                     f"{r.get('limit', '?'):>8}  distance {r.get('distance', '?'):>10}  {r.get('action', '?'):<6} "
                     f"({r.get('config_key', '?')})")
    return "\n".join(lines)


# -- stop -------------------------------------------------------------------------------------------


def signal_daemon(state_dir: Path) -> tuple[bool, str]:
    """Send SIGUSR1 to the pid in ``<state dir>/kalshi-guard.pid``; returns (sent, what happened).

    Refuses a pid whose process started after the file was written (a reused pid: SIGUSR1 would kill
    an unrelated process). Never raises.
    """
    from kalshi_guard.control.pidfile import holder_pid, pidfile_path, read_pid

    path = pidfile_path(state_dir)
    pid = read_pid(path)
    if pid is None:
        return False, f"no pid file at {path}"
    if holder_pid(path) is None:
        return False, f"pid {pid} from {path} is not a running kalshi-guard (stale pid file)"
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return False, f"pid {pid} from {path} is not running"
    except PermissionError:
        return False, f"not permitted to signal pid {pid} (run as the daemon's user or root)"
    except OSError as exc:
        return False, f"could not signal pid {pid}: {exc.strerror}"
    return True, f"sent SIGUSR1 to pid {pid} (from {path})"


def run_stop(args: argparse.Namespace) -> int:
    """``kalshi-guard stop``: emergency stop via the API, else SIGUSR1 from the pid file.

    0 when the API confirmed the stop or the signal was delivered; 1 when neither worked.
    """
    target = resolve_target(args)
    reason = (getattr(args, "reason", None) or DEFAULT_STOP_REASON).strip() or DEFAULT_STOP_REASON
    why: str
    if target.token is None:
        why = "no control token found"
    else:
        try:
            with _client(target) as client:
                response = client.post("/api/bot/emergency-stop", json={"reason": reason})
        except httpx.HTTPError as exc:
            why = f"the API at {target.base_url} did not answer ({type(exc).__name__})"
        else:
            if response.status_code == 200:
                body = response.json()
                result = body.get("result") if isinstance(body, dict) else None
                state = result.get("state") if isinstance(result, dict) else None
                print(f"emergency stop accepted by the API; gate {state or 'closed'}")
                return EX_OK
            why = f"the API refused ({_refusal(response)})"
    sent, what = signal_daemon(target.state_dir)
    print(f"{why}; falling back to SIGUSR1 from the pid file", file=sys.stderr)
    if sent:
        print(f"emergency stop: {what}; check with `kalshi-guard status`")
        return EX_OK
    _err(f"emergency stop NOT delivered: {what}")
    return EX_FAIL


# -- reset ------------------------------------------------------------------------------------------


def run_reset(args: argparse.Namespace) -> int:
    """``kalshi-guard reset --reason R``: 0 when the gate was lifted, 1 when unreachable or refused."""
    reason = (getattr(args, "reason", None) or "").strip()
    if not reason:
        _err("reset needs a non-empty --reason")
        return EX_FAIL
    target = resolve_target(args)
    if target.token is None:
        _no_token(target)
        return EX_FAIL
    try:
        # a reset reconciles with the exchange first, so it may take longer than a status call
        with _client(target, timeout=60.0) as client:
            response = client.post("/api/bot/reset", json={"reason": reason})
    except httpx.HTTPError as exc:
        _err(f"the daemon does not answer at {target.base_url} ({type(exc).__name__})")
        return EX_FAIL
    if response.status_code != 200:
        _err(f"reset refused: {_refusal(response)}")
        return EX_FAIL
    body = response.json()
    result = body.get("result") if isinstance(body, dict) else None
    state = result.get("state") if isinstance(result, dict) else None
    print(f"reset accepted; gate {state or 'reset'}")
    return EX_OK
