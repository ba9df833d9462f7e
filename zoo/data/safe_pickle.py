"""Numpy arrays out of a pickle, and nothing else.

Unpickling calls whatever callables the stream names, so a pickle from the internet is read
with `ArrayUnpickler`: its `find_class` admits only the three globals numpy's own array
pickles name (`_reconstruct`, `ndarray`, `dtype`), each through a guard, and refuses every
other global before anything is called. The guards keep the admitted callables to plain
arrays of numbers: `_reconstruct` builds only a base `ndarray`, and `dtype` builds only
boolean, integer and floating types, so an object array (whose items would be unpickled
and could name anything) is refused at its dtype.
"""

from __future__ import annotations

import io
import pickle
from typing import ClassVar

import numpy as np

try:  # numpy >= 2 keeps it in numpy._core; numpy 1.x in numpy.core (which numpy 2 aliases with a warning)
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct

from zoo.data.errors import DataError

NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats


def _reconstruct(subtype, shape, dtype):
    """numpy's empty-array constructor that pickles call first, for a base ndarray only."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"array subtype {subtype!r}; only numpy.ndarray is allowed")
    return _numpy_reconstruct(subtype, shape, dtype)


def _dtype(spec, align=False, copy=False):
    """numpy.dtype for a numeric type only: an object dtype would unpickle arbitrary items."""
    if not isinstance(spec, (str, bytes)):
        raise pickle.UnpicklingError(f"numpy dtype from {type(spec).__name__}; only a type code is allowed")
    dtype = np.dtype(spec, align, copy)
    if dtype.kind not in NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"numpy dtype {dtype} (kind {dtype.kind!r}); only numbers are allowed")
    return dtype


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles builtin containers and numbers, and numpy arrays of numbers; refuses every
    other global by name, before calling it."""

    ALLOWED: ClassVar[dict] = {  # (module, name) -> the guarded callable
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _dtype,
    }

    def find_class(self, module: str, name: str):
        """The guarded callable for one of numpy's array globals; UnpicklingError for any other."""
        try:
            return self.ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays may be unpickled"
            ) from None


def load_arrays(data: bytes, source: str):
    """Unpickle `data` with ArrayUnpickler; a refusal or a malformed stream is a DataError
    naming `source`, and nothing the stream names beyond numpy's array globals is ever called."""
    try:
        return ArrayUnpickler(io.BytesIO(data), encoding="latin-1").load()
    except Exception as e:
        raise DataError(
            f"{source} is not a plain pickle of numpy arrays ({e}); nothing in it was run. "
            f"Delete it so the published file is downloaded again."
        ) from e
