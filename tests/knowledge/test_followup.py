from knowledge.followup import Context, Resolved, referent, resolve, swaps, without_products

WORDS = {
    "kettle": {"tent": 0.5, "warranty": 0.1, "long": 0.1},
    "standard": {"express": 0.3, "shipping": 0.3, "express shipping": 0.2, "much": 0.1},
    "express": {"shipping": 0.4, "standard": 0.4},
}


def similarity(text: str, candidates: list[str]) -> list[float]:
    return [WORDS.get(text.lower(), {}).get(c.lower(), 0.05) for c in candidates]


def test_a_fragment_swaps_the_phrase_most_like_it():
    resolved = resolve(
        "and for a kettle?", Context(["how long is the warranty on a tent?"]), similarity=similarity
    )
    assert resolved.kind == "ellipsis"
    assert resolved.text == "how long is the warranty on a kettle?"


def test_the_examples_of_a_swapped_phrase_go_with_it():
    def alike(text, candidates):  # "apparel" is most like "kitchen stuff"
        return [0.9 if c == "kitchen stuff" else 0.1 for c in candidates]

    resolved = resolve(
        "what about apparel?", Context(["what is the warranty on kitchen stuff like pans?"]), similarity=alike
    )
    assert resolved.text == "what is the warranty on apparel?"
    resolved = resolve(
        "and apparel?", Context(["is kitchen stuff, such as pans, covered for 2 years?"]), similarity=alike
    )
    assert resolved.text == "is apparel covered for 2 years?"


def test_the_knowledge_base_picks_between_readings():
    def plausibility(questions):  # the knowledge base answers the parallel reading best
        return [0.8 if "standard shipping" in q else 0.3 for q in questions]

    resolved = resolve(
        "and standard?",
        Context(["how much is express shipping"]),
        similarity=similarity,
        plausibility=plausibility,
    )
    assert resolved.text == "how much is standard shipping?"


def test_the_knowledge_base_overrules_the_likeliest_swap_only_when_clearly_better():
    def alike(text, candidates):
        return [{"kitchen stuff": 0.40, "stuff": 0.39}.get(c, 0.1) for c in candidates]

    def close(by):  # the passage answers "kitchen apparel" a little (or much) better
        return lambda questions: [0.76 + (by if "kitchen apparel" in q else 0.0) for q in questions]

    context = Context(["what is the warranty on kitchen stuff like pans?"])
    assert resolve("what about apparel?", context, similarity=alike, plausibility=close(0.01)).text == (
        "what is the warranty on apparel?"
    )
    assert resolve("what about apparel?", context, similarity=alike, plausibility=close(0.1)).text == (
        "what is the warranty on kitchen apparel?"
    )


def test_without_a_model_the_last_word_is_swapped():
    assert (
        swaps("how long is the warranty on a tent?", "a kettle", None)[0]
        == "how long is the warranty on a kettle?"
    )


def test_a_correction_swaps_like_a_fragment():
    resolved = resolve(
        "no, I meant standard", Context(["how much is express shipping"]), similarity=similarity
    )
    assert resolved.kind == "ellipsis" and "standard" in resolved.text and "much" in resolved.text


def test_a_question_that_points_back_gets_the_previous_topic():
    resolved = resolve("what if I dropped it?", Context(["how long is the warranty on a kettle?"]))
    assert resolved.kind == "reference"
    assert resolved.text == "what if I dropped it? (warranty kettle)"


def test_a_record_number_after_a_question_is_read_with_it():
    resolved = resolve("it's order BB-100031", Context(["my lamp arrived broken"]), names_record=True)
    assert resolved.kind == "record"
    assert resolved.text == "my lamp arrived broken it's order BB-100031"


def test_standalone_messages_replies_and_form_answers_stay_as_they_are():
    context = Context(["how much is express shipping"])
    for message in (
        "is there a fee to cancel an order?",
        "thanks",
        "ok",
        "where is my order BB-100002 going",
    ):
        assert resolve(message, context, names_record="BB-" in message).kind == "as_is", message
    assert resolve("and standard?", Context([])).kind == "as_is"  # nothing to point back to
    # a form waiting for a value: a short message is that value
    assert resolve("kettle?", Context(["how much is express shipping"], form_waiting=True)).kind == "as_is"


NAMES = [
    "Ridge 2-Person Tent",
    "Ridge 4-Person Tent",
    "Summit Down Sleeping Bag",
    "Summit Synthetic Sleeping Bag",
    "Harbor Glass Kettle",
    "Harbor Stainless Kettle",
    "Harbor Wool Socks (3 pack)",
]


def test_a_reference_means_the_product_the_answer_just_named():
    context = Context(
        ["what's the warmest sleeping bag you sell?"],
        said=["The Summit Down Sleeping Bag, with a comfort rating of -5°C."],
        names=NAMES,
    )
    resolved = resolve("how much is it", context)
    assert resolved.kind == "reference"
    assert resolved.text == "how much is it (Summit Down Sleeping Bag: warmest sleeping bag sell)"
    assert resolved.said == context.said  # what the answer said travels with the reading


def test_the_words_of_a_reference_pick_one_product_of_the_family_named_before():
    assert referent("how much is the glass one", ["both Harbor kettles work on induction"], NAMES) == [
        "Harbor Glass Kettle"
    ]
    assert referent("how heavy is the 2 person one", ["is the ridge tent freestanding?"], NAMES) == [
        "Ridge 2-Person Tent"
    ]
    # the other product of the family is taken out of the topic: the reading is about one
    context = Context(["how much is it (Summit Down Sleeping Bag: warmest)"], names=NAMES)
    resolved = resolve("and the synthetic one, how warm is that", context)
    assert "Summit Synthetic Sleeping Bag" in resolved.text and "Down" not in resolved.text
    assert referent("what if I dropped it?", ["how long is the warranty on a kettle?"], NAMES) == []


def test_a_fragment_that_names_another_product_of_the_family_swaps_the_product():
    context = Context(["how heavy is the Ridge 2-Person Tent?"], names=NAMES)
    resolved = resolve("and the 4 person?", context, similarity=similarity)
    assert resolved.kind == "ellipsis"
    assert resolved.text == "how heavy is the Ridge 4-Person Tent?"


def test_a_family_named_with_its_kind_means_the_products_of_that_kind():
    said = ["Yes, both Harbor kettles work on gas, electric and induction hobs."]
    assert referent("how much water do they hold", said, NAMES) == [
        "Harbor Glass Kettle",
        "Harbor Stainless Kettle",
    ]


def test_products_said_as_item_leave_the_question_to_the_policy():
    names = [*NAMES, "Beacon Floor Lamp", "Pebble Ceramic Mug Set"]
    assert (
        without_products("my lamp arrived broken, what do I do?", names)
        == "my item arrived broken, what do I do?"
    )
    assert without_products("the Beacon Floor Lamp is broken", names) == "the item is broken"
    assert without_products("do your kettles work on induction", names) == "do your item work on induction"
    assert without_products("where is my order", names) == "where is my order"  # no product: as it was
    assert without_products("is the mug set dishwasher safe", names) == "is the item set dishwasher safe"


def test_a_short_question_that_names_no_product_is_about_the_one_just_named():
    context = Context(
        ["do the ridge tents come with pegs?"],
        said=["Yes, both Ridge tents come with 12 steel pegs."],
        names=NAMES,
    )
    resolved = resolve("whats the max weight it can hold in the porch", context)
    assert resolved.kind == "reference"  # "it": the older rule, with the topic
    resolved = resolve("whats the packed size", context)
    assert resolved.kind == "reference"
    assert resolved.text == "whats the packed size (Ridge 2-Person Tent Ridge 4-Person Tent)"
    # a question with its own product, a reply, a statement: read as they are
    assert resolve("whats the price of the kettle", context).kind == "as_is"
    assert resolve("thanks", context).kind == "as_is"
    assert resolve("i need to change my address", context).kind == "as_is"
    # nothing named before: nothing implied
    assert resolve("whats the packed size", Context(["how do returns work?"], names=NAMES)).kind == "as_is"


def test_products_quoted_together_are_told_apart_by_the_question_they_answered():
    said = ["Ridge 4-Person Tent: Sleeps 4; 4.6 kg. Ridge 2-Person Tent: Sleeps 2; 1.9 kg."]
    assert referent("how much", [*said, "which of your tents sleeps 4"], NAMES) == ["Ridge 4-Person Tent"]
    assert referent("how much", said, NAMES) == ["Ridge 2-Person Tent", "Ridge 4-Person Tent"]


def test_a_reference_is_read_with_the_document_the_answer_before_cited():
    context = Context(["do i have to pay customs on top"], names=NAMES, cited="Delivery to Canada")
    resolved = resolve("can i send stuff back from there if it doesnt fit", context)
    assert (
        resolved.text
        == "can i send stuff back from there if it doesnt fit (Delivery to Canada: pay customs top)"
    )
    assert resolved.within == "Delivery to Canada"  # answered from that page first
    # the title adds nothing the topic has already; an answer the customer rejects guides nothing
    context = Context(["how long does shipping to canada take"], names=NAMES, cited="Canada")
    assert resolve("and does that include duties", context).text.endswith("(shipping canada take)")
    context = Context(["what does processing mean"], names=NAMES, cited="Tracking an order")
    resolved = resolve("thats not what i asked. when does it ship?", context)
    assert resolved.text == "thats not what i asked. when does it ship? (processing mean)"
    assert resolved.within == "" and resolved.as_typed(resolved.text).within == ""


def test_a_correction_may_name_a_thing_with_a_verb_in_it():
    resolved = resolve("no, I meant the return window", Context(["how long do i have"]))
    assert resolved.kind == "ellipsis" and "return window" in resolved.text
    # a fragment with a verb is still a sentence of its own
    assert resolve("and return it?", Context(["how long is the warranty"])).kind != "ellipsis"


def test_a_fragment_with_a_pronoun_refers_and_swaps_nothing():
    context = Context(
        ["how much is the glass one"], said=["Summit Down Sleeping Bag: Price $159.00."], names=NAMES
    )
    resolved = resolve("warranty on that?", context, similarity=similarity)
    assert resolved.kind == "reference"  # not "how much is the warranty on that one"
    assert resolved.text.startswith("warranty on that? (Summit Down Sleeping Bag")
    # a fragment that names the one meant still swaps it
    assert (
        resolve("and for a kettle?", Context(["how much is the tent?"]), similarity=similarity).kind
        == "ellipsis"
    )


def test_the_document_the_answer_before_cited_travels_with_the_reading():
    context = Context(
        ["can i order by phone?"], said=["No, orders are placed online only."], cited="General faq"
    )
    assert resolve("do you have a shop in portland", context).cited == "General faq"


def test_a_message_read_as_typed_keeps_the_conversation_it_was_read_in():
    resolved = Resolved("how long is the warranty on a kettle?", "ellipsis", "warranty on a tent?")
    resolved.said, resolved.cited = ["Outdoor gear: 3 years."], "Warranty"
    typed = resolved.as_typed("and for a kettle?")
    assert (typed.text, typed.kind, typed.previous) == ("and for a kettle?", "as_is", None)
    assert (typed.said, typed.cited) == (["Outdoor gear: 3 years."], "Warranty")
    assert resolved.as_typed("where's my order", keep_said=False).said == []


def test_a_question_that_leaves_out_the_verb_asked_before_gets_the_previous_topic():
    context = Context(["ok how do i close my account"])
    resolved = resolve("what happens to the order i placed yesterday if i do", context)
    assert resolved.kind == "reference"
    assert resolved.text == "what happens to the order i placed yesterday if i do (close account)"
    assert resolve("do i still get the discount if so?", context).kind == "reference"
    # a verb of its own: nothing left out
    assert resolve("what happens to my orders if i do nothing", context).kind == "as_is"


def test_a_question_whether_the_answer_applies_to_another_case_asks_the_question_before_of_it():
    resolved = resolve("does that apply to sale items too?", Context(["return policy?"]))
    assert resolved.kind == "ellipsis"
    assert resolved.text == "return policy for sale items?"
    resolved = resolve("and is it valid on outdoor gear", Context(["how much is the student discount"]))
    assert resolved.text == "how much is the student discount for outdoor gear?"
    # a question of its own about applying something
    assert resolve("how do i apply a discount code", Context(["return policy?"])).kind == "as_is"
