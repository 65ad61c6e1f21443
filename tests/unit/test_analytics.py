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
from bot.tandem import cli, report

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


def test_the_gates_first_route_wins_and_a_handoff_alone_makes_the_route():
    talk = [
        user("d", "where is my order", DAY),
        bot("d", DAY + 0.1, route="flow"),
        bot("d", DAY + 0.2, route="knowledge"),  # a later route of the same turn does not count
        user("d", "a person please", DAY + 10),
        bot("d", DAY + 10.1, "Passing you to our team.", handoff=True, reason="requested"),
        user("d", "shoes", DAY + 20),
        bot("d", DAY + 20.1, "Here is what I found."),  # the text before the gate's route
        bot("d", DAY + 20.2, route="knowledge"),
        bot("d", DAY + 20.3, "Anything else?"),
    ]
    (conversation,) = analytics.conversations(talk)
    assert [t.route for t in conversation.turns] == ["flow", "handoff", "knowledge"]
    assert [t.latency for t in conversation.turns] == pytest.approx([0.1, 0.1, 0.1])
    assert conversation.handoff == "requested"


def test_messages_during_a_pause_go_to_a_person_until_the_conversation_resumes():
    talk = [
        user("e", "talk to a human", DAY),
        bot("e", DAY + 0.2, "Passing you to our team.", handoff=True, reason="requested"),
        {"sender_id": "e", "event": "pause", "timestamp": DAY + 0.3},
        {"sender_id": "e", "event": "bot", "text": "Hi, I'm Sam.", "timestamp": DAY + 3,
         "metadata": {"agent": "Sam"}, "data": {"custom": {"agent": "Sam"}}},  # before the customer writes
        user("e", "are you there?", DAY + 5),
        user("e", "hello??", DAY + 6),
        {"sender_id": "e", "event": "bot", "text": "Yes, Sam here.", "timestamp": DAY + 9,
         "metadata": {"agent": "Sam"}, "data": {"custom": {"agent": "Sam"}}},
        {"sender_id": "e", "event": "resume", "timestamp": DAY + 60},
        bot("e", DAY + 60.1, "Welcome back! Anything else?"),
        user("e", "can I return shoes?", DAY + 70),
        bot("e", DAY + 70.5, "Yes, within 30 days."),
        bot("e", DAY + 70.6, route="knowledge", citations=[{"source": "policies/returns.md"}]),
    ]  # fmt: skip
    (conversation,) = analytics.conversations(talk)
    assert [t.route for t in conversation.turns] == ["handoff", "agent", "agent", "knowledge"]
    assert [t.latency for t in conversation.turns] == pytest.approx([0.2, None, None, 0.5])
    assert conversation.turns[0].bot_times == [DAY + 0.2]  # Sam's messages are not the bot's
    numbers = analytics.figures([conversation])
    assert numbers.routes == {"handoff": 1, "knowledge": 1}  # a person's turns are not the bot's
    assert numbers.containment == 0.0 and numbers.handoff_reasons == {"requested": 1}


def test_a_rating_goes_to_the_nearest_bot_message_else_to_the_last_bot_turn_before_it():
    talk = [
        user("f", "returns?", DAY),
        bot("f", DAY + 1.0, "Within 30 days."),
        user("f", "refunds?", DAY + 1.0004),  # a quick second question: its reply is 0.7 ms away
        bot("f", DAY + 1.0011, "Within 5 days."),
        user("f", "delivery?", DAY + 30),
        bot("f", DAY + 31, "2 to 4 days."),
        {"sender_id": "f", "event": "slot", "name": "feedback", "timestamp": DAY + 40,
         "value": {"turn": DAY + 1.0009, "value": "up"}},  # nearest: "Within 5 days."
        {"sender_id": "f", "event": "slot", "name": "feedback", "timestamp": DAY + 41,
         "value": {"turn": DAY + 20, "value": "down", "comment": "vague"}},  # no message then
        {"sender_id": "f", "event": "slot", "name": "feedback", "timestamp": DAY + 42,
         "value": {"turn": "not a time", "value": "down"}},
    ]  # fmt: skip
    turns = analytics.conversations(talk)[0].turns
    assert [t.feedback for t in turns] == [
        [],
        [{"value": "up", "comment": ""}, {"value": "down", "comment": "vague"}],
        [],
    ]


def test_latency_percentiles_are_nearest_rank_per_route():
    talk = []
    for i in range(1, 21):  # knowledge replies after 0.1 .. 2.0 s
        talk += [user("g", f"question {i}", DAY + 100 * i), bot("g", DAY + 100 * i + i / 10, "answer")]
        talk.append(bot("g", DAY + 100 * i + i / 10 + 0.001, route="knowledge"))
    talk += [user("g", "bye", DAY + 5000), bot("g", DAY + 5000.05, "Bye!")]
    numbers = analytics.figures(analytics.conversations(talk))
    assert numbers.latency_ms["knowledge"] == {"p50": 1000.0, "p95": 1900.0, "turns": 20}
    assert numbers.latency_ms["flow"] == {"p50": 50.0, "p95": 50.0, "turns": 1}


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

    try:
        model = load_embedding_model(KnowledgeSettings().embedding_model)
    except RuntimeError as error:  # the model is not on this machine
        pytest.skip(str(error))
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


def rasa_events_table(metadata: sqlalchemy.MetaData) -> sqlalchemy.Table:
    """The table of Rasa's SQL event broker (rasa/core/brokers/sql.py, SQLBrokerEvent)."""
    return sqlalchemy.Table(
        "events",
        metadata,
        sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
        sqlalchemy.Column("sender_id", sqlalchemy.String(255)),
        sqlalchemy.Column("data", sqlalchemy.Text),
    )


def write_database(url: str, rows: list[tuple[str, str]]) -> None:
    engine = sqlalchemy.create_engine(url)
    metadata = sqlalchemy.MetaData()
    table = rasa_events_table(metadata)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"sender_id": s, "data": d} for s, d in rows])
    engine.dispose()


@pytest.fixture
def database(tmp_path, monkeypatch):
    """A SQLite file with Rasa's SQL event broker's table, and the settings pointing at it."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    rows = [(e["sender_id"], json.dumps(e)) for e in events()]
    write_database(url, [*rows, ("x", "not json"), ("y", "[1, 2]"), ("z", '{"timestamp": "noon"}')])
    monkeypatch.setenv("TANDEM_EVENTS_DB_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_events_are_read_from_the_database_within_a_period(database, tmp_path):
    assert analytics.read_events(database) == events()  # in id order; unreadable rows skipped
    later = analytics.read_events(database, since=DAY + 86400)
    assert {e["sender_id"] for e in later} == {"b"}
    first_day = analytics.read_events(database, until=DAY + 86400)
    assert {e["sender_id"] for e in first_day} == {"a", "c"}
    assert analytics.read_events(database, since=DAY + 20, until=DAY + 20.25) == events()[3:5]


def test_a_missing_database_has_no_events_and_a_broken_one_says_what_to_fix(tmp_path):
    missing = tmp_path / "none.db"
    assert analytics.read_events(f"sqlite:///{missing}") == []
    assert analytics.read_events(f"sqlite:///{missing}?timeout=5") == []
    assert not missing.exists()  # reading made no empty database
    empty = tmp_path / "empty.db"
    sqlalchemy.create_engine(f"sqlite:///{empty}").connect().close()
    assert analytics.read_events(f"sqlite:///{empty}") == []  # no table yet: Rasa has not written
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    with pytest.raises(analytics.EventsError, match="TANDEM_EVENTS_DB_URL"):
        analytics.read_events(f"sqlite:///{broken}")
    with pytest.raises(analytics.EventsError, match="no url at all"):
        analytics.read_events("no url at all")
    with pytest.raises(analytics.EventsError, match="is running") as refused:  # nothing listens on port 1
        analytics.read_events("postgresql://tandem:secret@127.0.0.1:1/events")
    assert "secret" not in str(refused.value)


def test_the_dashboard_page_shows_the_figures_and_escapes_customer_text():
    numbers = analytics.figures(analytics.conversations(events()), ["policies/shipping.md"])
    found = [analytics.Gap(3, ["<script>alert(1)</script>", "b"], {"clarify": 3}, "help/<x>.md", 0.5)]
    page = render_dashboard(numbers, found, "Brightbay <Outdoor>", "since 7d")
    assert "<strong>3</strong>conversations" in page and "67% without a person" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "help/&lt;x&gt;.md" in page and "policies/shipping.md" in page
    assert "Brightbay &lt;Outdoor&gt;" in page and "<Outdoor>" not in page
    assert '<a href="gaps.csv">' in page  # relative: works wherever the page is served
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")  # nothing external
    for chart in ("Conversations per day", "Route of each bot turn", "Why conversations went to a person",
                  "Feedback per route", "p95 latency per route", "Containment"):  # fmt: skip
        assert f"<h2>{chart}</h2><svg" in page, chart


def test_an_empty_dashboard_renders():
    page = render_dashboard(analytics.figures([]), [], "Brightbay")
    assert "No conversations yet." in page and "No declined, clarified or thumbs-down questions." in page


def test_tandem_report_prints_json_and_refuses_a_bad_since(database, capsys, tmp_path):
    csv_path = tmp_path / "gaps.csv"
    assert (
        cli.main(["report", "--since", "2026-12-01", "--json", "--no-gaps", "--gaps-csv", str(csv_path)]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["figures"]["conversations"] == 3 and printed["figures"]["handoff_reasons"] == {
        "failed_turns": 1
    }
    assert printed["gaps"] == [] and csv_path.read_text().startswith("rank,")
    assert cli.main(["report", "--since", "2026-12-05", "--json", "--no-gaps"]) == 0
    assert json.loads(capsys.readouterr().out)["figures"]["conversations"] == 1  # only b's day
    for bad in ("yesterday", "7 days", "2026-13-01"):
        assert cli.main(["report", "--since", bad]) == 2
        assert "give a duration like 7d" in capsys.readouterr().err


def test_tandem_report_finds_the_gaps_and_prints_them(database, capsys, monkeypatch):
    asked = []

    def closest(text):
        asked.append(text)
        return ("policies/promotions.md", 0.41)

    monkeypatch.setattr(report, "search_tools", lambda: (words, closest))
    assert cli.main(["report", "--since", "2026-12-01", "--json"]) == 0
    gaps = json.loads(capsys.readouterr().out)["gaps"]
    assert sorted(e for g in gaps for e in g["examples"]) == [
        "do you have a loyalty program?",
        "how long is the warranty on a tent?",
        "the thing",
    ]
    assert {g["closest_document"] for g in gaps} == {"policies/promotions.md"} and len(asked) == len(gaps)
    assert cli.main(["report", "--since", "2026-12-01"]) == 0
    text = capsys.readouterr().out
    assert "Since 2026-12-01: 3 conversations" in text and "ended without a person:  66.7%" in text
    assert "handed to a person:      failed_turns 1" in text and "knowledge +1/-1" in text
    assert "Knowledge gaps" in text and "closest policies/promotions.md (0.41)" in text


def test_tandem_report_says_when_the_database_cannot_be_read(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "events.db"
    broken.write_bytes(b"not sqlite" * 100)
    monkeypatch.setenv("TANDEM_EVENTS_DB_URL", f"sqlite:///{broken}")
    get_settings.cache_clear()
    try:
        assert cli.main(["report", "--no-gaps"]) == 1
    finally:
        get_settings.cache_clear()
    assert "check $TANDEM_EVENTS_DB_URL" in capsys.readouterr().err


def test_since_reads_durations_and_dates():
    assert analytics.parse_since("7d", now=1000.0 + 7 * 86400) == 1000.0
    assert analytics.parse_since("90m", now=6000.0) == 600.0
    assert analytics.parse_since("2026-12-04") == DAY
    for bad in ("", "d", "-1d", "7 days", "2026-13-01"):
        with pytest.raises(ValueError):
            analytics.parse_since(bad)


class Answer:
    def __init__(self, ok, hits):
        self.ok, self.hits = ok, hits

    def json(self):
        return self.hits


def test_the_report_asks_the_running_server_for_the_closest_document(monkeypatch):
    asked = []

    def get(url, params, headers, timeout):
        asked.append((url, params, headers))
        if params["q"] == "broken":
            raise report.requests.ConnectionError("gone")
        hits = [{"metadata": {"source": "policies/promotions.md"}, "score": 0.47}] if params["q"] else []
        return Answer(params["q"] != "refused", hits)

    monkeypatch.setattr(report, "_server_up", lambda: True)
    monkeypatch.setattr(report, "_embedder", lambda: words)
    monkeypatch.setattr(report.requests, "get", get)
    embed, closest = report.search_tools()
    assert embed is words
    assert closest("loyalty points?") == ("policies/promotions.md", 0.47)
    url, params, headers = asked[0]
    assert url.endswith("/kb/search") and params == {"q": "loyalty points?", "k": 1, "mode": "dense"}
    assert headers["Authorization"] == f"Bearer {get_settings().rasa_token}"
    assert closest("") is None and closest("refused") is None and closest("broken") is None
