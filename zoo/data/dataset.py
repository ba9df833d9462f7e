"""Splits of sequences with what a model needs to know about their values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from zoo.data.batch import Batch, collate
from zoo.data.vocab import Vocabulary
from zoo.errors import ZooError

KINDS = ("categorical", "bernoulli", "real", "strokes")


@dataclass
class DataSpec:
    """What the values at one step are.

    kind   "categorical": token ids in [0, dim); "bernoulli": {0,1}^dim frames
           (piano rolls); "real": R^dim frames; "strokes": (dx, dy, end of stroke)
           pen steps, dim 3 (zoo.data.strokes).
    dim    vocabulary size or frame size.
    vocab  the characters behind the ids, for text.
    scale  strokes: the pen offsets were divided by this (their training standard
           deviation); it travels with checkpoints so pictures can undo it.
    """

    kind: str
    dim: int
    vocab: Vocabulary | None = None
    scale: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ZooError(f"data kind {self.kind!r} is not one of {KINDS}")
        if self.kind == "strokes" and self.dim != 3:
            raise ZooError(f"stroke data has 3 values per step (dx, dy, end of stroke), not {self.dim}")

    def state_dict(self) -> dict:
        return {
            "kind": self.kind,
            "dim": self.dim,
            "vocab": self.vocab.tokens if self.vocab else None,
            "scale": self.scale,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> DataSpec:
        vocab = Vocabulary(state["vocab"]) if state["vocab"] is not None else None
        return cls(state["kind"], state["dim"], vocab, state.get("scale"))


@dataclass
class SequenceData:
    """Fixed train / valid / test splits of one data set.

    Each split is a list of tensors, (T_i,) long for tokens or (T_i, D) float
    for frames. `augment`, when set, changes a training sequence each time training draws
    it (shuffled batches of the train split): augment(sequence, generator) -> sequence, its
    randomness from the pass's generator (zoo.data.transpose for piano rolls).
    """

    name: str
    spec: DataSpec
    train: list[Tensor]
    valid: list[Tensor]
    test: list[Tensor]
    info: dict = field(default_factory=dict)
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None

    def __post_init__(self):
        for split in ("train", "valid", "test"):
            seqs = getattr(self, split)
            if not seqs:
                raise ZooError(f"data set {self.name!r}: the {split} split is empty")
            if any(len(s) == 0 for s in seqs):
                raise ZooError(f"data set {self.name!r}: the {split} split has an empty sequence")

    def split(self, name: str, limit: int | None = None) -> list[Tensor]:
        """The sequences of a split; with `limit`, its first `limit` sequences only."""
        if name not in ("train", "valid", "test"):
            raise ZooError(f"no split {name!r}; use train, valid or test")
        return getattr(self, name)[:limit] if limit else getattr(self, name)

    def num_steps(self, split: str) -> int:
        return sum(len(s) for s in self.split(split))

    def batches(
        self, split: str, batch_size: int, shuffle: bool = False, seed: int = 0, pool: int = 1
    ) -> Iterator[Batch]:
        """Minibatches of a split. Shuffling uses its own generator seeded by `seed`,
        so an epoch's order depends only on (seed, epoch) and a resumed run sees the
        same batches as an uninterrupted one.

        pool > 1 (shuffled only) buckets by length: each run of pool x batch_size shuffled
        sequences is sorted by length before it is cut into batches, and the pass's batches are
        then shuffled, so a batch holds sequences of similar length and pads less. Every
        sequence still comes once a pass and the pass's summed gradient is unchanged.

        Shuffled batches of the train split are training's draws: each sequence goes through
        `augment` when the data set has one, with the same generator after the order is drawn
        (so the order does not depend on it)."""
        seqs = self.split(split)
        if not shuffle:
            chunks = [list(range(i, min(i + batch_size, len(seqs)))) for i in range(0, len(seqs), batch_size)]
        else:
            generator = torch.Generator().manual_seed(seed)
            order = torch.randperm(len(seqs), generator=generator).tolist()
            chunks = []
            for start in range(0, len(order), pool * batch_size):
                run = order[start : start + pool * batch_size]
                if pool > 1:
                    run.sort(key=lambda i: len(seqs[i]))  # stable: ties keep their shuffled order
                chunks += [run[i : i + batch_size] for i in range(0, len(run), batch_size)]
            if pool > 1:
                chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]
        augment = self.augment if shuffle and split == "train" else None
        for chosen in chunks:
            chosen_seqs = [seqs[j] if augment is None else augment(seqs[j], generator) for j in chosen]
            yield collate(chosen_seqs, dataset_size=len(seqs), index=chosen)

    def num_batches(self, split: str, batch_size: int) -> int:
        return -(-len(self.split(split)) // batch_size)
