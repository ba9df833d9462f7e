"""Draw new sequences from a trained model/guide pair, and write them out by data type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from zoo.data.dataset import DataSpec, SequenceData
from zoo.errors import ZooError
from zoo.models.bayesian_weights import has_weight_latents
from zoo.options import check_at_least, check_fields


@dataclass
class SampleOptions:
    """How to draw samples: `sample.<field>` of zoo.run, `<field>=` of zoo.sample."""

    prefix: ClassVar[str] = "sample."  # how the command line spells the options
    n: int = 4  # sequences drawn
    length: int = 400  # new steps each
    temperature: float = 1.0  # < 1 sharpens the output distribution
    prime: str | None = None  # a text prefix to continue
    bias: float = 0.0  # pen strokes (emission mdn): Graves's sampling bias b >= 0; larger = neater

    def __post_init__(self):
        p = self.prefix
        check_fields(self, p)
        check_at_least(self, {"n": 1, "length": 1}, p)
        if not 0 < self.temperature < float("inf"):
            raise ZooError(f"{p}temperature={self.temperature:g} must be a positive number")
        if not 0 <= self.bias < float("inf"):
            raise ZooError(f"{p}bias={self.bias:g} must be >= 0 (0 = the trained model; larger = neater)")


def draw(model, guide, n: int, length: int, temperature: float = 1.0, prime: torch.Tensor | None = None):
    """n sequences of `length` new steps. A model with weight latents uses one draw
    w ~ q(w) for all n (a single network from the posterior)."""
    model.eval()
    if has_weight_latents(model):
        with torch.no_grad():
            weights = guide()
        return model.sample(weights, n, length, temperature, prime)
    return model.sample(n, length, temperature, prime)


def encode_prime(spec: DataSpec, prime: str | None) -> torch.Tensor | None:
    """A text prefix as token ids; piano-roll models are primed from data, not from the CLI."""
    if not prime:
        return None
    if spec.vocab is None:
        raise ZooError("sample.prime is a text prefix, but this data set is not text")
    return spec.vocab.encode(prime)


def sample_statistics(samples: torch.Tensor, data: SequenceData, limit: int = 500) -> dict | None:
    """Statistics of samples against the first `limit` test sequences (zoo.infer.sample_stats):
    text, token ids, or 88-key piano rolls; None for kinds of data they do not cover yet."""
    from zoo.infer.sample_stats import roll_statistics, text_statistics, token_statistics

    reference = data.test[:limit]
    vocab = data.spec.vocab
    if data.spec.kind == "categorical" and vocab is not None and all(len(t) == 1 for t in vocab.tokens):
        return text_statistics([vocab.decode(s.tolist()) for s in samples.cpu()], [vocab.decode(r.tolist()) for r in reference])
    if data.spec.kind == "categorical":
        return token_statistics([s.tolist() for s in samples.cpu()], [r.tolist() for r in reference])
    if data.spec.kind == "bernoulli" and data.spec.dim == 88:
        return roll_statistics(list(samples.cpu()), reference)
    return None


def write_samples(samples: torch.Tensor, spec: DataSpec, run_dir: Path, stem: str = "samples",
                  frame_beats: float = 1.0) -> list[Path]:
    """Text as a .txt (one sample per block); piano rolls as one .png of stacked rolls, and 88-key
    rolls also as one MIDI file each (`<stem>-<i>.mid`, zoo.infer.midi, a frame lasting
    `frame_beats` beats: the data set's info says); pen strokes as one .png of drawings."""
    if spec.kind == "categorical" and spec.vocab is not None:
        path = run_dir / f"{stem}.txt"
        texts = [spec.vocab.decode(s.tolist()) for s in samples.cpu()]
        path.write_text("\n\n".join(f"--- sample {i} ---\n{t}" for i, t in enumerate(texts)) + "\n")
        return [path]
    if spec.kind == "bernoulli":
        from zoo.infer.plots import plot_piano_rolls

        path = run_dir / f"{stem}.png"
        plot_piano_rolls(samples.cpu(), path)
        if spec.dim == 88:  # the piano's keys: each roll is also a MIDI file to listen to
            from zoo.infer.midi import write_midi_files

            return [path, *write_midi_files(samples.cpu(), run_dir, stem, frame_beats)]
        return [path]
    if spec.kind == "strokes":
        from zoo.data.strokes import to_strokes
        from zoo.infer.plots import plot_strokes

        path = run_dir / f"{stem}.png"
        plot_strokes([to_strokes(s, spec.scale or 1.0) for s in samples], path)
        return [path]
    path = run_dir / f"{stem}.pt"
    torch.save(samples.cpu(), path)
    return [path]
