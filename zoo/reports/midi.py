"""Piano rolls as standard MIDI files, and MIDI files as piano rolls (with mido).

A roll is (T, 88) of 0s and 1s, column k being MIDI note 21 + k (A0..C8), each frame lasting
`frame_beats` beats. Every run of consecutive sounding frames of one key is one note: a
note_on at the run's first frame and a note_off where it ends, so a key held for four frames
is one long note, not four short ones. The files are of type 0 (one track) at 480 ticks per
beat, a piano (program 0) at velocity 80, and 120 beats per minute. One frame is a quarter
note by default, the JSB chorales' frame (half a second at 120 bpm); the Nottingham, MuseData
and Piano-midi.de rolls of Boulanger-Lewandowski et al. (2012) have a frame per eighth note
(`frame_beats=0.5`). The track ends T frames after it starts, so silence at the end of a roll
survives the trip to MIDI and back.
"""

from __future__ import annotations

from pathlib import Path

import mido
import torch
from torch import Tensor

from zoo.data.frame_rate import TICKS_PER_BEAT
from zoo.data.polyphonic import LOWEST_NOTE, NUM_NOTES
from zoo.errors import ZooError

TEMPO_BPM = 120
VELOCITY = 80
PIANO = 0  # General MIDI program 1, acoustic grand piano


def ticks_per_frame(frame_beats: float, ticks_per_beat: int = TICKS_PER_BEAT) -> int:
    """MIDI ticks in one frame of `frame_beats` beats, a whole number of at least 1."""
    ticks = ticks_per_beat * frame_beats
    if ticks < 1 or ticks != int(ticks):
        raise ZooError(
            f"a frame of {frame_beats} beats is not a whole number of MIDI ticks "
            f"({ticks_per_beat} per beat); use a multiple of 1/{ticks_per_beat} beat"
        )
    return int(ticks)


def note_spans(roll: Tensor) -> list[tuple[int, int, int]]:
    """(key, first frame, frame after the last) of every run of consecutive sounding frames, by key."""
    sounding = roll.bool().cpu()
    padded = torch.cat(
        [
            torch.zeros(1, sounding.shape[1], dtype=torch.bool),
            sounding,
            torch.zeros(1, sounding.shape[1], dtype=torch.bool),
        ]
    )  # (T + 2, K)
    change = padded[1:] != padded[:-1]  # (T + 1, K): True where a run starts or ends
    spans = []
    for key in range(sounding.shape[1]):
        edges = change[:, key].nonzero().squeeze(1).tolist()
        spans += [(key, start, end) for start, end in zip(edges[::2], edges[1::2])]
    return spans


def roll_to_midi(
    roll: Tensor, path: Path, frame_beats: float = 1.0, bpm: float = TEMPO_BPM, lowest_note: int = LOWEST_NOTE
) -> Path:
    """Write a (T, 88) binary roll to `path` as a MIDI file (see the module docstring)."""
    if roll.dim() != 2 or roll.shape[1] != NUM_NOTES or not ((roll == 0) | (roll == 1)).all():
        raise ZooError(
            f"a MIDI file is written from a (T, {NUM_NOTES}) roll of 0s and 1s, "
            f"not a {tuple(roll.shape)} tensor of {roll.dtype}"
        )
    step = ticks_per_frame(frame_beats)
    events = []  # (tick, 0 for note_off / 1 for note_on, MIDI note): offs sort before ons at one tick
    for key, start, end in note_spans(roll):
        events += [(start * step, 1, lowest_note + key), (end * step, 0, lowest_note + key)]
    track = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
            mido.Message("program_change", program=PIANO, time=0),
        ]
    )
    now = 0
    for tick, on, note in sorted(events):
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, note=note, velocity=VELOCITY if on else 0, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=len(roll) * step - now))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(path)
    return Path(path)


def midi_to_roll(path: Path, frame_beats: float = 1.0, lowest_note: int = LOWEST_NOTE) -> Tensor:
    """The (T, 88) float32 roll of a MIDI file: a key sounds in every frame from its note_on's
    frame up to its note_off's, times rounded to whole frames; T is the file's length in frames."""
    try:
        midi = mido.MidiFile(path)
    except (OSError, EOFError, ValueError, KeyError) as e:
        raise ZooError(f"{path} is not a MIDI file mido can read ({e})") from e
    step = ticks_per_frame(frame_beats, midi.ticks_per_beat)
    spans, started, tick = [], {}, 0
    for message in mido.merge_tracks(midi.tracks):
        tick += message.time
        if message.type not in ("note_on", "note_off"):
            continue
        if not lowest_note <= message.note < lowest_note + NUM_NOTES:
            raise ZooError(
                f"{path} plays MIDI note {message.note}, outside the 88 keys "
                f"{lowest_note}..{lowest_note + NUM_NOTES - 1}"
            )
        if message.note in started:  # a note_off, or a note struck again while it sounds
            spans.append((message.note, started.pop(message.note), tick))
        if message.type == "note_on" and message.velocity > 0:
            started[message.note] = tick
    spans += [(note, start, tick) for note, start in started.items()]  # still sounding at the end
    roll = torch.zeros(round(tick / step), NUM_NOTES)
    for note, start, end in spans:
        roll[round(start / step) : round(end / step), note - lowest_note] = 1.0
    return roll


def write_midi_files(rolls: Tensor, folder: Path, stem: str, frame_beats: float = 1.0) -> list[Path]:
    """Each of `rolls` (N, T, 88) as its own MIDI file, `<stem>-<i>.mid` in `folder`."""
    return [roll_to_midi(roll, folder / f"{stem}-{i}.mid", frame_beats) for i, roll in enumerate(rolls.cpu())]
