"""One verifying TLS context per process, shared by every HTTP client the daemon opens.

httpx builds a new ``SSLContext`` and loads the whole CA bundle for every client it creates (about 40 ms of
CPU each on a small machine); the daemon opens one client per actor, so at start-up that was a third of a
second spent loading the same certificates again and again. An ``SSLContext`` is safe to share between
threads once configured. Verification stays on: this is httpx's own default context, built once.
"""

from __future__ import annotations

import ssl
import threading

import httpx

_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def shared_tls_context() -> ssl.SSLContext:
    """The process's verifying TLS context (httpx's defaults: system-independent CA bundle, hostname checks),
    built on first use. Raises ``ssl.SSLError``/``OSError`` if the CA bundle cannot be read (nothing cached
    then: the next call tries again)."""
    global _context
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context(trust_env=False)
        return _context
