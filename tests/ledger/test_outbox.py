"""Tests for the alert outbox and its per-channel delivery state."""

from __future__ import annotations

import pytest

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger import DeliveryStatus

FIELDS = [("market", "KXA-26-T1"), ("loss", "12.50")]
BOTH = ("discord", "pagerduty")


class TestOutbox:
    def test_enqueue_and_due(self, ledger, clock):
        """An alert is due on exactly the channels it was queued for, with its fields in order."""
        crit = ledger.enqueue_alert("critical", "halted", FIELDS, channels=BOTH)
        warn = ledger.enqueue_alert("warning", "slow", [], channels=["discord"])
        due = ledger.due_alerts("discord", clock.t, 10)
        assert [a.id for a in due] == [crit, warn]
        assert due[0].fields == tuple(FIELDS)
        assert [a.id for a in ledger.due_alerts("pagerduty", clock.t, 10)] == [crit]

    def test_channels_independent(self, ledger, clock):
        """Discord's success does not hide PagerDuty's failure: the alert stays due on PagerDuty only."""
        aid = ledger.enqueue_alert("critical", "halted", FIELDS, channels=BOTH)
        ledger.mark_alert_sent(aid, "discord")
        status = ledger.mark_alert_failed(aid, "pagerduty", "HTTP 503", retry_at=clock.t + 30)
        assert status is DeliveryStatus.FAILED
        assert ledger.due_alerts("discord", clock.t + 60, 10) == []
        assert ledger.due_alerts("pagerduty", clock.t + 10, 10) == []
        again = ledger.due_alerts("pagerduty", clock.t + 30, 10)
        assert [(a.id, a.attempts, a.last_error) for a in again] == [(aid, 1, "HTTP 503")]
        assert ledger.alert_delivery(aid) == {
            "discord": (DeliveryStatus.SENT, 1, None),
            "pagerduty": (DeliveryStatus.FAILED, 1, "HTTP 503"),
        }

    def test_give_up_after_max_attempts(self, ledger, clock):
        """After max_attempts failures the delivery is GIVEN_UP, never due again, and logged."""
        aid = ledger.enqueue_alert("warning", "x", [], channels=["discord"])
        statuses = [ledger.mark_alert_failed(aid, "discord", f"e{i}", clock.t, max_attempts=3) for i in range(3)]
        assert statuses == [DeliveryStatus.FAILED, DeliveryStatus.FAILED, DeliveryStatus.GIVEN_UP]
        assert ledger.due_alerts("discord", clock.t + 1e6, 10) == []
        assert ledger.mark_alert_failed(aid, "discord", "late", clock.t) is DeliveryStatus.GIVEN_UP
        assert ledger.activity("ALERT_GIVEN_UP")[0].details["attempts"] == 3

    def test_dedup_while_pending(self, ledger, clock):
        """A dedup_key still pending returns the existing alert; once delivered a new alert is queued."""
        first = ledger.enqueue_alert("warning", "stream stale", [], dedup_key="stale", channels=["discord"])
        assert ledger.enqueue_alert("warning", "stream stale", [], dedup_key="stale", channels=["discord"]) == first
        ledger.mark_alert_sent(first, "discord")
        assert ledger.enqueue_alert("warning", "stream stale", [], dedup_key="stale", channels=["discord"]) != first

    def test_limit_and_errors(self, ledger, clock):
        """due_alerts honours its limit; no channel, a bad channel name and unknown deliveries raise."""
        for i in range(5):
            ledger.enqueue_alert("info", f"a{i}", [], channels=["discord"])
        assert len(ledger.due_alerts("discord", clock.t, 2)) == 2
        with pytest.raises(LedgerError):
            ledger.enqueue_alert("info", "x", [], channels=[])
        with pytest.raises(LedgerError):
            ledger.enqueue_alert("info", "x", [], channels=["x" * 33])
        with pytest.raises(LedgerError):
            ledger.mark_alert_sent(999, "discord")


class TestBatchAndIncidents:
    def test_mark_alerts_sent_in_one_go(self, ledger, clock):
        """One coalesced message marks all its alerts SENT; an already-sent one is left as it was."""
        ids = [ledger.enqueue_alert("info", f"a{i}", [], channels=BOTH) for i in range(3)]
        ledger.mark_alert_sent(ids[0], "discord")
        ledger.mark_alerts_sent(ids, "discord")
        assert ledger.due_alerts("discord", clock.t, 10) == []
        assert [ledger.alert_delivery(i)["discord"][:2] for i in ids] == [(DeliveryStatus.SENT, 1)] * 3
        assert len(ledger.due_alerts("pagerduty", clock.t, 10)) == 3

    def test_open_incident_until_reset(self, ledger):
        """The open incident is the newest alert's ``_incident`` until an alert of kind reset is queued."""
        assert ledger.open_incident() is None
        ledger.enqueue_alert("critical", "halt", [("_kind", "kill_switch"), ("_incident", "inc-1")], channels=BOTH)
        ledger.enqueue_alert("info", "noise", [("_kind", "general")], channels=["discord"])
        assert ledger.open_incident() == "inc-1"
        ledger.enqueue_alert("warning", "reset", [("_kind", "reset"), ("_incident", "inc-1")], channels=BOTH)
        assert ledger.open_incident() is None

    def test_metadata_fields_hidden(self, ledger, clock):
        """Fields named ``_…`` are metadata: readable with meta(), absent from shown_fields."""
        ledger.enqueue_alert("critical", "halt", [("_kind", "kill_switch"), ("reason", "x")], channels=["discord"])
        (alert,) = ledger.due_alerts("discord", clock.t, 10)
        assert alert.meta("kind") == "kill_switch"
        assert alert.meta("incident", "none") == "none"
        assert alert.shown_fields == (("reason", "x"),)

    def test_enqueue_many_in_one_go(self, ledger, clock):
        """A burst is queued in one call, ids in order, each due on its own channels; with a dedup key
        still pending, that alert's id comes back instead of a new row."""
        from kalshi_guard.ledger.outbox import QueuedAlert

        burst = [QueuedAlert("info", f"a{i}", (("n", str(i)),), None, ("discord", "webhook")) for i in range(50)]
        ids = ledger.enqueue_alerts(burst)
        assert ids == sorted(ids)
        assert len(set(ids)) == 50
        due = ledger.due_alerts("webhook", clock.t, 100)
        assert [a.title for a in due] == [f"a{i}" for i in range(50)]
        assert due[7].fields == (("n", "7"),)
        first = ledger.enqueue_alert("warning", "stale", [], dedup_key="k", channels=["discord"])
        again = ledger.enqueue_alerts([QueuedAlert("warning", "stale", (), "k", ("discord",)),
                                       QueuedAlert("info", "new", (), None, ("discord",))])
        assert again[0] == first
        assert again[1] > first
