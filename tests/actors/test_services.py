"""The typed services record and the cell the tree swaps it in (actors.services)."""

from __future__ import annotations

import pytest

from kalshi_guard.actors.services import Services, ServicesCell


class TestServices:
    def test_a_mapping_of_known_names_becomes_the_record(self):
        s = Services.of({"ledger": "L", "settings": "S"})
        assert (s.ledger, s.settings, s.exchange_factory) == ("L", "S", None)

    def test_an_unknown_name_is_refused(self):
        with pytest.raises(TypeError, match="ledgr"):
            Services.of({"ledgr": object()})

    def test_the_record_is_frozen(self):
        with pytest.raises(AttributeError):
            Services().ledger = 1  # type: ignore[misc]


class TestCell:
    def test_a_swap_replaces_the_record_and_every_reader_sees_it(self):
        cell = ServicesCell({"settings": "old", "ledger": "L"})
        before = cell.current
        cell.swap(settings="new")
        assert cell.settings == "new"
        assert cell.ledger == "L"
        assert before.settings == "old"  # the old record is untouched: readers never see half a swap
        assert cell.current is not before

    def test_missing_services_read_as_none_and_are_not_contained(self):
        cell = ServicesCell()
        assert cell.ledger is None
        assert "ledger" not in cell
        assert cell.get("ledger", 5) == 5
        with pytest.raises(KeyError):
            cell["ledger"]
