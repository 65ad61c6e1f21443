"""Work Rasa 3.6 repeats on every turn, done once.

:func:`install` (called by bot/rasa_side/launch.py before Rasa starts) changes two things, found
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

Rasa imports ``validate`` inside the functions that use it (rasa/core/actions/action.py,
rasa/core/nlg/callback.py), so replacing the module's attribute is enough. Rasa is pinned to
3.6.21 (bot/requirements-rasa.txt); tests/integration/test_rasa_side_speedups.py checks the
behaviour against Rasa's own.
"""

from __future__ import annotations

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


def install() -> None:
    import jsonschema
    from rasa.shared.core.events import Event

    if "validate" not in _original:
        _original["validate"] = jsonschema.validate
        jsonschema.validate = cached_validate
    if "resolve_by_type" not in _original:
        _original["resolve_by_type"] = Event.resolve_by_type
        Event.resolve_by_type = staticmethod(resolve_event_type)
