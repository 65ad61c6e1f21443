"""The console's analytics on events shaped as Rasa's event broker writes them: turns and
their routes, feedback on its turn, the figures, the knowledge gaps, the page, the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy

from bot.console import analytics
from bot.console.dashboard import render_dashboard
from bot.core.settings import get_settings
from bot.tandem import cli

SAMPLE = Path(__file__).parents[1] / "data" / "events_sample.jsonl"  # recorded from the real stack
DAY = 1_796_342_400.0  # 2026-12-04 00:00 UTC


def user(sender, text, at, **extra):
    return {"sender_id": sender, "event": "user", "text": text, "timestamp": at, **extra}


def bot(sender, at, text=None, **custom):
    data = {"custom": custom} if custom else {}
    return {"sender_id": sender, "event": "bot", "text": text, "timestamp": at, "data": data}


def events() -> list[dict]:
    return [
        # a knowledge answer, rated down on its turn, then a flow
        user("a", "how long is the warranty on a tent?", DAY + 10),
        bot("a", DAY + 10.4, "Outdoor gear: 3 years."),
        bot("a", DAY + 10.5, route="knowledge", citations=[{"source": "policies/warranty.md"}]),
        user("a", "where is my order", DAY + 20),
        bot("a", DAY + 20.2, route="flow"),
        bot("a", DAY + 20.3, "What's your order number?"),
        user("a", "BB-100031", DAY + 30),
        bot("a", DAY + 30.1, "What's the email address?"),
        {"sender_id": "a", "event": "slot", "name": "feedback", "timestamp": DAY + 40,
         "value": {"turn": DAY + 10.4, "value": "down", "comment": "too short"}},
        # declined twice, handed over, a person answers while the customer writes
        user("b", "do you have a loyalty program?", DAY + 86400 + 5),
        bot("b", DAY + 86400 + 5.3, "Sorry, that's not something I can help with."),
        bot("b", DAY + 86400 + 5.4, route="out_of_scope"),
        user("b", "is there a rewards scheme?", DAY + 86400 + 15),
        bot("b", DAY + 86400 + 15.2, route="handoff"),
        bot("b", DAY + 86400 + 15.3, "Passing you to our team."),
        bot("b", DAY + 86400 + 15.4, handoff=True, reason="failed_turns"),
        {"sender_id": "b", "event": "pause", "timestamp": DAY + 86400 + 15.5},
        user("b", "hello?", DAY + 86400 + 30),
        {"sender_id": "b", "event": "bot", "text": "Hi, Sam here.", "timestamp": DAY + 86400 + 40,
         "metadata": {"agent": "Sam"}, "data": {"custom": {"agent": "Sam"}}},
        # a clarify, and a thumbs up on a later answer
        user("c", "the thing", DAY + 50),
        bot("c", DAY + 50.9, "Is it about one of these?"),
        bot("c", DAY + 51.0, route="clarify"),
        user("c", "can I return shoes?", DAY + 60),
        bot("c", DAY + 60.3, "Yes, within 30 days."),
        bot("c", DAY + 60.4, route="knowledge", citations=[{"source": "policies/returns.md"}]),
        {"sender_id": "c", "event": "slot", "name": "feedback", "timestamp": DAY + 70,
         "value": {"turn": DAY + 60.3, "value": "up", "comment": ""}},
    ]  # fmt: skip


def test_each_turn_gets_its_route_latency_and_rating():
    talks = {c.sender: c for c in analytics.conversations(events())}
    a, b = talks["a"].turns, talks["b"].turns
    assert [t.route for t in a] == ["knowledge", "flow", "flow"]
    assert a[0].latency == pytest.approx(0.4) and a[0].citations == ["policies/warranty.md"]
    assert a[0].feedback == [{"value": "down", "comment": "too short"}] and a[1].feedback == []
    assert [t.route for t in b] == ["out_of_scope", "handoff", "agent"]  # "hello?" reached a person
    assert talks["b"].handoff == "failed_turns" and talks["a"].handoff is None


def test_the_figures_count_routes_containment_handoffs_feedback_and_latency():
    documents = ["policies/warranty.md", "policies/returns.md", "policies/shipping.md"]
    numbers = analytics.figures(analytics.conversations(events()), documents)
    assert numbers.conversations == 3
    assert numbers.per_day == {"2026-12-04": 2, "2026-12-05": 1}
    assert numbers.routes == {"knowledge": 2, "flow": 2, "out_of_scope": 1, "handoff": 1, "clarify": 1}
    assert numbers.containment == pytest.approx(0.667, abs=1e-3)
    assert numbers.handoff_reasons == {"failed_turns": 1}
    assert numbers.feedback == {"knowledge": {"up": 1, "down": 1}}
    assert numbers.latency_ms["knowledge"] == {"p50": 300.0, "p95": 400.0, "turns": 2}
    assert numbers.never_cited == ["policies/shipping.md"]
    assert json.loads(json.dumps(numbers.to_dict()))["routes"]["clarify"] == 1


def words(texts: list[str]) -> np.ndarray:
    """A stand-in embedding: shared words make texts similar."""
    vocabulary = sorted({w.strip("?,.").lower() for t in texts for w in t.split()})
    rows = [[float(w in {x.strip("?,.").lower() for x in t.split()}) for w in vocabulary] for t in texts]
    return np.asarray(rows) + 1e-6


def test_gap_questions_are_declined_clarified_or_rated_down_and_cluster_by_meaning():
    talks = analytics.conversations(events())
    turns = analytics.gap_turns(talks)
    assert [t.text for t in turns] == [
        "how long is the warranty on a tent?",  # rated down
        "do you have a loyalty program?",
        "the thing",
    ]
    planted = [
        analytics.Turn("p", 0, f"loyalty program points rewards {w}", "out_of_scope") for w in "abcdefghij"
    ]
    others = [
        analytics.Turn("o", 0, text, "clarify") for text in ("weather paris", "movie tonight", "cook risotto")
    ]
    found = analytics.gaps(
        others[:2] + planted + others[2:], words, lambda text: ("policies/promotions.md", 0.4)
    )
    assert found[0].size == 10 and all("loyalty" in e for e in found[0].examples)
    assert len(found[0].examples) == 5 and found[0].routes == {"out_of_scope": 10}
    assert found[0].closest_document == "policies/promotions.md"
    assert [g.size for g in found[1:]] == [1, 1, 1]
    csv_text = analytics.gaps_csv(found)
    assert csv_text.splitlines()[0].startswith("rank,questions,routes,closest_document")
    assert csv_text.splitlines()[1].startswith("1,10,out_of_scope:10,policies/promotions.md,0.4,")
    assert analytics.gaps([], words) == []


def test_the_real_embedding_puts_ten_paraphrases_together():
    from bot.bench.console import OUT_OF_SCOPE, PLANTED
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import load_embedding_model

    model = load_embedding_model(KnowledgeSettings().embedding_model)
    turns = [analytics.Turn("x", 0, text, "out_of_scope") for text in [*OUT_OF_SCOPE, *PLANTED]]
    found = analytics.gaps(turns, model.embed_documents)
    assert found[0].size == 10 and set(found[0].examples) <= set(PLANTED)
    assert found[1].size < 5


def test_the_recorded_sample_reads_as_the_stack_served_it():
    recorded = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    numbers = analytics.figures(analytics.conversations(recorded))
    assert numbers.conversations == 3
    assert numbers.handoff_reasons == {"failed_turns": 1, "requested": 1}  # a's 2nd ask was paused
    assert numbers.routes["knowledge"] == 2 and numbers.routes["out_of_scope"] == 2
    assert numbers.cited == {"policies/warranty.md": 2}


@pytest.fixture
def database(tmp_path, monkeypatch):
    """A SQLite file with Rasa's SQL event broker's table, and the settings pointing at it."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), data TEXT)"
        )
        for event in events():
            connection.execute(
                sqlalchemy.text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"),
                {"s": event["sender_id"], "d": json.dumps(event)},
            )
        connection.exec_driver_sql("INSERT INTO events (sender_id, data) VALUES ('x', 'not json')")
    engine.dispose()
    monkeypatch.setenv("TANDEM_EVENTS_DB_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_events_are_read_from_the_database_within_a_period(database, tmp_path):
    assert len(analytics.read_events(database)) == len(events())  # the unreadable row is skipped
    later = analytics.read_events(database, since=DAY + 86400)
    assert {e["sender_id"] for e in later} == {"b"}
    assert analytics.read_events(f"sqlite:///{tmp_path / 'none.db'}") == []


def test_the_dashboard_page_shows_the_figures_and_escapes_customer_text():
    numbers = analytics.figures(analytics.conversations(events()), ["policies/shipping.md"])
    found = [analytics.Gap(3, ["<script>alert(1)</script>", "b"], {"clarify": 3}, "help/<x>.md", 0.5)]
    page = render_dashboard(numbers, found, "Brightbay", "since 7d")
    assert "<strong>3</strong>conversations" in page and "67%" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "help/&lt;x&gt;.md" in page and "policies/shipping.md" in page
    assert "http" not in page.replace("http-equiv", "")  # nothing loaded from elsewhere


def test_tandem_report_prints_json_and_refuses_a_bad_since(database, capsys, tmp_path):
    csv_path = tmp_path / "gaps.csv"
    assert (
        cli.main(["report", "--since", "2026-12-01", "--json", "--no-gaps", "--gaps-csv", str(csv_path)]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["figures"]["conversations"] == 3 and printed["figures"]["handoff_reasons"] == {
        "failed_turns": 1
    }
    assert csv_path.read_text().startswith("rank,")
    assert cli.main(["report", "--since", "yesterday"]) == 2
    assert "give a duration like 7d" in capsys.readouterr().err


def test_since_reads_durations_and_dates():
    assert analytics.parse_since("7d", now=1000.0 + 7 * 86400) == 1000.0
    assert analytics.parse_since("90m", now=6000.0) == 600.0
    assert analytics.parse_since("2026-12-04") == DAY
    for bad in ("", "d", "-1d", "7 days", "2026-13-01"):
        with pytest.raises(ValueError):
            analytics.parse_since(bad)
