"""The simulator's ``/_sim`` admin routes need its admin token and, for a POST, a JSON content type: a web
page in a browser on the same machine (which can send neither without a CORS preflight) cannot settle
markets or switch faults on."""

from __future__ import annotations

import stat

import httpx

from kalshi_guard.simulator.testing import T0, admin_headers, admin_request, running_simulator


class TestAdminToken:
    def test_without_the_token_every_admin_route_is_401_and_nothing_changes(self, sim) -> None:
        """No token, a wrong one, or another scheme: 401; the market stays open and no fault is set."""
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": sim.admin_token}):
            r = httpx.post(f"{sim.admin_url}/markets/{T0}/settle", json={"result": "no"}, headers=headers)
            assert r.status_code == 401, r.text
            r = httpx.post(sim.admin_url + "/faults", json={"error_5xx_rate": {"create_order": 1.0}},
                           headers=headers)
            assert r.status_code == 401, r.text
            assert httpx.get(sim.admin_url + "/stats", headers=headers).status_code == 401
        assert sim.exchange.market(T0)["status"] not in ("settled", "finalized", "determined", "closed")
        assert admin_request(sim, "GET", "/faults").json() == sim.exchange.faults.snapshot()
        assert "create_order" not in str(sim.exchange.faults.snapshot().get("error_5xx_rate", {}))

    def test_a_text_plain_post_is_415_even_with_the_token(self, sim) -> None:
        """A form-style ``text/plain`` body (what a page can send without a preflight) is refused 415."""
        headers = {**admin_headers(sim.admin_token), "Content-Type": "text/plain"}
        r = httpx.post(sim.admin_url + "/faults", content=b'{"error_5xx_rate": {"create_order": 1.0}}',
                       headers=headers)
        assert r.status_code == 415, r.text
        assert "create_order" not in str(sim.exchange.faults.snapshot().get("error_5xx_rate", {}))

    def test_with_the_token_and_json_the_admin_call_works(self, sim) -> None:
        """The helper every test uses sends both and is obeyed."""
        r = admin_request(sim, "POST", f"/markets/{T0}/settle", {"result": "no"})
        assert r.status_code == 200, r.text

    def test_the_generated_token_is_kept_0600_across_restarts(self, tmp_path) -> None:
        """With a key directory the token lives in ``sim-admin-token`` (0600) and survives a restart."""
        with running_simulator(key_dir=tmp_path) as first:
            token = first.admin_token
            assert first.admin_token_path == tmp_path / "sim-admin-token"
            assert stat.S_IMODE(first.admin_token_path.stat().st_mode) == 0o600
        with running_simulator(key_dir=tmp_path) as second:
            assert second.admin_token == token
        assert len(token) >= 24
