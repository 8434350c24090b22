"""kalshi-guard: a live-trading safety daemon for the Kalshi exchange.

Installed, the repository's top-level folders live under this one package (``kalshi_guard.actors``,
``kalshi_guard.supervisor``, …), so nothing collides with other distributions; ``pyproject.toml`` maps
them (``package-dir``). See ``docs/architecture.md``.
"""

__version__ = "0.1.0"
