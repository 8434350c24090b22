"""``kalshi-guard preflight [--json]``: the pre-live checklist, each check PASS, WARN or FAIL with how to fix it.

The checks read the configuration, the ledger, and the **target** exchange — ``golive.exchange`` when it is
set (the exchange the live switch would use), else ``exchange``:

credentials   a signed read (``GET /portfolio/balance``) succeeds, and the key file is mode 0600/0400
clock         the exchange's ``Date`` is within ``golive.max_clock_skew_s`` of ours (the header has 1 s steps)
reconcile     the last reconciliation was clean and recent (an hour)
drill         a kill-switch drill passed within ``golive.drill_max_age_days``
alerts        every configured alert channel delivered a test alert (``kalshi-guard test-alert``)
backups       scheduled backups are on and a restore was verified within ``golive.restore_max_age_days``
rollout       rollout stages are configured, so live trading starts small
paper         ``golive.paper_hours`` of runs with no failed reconciliation and every kill switch reset
systemd       running under systemd with the watchdog (WARN elsewhere: it is not required)

``preflight`` exits 0 when nothing FAILs, 1 otherwise, 78 for a bad config. The live switch runs the same
checks and refuses on any FAIL. A check that cannot run (the ledger or the exchange unreachable) FAILs and
says why: it never passes by default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from kalshi_guard.config.schema import ExchangeSettings, Settings
from kalshi_guard.core.exits import EX_FAIL, EX_OK

DAY_S = 86400.0
RECONCILE_MAX_AGE_S = 3600.0


class Verdict(StrEnum):
    """A check's outcome; only FAIL blocks the live switch."""

    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist: what, the verdict, what was found, and how to fix a WARN or FAIL."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """The whole checklist; ``ok`` when nothing FAILs."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.verdict is not Verdict.FAIL for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [{**asdict(c), "verdict": c.verdict.value} for c in self.checks]}


def target_exchange(settings: Settings) -> ExchangeSettings:
    """The exchange the live switch would trade on: ``golive.exchange``, else ``exchange``."""
    return settings.golive.exchange or settings.exchange


def _credentials_and_clock(settings: Settings, now: Callable[[], float]) -> list[Check]:
    from kalshi_guard.config.endpoints import resolve
    from kalshi_guard.core.errors import ConfigError
    from kalshi_guard.exchange.keys import key_file_problems, load_private_key
    from kalshi_guard.exchange.signing import Signer

    ex = target_exchange(settings)
    fix = "set golive.exchange (or exchange) key_id and private_key_file for the live account; chmod 600 the key"
    if not ex.key_id or ex.private_key_file is None:
        return [Check("credentials", Verdict.FAIL, "no key id or key file for the target exchange", fix),
                Check("clock", Verdict.FAIL, "not checked: no credentials", fix)]
    problems = key_file_problems(ex.private_key_file)
    if problems:
        return [Check("credentials", Verdict.FAIL, problems[0], fix),
                Check("clock", Verdict.FAIL, "not checked: no usable key", fix)]
    try:
        urls = resolve(ex)
        signer = Signer(ex.key_id, load_private_key(ex.private_key_file))
    except ConfigError as exc:
        return [Check("credentials", Verdict.FAIL, exc.problems[0], fix),
                Check("clock", Verdict.FAIL, "not checked", fix)]
    path = "/portfolio/balance"
    signed_path = httpx.URL(urls.rest_url + path).path
    sent = now()
    try:
        r = httpx.get(urls.rest_url + path, headers=signer.headers("GET", signed_path), timeout=ex.request_timeout_s,
                      trust_env=False)
    except httpx.HTTPError as exc:
        down = f"the exchange at {urls.rest_url} did not answer ({type(exc).__name__})"
        return [Check("credentials", Verdict.FAIL, down, "check the network and the exchange URLs"),
                Check("clock", Verdict.FAIL, down, "check the network and the exchange URLs")]
    got = now()
    if r.status_code != 200:
        creds = Check("credentials", Verdict.FAIL, f"a signed read was refused (HTTP {r.status_code})",
                      "check that the key id belongs to this environment and the key was not revoked")
    else:
        creds = Check("credentials", Verdict.PASS, f"signed read OK on {urls.rest_url}")
    return [creds, _clock(r.headers.get("date"), (sent + got) / 2, settings.golive.max_clock_skew_s)]


def _clock(date_header: str | None, local: float, allowed: float) -> Check:
    fix = "synchronise the clock (systemd-timesyncd or chrony); Kalshi refuses requests signed too far off"
    if not date_header:
        return Check("clock", Verdict.FAIL, "the exchange sent no Date header to compare with", fix)
    try:
        server = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return Check("clock", Verdict.FAIL, f"the exchange's Date header {date_header!r} does not parse", fix)
    skew = local - server
    if abs(skew) > allowed + 1.0:  # the header has whole seconds
        return Check("clock", Verdict.FAIL, f"our clock is {skew:+.1f} s off the exchange's (allowed {allowed} s)", fix)
    return Check("clock", Verdict.PASS, f"skew {skew:+.1f} s (allowed {allowed} s, the header has 1 s steps)")


def _ledger_checks(settings: Settings, ledger: Any, now: float, env: dict[str, str]) -> list[Check]:
    g = settings.golive
    checks = [_reconcile(ledger, now), _drill(ledger, now, g.drill_max_age_days), _alerts(settings, ledger),
              _backups(settings, ledger, now), _rollout(settings), _paper(ledger, now, g.paper_hours)]
    return [*checks, _systemd(env)]


def _reconcile(ledger: Any, now: float) -> Check:
    fix = "run `kalshi-guard reconcile` and resolve what it reports"
    last = ledger.last_reconciliation()
    if last is None:
        return Check("reconcile", Verdict.FAIL, "no reconciliation was ever recorded", fix)
    if not last.ok:
        return Check("reconcile", Verdict.FAIL, f"the last reconciliation was not clean: {last.summary}", fix)
    age = now - last.finished_at
    if age > RECONCILE_MAX_AGE_S:
        return Check("reconcile", Verdict.FAIL, f"the last clean reconciliation is {age / 3600:.1f} h old", fix)
    return Check("reconcile", Verdict.PASS, f"clean, {age / 60:.0f} min ago")


def _drill(ledger: Any, now: float, max_days: float) -> Check:
    fix = "run `kalshi-guard drill` against the simulator"
    for row in ledger.activity("DRILL", limit=20):
        if row.level.upper() == "INFO":
            age = (now - row.at) / DAY_S
            if age <= max_days:
                return Check("drill", Verdict.PASS, f"a passing drill {age:.1f} day(s) ago: {row.message}")
            return Check("drill", Verdict.FAIL, f"the last passing drill is {age:.1f} days old (max {max_days})", fix)
    return Check("drill", Verdict.FAIL, "no passing kill-switch drill is recorded", fix)


def _alerts(settings: Settings, ledger: Any) -> Check:
    channels = configured_channels(settings)
    if not channels:
        return Check("alerts", Verdict.FAIL, "no alert channel is configured",
                     "configure Discord and/or PagerDuty in [alerts], then run `kalshi-guard test-alert`")
    tested = tested_channels(ledger)
    missing = [c for c in channels if c not in tested]
    if missing:
        return Check("alerts", Verdict.FAIL, f"no test alert delivered on: {', '.join(missing)}",
                     "run `kalshi-guard test-alert` and check each channel received it")
    return Check("alerts", Verdict.PASS, f"test alert delivered on {', '.join(channels)}")


def configured_channels(settings: Settings) -> list[str]:
    """Names of the alert channels the settings configure (a channel with a URL or routing key)."""
    return sorted(settings.alerts.configured())


def tested_channels(ledger: Any) -> set[str]:
    """Channels with a delivered test alert, from ``TEST_ALERT`` activity rows (details ``{"channel", "ok"}``)."""
    out = set()
    for row in ledger.activity("TEST_ALERT", limit=200):
        details = row.details or {}
        if details.get("ok") and details.get("channel"):
            out.add(str(details["channel"]))
    return out


def _backups(settings: Settings, ledger: Any, now: float) -> Check:
    if settings.backup.interval_s <= 0:
        return Check("backups", Verdict.FAIL, "scheduled backups are off (backup.interval_s = 0)",
                     "set backup.interval_s (e.g. 3600)")
    fix = "run `kalshi-guard backup`, then `kalshi-guard restore --from FILE --check`"
    rows = ledger.activity("RESTORE_VERIFIED", limit=1)
    if not rows:
        return Check("backups", Verdict.FAIL, "no restore was ever verified", fix)
    age = (now - rows[0].at) / DAY_S
    if age > settings.golive.restore_max_age_days:
        return Check("backups", Verdict.FAIL, f"the last verified restore is {age:.1f} days old", fix)
    return Check("backups", Verdict.PASS, f"every {settings.backup.interval_s:g} s; restore verified "
                                          f"{age:.1f} day(s) ago")


def _rollout(settings: Settings) -> Check:
    stages = settings.golive.stages
    if not stages:
        return Check("rollout", Verdict.FAIL, "no rollout stages: live trading would start at the full limits",
                     "configure [[golive.stages]] (see config/example.toml)")
    first = stages[0].model_dump(mode="json", exclude={"name", "advance_after_days"}, exclude_none=True)
    return Check("rollout", Verdict.PASS, f"{len(stages)} stages; live starts at {stages[0].name!r} {first}")


def _paper(ledger: Any, now: float, hours: float) -> Check:
    fix = f"run in paper mode for {hours:g} h with clean reconciliations; reset every kill switch with a reason"
    ran = ledger.run_hours(now)
    if ran < hours:
        return Check("paper", Verdict.FAIL, f"{ran:.1f} h of runs recorded (need {hours:g})", fix)
    failed = ledger.failed_reconciliations()
    if failed:
        return Check("paper", Verdict.FAIL, f"{failed} reconciliation(s) found discrepancies", fix)
    kills, resets = ledger.activity("KILL_SWITCH", limit=10_000), ledger.activity("RESET", limit=10_000)
    if kills and (not resets or max(r.at for r in resets) < max(k.at for k in kills)):
        return Check("paper", Verdict.FAIL, "a kill switch tripped and was never reset with a reason", fix)
    return Check("paper", Verdict.PASS, f"{ran:.1f} h of runs, no discrepancy, {len(kills)} kill switch(es) reset")


def _systemd(env: dict[str, str]) -> Check:
    if env.get("NOTIFY_SOCKET") and env.get("WATCHDOG_USEC"):
        return Check("systemd", Verdict.PASS, f"under systemd, watchdog {int(env['WATCHDOG_USEC']) / 1e6:g} s")
    return Check("systemd", Verdict.WARN, "not running under systemd with the watchdog",
                 "run it with systemd/kalshi-guard.service (WatchdogSec=) so a hung daemon is restarted")


def run_preflight(settings: Settings, ledger: Any, *, env: dict[str, str] | None = None,
                  now: Callable[[], float] = time.time, wall: Callable[[], float] = time.time) -> Report:
    """Every check, in order. Never raises: a check that cannot run FAILs with the reason. ``now`` dates the
    ledger's records; ``wall`` is this machine's clock compared with the exchange's."""
    env = dict(os.environ) if env is None else env
    checks = _credentials_and_clock(settings, wall)
    try:
        checks += _ledger_checks(settings, ledger, now(), env)
    except Exception as exc:  # the ledger failed mid-way: the rest cannot be trusted
        checks.append(Check("ledger", Verdict.FAIL, f"the ledger could not be read ({type(exc).__name__})",
                            "check the ledger URL / state directory"))
    return Report(tuple(checks))


def format_report(report: Report) -> str:
    """Aligned lines, FAIL and WARN with their fix."""
    lines = []
    for c in report.checks:
        lines.append(f"{c.verdict.value:<4}  {c.name:<12} {c.detail}")
        if c.verdict is not Verdict.PASS and c.fix:
            lines.append(f"      {'':<12} fix: {c.fix}")
    lines.append("ready to go live" if report.ok else "NOT ready to go live")
    return "\n".join(lines) + "\n"


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``preflight``."""
    p = subparsers.add_parser(name, parents=[common], help="the pre-live checklist (PASS/WARN/FAIL with fixes)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kalshi_guard.config.loader import load_settings
    from kalshi_guard.config.paths import ledger_url
    from kalshi_guard.ledger.store import Ledger

    settings = load_settings(Path(args.config) if getattr(args, "config", None) else None)
    ledger = Ledger.open(ledger_url(settings))
    try:
        report = run_preflight(settings, ledger)
    finally:
        ledger.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    else:
        sys.stdout.write(format_report(report))
    return EX_OK if report.ok else EX_FAIL
