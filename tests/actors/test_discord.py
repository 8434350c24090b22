"""Specification of the Discord channel's request: the versioned URL, the body within Discord's limits."""

from __future__ import annotations

from kalshi_guard.actors.discord import DiscordChannel, normalise_webhook_url
from kalshi_guard.ledger.records import OutboxAlert


def alert(i: int, severity: str = "info", fields: tuple[tuple[str, str], ...] = ()) -> OutboxAlert:
    return OutboxAlert(id=i, channel="discord", severity=severity, title=f"t{i}", fields=fields, dedup_key=None,
                       created_at=0.0, attempts=0, last_error=None)


class TestUrl:
    def test_unversioned_url_is_rewritten_to_v10_with_wait(self):
        """The URL the Discord UI copies (unversioned: v6, retry_after in ms) goes to /api/v10 with wait=true."""
        assert normalise_webhook_url("https://discord.com/api/webhooks/1/tok") == (
            "https://discord.com/api/v10/webhooks/1/tok?wait=true")

    def test_old_version_replaced_and_query_kept(self):
        """An explicit old version becomes v10; thread_id stays; wait=false becomes wait=true."""
        assert normalise_webhook_url("https://discordapp.com/api/v6/webhooks/1/tok?thread_id=9&wait=false") == (
            "https://discordapp.com/api/v10/webhooks/1/tok?thread_id=9&wait=true")


class TestBody:
    def test_colours_and_mentions(self):
        """Colour by severity; @here and parse=everyone only when a CRITICAL alert is in the message."""
        ch = DiscordChannel("https://discord.com/api/webhooks/1/tok")
        quiet = ch.build([alert(1), alert(2, "warning")])
        loud = ch.build([alert(3, "critical")])
        assert [e["color"] for e in quiet["embeds"]] == [0x3498DB, 0xF1C40F]
        assert quiet["allowed_mentions"] == {"parse": []}
        assert "content" not in quiet
        assert loud["content"] == "@here"
        assert loud["allowed_mentions"] == {"parse": ["everyone"]}
        no_ping = DiscordChannel("https://discord.com/api/webhooks/1/tok", mention_critical=False)
        assert "content" not in no_ping.build([alert(4, "critical")])

    def test_pack_respects_ten_embeds_and_the_total(self):
        """At most 10 embeds a message; big alerts are packed fewer per message so the total stays ≤ 6,000."""
        ch = DiscordChannel("https://discord.com/api/webhooks/1/tok")
        assert len(ch.pack([alert(i) for i in range(25)])) == 10
        big = [alert(i, fields=(("detail", "x" * 1000), ("more", "y" * 1000))) for i in range(10)]
        packed = ch.pack(big)
        body = ch.build(packed)
        total = sum(len(e["title"]) + len(e["footer"]["text"]) + sum(len(f["name"]) + len(f["value"])
                                                                    for f in e["fields"]) for e in body["embeds"])
        assert 1 <= len(packed) < 10
        assert total <= 6000

    def test_metadata_fields_hidden(self):
        """Fields named ``_…`` (kind, incident) are not shown in the embed."""
        ch = DiscordChannel("https://discord.com/api/webhooks/1/tok")
        body = ch.build([alert(1, fields=(("ticker", "KX"), ("_incident", "abc"), ("_kind", "kill_switch")))])
        assert [f["name"] for f in body["embeds"][0]["fields"]] == ["ticker"]

    def test_errors_never_name_the_webhook(self):
        """Any detail text is redacted of the URL and its token."""
        url = "https://discord.com/api/webhooks/1/SECRETtokenSECRETtoken"
        ch = DiscordChannel(url)
        assert "SECRETtoken" not in ch.redact(f"failed at {ch.url} ({url})")
