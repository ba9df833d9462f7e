"""Checks of the options a data set takes (data.seq_len, data.valid_fraction, ...).

Loaders call them before reading any file, so a bad option is named as the fault (a
ZooError naming `data.<option>` and what it must be) rather than surfacing as a type error
deep inside, or being blamed on the file.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

from zoo.errors import ZooError
from zoo.options import shown


def whole_number(name: str, value, least: int = 1) -> int:
    """`value` as an int, or a ZooError naming `data.<name>` if it is not an integer >= `least`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ZooError(f"data.{name}={shown(value)} is not a valid value: it must be an integer of at least {least}")
    if value < least:
        raise ZooError(f"data.{name}={value} must be at least {least}")
    return int(value)


def optional_whole_number(name: str, value, least: int = 1) -> int | None:
    """None (no limit), or `value` checked by whole_number."""
    return None if value is None else whole_number(name, value, least)


def held_out_fractions(valid_fraction, test_fraction) -> tuple[float, float]:
    """The fractions held out to validate and to test: each between 0 and 1, together below 1."""
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
            raise ZooError(f"data.{name}={shown(value)} must be a number between 0 and 1, e.g. 0.05")
    if valid_fraction + test_fraction >= 1:
        raise ZooError(
            f"data.valid_fraction={valid_fraction} and data.test_fraction={test_fraction} leave nothing to "
            f"train on; their sum must be below 1"
        )
    return float(valid_fraction), float(test_fraction)


def file_path(value, what: str) -> Path:
    """`data.path` as a Path (a leading ~ expanded), or a ZooError if it is no path; `what` names the file."""
    if not isinstance(value, (str, os.PathLike)):
        raise ZooError(f"data.path={shown(value)} is not a valid value: set it to {what} (data.path=FILE)")
    return Path(value).expanduser()
