"""The operator's dashboard in a real browser: Playwright drives Debian's Chromium (headless) against the
real daemon in paper mode. Waits are Playwright's own ``expect`` timeouts, never sleeps.

Screenshots at 1280×800 and 390×844 are saved under the test's temporary directory (and copied to
``$KALSHI_GUARD_TEST_ARTEFACTS`` when that is set, e.g. ``docs/img`` for the README).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import wait_until

from .conftest import Daemon

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)", allow_module_level=True)
expect = playwright_api.expect

TICKER = "KXSIMCPI-26DEC-T30"
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("dashboard")
    d = Daemon(root / "state", {"KALSHI_GUARD_SIMULATOR__LIQUIDITY_INTERVAL_S": "0"})
    d.start()
    d.wait_ready()
    yield d
    d.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, daemon: Daemon) -> Iterator[Any]:
    context = browser.new_context(viewport=WIDE)
    p = context.new_page()
    p.set_default_timeout(10_000)
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.goto(daemon.url + "/")
    yield p
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page: Any, token: str) -> None:
    page.get_by_label("Control token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def artefact(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    target = os.environ.get("KALSHI_GUARD_TEST_ARTEFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
    return path


def keep(path: Path) -> None:
    target = os.environ.get("KALSHI_GUARD_TEST_ARTEFACTS")
    if target:
        shutil.copy(path, Path(target) / path.name)


def ask_price(daemon: Daemon) -> Decimal:
    status = daemon.status()
    import httpx

    m = httpx.get(f"{status['exchange']['base_url']}/markets/{TICKER}", timeout=10, trust_env=False).json()
    return Decimal(m["market"]["yes_ask_dollars"])


class TestSignIn:
    def test_a_wrong_token_is_refused(self, page: Any) -> None:
        """A wrong token gets "Token refused.", no data, and nothing is kept in the tab."""
        sign_in(page, "wrong-token-wrong-token-wrong")
        expect(page.get_by_role("alert").filter(has_text="Token refused")).to_be_visible()
        expect(page.locator("#app")).to_be_hidden()
        assert page.evaluate("sessionStorage.length") == 0

    def test_sign_in_shows_the_paper_banner_and_the_gate(self, page: Any, daemon: Daemon) -> None:
        """Signed in, the always-visible banner reads PAPER (amber) and the gate reads ACTIVE, as text; the
        token is in session storage only: not in the URL, not in a cookie, not on the page."""
        token = daemon.token()
        sign_in(page, token)
        expect(page.locator("#mode")).to_have_text("PAPER")
        expect(page.locator("#banner")).to_have_class("banner banner-paper")
        expect(page.locator("#gate-state")).to_have_text("ACTIVE")
        expect(page.locator("#balance")).to_have_text("$1000.00")
        assert token not in page.url
        assert page.evaluate("document.cookie") == ""
        assert token not in page.content()
        assert page.evaluate("sessionStorage.getItem('kalshi-guard.token')") == token


class TestLive:
    def test_an_order_placed_through_the_api_appears_in_positions_within_1s(
        self, page: Any, daemon: Daemon, tmp_path: Path
    ) -> None:
        """An IOC buy through the order API shows in the positions table within 1 s, without a reload."""
        sign_in(page, daemon.token())
        expect(page.locator("#gate-state")).to_have_text("ACTIVE")
        ask = ask_price(daemon)
        body = {"ticker": TICKER, "outcome": "yes", "action": "buy", "count": "2", "price": str(ask),
                "time_in_force": "ioc"}
        r = daemon.api("POST", "/api/orders", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "FILLED"
        expect(page.locator("#positions tbody")).to_contain_text(TICKER, timeout=1000)
        expect(page.locator("#orders tbody")).to_contain_text("FILLED", timeout=1000)
        expect(page.locator("#fills tbody")).to_contain_text(TICKER, timeout=1000)
        shot = artefact(tmp_path, "dashboard-1280x800.png")
        page.screenshot(path=str(shot))
        keep(shot)
        assert shot.stat().st_size > 10_000

    def test_emergency_stop_confirm_then_reset_with_a_reason(self, page: Any, daemon: Daemon) -> None:
        """Emergency Stop → Confirm: the page shows HALTED and /api/status says HALTED within 1 s; Reset
        with a reason opens the gate again (a reset without a reason is not sent)."""
        sign_in(page, daemon.token())
        expect(page.locator("#gate-state")).to_have_text("ACTIVE")
        page.get_by_role("button", name="Emergency Stop").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Confirm emergency stop").click()
        expect(page.locator("#gate-state")).to_have_text("HALTED", timeout=1000)
        wait_until(lambda: daemon.status()["gate"]["state"] == "HALTED", timeout=1.0, what="/api/status HALTED")
        page.get_by_role("button", name="Reset").click()  # no reason: the browser refuses the empty field
        expect(page.locator("#gate-state")).to_have_text("HALTED")
        assert daemon.status()["gate"]["state"] == "HALTED"
        page.get_by_label("Reason").fill("dashboard test: reviewed")
        page.get_by_role("button", name="Reset").click()
        expect(page.locator("#gate-state")).to_have_text("ACTIVE", timeout=30_000)
        assert daemon.status()["gate"]["state"] == "ACTIVE"

    def test_phone_width_keeps_the_stop_button_first_and_nothing_overflows(
        self, browser: Any, daemon: Daemon, tmp_path: Path
    ) -> None:
        """At 390 px the Emergency Stop button is in the first screen, full width, and the page does not
        scroll sideways."""
        context = browser.new_context(viewport=PHONE)
        try:
            p = context.new_page()
            p.goto(daemon.url + "/")
            sign_in(p, daemon.token())
            expect(p.locator("#mode")).to_have_text("PAPER")
            stop = p.get_by_role("button", name="Emergency Stop")
            expect(stop).to_be_in_viewport()
            box = stop.bounding_box()
            assert box is not None
            assert box["width"] >= 300
            assert box["y"] + box["height"] <= PHONE["height"] / 2
            assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            shot = artefact(tmp_path, "dashboard-390.png")
            p.screenshot(path=str(shot), full_page=True)
            keep(shot)
        finally:
            context.close()

    def test_stale_when_the_stream_stops_and_it_reconnects_by_itself(self, page: Any, daemon: Daemon) -> None:
        """Stopping the daemon marks the page stale; started again, the page reconnects by itself."""
        sign_in(page, daemon.token())
        expect(page.locator("#gate-state")).to_have_text("ACTIVE")
        expect(page.locator("#stale")).to_be_hidden()
        daemon.stop()
        expect(page.locator("#stale")).to_be_visible(timeout=10_000)
        daemon.start()
        daemon.wait_ready()
        expect(page.locator("#stale")).to_be_hidden(timeout=15_000)
        expect(page.locator("#gate-state")).to_have_text("ACTIVE")


class TestLiveSwitch:
    def test_the_two_step_dialog_shows_the_checklist_and_refuses_while_it_fails(self, page: Any,
                                                                                daemon: Daemon) -> None:
        """"Switch to LIVE…" runs the checklist (step one) and lists every check; while it fails, the confirm
        button stays disabled and the mode stays PAPER. "Back to PAPER" in paper mode is refused, said so."""
        sign_in(page, daemon.token())
        expect(page.locator("#mode")).to_have_text("PAPER")
        page.get_by_role("button", name="Switch to LIVE…").click()
        dialog = page.get_by_role("dialog", name="Switch to LIVE trading?")
        expect(dialog).to_be_visible()
        checklist = dialog.get_by_role("list", name="Pre-live checklist")
        expect(checklist.get_by_role("listitem").filter(has_text="drill")).to_be_visible()
        expect(dialog.get_by_text("NOT ready")).to_be_visible()
        expect(dialog.get_by_role("button", name="Confirm switch to LIVE")).to_be_disabled()
        dialog.get_by_role("button", name="Cancel").click()
        page.get_by_role("button", name="Back to PAPER").click()
        expect(page.locator("#control-message")).to_contain_text("already in PAPER")
        assert daemon.api("GET", "/api/status").json()["mode"] == "paper"
