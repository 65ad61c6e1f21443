"""Forgetting a customer in the logs removes their lines only (bot/stack/retention.py)."""

from __future__ import annotations

from bot.stack import retention


def test_only_the_lines_of_that_conversation_go(tmp_path):
    log = tmp_path / "actions.log"
    log.write_text("gate ab12 asked\ngate ab123 asked\nhandoff of ab12: requested\nother line\n")
    assert retention._drop_lines(log, "ab12") == 2
    assert log.read_text() == "gate ab123 asked\nother line\n"
    assert retention._drop_lines(log, "zz99") == 0


def test_a_report_says_whether_anything_was_removed():
    assert not retention.Report().removed_anything
    assert retention.Report(handoffs=1).removed_anything
    assert retention.Report(log_files=["rasa.log.3"]).to_dict()["log_files"] == ["rasa.log.3"]
