"""Money limits as dollars or as a share of the day-start portfolio value (config.shares)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_guard.config.loader import load_settings
from kalshi_guard.config.schema import LimitSettings
from kalshi_guard.config.shares import Share, describe, parse_money_or_share, resolve
from kalshi_guard.core.errors import ConfigError

D = Decimal


class TestParsing:
    @pytest.mark.parametrize(("text", "fraction"), [("5%", "0.05"), ("0.5%", "0.005"), ("100%", "1"), (" 10% ", "0.1")])
    def test_a_percentage_is_a_share(self, text, fraction):
        value = parse_money_or_share(text)
        assert isinstance(value, Share)
        assert D(value) == D(fraction)

    @pytest.mark.parametrize("text", ["50", "0", "12.345678"])
    def test_dollars_stay_dollars(self, text):
        value = parse_money_or_share(text)
        assert not isinstance(value, Share)
        assert value == D(text)

    @pytest.mark.parametrize("bad", ["105%", "-5%", "5%%", "0%", "%", "5 %x", "abc", "-1", "1e3%", "NaN", "1.0000001"])
    def test_bad_values_are_refused_with_a_reason(self, bad):
        with pytest.raises(ValueError, match=r"must|is not"):
            parse_money_or_share(bad)

    def test_a_share_reads_back_as_a_percentage(self):
        s = parse_money_or_share("5%")
        assert str(s) == "5%"
        assert f"{s}" == "5%"
        assert LimitSettings(max_daily_loss=s).model_dump(mode="json")["max_daily_loss"] == "5%"


class TestResolve:
    def test_a_share_resolves_against_the_day_start_value(self):
        assert resolve(parse_money_or_share("5%"), D("1000")) == D("50")
        assert resolve(parse_money_or_share("5%"), D("1200")) == D("60")  # moves with the anchor

    def test_without_an_anchor_a_share_is_zero_dollars(self):
        assert resolve(parse_money_or_share("5%"), None) == 0
        assert resolve(parse_money_or_share("5%"), D("0")) == 0

    def test_dollars_ignore_the_anchor(self):
        assert resolve(D("50"), D("1000")) == D("50")

    def test_settings_resolve_every_share_at_once(self):
        limits = LimitSettings(max_daily_loss="5%", max_order_loss="2%")
        out = limits.resolved(D("500"))
        assert (out.max_daily_loss, out.max_order_loss) == (D("25"), D("10"))
        assert limits.max_daily_loss == parse_money_or_share("5%")  # the settings themselves are unchanged

    def test_describe_names_the_share_and_its_dollars(self):
        assert describe(parse_money_or_share("5%"), D("1000")) == "5% of the day-start portfolio value (= 50.000000)"
        assert describe(D("50")) == "50"


class TestConfigFile:
    @pytest.mark.parametrize("bad", ["105%", "-5%", "5%%"])
    def test_a_bad_share_is_one_config_error_naming_the_key(self, tmp_path, bad):
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[limits]\nmax_daily_loss = "{bad}"\n')
        with pytest.raises(ConfigError) as info:
            load_settings(cfg, env={})
        assert len(info.value.problems) == 1
        assert info.value.problems[0].startswith("limits.max_daily_loss:")

    def test_the_shipped_example_uses_the_conservative_figures(self):
        from pathlib import Path

        import kalshi_guard.config as pkg

        example = Path(pkg.__file__).with_name("example.toml").read_text()
        assert 'max_daily_loss = "5%"' in example
        assert 'max_order_loss = "5%"' in example
        assert "max_open_positions = 3" in example

    @pytest.mark.parametrize("bad", ["105%", "-5%", "5%%"])
    def test_check_config_prints_one_line_and_exits_78(self, tmp_path, bad):
        import io

        from kalshi_guard.config.check import check_config

        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[limits]\nmax_order_loss = "{bad}"\n')
        out, err = io.StringIO(), io.StringIO()
        assert check_config(cfg, env={}, out=out, err=err) == 78
        lines = err.getvalue().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("config error: limits.max_order_loss:")

    def test_check_config_shows_the_dollar_figure_of_a_share(self, tmp_path):
        import io

        from kalshi_guard.config.check import check_config

        cfg = tmp_path / "c.toml"
        cfg.write_text(f'state_dir = "{tmp_path / "st"}"\n[limits]\nmax_daily_loss = "5%"\n')
        out = io.StringIO()
        assert check_config(cfg, env={}, out=out, err=io.StringIO()) == 0
        assert "# limits.max_daily_loss: 5% of the day-start portfolio value" in out.getvalue()
        assert 'max_daily_loss = "5%"' in out.getvalue()
