"""Random transposition of training piano rolls (data.transpose): what a shift keeps, which shifts
are drawn, and that only training's draws are shifted."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import composed
from zoo.data import jsb_chorales, polyphonic
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.transpose import RandomTransposition, random_transposition, shift_range, transpose
from zoo.errors import ZooError


def roll_of(notes_per_frame: list[list[int]], keys: int = 88) -> torch.Tensor:
    """A (T, keys) roll sounding the given keys in each frame."""
    roll = torch.zeros(len(notes_per_frame), keys)
    for t, notes in enumerate(notes_per_frame):
        roll[t, notes] = 1.0
    return roll


frames = st.lists(st.lists(st.integers(0, 87), max_size=6), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(frames, st.integers(1, 12), st.data())
def test_a_drawable_shift_moves_every_note_and_keeps_each_chord(notes, k, data):
    roll = roll_of(notes)
    low, high = shift_range(roll, k)
    assert -k <= low <= 0 <= high <= k
    shift = data.draw(st.integers(low, high))
    moved = transpose(roll, shift)
    for t, frame_notes in enumerate(notes):
        assert sorted(moved[t].nonzero().flatten().tolist()) == sorted({n + shift for n in frame_notes})


@settings(max_examples=60, deadline=None)
@given(frames, st.integers(1, 12))
def test_the_range_is_the_widest_that_keeps_the_piece_on_the_keyboard(notes, k):
    roll = roll_of(notes)
    low, high = shift_range(roll, k)
    sounding = roll.any(0).nonzero().flatten()
    if len(sounding) == 0:
        assert (low, high) == (0, 0)
        return
    assert low == max(-k, -int(sounding.min())) and high == min(k, 87 - int(sounding.max()))
    if high < k:  # one key further would push the highest note off the top
        assert int(sounding.max()) + high + 1 == 88
    if low > -k:
        assert int(sounding.min()) + low - 1 == -1


def test_every_shift_in_range_is_drawn_and_no_other():
    roll = roll_of([[84, 85], [80]])  # the highest note two keys below the top: shifts -3..2 for k=3
    augment = RandomTransposition(3)
    generator = torch.Generator().manual_seed(0)
    shifts = [int(augment(roll, generator).nonzero()[0, 1]) - 84 for _ in range(600)]
    counts = torch.bincount(torch.tensor(shifts) + 3, minlength=6)
    assert sorted(set(shifts)) == [-3, -2, -1, 0, 1, 2]
    assert counts.min() > 600 / 6 * 0.7  # about uniform: 100 each


def toy_set(augment) -> SequenceData:
    pieces = [roll_of([[40 + i, 44 + i], [47 + i]] * (2 + i % 3)) for i in range(10)]
    return SequenceData("toy", DataSpec("bernoulli", 88), pieces, pieces[:3], pieces[:3], augment=augment)


def test_only_training_draws_are_shifted_and_the_order_is_the_plain_one():
    plain, shifted = toy_set(None), toy_set(RandomTransposition(5))
    draws = list(
        zip(plain.batches("train", 4, shuffle=True, seed=7), shifted.batches("train", 4, shuffle=True, seed=7))
    )
    assert any(not torch.equal(a.x, b.x) for a, b in draws)
    for a, b in draws:
        assert torch.equal(a.index, b.index) and torch.equal(a.mask, b.mask)
        assert torch.equal(a.x.sum(-1), b.x.sum(-1))  # each frame keeps its number of notes
        for i in range(len(a.index)):  # each sequence moved as a whole by one shift in [-5, 5]
            shift = int(b.x[i, 0].nonzero()[0]) - int(a.x[i, 0].nonzero()[0])
            assert abs(shift) <= 5 and torch.equal(b.x[i], transpose(a.x[i], shift))
    for split in ("valid", "test"):  # held-out batches are never shifted, shuffled or not
        for a, b in zip(plain.batches(split, 2, shuffle=True, seed=7), shifted.batches(split, 2, shuffle=True, seed=7)):
            assert torch.equal(a.x, b.x)
    for a, b in zip(plain.batches("train", 4), shifted.batches("train", 4)):  # in order: not training's draws
        assert torch.equal(a.x, b.x)


def test_the_same_seed_draws_the_same_shifts():
    data = toy_set(RandomTransposition(6))
    first = [b.x for b in data.batches("train", 3, shuffle=True, seed=11, pool=2)]
    again = [b.x for b in data.batches("train", 3, shuffle=True, seed=11, pool=2)]
    other = [b.x for b in data.batches("train", 3, shuffle=True, seed=12, pool=2)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(first, other))


def test_the_option_reaches_every_polyphonic_set(shared_data):
    for name in ("jsb_chorales", "nottingham", "musedata", "piano_midi"):
        assert instantiate(composed(f"data={name}").data).augment is None
        data = instantiate(composed(f"data={name}", "data.transpose=4").data)
        assert data.augment.k == 4 and data.info["transpose"] == 4
    assert jsb_chorales.load(source="mat", transpose=2).augment.k == 2


@pytest.mark.parametrize("k", [-1, 2.5, True, "3"])
def test_a_bad_transpose_is_named_before_the_file_is_read(tmp_path, k):
    with pytest.raises(ZooError, match=r"data\.transpose="):
        polyphonic.load("musedata", data_dir=tmp_path, transpose=k)  # an empty folder: never reached
    with pytest.raises(ZooError, match=r"data\.transpose="):
        jsb_chorales.load(data_dir=tmp_path, transpose=k)


def test_none_and_zero_turn_it_off():
    assert random_transposition(None) is None and random_transposition(0) is None
