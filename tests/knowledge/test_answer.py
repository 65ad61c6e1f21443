"""Grounded answers: a generated answer is sent only when verified; else quote the passages."""

from __future__ import annotations

from knowledge.answer import Retrieval, answer, as_text
from knowledge.store import Hit
from tests.fakes import MemoryRedis


def hit(source, text, dense=None, sparse=None, dense_rank=None, sparse_rank=None, title="Doc"):
    meta = {"source": source, "title": title, "heading_path": "", "url": f"https://kb.example/{source}"}
    return Hit(text, 0.5, meta, dense, sparse, dense_rank, sparse_rank)


HITS = [
    hit(
        "returns.md",
        "Returns\n\nYou can return an item within 30 days of delivery. Refunds take 5 to 7 business days.",
        dense=0.71,
        sparse=9.0,
        dense_rank=1,
        sparse_rank=1,
        title="Returns",
    ),
    hit(
        "shipping.md", "Shipping\n\nStandard shipping costs $4.95.", dense=0.4, dense_rank=2, title="Shipping"
    ),
]
RETRIEVAL = Retrieval("how long do I have to return an item", HITS)


def test_retrieval_scores_for_the_gate():
    assert RETRIEVAL.dense_top == 0.71 and RETRIEVAL.agree
    assert round(RETRIEVAL.dense_margin, 2) == 0.31
    assert RETRIEVAL.scores()["sparse_top"] == 9.0


def generated(text: str, question: str = "how long do I have to return an item", hits=None):
    """The answer when the model writes `text` for `question` (the return-window question),
    from `hits` (the returns passage)."""
    retrieval = RETRIEVAL if hits is None else Retrieval(question, hits)
    return answer(question, retrieval, 0.6, generator=lambda q, p, h, s: text)


def test_a_verified_generated_answer_is_sent_with_its_citations():
    result = generated("You can return an item within 30 days of delivery.")
    assert result.mode == "generated" and result.verdict.ok
    assert result.citations[0] == {
        "title": "Returns",
        "url": "https://kb.example/returns.md",
        "source": "returns.md",
    }


def test_the_model_is_shown_the_passages_the_quote_comes_from_and_the_quote():
    shown = []

    def model(question, passages, history, quoted):
        shown.append((passages, quoted))
        return quoted

    result = answer("how long do I have to return an item", RETRIEVAL, 0.6, generator=model)
    assert shown == [([HITS[0].text], "You can return an item within 30 days of delivery.")]
    assert result.mode == "generated"


def test_a_generated_answer_with_an_invented_number_is_never_sent():
    result = generated("You can return an item within 60 days of delivery.")
    assert result.mode == "extractive" and "60" not in result.text
    assert result.text == "You can return an item within 30 days of delivery."
    assert result.rejected["verification"]["unsupported_facts"] == ["60"]


def test_a_supported_answer_that_drops_the_quotes_fact_or_says_something_else_is_not_sent():
    """Passing the verifier is not enough: "Refunds take 5 to 7 business days." is in the
    passage, but it does not answer how long the return window is."""
    lost = generated("Happy to help! Refunds take 5 to 7 business days.")
    assert lost.mode == "extractive" and lost.rejected["problems"][0] == "lost 30"
    assert lost.rejected["verification"]["ok"]  # supported, all the same

    def scorer(question, texts):  # the quote's sentences are close; what the written answer says is not
        return [0.3 if question == said else 0.9 for _ in texts]

    said = "You can return an item within 30 days of delivery, 5 to 7 business days."
    written = said + " Happy to help!"  # its courtesy says nothing, and is not compared
    other = answer(
        "how long do I have to return an item",
        RETRIEVAL,
        0.6,
        generator=lambda q, p, h, s: written,
        scorer=scorer,
    )
    assert other.mode == "extractive"
    assert any("says something else" in problem for problem in other.rejected["problems"])


def test_a_written_answer_caught_in_a_loop_is_not_sent():
    """Each sentence is supported and every fact kept, but the model said it twice."""
    looped = generated(
        "You can return an item within 30 days of delivery. You can return an item within 30 days of delivery!"
    )
    assert looped.mode == "extractive" and looped.rejected["verification"]["ok"]
    assert looped.rejected["problems"] == ["says again 'You can return an item within 30 days of delivery!'"]


def test_a_written_answer_that_turns_the_quotes_no_into_yes_or_speaks_as_the_customer_is_not_sent():
    hits = [
        hit("payments.md", "Payments > Cash?\n\nNo, we do not accept cheques or cash on delivery.", dense=0.8)
    ]
    retrieval = Retrieval("do you accept cash on delivery", hits)
    for written, problem in (
        ("Yes, we do not accept cheques or cash on delivery.", "says yes where the quote says no"),
        ("We accept cheques or cash on delivery.", "drops the quote's not"),
    ):
        result = answer(
            "do you accept cash on delivery", retrieval, 0.6, generator=lambda q, p, h, s, w=written: w
        )
        assert result.mode == "extractive", written
        assert problem in result.rejected["problems"], result.rejected
    guest = [
        hit(
            "invoices.md",
            "Invoices > Guests\n\nYour invoice is attached to the confirmation email.",
            dense=0.8,
        )
    ]
    mine = answer(
        "where is my invoice",
        Retrieval("where is my invoice", guest),
        0.6,
        generator=lambda q, p, h, s: "My invoice is attached to the confirmation email.",
    )
    assert mine.mode == "extractive" and "speaks as the customer" in mine.rejected["problems"]
    kept = answer(
        "do you accept cash on delivery",
        retrieval,
        0.6,
        generator=lambda q, p, h, s: "No, sorry: we do not accept cheques or cash on delivery.",
    )
    assert kept.mode == "generated"


def test_no_answer_when_no_passage_sentence_answers():
    assert answer("do you sell bicycles", Retrieval("do you sell bicycles", HITS), 0.6) is None
    assert answer("anything", Retrieval("anything", []), 0.6) is None


def test_faq_passages_quote_the_answer_not_the_question():
    faq = hit(
        "faq.yml", "FAQ > Do you sell gift cards?\n\nQ: Do you sell gift cards?\nA: Yes, from $10 to $500."
    )
    result = answer("do you sell gift cards", Retrieval("do you sell gift cards", [faq]), 0.6)
    assert result.text == "Yes, from $10 to $500." and result.verdict.ok


def test_cached_answers_citing_a_changed_document_are_dropped():
    from knowledge.answer_cache import AnswerCache

    cache = AnswerCache(MemoryRedis())
    returns_key = AnswerCache.key("return window", ["c1"])
    shipping_key = AnswerCache.key("shipping cost", ["c2"])
    cache.put(returns_key, {"text": "30 days"}, ["returns.md"])
    cache.put(shipping_key, {"text": "$4.95"}, ["shipping.md"])
    assert cache.get(returns_key) == {"text": "30 days"}
    assert cache.invalidate(["returns.md", "gone.md"]) == 1
    assert cache.get(returns_key) is None and cache.get(shipping_key) == {"text": "$4.95"}
    # an edited passage has a new id: its key differs, so an old answer could never match
    assert AnswerCache.key("return window", ["c1-edited"]) != returns_key
    cache.clear()
    assert cache.get(shipping_key) is None and not cache.redis.sets


def test_a_passage_far_less_like_the_question_than_the_best_is_not_quoted():
    # hybrid search ranks the outdoor catalogue high for "covered"; it is not about a kettle
    policy = hit(
        "warranty.md",
        "Warranty > What does the warranty cover?\n\nDefects in materials and workmanship under normal use.",
        dense=0.5,
    )
    catalogue = hit("outdoor.md", "Outdoor catalogue\n\nCovered by our 3-year outdoor warranty.", dense=0.27)
    question = "what does the warranty cover"
    result = answer(question, Retrieval(question, [catalogue, policy]), 0.6)
    assert result is not None and "3-year" not in result.text
    assert [c["source"] for c in result.citations] == ["warranty.md"]


def test_a_line_of_a_product_entry_is_led_by_the_products_name():
    names = ["Ridge 2-Person Tent", "Ridge 4-Person Tent"]
    four = hit(
        "outdoor.md", "Outdoor catalogue > Ridge 4-Person Tent\n\nSleeps 4; 4.6 kg. Price $279.00.", dense=0.6
    )
    two = hit(
        "outdoor.md",
        "Outdoor catalogue > Ridge 2-Person Tent\n\nSleeps 2; 1.9 kg. Price $189.00.",
        dense=0.55,
    )
    question = "which tent sleeps 4 people"
    result = answer(question, Retrieval(question, [four, two]), 0.6, names)
    assert result.text.startswith("Ridge 4-Person Tent: Sleeps 4; 4.6 kg.") and result.verdict.ok


def test_a_written_yes_or_no_to_a_question_that_asks_none_is_not_sent():
    hits = [hit("intl.md", "Canada > Duties\n\nPrices for Canada include duties and taxes.", dense=0.8)]

    def write(question, text):  # a sentence model that finds "Yes." supported, as MiniLM did
        alike = lambda q, texts: [0.9] * len(texts)  # noqa: E731
        return answer(
            question, Retrieval(question, hits), 0.6, generator=lambda q, p, h, s: text, scorer=alike
        )

    said = write("what currency are prices in for canada", "Yes. Prices for Canada include duties and taxes.")
    assert said.mode == "extractive"
    assert "says yes to a question that asks no yes or no" in said.rejected["problems"]
    # asked as a yes or no question, a yes that keeps the quote's facts is the brand's voice
    asked = write("do prices for canada include duties", "Yes, prices for Canada include duties and taxes.")
    assert asked.mode == "generated"


def test_the_brands_courtesy_around_the_answer_is_sent_and_says_no_yes_or_no():
    result = generated("No worries! You can return an item within 30 days of delivery. Happy shopping!")
    assert result.mode == "generated", result.rejected
    alone = generated("Certainly! Happy shopping!")  # courtesy only: nothing answers
    assert alone.mode == "extractive"


def test_a_written_answer_cut_by_the_token_limit_loses_its_unfinished_sentence():
    from adapters.guards import whole_sentences

    cut = "Express delivery: 1 to 2 business days, $14.95. Let me know if you"
    assert whole_sentences(cut) == "Express delivery: 1 to 2 business days, $14.95."
    assert whole_sentences('Choose "Return an item." You get') == 'Choose "Return an item."'
    assert whole_sentences("Sleeps 2; 1.9 kg") == ""  # no sentence finished: the quote is sent
    # a sentence ended with a semicolon before the next one's capital: a full stop
    said = 'Choose "Download invoice"; Happy shopping!'
    assert whole_sentences(said) == 'Choose "Download invoice". Happy shopping!'
    assert (
        whole_sentences("Ships the same day; others the next day.")
        == "Ships the same day; others the next day."
    )


def test_a_written_answer_says_no_yes_word_or_happy_shopping_to_a_complaint_and_no_yes_word_before_a_no():
    from adapters.guards import fitting_courtesy

    damaged = 'Certainly! We\'re sorry. Start a return with the reason "damaged".'
    assert fitting_courtesy(damaged, "the candle arrived smashed") == damaged[len("Certainly! ") :]
    assert fitting_courtesy(damaged + " Happy shopping!", "the candle arrived smashed") == damaged[11:]
    assert fitting_courtesy("Yes. Happy shopping!", "can I pay by card") == "Yes. Happy shopping!"
    no = "Absolutely! No worries! No, an order can't be edited after it is placed."
    assert fitting_courtesy(no, "can i edit my order") == "No, an order can't be edited after it is placed."
    shipped = "Absolutely! A shipped order can no longer be cancelled."
    assert fitting_courtesy(shipped, "my order has already shipped, what now?") == shipped[12:]
    yes = "Certainly! Yes, while the order's status is pending."
    assert fitting_courtesy(yes, "can I change the address of an order?") == yes
    # the answer after the question a quote repeats is what says no or yes
    repeated = "Certainly! Can I pay in instalments? Not at the moment."
    assert fitting_courtesy(repeated, "can I pay in installments") == repeated[11:]
    agreed = "Certainly! Can I change the address of an order? Yes, while it is pending."
    assert fitting_courtesy(agreed, "can i change my address") == agreed
    # nothing after it: no answer, as it was
    assert fitting_courtesy("Certainly!", "the mug arrived cracked") == "Certainly!"


def test_a_written_answer_that_drops_what_was_asked_or_adds_a_fact_the_quote_does_not_say_is_not_sent():
    hits = [
        hit(
            "warranty.md",
            "Warranty > How long?\n\nKitchen and home products: 2 years from delivery. "
            "Outdoor gear (tents, stoves): 3 years from delivery. Apparel: 1 year on seams, zips and soles.",
            dense=0.8,
        )
    ]
    tent = "Outdoor gear (tents, stoves): 3 years from delivery."
    kettle = answer(
        "and for a kettle?",
        Retrieval("and for a kitchen kettle warranty", hits),
        0.6,
        generator=lambda q, p, h, s: "Kitchen and home products: 2 years from delivery. " + tent,
        said=[tent],
    )
    assert kettle.mode == "extractive" and "adds 3" in kettle.rejected["problems"]
    soles = answer(
        "does the apparel warranty cover the soles",
        Retrieval("does the apparel warranty cover the soles", hits),
        0.6,
        generator=lambda q, p, h, s: "Certainly! Apparel: 1 year on seams and zips.",
    )
    assert soles.mode == "extractive" and "drops what was asked: sol" in soles.rejected["problems"]


def test_a_written_answer_that_says_the_question_back_without_the_answer_is_not_sent():
    sizes = [
        hit(
            "size-guide.md",
            "Size guide > Shoes\n\nIf you are between sizes, choose the larger one for hiking boots.",
            dense=0.7,
        )
    ]
    question = "i'm between sizes for the hiking boots"
    echoed = generated("Of course! If you are between sizes for the hiking boots.", question, sizes)
    assert echoed.mode == "extractive"
    assert echoed.rejected["problems"] == ["says the question back without the quote's answer"]
    reworded = generated("Of course! Between sizes, choose the larger one for hiking boots.", question, sizes)
    assert reworded.mode == "generated"


def test_a_written_answer_that_misspells_a_word_of_its_quote_is_not_sent():
    sheets = [
        hit("home.md", "Home > Lantern Cotton Sheet Set\n\n400 thread count cotton percale.", dense=0.7)
    ]
    question = "thread count of the sheets"
    slipped = generated(
        "Certainly! Lantern Cotton Sheet Set: 400 thread count cotton perlocale.", question, sheets
    )
    assert slipped.mode == "extractive" and slipped.rejected["verification"]["ok"]
    assert slipped.rejected["problems"] == ["slipped 'percale' to 'perlocale'"]


def test_a_message_that_names_only_a_documents_subject_gets_its_opening_section():
    def section(text, index, dense):
        found = hit("returns.md", f"Returns and refunds > {text}", dense=dense, title="Returns and refunds")
        found.metadata["chunk_index"] = index
        return found

    start = section("How do I start a return?\n\nAsk the assistant to start a return.", 1, 0.58)
    window = section(
        "How long do I have to return an item?\n\nYou can return any item within 30 days.", 0, 0.57
    )

    def scorer(question, texts):  # the return's start reads a little closer to "return policy"
        return [0.6 if "start" in t else 0.55 for t in texts]

    hits = [start, window]
    result = answer("return policy?", Retrieval("return policy?", hits), 0.6, scorer=scorer)
    assert result.text == "You can return any item within 30 days."
    # a question about one part of it is answered by that part
    result = answer("how do i start a return", Retrieval("how do i start a return", hits), 0.6, scorer=scorer)
    assert result.text == "Ask the assistant to start a return."


def test_the_passage_closest_in_meaning_is_answered_from_when_the_words_rank_it_lower():
    # "Canada" is said often by the Canada pages; the terms of sale say "Canadian dollars"
    def canada(heading, body, dense):
        return hit("international.md", f"Delivery to Canada > {heading}\n\n{body}", dense=dense)

    hits = [
        canada("Do I pay duties?", "No. Prices for Canada include duties.", 0.45),
        canada("Can I return items from Canada?", "Yes, within 30 days.", 0.40),
        canada("How long does delivery to Canada take?", "5 to 8 business days.", 0.36),
        hit(
            "terms.txt",
            "Terms of sale\n\nPrices are shown in Canadian dollars for Canadian orders.",
            dense=0.58,
        ),
    ]

    def scorer(question, texts):
        return [0.6 if "dollars" in t else 0.3 for t in texts]

    question = "what currency are prices in for canada"
    result = answer(question, Retrieval(question, hits), 0.6, scorer=scorer)
    assert result.text == "Prices are shown in Canadian dollars for Canadian orders."
    assert [c["source"] for c in result.citations] == ["terms.txt"]


def test_a_reference_is_answered_from_the_document_it_points_back_to():
    # "how many days does that one take" after the delivery prices: the page about Canada
    # is closer, the delivery times of the page the answer before cited come first
    canada = hit(
        "canada.md", "Canada\n\nStandard delivery to Canada takes 5 to 8 days.", 0.66, title="Canada"
    )
    prices = hit(
        "shipping.md", "Shipping\n\nStandard delivery: 3 to 5 business days.", 0.62, title="Shipping"
    )
    ordering = hit("ordering.md", "Ordering\n\nOrders placed before 2pm ship the same day.", 0.5)
    retrieval = Retrieval("how many days does that one take", [canada, prices, ordering])
    assert [h.source for h in retrieval.led_by("Shipping").hits] == [
        "shipping.md",
        "canada.md",
        "ordering.md",
    ]
    assert retrieval.led_by("").hits == retrieval.hits
    assert retrieval.led_by("Returns").hits == retrieval.hits  # not among the hits: as found
    assert retrieval.led_by("Shipping").dense_top == retrieval.dense_top


def test_the_steps_of_a_list_are_sent_on_lines_of_their_own():
    guide = hit(
        "tent.pdf",
        "Ridge tent set-up guide\n\n1. Lay the footprint on flat ground.\n2. Spread the inner tent on it.\n"
        "3. Assemble the two poles and clip the tent to them.",
        dense=0.7,
    )

    def scorer(question, texts):  # the poles step reads closest to "set up"
        return [0.7 if "poles" in t else 0.5 for t in texts]

    result = answer(
        "how do i set up the tent", Retrieval("how do i set up the tent", [guide]), 0.6, scorer=scorer
    )
    assert result is not None and result.verdict.ok
    assert result.text.splitlines() == [
        "1. Lay the footprint on flat ground.",
        "2. Spread the inner tent on it.",
        "3. Assemble the two poles and clip the tent to them.",
    ]
    assert as_text(["Yes.", "1. One.", "2. Two."]) == "Yes.\n1. One.\n2. Two."
    assert (
        as_text(["It is 2.5 kg.", "Orders ship in 1. business day."])
        == "It is 2.5 kg. Orders ship in 1. business day."
    )
