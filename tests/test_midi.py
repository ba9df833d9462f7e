"""Piano rolls as MIDI files (zoo.reports.midi): the round trip, one note per held key, and the
MIDI files written beside sampled piano rolls."""

from __future__ import annotations

import json

import mido
import pytest
import torch

from tests.helpers import QUICK, run_in_process, toy_rolls
from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.reports.midi import TICKS_PER_BEAT, midi_to_roll, note_spans, roll_to_midi
from zoo.reports.samples import write_samples

MIDDLE_C = 60 - 21  # the roll's column of MIDI note 60


def notes(path) -> list[tuple[str, int, int]]:
    """(type, MIDI note, absolute tick) of every note message of a MIDI file."""
    tick, found = 0, []
    for message in mido.merge_tracks(mido.MidiFile(path).tracks):
        tick += message.time
        if message.type in ("note_on", "note_off"):
            found.append(
                ("note_on" if message.type == "note_on" and message.velocity else "note_off", message.note, tick)
            )
    return found


def random_roll(frames: int = 64, seed: int = 0) -> torch.Tensor:
    """A (frames, 88) roll of held notes and rests, silent at both ends."""
    g = torch.Generator().manual_seed(seed)
    roll = (torch.rand(frames, 88, generator=g) < 0.05).float()
    roll = ((roll + roll.roll(1, 0) + roll.roll(2, 0)) > 0).float()  # notes of one to several frames
    roll[:3], roll[-5:] = 0, 0
    return roll


@pytest.mark.parametrize("frame_beats", [1.0, 0.5])
def test_a_roll_written_and_read_back_is_the_same_roll(tmp_path, frame_beats):
    roll = random_roll()
    path = roll_to_midi(roll, tmp_path / "roll.mid", frame_beats=frame_beats)
    assert torch.equal(midi_to_roll(path, frame_beats=frame_beats), roll)


def test_the_extreme_keys_and_whole_roll_notes_survive(tmp_path):
    roll = torch.zeros(6, 88)
    roll[:, 0] = 1  # A0 through the whole roll
    roll[2, 87] = 1  # one frame of C8
    assert torch.equal(midi_to_roll(roll_to_midi(roll, tmp_path / "edges.mid")), roll)


def test_a_held_note_is_one_note_on_and_one_note_off(tmp_path):
    roll = torch.zeros(8, 88)
    roll[2:6, MIDDLE_C] = 1  # middle C held for four frames
    path = roll_to_midi(roll, tmp_path / "held.mid")
    assert notes(path) == [("note_on", 60, 2 * TICKS_PER_BEAT), ("note_off", 60, 6 * TICKS_PER_BEAT)]
    midi = mido.MidiFile(path)
    assert midi.type == 0 and midi.length == pytest.approx(8 * 0.5)  # 8 quarter notes at 120 bpm


def test_a_note_struck_again_after_a_rest_is_two_notes(tmp_path):
    roll = torch.zeros(5, 88)
    roll[[0, 1, 3], MIDDLE_C] = 1
    roll[0:5, MIDDLE_C + 4] = 1  # E held under both
    assert note_spans(roll) == [(MIDDLE_C, 0, 2), (MIDDLE_C, 3, 4), (MIDDLE_C + 4, 0, 5)]
    assert notes(roll_to_midi(roll, tmp_path / "two.mid")) == [
        ("note_on", 60, 0),
        ("note_on", 64, 0),
        ("note_off", 60, 960),
        ("note_on", 60, 1440),
        ("note_off", 60, 1920),
        ("note_off", 64, 2400),
    ]


def test_a_roll_that_is_not_88_binary_keys_is_refused(tmp_path):
    with pytest.raises(ZooError, match=r"\(T, 88\) roll of 0s and 1s, not a \(4, 6\)"):
        roll_to_midi(torch.zeros(4, 6), tmp_path / "x.mid")
    with pytest.raises(ZooError, match="roll of 0s and 1s"):
        roll_to_midi(torch.full((4, 88), 0.5), tmp_path / "x.mid")


def test_a_note_outside_the_piano_is_named(tmp_path):
    track = mido.MidiTrack(
        [mido.Message("note_on", note=12, velocity=64, time=0), mido.Message("note_off", note=12, time=480)]
    )
    midi = mido.MidiFile(type=0)
    midi.tracks.append(track)
    midi.save(tmp_path / "low.mid")
    with pytest.raises(ZooError, match="plays MIDI note 12, outside the 88 keys 21..108"):
        midi_to_roll(tmp_path / "low.mid")


def test_piano_roll_samples_are_written_as_midi_beside_the_picture(tmp_path):
    rolls = torch.stack([random_roll(seed=s) for s in range(3)])  # (3, 64, 88)
    files = write_samples(rolls, DataSpec("bernoulli", 88), tmp_path)
    assert [f.name for f in files] == ["samples.png", "samples-0.mid", "samples-1.mid", "samples-2.mid"]
    assert all(torch.equal(midi_to_roll(f), roll) for f, roll in zip(files[1:], rolls))


def test_rolls_that_are_not_88_keys_get_no_midi(tmp_path):
    rolls = torch.stack([seq[:2] for seq in toy_rolls(dim=6).train])  # (8, 2, 6)
    assert [f.name for f in write_samples(rolls, DataSpec("bernoulli", 6), tmp_path)] == ["samples.png"]


def test_a_run_on_piano_midi_writes_midi_samples(tmp_path, shared_data):
    run_in_process(
        tmp_path,
        "model=char_lstm",
        "data=piano_midi",
        *QUICK,
        "train.batch_size=8",
        "evaluate.test_limit=4",
        "sample.n=2",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["data"] == "piano_midi" and metrics["samples"] == ["samples.png", "samples-0.mid", "samples-1.mid"]
    # sample.length frames of an eighth note each, Piano-midi's frame (read at a quarter, half as many)
    assert midi_to_roll(tmp_path / "samples-0.mid", frame_beats=0.5).shape == (50, 88)
