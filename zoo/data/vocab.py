"""Characters <-> integer ids."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from zoo.errors import ZooError


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

    def encode(self, text: str) -> Tensor:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        known = codes < len(self._table)
        ids = np.full(len(codes), -1, dtype=np.int64)
        ids[known] = self._table[codes[known]]
        if (ids < 0).any():
            unknown = sorted(set(text) - self.index.keys())
            raise ZooError(f"characters {unknown[:10]!r} are not in the vocabulary of {len(self)} tokens")
        return torch.from_numpy(ids)

    def decode(self, ids) -> str:
        return "".join(self.tokens[int(i)] for i in ids)


def _lookup_table(index: dict[str, int]) -> np.ndarray:
    """Code point -> id (-1 where none), so encoding millions of characters is one numpy gather."""
    singles = {ord(t): i for t, i in index.items() if len(t) == 1}
    table = np.full(max(singles, default=-1) + 1, -1, dtype=np.int64)
    table[list(singles)] = list(singles.values())
    return table
