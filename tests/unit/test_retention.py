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


def test_log_lines_older_than_the_retention_go_with_their_tracebacks(tmp_path):
    log = tmp_path / "actions.log"
    log.write_text(
        "2000-01-01 10:00:00,001 INFO old line\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1\n'
        "2099-01-01 10:00:00,001 INFO recent line\n"
        "a continuation of the recent line\n"
        "1234:M 01 Jan 2000 10:00:00.000 * an old Redis line\n"
        "1234:M 01 Jan 2099 10:00:00.000 * a recent Redis line\n"
    )
    cutoff = retention.line_time(b"2050-01-01 00:00:00")
    assert retention._drop_old_lines(log, cutoff) == 4
    assert log.read_text() == (
        "2099-01-01 10:00:00,001 INFO recent line\n"
        "a continuation of the recent line\n"
        "1234:M 01 Jan 2099 10:00:00.000 * a recent Redis line\n"
    )
    assert retention._drop_old_lines(log, cutoff) == 0
