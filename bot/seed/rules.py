"""Generate a brand's ``data/rules/forms.yml``: the same behaviour for every scripted flow.

    python -m bot.seed.rules                      # the brand TANDEM_BRAND names (default brightbay)

For each form of the brand's flows.yml: activation, submission, a question mid-form
(answered, then the form resumes), switching to another flow, stopping or saying no,
asking for a human, and an out-of-scope message mid-form. Edit flows.yml, not the
generated file. The rules use the intents every brand's domain has (`tandem new`
scaffolds them): stop, deny, goodbye, bot_challenge, out_of_scope, contact_human_agent;
and the questions a form answers mid-way are the intents of the core rule named
"questions about ..." (data/rules/core.yml).

A flow intent never starts (or switches to) a form by itself: the gate
(action_answer_from_knowledge) decides first and sets ``gate_flow``. True starts the form;
false means the gate answered otherwise ("how long do I have to return stuff?" is a
question about returns, not a request to start one), and the conversation goes on as before.
"""

from __future__ import annotations

import yaml

from bot.core.brand import Brand, Flow
from bot.core.settings import current_brand


def info_intents(brand: Brand) -> list[str]:
    """The intents of questions the brand answers (its core rule "questions about ...")."""
    core = yaml.safe_load((brand.data / "rules" / "core.yml").read_text())
    rule = next((r for r in core["rules"] if r["rule"].startswith("questions about")), None)
    if rule is None:
        return []
    first = rule["steps"][0]
    return [step["intent"] for step in first["or"]] if "or" in first else [first["intent"]]


def form_rules(
    trigger: str, form: str, submit: str, questions: list[str], forms: dict[str, Flow]
) -> list[dict]:
    cond = [{"active_loop": form}]
    resume = [{"action": form}, {"active_loop": form}]
    stop = [{"action": "action_deactivate_loop"}, {"active_loop": None}]
    gate = {"action": "action_answer_from_knowledge"}
    answered = [gate, {"slot_was_set": [{"gate_flow": False}]}]
    rules = [
        {
            "rule": f"{form}: start, when the gate confirms the flow",
            "steps": [{"intent": trigger}, gate, {"slot_was_set": [{"gate_flow": True}]}, *resume],
        },
        {
            "rule": f"{form}: the gate answers {trigger} otherwise",
            "condition": [{"active_loop": None}],
            "steps": [{"intent": trigger}, *answered],
        },
        {
            "rule": f"{form}: submit",
            "condition": cond,
            "steps": [
                {"action": form},
                {"active_loop": None},
                {"slot_was_set": [{"requested_slot": None}]},
                {"action": submit},
            ],
        },
        *(
            [
                {
                    "rule": f"{form}: question mid-form, answer then resume",
                    "condition": cond,
                    "steps": [
                        {"or": [{"intent": q} for q in questions]}
                        if len(questions) > 1
                        else {"intent": questions[0]},
                        *answered,
                        *resume,
                    ],
                }
            ]
            if questions
            else []
        ),
        {
            # "how long till I get my money back?" in the return form reads as get_refund:
            # the gate answers it, and the form asks its question again
            "rule": f"{form}: {trigger} mid-form answered otherwise, then resume",
            "condition": cond,
            "steps": [{"intent": trigger}, *answered, *resume],
        },
        {
            "rule": f"{form}: bot challenge mid-form",
            "condition": cond,
            "steps": [{"intent": "bot_challenge"}, {"action": "utter_iamabot"}, *resume],
        },
        {
            "rule": f"{form}: out of scope mid-form",
            "condition": cond,
            "steps": [{"intent": "out_of_scope"}, *answered, *resume],
        },
        {
            # "do you deliver on weekends?" while the form waits for an email: the NLU is
            # unsure, the gate decides (an answer, a question back, or not something it does)
            "rule": f"{form}: low NLU confidence mid-form, through the gate, then resume",
            "condition": cond,
            "steps": [{"intent": "nlu_fallback"}, *answered, *resume],
        },
        {
            "rule": f"{form}: stop",
            "condition": cond,
            "steps": [
                {"or": [{"intent": "stop"}, {"intent": "deny"}, {"intent": "goodbye"}]},
                *stop,
                {"action": "utter_anything_else"},
            ],
        },
        {
            "rule": f"{form}: ask for a human",
            "condition": cond,
            "steps": [{"intent": "contact_human_agent"}, *stop, {"action": "action_handoff"}],
        },
    ]
    for other, flow in forms.items():
        other_form = flow.form
        if other_form != form:
            rules.append(
                {
                    "rule": f"{form}: switch to {other_form}, when the gate confirms",
                    "condition": cond,
                    "steps": [
                        {"intent": other},
                        gate,
                        {"slot_was_set": [{"gate_flow": True}]},
                        *stop,
                        {"action": other_form},
                        {"active_loop": other_form},
                    ],
                }
            )
            rules.append(
                {
                    "rule": f"{form}: {other} answered otherwise, then resume",
                    "condition": cond,
                    "steps": [{"intent": other}, *answered, *resume],
                }
            )
    return rules


def rules_text(brand: Brand) -> str:
    """The generated forms.yml of the brand's flows."""
    forms = brand.flows().forms
    questions = info_intents(brand)
    rules = [
        r for trigger, f in forms.items() for r in form_rules(trigger, f.form, f.action, questions, forms)
    ]
    header = "# Generated by `python -m bot.seed.rules` from flows.yml; edit flows.yml, not this file.\n"
    dumper = type("NoAliases", (yaml.SafeDumper,), {"ignore_aliases": lambda self, data: True})
    return header + yaml.dump({"version": "3.1", "rules": rules}, Dumper=dumper, sort_keys=False, width=100)


def main() -> None:
    brand = current_brand()
    out = brand.data / "rules" / "forms.yml"
    text = rules_text(brand)
    out.write_text(text)
    print(f"wrote {text.count('- rule:')} rules to {out}")


if __name__ == "__main__":
    main()
