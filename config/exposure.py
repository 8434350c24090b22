"""Where the control API may listen: loopback freely; off loopback only with a token the operator chose.

The control API carries the emergency stop, resets and order entry. Bound to a loopback address
(``127.0.0.0/8``, ``::1``, ``localhost``) it is reachable only from this machine. Any other
``control.host`` (``0.0.0.0``, ``::``, a LAN address, a host name) exposes it to the network, so:

- the control server logs a loud warning when it starts listening (:func:`exposure_warning`);
- the configuration is refused (``ConfigError``, exit 78) unless ``control.token`` is set explicitly —
  in the config file, the ``KALSHI_GUARD_CONTROL__TOKEN`` environment variable or the systemd credential
  ``control-token`` (all of which the loader maps to ``control.token``). The token the daemon would
  otherwise generate into ``<state dir>/control-token`` is meant for same-user CLI use on this machine:
  nobody chose, rotated or distributed it for network clients, and it lives beside the ledger.
"""

from __future__ import annotations

import ipaddress

from kalshi_guard.config.schema import Settings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine: a loopback IP literal or ``localhost``. A host name
    other than those (it could resolve anywhere) and the wildcard addresses are not loopback."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_problems(settings: Settings) -> list[str]:
    """A config problem when the control API would listen off loopback without an explicit token."""
    host = settings.control.host
    if is_loopback(host) or settings.control.token is not None:
        return []
    return [f"control.host: {host!r} — off loopback the control API needs an explicit control.token (config "
            "file, KALSHI_GUARD_CONTROL__TOKEN or the systemd credential 'control-token'); the generated "
            "token file is for local use only. Use 127.0.0.1 (the default) to keep the API on this machine"]


def exposure_warning(host: str, port: int) -> str | None:
    """The warning the control server logs when it listens off loopback (None on loopback)."""
    if is_loopback(host):
        return None
    return (f"control API bound to {host}:{port}, OFF LOOPBACK: anyone who can reach this "
            "address can try the token; the emergency stop, resets and order entry are exposed to the network. "
            "Prefer 127.0.0.1 behind an authenticated tunnel or proxy")
