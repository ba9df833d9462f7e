"""Characters <-> integer ids."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from zoo.errors import ZooError

ENCODE_CHUNK = 1 << 16  # characters encoded at a time: small buffers that the allocator reuses


class Vocabulary:
    """An ordered set of tokens (characters); id i is tokens[i]."""

    def __init__(self, tokens: list[str]):
        if len(set(tokens)) != len(tokens):
            raise ZooError("vocabulary has repeated tokens")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self._table = _lookup_table(self.index)

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    @property
    def id_dtype(self) -> torch.dtype:
        """The smallest integer dtype that holds every id: uint8, int16 or int32."""
        for dtype in (torch.uint8, torch.int16):
            if len(self) - 1 <= torch.iinfo(dtype).max:
                return dtype
        return torch.int32

    def ids_of_code_points(self, codes: np.ndarray) -> np.ndarray:
        """The ids (int32) of an array of Unicode code points: one numpy gather. A code point
        outside the vocabulary is a ZooError naming the first few such characters."""
        inside = len(codes) == 0 or int(codes.max()) < len(self._table)
        ids = self._table[codes] if inside else np.full(len(codes), -1, dtype=np.int32)
        if not inside or (ids < 0).any():
            known = codes < len(self._table)
            ids[known] = self._table[codes[known]]
            missing = [chr(c) for c in np.unique(codes[ids < 0])[:10].tolist()]
            raise ZooError(f"characters {missing!r} are not in the vocabulary of {len(self)} tokens")
        return ids

    def encode(self, text: str, dtype: torch.dtype = torch.long) -> Tensor:
        """The ids of the characters of `text`, (len(text),) of `dtype`, encoded a chunk at a
        time so that a text of 100M characters needs no more than its ids beside it."""
        ids = torch.empty(0, dtype=dtype).numpy().dtype
        out = np.empty(len(text), dtype=ids)
        for start in range(0, len(text), ENCODE_CHUNK):
            piece = text[start : start + ENCODE_CHUNK]
            out[start : start + len(piece)] = self.ids_of_code_points(code_points(piece))
        return torch.from_numpy(out)

    def decode(self, ids) -> str:
        return "".join(self.tokens[int(i)] for i in ids)


def code_points(text: str) -> np.ndarray:
    """The Unicode code points of `text`, (len(text),) uint32."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _lookup_table(index: dict[str, int]) -> np.ndarray:
    """Code point -> id (-1 where none), so encoding millions of characters is one numpy gather."""
    singles = {ord(t): i for t, i in index.items() if len(t) == 1}
    table = np.full(max(singles, default=-1) + 1, -1, dtype=np.int32)
    table[list(singles)] = list(singles.values())
    return table
