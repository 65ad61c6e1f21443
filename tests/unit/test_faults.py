"""The action timeout setting of bot/rasa_side/faults.py; which failures stop a turn is
checked in the Rasa venv and against the real server in tests/integration/test_faults.py."""

from __future__ import annotations

import pytest

from bot.rasa_side import faults


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_a_bad_timeout_setting_stops_with_a_clear_message(monkeypatch, value):
    monkeypatch.setenv("TANDEM_ACTION_TIMEOUT", value)
    with pytest.raises(SystemExit, match="TANDEM_ACTION_TIMEOUT"):
        faults.action_timeout()


def test_the_timeout_defaults_to_20_seconds(monkeypatch):
    monkeypatch.delenv("TANDEM_ACTION_TIMEOUT", raising=False)
    assert faults.action_timeout() == 20.0
    monkeypatch.setenv("TANDEM_ACTION_TIMEOUT", "2.5")
    assert faults.action_timeout() == 2.5
