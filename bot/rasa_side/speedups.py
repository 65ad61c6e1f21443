"""Work Rasa 3.6 repeats on every turn, done once.

:func:`install` (called by bot/rasa_side/launch.py before Rasa starts) changes three things, found
by profiling a scripted turn with py-spy (``tandem bench cost`` commits the profile):

- **JSON-schema validation.** Rasa checks every answer of the action server (each custom
  action, each response rendered through the ``nlg`` endpoint) with ``jsonschema.validate``,
  which first checks the *schema itself* against the JSON-schema meta-schema and builds a new
  validator, on every call. That was a third of a form step's time in the Rasa process. Here
  ``jsonschema.validate`` keeps one checked validator per distinct schema; the instance is
  validated exactly as before (same validator class, same ``best_match`` error), so an
  invalid answer still raises the same ``ValidationError``.

- **Event classes by name.** Reading a stored conversation makes each event from its name
  (``Event.resolve_by_type``), and Rasa walks the whole tree of ``Event`` subclasses for every
  event to find it. Here the name is looked up in a table built from that same walk, in the
  same order (the first class with the name wins, as before), and built again when a name is
  not in it.

- **Rules by their last step.** To predict, the RulePolicy checks every rule it learned against
  the conversation, latest step first: with this brand's flows, 622 rules, for each prediction
  (three or four a turn), a sixth of the turn. Here the rules are first narrowed to those whose
  last step asks for the conversation's previous action and intent (or asks for none), by a
  table built once per rule set; Rasa's own check then runs on those as before. A rule left out
  is one Rasa's check refuses at the latest step, so the same rules come out.

Rasa imports ``validate`` inside the functions that use it (rasa/core/actions/action.py,
rasa/core/nlg/callback.py), so replacing the module's attribute is enough. Rasa is pinned to
3.6.21 (bot/requirements-rasa.txt); tests/integration/test_rasa_side_speedups.py checks the
behaviour against Rasa's own.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

_validators: dict[str, Any] = {}
_original: dict[str, Any] = {}


def cached_validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """``jsonschema.validate`` with the schema checked and its validator built once."""
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    if cls is not None or args or kwargs:
        return _original["validate"](instance, schema, cls, *args, **kwargs)
    key = json.dumps(schema, sort_keys=True, default=repr)
    validator = _validators.get(key)
    if validator is None:
        validator_class = validator_for(schema)
        validator_class.check_schema(schema)  # a broken schema still fails, once per schema
        validator = _validators[key] = validator_class(schema)
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


_event_classes: dict[str, Any] = {}


def resolve_event_type(type_name: str, default: Any = None) -> Any:
    """``Event.resolve_by_type`` with a table instead of a walk of the subclasses per event."""
    found = _event_classes.get(type_name)
    if found is None:
        import rasa.shared.utils.common
        from rasa.shared.core.events import Event

        _event_classes.clear()
        for cls in rasa.shared.utils.common.all_subclasses(Event):
            _event_classes.setdefault(cls.type_name, cls)
        found = _event_classes.get(type_name)
    if found is not None:
        return found
    return _original["resolve_by_type"](type_name, default)  # its answers for unknown names


# the parts of a rule's last step that the table narrows by: (state type, key)
_NARROW_BY = (("prev_action", "action_name"), ("user", "intent"))
_rule_tables: dict[int, tuple[Any, int, dict]] = {}


def _required(state: dict, state_type: str, key: str) -> Any:
    """The value a rule's step requires there, or None where Rasa's check accepts any value."""
    from rasa.shared.core.constants import SHOULD_NOT_BE_SET

    value = (state.get(state_type) or {}).get(key)
    return value if isinstance(value, str) and value and value != SHOULD_NOT_BE_SET else None


def _rule_table(lookup: dict) -> dict:
    """The rule keys of `lookup` by what their last step requires (see _NARROW_BY)."""
    kept = _rule_tables.get(id(lookup))
    if kept is not None and kept[0] is lookup and kept[1] == len(lookup):
        return kept[2]
    table: dict = {}
    for key in lookup:
        steps = json.loads(key)
        last = steps[-1] if steps and isinstance(steps[-1], dict) else {}
        if last.get("prev_action"):
            needs = tuple(_required(last, state_type, name) for state_type, name in _NARROW_BY)
        else:  # a conversation's start: Rasa matches it with any other start, whatever the intent
            needs = (None,) * len(_NARROW_BY)
        table.setdefault(needs, []).append(key)
    _rule_tables[id(lookup)] = (lookup, len(lookup), table)  # kept alive, so its id stays its own
    return table


def narrowed_possible_keys(self: Any, lookup: dict, states: list) -> set:
    """``RulePolicy._get_possible_keys``, starting from the rules the latest step allows."""
    if not states:
        return _original["_get_possible_keys"](self, lookup, states)
    table = _rule_table(lookup)
    has = [(states[-1].get(state_type) or {}).get(name) for state_type, name in _NARROW_BY]
    possible_keys = set()
    # a rule allows the step if each part it requires is the step's, or it requires none
    for needs in itertools.product(*[{None, value} for value in has]):
        possible_keys.update(table.get(needs, ()))
    for i, state in enumerate(reversed(states)):  # Rasa's own check, on fewer rules
        possible_keys = {key for key in possible_keys if self._is_rule_applicable(key, i, state)}
    return possible_keys


def install() -> None:
    import jsonschema
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.events import Event

    if "validate" not in _original:
        _original["validate"] = jsonschema.validate
        jsonschema.validate = cached_validate
    if "resolve_by_type" not in _original:
        _original["resolve_by_type"] = Event.resolve_by_type
        Event.resolve_by_type = staticmethod(resolve_event_type)
    if "_get_possible_keys" not in _original:
        _original["_get_possible_keys"] = RulePolicy._get_possible_keys
        RulePolicy._get_possible_keys = narrowed_possible_keys
