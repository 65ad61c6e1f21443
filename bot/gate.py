"""The confidence gate: one decision per turn over all the evidence.

Routes:
- ``flow``: a scripted flow or scripted answer for the NLU intent;
- ``knowledge``: a grounded answer from the knowledge base;
- ``clarify``: offer the two or three most likely topics as buttons;
- ``handoff``: hand the conversation to a person (repeated failures);
- ``out_of_scope``: say politely that this is not something the store can help with.

The evidence is the NLU intent ranking (confidence and margin to the runner-up), whether a
form is active, the retrieval scores (best dense similarity, margin, whether dense and
sparse search agree on the document) and the consecutive failed turns. Thresholds live in
bot/brand/gate.yml (written by `tandem gate calibrate`); every decision carries its inputs
so that anyone can see why the bot did what it did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.settings import BRAND_DIR

GATE_FILE = BRAND_DIR / "gate.yml"
FLOW_INTENTS = frozenset(
    {
        "track_order",
        "cancel_order",
        "change_shipping_address",
        "get_refund",
        "recover_password",
        "contact_human_agent",
    }
)
CHITCHAT_INTENTS = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "stop", "bot_challenge"})
NOT_INTENTS = frozenset({"nlu_fallback", "out_of_scope", "inform"})
ROUTES = ("flow", "knowledge", "clarify", "handoff", "out_of_scope")


def load_thresholds(path: Path = GATE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@dataclass
class Evidence:
    text: str
    intent_ranking: list[tuple[str, float]]  # NLU's, best first, without nlu_fallback
    active_form: str | None = None
    dense_top: float | None = None  # best passage's cosine similarity
    dense_margin: float | None = None  # to the best passage of another document
    sparse_top: float | None = None
    agree: bool = False  # dense and sparse search rank the same document first
    top_sources: list[str] = field(default_factory=list)  # documents of the best passages
    top_titles: list[str] = field(default_factory=list)
    failed_turns: int = 0  # consecutive failed turns before this one

    @property
    def intent(self) -> str | None:
        return self.intent_ranking[0][0] if self.intent_ranking else None

    @property
    def confidence(self) -> float:
        return self.intent_ranking[0][1] if self.intent_ranking else 0.0

    @property
    def margin(self) -> float:
        if len(self.intent_ranking) < 2:
            return self.confidence
        return self.intent_ranking[0][1] - self.intent_ranking[1][1]


@dataclass
class Decision:
    route: str
    reason: str
    evidence: Evidence
    intent: str | None = None  # the flow to follow (route flow)
    buttons: list[dict[str, str]] = field(default_factory=list)  # route clarify

    def to_dict(self) -> dict[str, Any]:
        evidence = asdict(self.evidence)
        evidence["intent_ranking"] = [[i, round(c, 3)] for i, c in self.evidence.intent_ranking[:3]]
        for key in ("dense_top", "dense_margin", "sparse_top"):
            if evidence[key] is not None:
                evidence[key] = round(evidence[key], 3)
        return {
            "route": self.route,
            "reason": self.reason,
            "intent": self.intent,
            "evidence": evidence,
        }


def knowledge_supported(evidence: Evidence, thresholds: dict[str, Any]) -> bool:
    knowledge = thresholds["knowledge"]
    if evidence.dense_top is None:
        return False
    if evidence.dense_top >= knowledge["min_dense"]:
        return True
    return evidence.agree and evidence.dense_top >= knowledge["min_dense_agreeing"]


def clarify_buttons(evidence: Evidence, thresholds: dict[str, Any]) -> list[dict[str, str]]:
    clarify = thresholds["clarify"]
    topics: dict[str, str] = thresholds.get("topics", {})
    buttons = [
        {"title": topics[intent], "payload": f"/{intent}"}
        for intent, confidence in evidence.intent_ranking
        if intent in topics and confidence >= clarify["min_candidate"]
    ]
    for title in evidence.top_titles:  # documents close to the question: ask about them
        if title and all(b["title"] != title for b in buttons):
            buttons.append({"title": title, "payload": title})
    return buttons[: clarify["max_buttons"]]


def decide(evidence: Evidence, thresholds: dict[str, Any], handoff_after: int) -> Decision:
    """The route for this turn. `handoff_after`: failed turns in a row that hand over."""
    flow = thresholds["flow"]
    intent = evidence.intent
    confident = evidence.confidence >= flow["min_confidence"] and evidence.margin >= flow["min_margin"]
    if confident and intent in FLOW_INTENTS | CHITCHAT_INTENTS:
        return Decision("flow", f"NLU is confident in {intent}", evidence, intent=intent)
    if knowledge_supported(evidence, thresholds):
        return Decision("knowledge", "a passage answers the question closely", evidence)
    if confident and intent and intent not in NOT_INTENTS:
        return Decision(
            "flow", f"NLU is confident in {intent} and no passage answers better", evidence, intent=intent
        )
    failed = evidence.failed_turns + 1
    if failed >= handoff_after:
        return Decision("handoff", f"{failed} failed turns in a row", evidence)
    if intent == "out_of_scope" and evidence.confidence >= thresholds["out_of_scope"]["min_confidence"]:
        return Decision("out_of_scope", "NLU says out of scope and no passage is close", evidence)
    buttons = clarify_buttons(evidence, thresholds)
    if len(buttons) >= 2:
        return Decision("clarify", "several topics are likely, none clearly", evidence, buttons=buttons)
    return Decision("out_of_scope", "no intent and no passage is close enough", evidence)
