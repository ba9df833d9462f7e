"""Options checked before anything runs: a misspelt name gets the nearest valid one, a value of
the wrong type gets one line naming the option, its type and what it was given.

The checks read what the code already declares (a dataclass's fields, a constructor's
signature and annotations), so a new option is checked without being listed anywhere.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import types
import typing
from collections.abc import Iterable, Mapping

from zoo.errors import ZooError

SIMPLE = (bool, int, float, str)
WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "text", type(None): "null"}


def shown(value) -> str:
    """An option's value as a user would write it: null, true / false, a quoted string, or the number."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def did_you_mean(name: str, choices: Iterable[str], prefix: str = "") -> str:
    """' (did you mean PREFIX+X?)' for the closest X of `choices` to `name`, or ''."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{match[0]}?)" if match else ""


def unknown(option: str, name: str, choices: Iterable[str], owner: str) -> ZooError:
    """The error for an option that `owner` does not have."""
    choices = sorted(choices)
    return ZooError(
        f"{option} is not an option of {owner}{did_you_mean(name, choices)}; its options are {', '.join(choices)}"
    )


def _allowed(annotation) -> tuple[type, ...] | None:
    """The simple types an annotation admits (NoneType included for Optional), or None when it
    is not made of bool, int, float, str and None alone."""
    args = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    if all(a in SIMPLE or a is type(None) for a in args):
        return tuple(args)
    return None


def check_value(option: str, value, annotation):
    """`value` as the annotation's type (an int is a valid float), or a ZooError naming `option`."""
    allowed = _allowed(annotation)
    if allowed is None:
        return value
    if value is None and type(None) in allowed:
        return None
    if isinstance(value, bool):  # a bool is an int to Python, never to a user
        if bool in allowed:
            return value
    elif isinstance(value, int) and (int in allowed or float in allowed):
        return value if int in allowed else float(value)
    elif isinstance(value, float) and float in allowed:
        return value
    elif isinstance(value, str) and str in allowed:
        return value
    names = " or ".join(WORDS[a] for a in allowed)
    raise ZooError(f"{option}={shown(value)} is not a valid value: it must be {names}")


def check_fields(record, prefix: str = "") -> None:
    """Check (and convert in place) every field of a dataclass instance against its
    annotation; the options are named `prefix + field` ("train." + "lr")."""
    hints = typing.get_type_hints(type(record))
    for f in dataclasses.fields(record):
        setattr(record, f.name, check_value(f"{prefix}{f.name}", getattr(record, f.name), hints[f.name]))


def check_at_least(record, least: Mapping[str, float], prefix: str = "") -> None:
    """Each named field of `record` is None or at least its bound."""
    for name, bound in least.items():
        value = getattr(record, name)
        if value is not None and value < bound:
            raise ZooError(f"{prefix}{name}={value} must be at least {bound}")


def check_dropout(option: str, p: float) -> None:
    """A dropout probability p: at least 0 and below 1 (0 drops nothing)."""
    if not 0 <= p < 1:
        raise ZooError(f"{option}={p:g} must be at least 0 and below 1 (0 = no dropout)")


def check_choice(record, name: str, choices: Iterable[str], prefix: str = "") -> None:
    """A text field of `record` is one of `choices`, else the nearest is named."""
    value, choices = getattr(record, name), tuple(choices)
    if value not in choices:
        raise ZooError(f"{prefix}{name}={value!r} is not one of {', '.join(choices)}{did_you_mean(value, choices)}")


def build_record(cls, values: Mapping, prefix: str = "", owner: str = "the command"):
    """cls(**values) for a dataclass, an unknown key named with the nearest field."""
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            raise unknown(f"{prefix}{key}", key, names, owner)
    return cls(**values)


def check_arguments(fn, options: Mapping, key: str, owner: str) -> None:
    """Every one of `options` is a parameter of `fn` (else the nearest is named) of an
    admissible simple type; `key` is where the options sit in the config."""
    fn = fn.__init__ if inspect.isclass(fn) else fn
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: check names only
        hints = {}
    for name, value in options.items():
        if str(name).startswith("_"):
            continue
        if name not in params:
            settable = [
                p
                for p, v in params.items()
                if p != "self" and (v.default is not inspect.Parameter.empty or _allowed(hints.get(p)) is not None)
            ]
            raise unknown(f"{key}.{name}", name, settable, owner)
        if name in hints and not isinstance(value, Mapping):
            value = check_value(f"{key}.{name}", value, hints[name])
            if is_count(name) and isinstance(value, int) and value < 1:
                raise ZooError(f"{key}.{name}={value} must be at least 1")


def is_count(name: str) -> bool:
    """Sizes and counts (hidden_size, seq_len, num_layers, components, rank ...) are at least 1."""
    return name.endswith(("_size", "_len", "_length")) or name.startswith("num_") or name in ("components", "rank")
