"""Endpoint selection by configuration, the make_client factory, and the keygen subcommand."""

from __future__ import annotations

import argparse
import os

import pytest

from kalshi_guard.config.endpoints import DEMO, PRODUCTION, make_client, resolve
from kalshi_guard.config.schema import Environment, ExchangeSettings
from kalshi_guard.core.errors import ConfigError
from kalshi_guard.exchange.keygen import PRIVATE_NAME, PUBLIC_NAME, add_parser
from kalshi_guard.exchange.keys import load_private_key, write_private_key
from kalshi_guard.simulator.testing import running_simulator


def _keygen(argv):
    common = argparse.ArgumentParser(add_help=False)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="cmd"), "keygen", common)
    args = parser.parse_args(["keygen", *argv])
    return args.func(args)


class TestResolve:
    def test_environment_defaults(self):
        """Production and demo resolve to their documented hosts."""
        assert resolve(ExchangeSettings(environment=Environment.PRODUCTION)) == PRODUCTION
        assert resolve(ExchangeSettings(environment=Environment.DEMO)) == DEMO

    def test_simulator_needs_urls(self):
        """The simulator environment has no default URL: a config error names both keys."""
        with pytest.raises(ConfigError) as exc:
            resolve(ExchangeSettings(environment=Environment.SIMULATOR))
        assert len(exc.value.problems) == 2

    def test_base_url_must_carry_prefix(self):
        """A base URL without /trade-api/v2 is refused (the signed path includes it)."""
        with pytest.raises(ConfigError, match="trade-api/v2"):
            resolve(ExchangeSettings(base_url="http://127.0.0.1:1", ws_url="ws://127.0.0.1:1/trade-api/ws/v2"))

    def test_make_client_talks_to_simulator_by_configuration(self, tmp_path):
        """The same factory builds a working client for the simulator from settings alone."""
        with running_simulator(seed=3) as sim:
            key_file = tmp_path / "k.pem"
            write_private_key(key_file, sim.private_key)
            settings = ExchangeSettings(base_url=sim.rest_url, ws_url=sim.ws_url, key_id=sim.key_id,
                                        private_key_file=key_file)
            with make_client(settings) as client:
                assert client.get_balance().balance > 0

    def test_make_client_without_key_id(self):
        """A missing key id is a config error."""
        with pytest.raises(ConfigError, match="key_id"):
            make_client(ExchangeSettings(environment=Environment.DEMO))


class TestKeygen:
    def test_writes_pair_0600(self, tmp_path, capsys):
        """keygen writes a loadable 0600 private key and a public key and prints both paths."""
        assert _keygen(["--out", str(tmp_path)]) == 0
        assert os.stat(tmp_path / PRIVATE_NAME).st_mode & 0o777 == 0o600
        load_private_key(tmp_path / PRIVATE_NAME)
        assert (tmp_path / PUBLIC_NAME).read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
        out = capsys.readouterr().out
        assert str(tmp_path / PRIVATE_NAME) in out
        assert "BEGIN" not in out

    def test_refuses_overwrite_without_force(self, tmp_path):
        """An existing key is kept unless --force is given."""
        assert _keygen(["--out", str(tmp_path)]) == 0
        before = (tmp_path / PRIVATE_NAME).read_bytes()
        assert _keygen(["--out", str(tmp_path)]) == 1
        assert (tmp_path / PRIVATE_NAME).read_bytes() == before
        assert _keygen(["--out", str(tmp_path), "--force"]) == 0
        assert (tmp_path / PRIVATE_NAME).read_bytes() != before
