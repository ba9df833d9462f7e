"""Whether an object keeps a contract written as a Protocol, read the same on every Python.

`isinstance(obj, SomeProtocol)` with a runtime-checkable Protocol looks attributes up with
`hasattr` up to Python 3.11 and with `inspect.getattr_static` from 3.12 on. The latter does not
see what `__getattr__` provides, and an nn.Module's submodules and parameters live in its
`_modules` and `_parameters`, reached only through `__getattr__`; a wrapper that forwards its
attributes is invisible to it too. So the zoo checks its contracts member by member, with
`hasattr`, as a user reading `model.transition` would.
"""

from __future__ import annotations

from typing import Protocol


def protocol_members(protocol: type) -> dict[str, bool]:
    """The names `protocol` declares, over the protocols it extends, each with whether it is a
    method: its annotated attributes and its methods (`__call__` the one dunder kept)."""
    members: dict[str, bool] = {}
    for base in reversed(protocol.__mro__):
        if base is Protocol or not getattr(base, "_is_protocol", False):
            continue
        members.update(dict.fromkeys(base.__dict__.get("__annotations__", {}), False))
        members.update(
            (name, True)
            for name, value in base.__dict__.items()
            if callable(value) and (not name.startswith("_") or name == "__call__")
        )
    return members


def missing_members(obj, protocol: type) -> list[str]:
    """The members of `protocol` that `obj` lacks; a method must be callable on `obj`."""
    return [
        name
        for name, method in protocol_members(protocol).items()
        if not (callable(getattr(obj, name, None)) if method else hasattr(obj, name))
    ]


def provides(obj, protocol: type) -> bool:
    """Whether `obj` has every member `protocol` declares."""
    return not missing_members(obj, protocol)
