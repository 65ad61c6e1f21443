"""tandem bench answers' judge: outcome per reply and an independent audit of facts sent."""

from __future__ import annotations

from bot.bench.answers import judge

TEXTS = {"policies/returns.md": "You can return items within 30 days. Refunds take 5 to 7 business days."}
ROW = {"question": "how long do I have to return stuff", "doc_id": "policies/returns.md", "fact": "30 days"}


def knowledge(text: str, source: str = "policies/returns.md") -> list[dict]:
    return [{"text": text}, {"custom": {"route": "knowledge", "citations": [{"source": source}]}}]


def test_a_cited_answer_with_the_fact_is_correct_and_fully_supported():
    result = judge(ROW, knowledge("You can return items within 30 days."), TEXTS, [])
    assert result["outcome"] == "correct" and result["unsupported"] == []


def test_a_fact_absent_from_the_cited_documents_is_counted_as_unsupported():
    result = judge(ROW, knowledge("You can return items within 45 days."), TEXTS, [])
    assert result["outcome"] == "wrong" and result["unsupported"] == ["45"]


def test_other_documents_or_declining_are_not_correct():
    assert judge(ROW, knowledge("Within 30 days.", "policies/shipping.md"), TEXTS, [])["outcome"] == "wrong"
    declined = [{"text": "Is it about one of these?"}, {"custom": {"route": "clarify"}}]
    assert judge(ROW, declined, TEXTS, [])["outcome"] == "declined"


def test_a_flow_started_instead_of_an_answer_is_not_counted_correct():
    form = [{"text": "What's your order number? It looks like BB-123456 and is in your confirmation email."}]
    assert judge(ROW, form, TEXTS, [])["outcome"] == "flow"
    rephrase = [
        {"text": "Sorry, I didn't quite get that. Could you say it another way? I can help with orders."}
    ]
    assert judge(ROW, rephrase, TEXTS, [])["outcome"] == "declined"
    scripted = [{"text": "You have 30 days from delivery to return an item."}]
    assert judge(ROW, scripted, TEXTS, [])["outcome"] == "correct"


def test_a_document_listed_as_also_answering_counts():
    row = {**ROW, "also": ["policies/shipping.md"]}
    assert judge(row, knowledge("Within 30 days.", "policies/shipping.md"), TEXTS, [])["outcome"] == "correct"
    assert judge(row, knowledge("Within 30 days.", "policies/other.md"), TEXTS, [])["outcome"] == "wrong"
