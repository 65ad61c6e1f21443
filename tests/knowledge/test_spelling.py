from collections import Counter

from knowledge.spelling import Speller, edit_distance, known_english, words_of

BRAND = "Our return policy: returns within 30 days. Shipping to Canada. Warranty claims. Cancel an order."


def speller(**kw) -> Speller:
    return Speller(words_of([BRAND, BRAND]), known=kw.get("known", ()), shorthand=kw.get("shorthand"))


def test_edit_distance_counts_a_swap_as_one_edit():
    assert edit_distance("retrun", "return") == 1
    assert edit_distance("warrenty", "warranty") == 1
    assert edit_distance("abc", "xyz", limit=2) == 3  # over the limit: limit + 1


def test_misspelt_brand_words_are_mended_and_reported():
    mended = speller().mend("Retrun policy for shiping to canada?")
    assert mended.text == "Return policy for shipping to canada?"
    assert ("Retrun", "Return") in mended.changes


def test_shorthand_general_and_the_brands_own():
    mended = speller(shorthand={"amex": "American Express"}).mend("do u take amex pls")
    assert mended.text == "do you take American Express please"


def test_days_and_and_in_shorthand_but_sat_only_where_a_day_goes():
    assert speller().mend("wat time r u open on sat").text == "what time are you open on Saturday"
    assert speller().mend("n do i get anything, open till sun? fri?").text == (
        "and do i get anything, open till Sunday? Friday?"
    )
    assert speller().mend("the bag sat in the sun").text == "the bag sat in the sun"


def test_known_words_short_words_and_record_numbers_are_left_alone():
    s = speller(known={"cart", "shiping"})
    assert s.mend("my cart").text == "my cart"  # a real word, one edit from nothing here
    assert s.mend("BB-100031 and 4 tees").text == "BB-100031 and 4 tees"
    # a known word is mended only into a brand word that doubles one of its letters
    assert s.mend("shiping").text == "shipping"


def test_far_words_are_not_guessed():
    assert speller().mend("kettle").text == "kettle"


def test_known_english_reads_whole_words_of_a_wordpiece_vocabulary(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n##ing\nthe\nkettle\nUPPER\n")
    assert known_english(vocab) == {"the", "kettle"}
    assert known_english(None) == frozenset()
    assert isinstance(words_of(["a b a"]), Counter)


def test_the_plural_of_a_known_or_brand_word_is_not_mended():
    s = speller(known={"pan", "sole", "battery", "box"})
    # "pans" is one edit from the brand's "pass"... if the brand said "pass"
    brandish = Speller(words_of(["pass the test, pass it on"] * 2), known={"pan"})
    assert brandish.mend("kitchen stuff like pans").text == "kitchen stuff like pans"
    assert brandish.mend("like passs").text == "like pass"  # a typo still is
    assert s.mend("soles batteries boxes").text == "soles batteries boxes"
    assert s.mend("warranties").text == "warranties"  # the brand's "warranty"
    assert s.mend("retruns").text == "returns"  # no word of its own: a typo
