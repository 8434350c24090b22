"""A Kalshi-compatible exchange on loopback (REST + WebSocket) with fault injection."""
