"""A finer frame rate for piano rolls: each frame repeated k times in a row.

The SRNN authors' released polyphonic-music code (marcofraccaro/srnn, MainSRNN_midi.py) reads
`data/jsb_raw_batchsize16_seqlen100.npz`, and its JSB chorales are at twice the frame rate of
the Boulanger-Lewandowski rolls: every quarter-note frame appears twice in a row. Its test split
is the same 77 chorales in 9,396 frames, against the published 4,725: every frame twice, except
that 54 of the chorales end on one copy of their last frame (9,450 with every frame doubled).
Taking every other frame of each of its test chorales gives ours exactly.

A negative log-likelihood per frame on those rolls divides by about twice the frames, and half
of the frames repeat the one before, so it sits on another scale than the quarter-note figures
(RNN-NADE's 5.56 nats per frame, or ours); SRNN's published 4.74 on JSB is on that scale.
`frame_repeat=2` puts a JSB run on it, so that its figure can stand beside SRNN's: it divides
by 9,450 test frames where the authors' divides by 9,396, and the 54 frames it has beyond
theirs are last-frame repeats. (The authors' other three files are not plain repeats of the
published rolls: 67,391 / 37,062 / 17,328 test frames for MuseData / Nottingham /
Piano-midi.de against the published 64,339 / 44,463 / 19,036.)
"""

from __future__ import annotations

from torch import Tensor

from zoo.data.checks import whole_number
from zoo.errors import ZooError

TICKS_PER_BEAT = 480  # the resolution of the MIDI files samples are written as (zoo.reports.midi)


def repeat_frames(pieces: list[Tensor], k: int) -> list[Tensor]:
    """Each piece with every frame k times in a row: (T, D) -> (k T, D); the pieces themselves
    when k is 1."""
    return pieces if k == 1 else [piece.repeat_interleave(k, dim=0) for piece in pieces]


def repeated_frame(beats: float, k) -> float:
    """The length in beats of a frame of `beats` beats after `data.frame_repeat=k`, k checked: a
    whole number of at least 1 that splits the frame into whole MIDI ticks, so that samples
    can be written as MIDI files (zoo.reports.midi)."""
    k = whole_number("frame_repeat", k)
    ticks = round(TICKS_PER_BEAT * beats)
    if ticks % k:
        fitting = [d for d in range(2, 17) if ticks % d == 0]
        raise ZooError(
            f"data.frame_repeat={k} does not split a frame of {ticks} MIDI ticks evenly, so samples could not be "
            f"written as MIDI files: use 1 or one of {', '.join(map(str, fitting))}"
        )
    return beats / k
