"""New sequences written out by kind of data: text, piano rolls (a picture and MIDI files),
pen strokes (a sheet of drawings), and anything else as a tensor file."""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.data.dataset import DataSpec
from zoo.data.strokes import to_strokes
from zoo.reports.midi import write_midi_files
from zoo.reports.plots import plot_piano_rolls, plot_strokes


def write_samples(
    samples: torch.Tensor, spec: DataSpec, run_dir: Path, stem: str = "samples", frame_beats: float = 1.0
) -> list[Path]:
    """Text as a .txt (one sample per block); piano rolls as one .png of stacked rolls, and 88-key
    rolls also as one MIDI file each (`<stem>-<i>.mid`, zoo.reports.midi, a frame lasting
    `frame_beats` beats: the data set's info says); pen strokes as one .png of drawings."""
    if spec.kind == "categorical" and spec.vocab is not None:
        path = run_dir / f"{stem}.txt"
        texts = [spec.vocab.decode(s.tolist()) for s in samples.cpu()]
        path.write_text("\n\n".join(f"--- sample {i} ---\n{t}" for i, t in enumerate(texts)) + "\n")
        return [path]
    if spec.kind == "bernoulli":
        path = run_dir / f"{stem}.png"
        plot_piano_rolls(samples.cpu(), path)
        if spec.dim == 88:  # the piano's keys: each roll is also a MIDI file to listen to
            return [path, *write_midi_files(samples.cpu(), run_dir, stem, frame_beats)]
        return [path]
    if spec.kind == "strokes":
        path = run_dir / f"{stem}.png"
        plot_strokes([to_strokes(s, spec.scale or 1.0) for s in samples], path)
        return [path]
    path = run_dir / f"{stem}.pt"
    torch.save(samples.cpu(), path)
    return [path]
