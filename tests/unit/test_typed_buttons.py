"""bot/rasa_side/typed_buttons.py: a button's title typed is the button clicked."""

from types import SimpleNamespace

from bot.rasa_side.typed_buttons import last_buttons, pressed

REASONS = [
    {"title": "Arrived damaged", "payload": '/inform{"return_reason": "damaged"}'},
    {"title": "Changed my mind", "payload": '/inform{"return_reason": "changed my mind"}'},
]


def test_a_typed_title_is_its_buttons_payload():
    assert pressed("changed my mind", REASONS) == '/inform{"return_reason": "changed my mind"}'
    assert pressed("  Changed my  mind. ", REASONS) == '/inform{"return_reason": "changed my mind"}'
    items = [{"title": "Canyon Camp Stove", "payload": "Canyon Camp Stove"}]
    assert pressed("canyon camp stove", items) == "Canyon Camp Stove"
    # anything else is the customer's own words
    assert pressed("i changed my mind about it", REASONS) is None
    assert pressed('/inform{"return_reason": "damaged"}', REASONS) is None  # already a payload
    assert pressed("damaged", REASONS) is None  # an intent payload is never typed as such
    assert pressed("changed my mind", []) is None


def test_only_the_buttons_of_the_replies_since_the_customer_last_spoke_count():
    def bot(buttons):
        return SimpleNamespace(type_name="bot", data={"buttons": buttons})

    old = [{"title": "Yes", "payload": "/affirm"}]
    events = [bot(old), SimpleNamespace(type_name="user"), bot([]), bot(REASONS)]
    assert last_buttons(events) == REASONS
    assert last_buttons([bot(old), SimpleNamespace(type_name="user")]) == []
