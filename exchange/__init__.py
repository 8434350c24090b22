"""Speaks Kalshi: request signing, the REST client, the WebSocket stream and the wire types."""
