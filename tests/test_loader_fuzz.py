"""Property tests of the front doors for a user's own files, `npz.load` and `load_text`.

Whatever the file and the options, loading either gives a consistent data set or raises a
ZooError: a bad option is refused before the file is read, with the option named
(`data.seq_len`), and a fault in the file is a DataError naming the file. No other exception
may escape. Files are written with the zip and .npy writers below, not numpy.savez, so field
names and member contents can be anything.
"""

from __future__ import annotations

import io
import numbers
import tempfile
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

from zoo.data import DataError, SequenceData, load_text, npz
from zoo.errors import ZooError

# derandomize: the same examples on every run, so CI is reproducible; no database in the repo.
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NPZ_KINDS = ("categorical", "bernoulli", "real")


# files


def fresh_file(tmp_path: Path, name: str, contents: bytes) -> Path:
    """`contents` written to `name` in a folder of its own (Hypothesis runs many examples per tmp_path)."""
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / name
    path.write_bytes(contents)
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    """An array in numpy's .npy format; object arrays are pickled, as numpy.save writes them."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], compressed: bool = False) -> bytes:
    """A zip archive of named members, stored or deflated as numpy.savez / savez_compressed write them."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npz_bytes(fields: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    """An .npz holding `fields`, one NAME.npy member each."""
    return zip_bytes({f"{name}.npy": npy_bytes(array) for name, array in fields.items()}, compressed)


def flip(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    """`data` with byte i xor-ed with mask m for each (i, m)."""
    out = bytearray(data)
    for i, mask in changes:
        out[i % len(out)] ^= mask
    return bytes(out)


# strategies: arrays and files


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy, one_in: int = 16) -> st.SearchStrategy:
    """Values of `usual`, and of `odd` about one time in `one_in`, so that some examples load."""
    return st.integers(1, one_in).flatmap(lambda i: odd if i == 1 else usual)


SHAPES = npst.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
SMALL_SHAPES = npst.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
INTEGERS = [np.int8, np.int32, np.int64, np.uint8, np.uint16, np.uint64]
NUMERIC = [np.float16, np.float32, np.float64, *INTEGERS, np.bool_]


def any_array() -> st.SearchStrategy[np.ndarray]:
    """Any dtype numpy stores (numbers, bool, complex, dates, bytes, strings), any shape, any values."""
    dtypes = st.one_of(npst.scalar_dtypes(), npst.byte_string_dtypes(max_len=4), npst.unicode_string_dtypes(max_len=4))
    return npst.arrays(dtypes, SHAPES)


def binary_array(shapes: st.SearchStrategy = SMALL_SHAPES, dtypes: list = NUMERIC) -> st.SearchStrategy[np.ndarray]:
    """0 / 1 values in one of `dtypes`: frames or token ids that load when shape and dtype fit."""
    values = npst.arrays(np.int8, shapes, elements=st.integers(0, 1))
    return st.builds(lambda a, dtype: a.astype(dtype), values, st.sampled_from(dtypes))


def special_floats() -> st.SearchStrategy[np.ndarray]:
    """Frames holding NaN, infinities, -0.0 and numbers beyond float32's range."""
    values = st.sampled_from([0.0, 1.0, -0.0, np.nan, np.inf, -np.inf, 1e300, -1e39, 5e-324])
    return npst.arrays(np.float64, npst.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4), elements=values)


def ragged_array() -> st.SearchStrategy[np.ndarray]:
    """Sequences of different lengths as a 1-d object array, which numpy can only pickle."""

    def objects(rows: list[list[int]]) -> np.ndarray:
        """An object array whose items are the rows as arrays."""
        array = np.empty(len(rows), dtype=object)
        for i, row in enumerate(rows):
            array[i] = np.array(row)
        return array

    return st.lists(st.lists(st.integers(0, 1), max_size=4), min_size=1, max_size=3).map(objects)


def lengths_array() -> st.SearchStrategy[np.ndarray]:
    """A (N,) field of sequence lengths in a few dtypes, in range or not."""
    dtypes = st.sampled_from([np.int64, np.uint8, np.int16, np.float64, np.bool_])
    values = npst.arrays(np.int64, st.integers(0, 6), elements=st.integers(-2, 7))
    return st.builds(lambda a, dtype: a.astype(dtype), values, dtypes)


FIELD = st.one_of(binary_array(), any_array(), special_floats(), ragged_array(), lengths_array())
# Any text a zip keeps as a member name (it cuts names at a NUL byte and drops a leading slash).
MEMBER_NAMES = st.text(min_size=1, max_size=6).filter(lambda name: zipfile.ZipInfo(name).filename)
ODD_NAMES = st.sampled_from(["trian", "arr_0", "Train", "train.npy", "x/train", " ", "train_lengths "]) | MEMBER_NAMES


@st.composite
def npz_case(draw) -> tuple[str, dict[str, np.ndarray]]:
    """(kind, fields of an .npz): mostly arrays shaped for the kind, with one frame size and
    lengths in range; now and then any array, odd lengths or vocab_size, or an unknown field."""
    kind = draw(st.sampled_from(NPZ_KINDS))
    frame = () if kind == "categorical" else (draw(mostly(st.integers(1, 3), st.just(0))),)
    dtypes = INTEGERS if kind == "categorical" else NUMERIC
    fields = {}
    for split in ("train", *sorted(draw(st.sets(st.sampled_from(["valid", "test"]))))):
        n, t = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        fields[split] = draw(mostly(binary_array(st.just((n, t, *frame)), dtypes), FIELD))
        if draw(st.booleans()):
            lengths = npst.arrays(np.int64, n, elements=st.integers(1, t))
            fields[f"{split}_lengths"] = draw(mostly(lengths, lengths_array() | FIELD))
    if draw(st.booleans()):
        fields["vocab_size"] = draw(mostly(st.integers(2, 4).map(np.array), st.integers(-1, 1).map(np.array) | FIELD))
    fields.update(draw(mostly(st.just({}), st.dictionaries(ODD_NAMES, FIELD, min_size=1, max_size=1))))
    return kind, fields


def npz_faults() -> st.SearchStrategy[bytes]:
    """Bytes that are not a good .npz: random, cut short, corrupted, a lone .npy, a zip of raw members."""
    frames = binary_array(npst.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=4))
    good = st.builds(lambda x, compressed: npz_bytes({"train": x}, compressed), frames, st.booleans())
    changes = st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=3)
    raw_members = st.dictionaries(
        st.sampled_from(["train", "valid", "train.npy", "vocab_size", "train_lengths"]) | MEMBER_NAMES,
        st.binary(max_size=64) | binary_array().map(npy_bytes).map(lambda b: b[: len(b) // 2]),
        max_size=3,
    )
    return st.one_of(
        st.binary(max_size=300),
        good.flatmap(lambda b: st.integers(0, len(b) - 1).map(lambda n: b[:n])),
        st.builds(flip, good, changes),
        binary_array().map(npy_bytes),
        st.builds(zip_bytes, raw_members, st.booleans()),
    )


def text_bytes() -> st.SearchStrategy[bytes]:
    """File contents: mostly UTF-8 text (any characters, or ASCII of 1 to 600); random bytes,
    text ending in an invalid UTF-8 sequence, or nothing one time in four."""
    utf8 = st.text(min_size=1, max_size=300).map(str.encode)
    ascii_text = st.text(alphabet="ab \n", min_size=1, max_size=600).map(str.encode)
    invalid = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9", b"\xf4\x90\x80\x80"])
    odd = st.binary(max_size=300) | st.builds(bytes.__add__, ascii_text, invalid) | st.just(b"")
    return mostly(utf8 | ascii_text, odd, one_in=4)


# strategies: options


GOOD_SEQ_LENS = st.integers(1, 300) | st.integers(1, 12).map(np.int64)
GOOD_MAX_TRAIN_CHARS = st.none() | st.integers(1, 400)
GOOD_FRACTIONS = st.floats(0.01, 0.45)
ODD_VALUES = st.sampled_from([None, 2.5, "100", True, float("nan"), float("inf")])
# For the option properties: each option bad about one time in three.
SEQ_LENS = mostly(GOOD_SEQ_LENS, st.integers(-2, 0) | ODD_VALUES, one_in=3)
MAX_TRAIN_CHARS = mostly(GOOD_MAX_TRAIN_CHARS, st.integers(-2, 0) | ODD_VALUES, one_in=3)
FRACTIONS = mostly(GOOD_FRACTIONS, st.floats() | st.sampled_from([0, 1, 0.7, None, "0.1", True]), one_in=3)
KINDS = mostly(st.sampled_from(NPZ_KINDS), st.sampled_from(["strokes", "Real", "", None, 3]), one_in=3)


def is_whole(value, minimum: int = 1) -> bool:
    """An integer (not a bool) of at least `minimum`."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def is_fraction(value) -> bool:
    """A real number (not a bool) strictly between 0 and 1."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value < 1


def bad_fractions(valid_fraction, test_fraction) -> list[str]:
    """The fraction options a loader must refuse: each in (0, 1), together below 1."""
    bad = [
        name for name, v in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)) if not is_fraction(v)
    ]
    if not bad and valid_fraction + test_fraction >= 1:
        bad = ["valid_fraction", "test_fraction"]
    return bad


# the property


def load_or_refuse(load: Callable[[], SequenceData], path: Path, bad_options: list[str]) -> SequenceData | None:
    """The data set `load` gives, or None after checking why it refused: bad options are a ZooError
    naming one of them (data.NAME), read before the file; otherwise only a DataError naming the file."""
    try:
        data = load()
    except DataError as error:
        event("refused: a fault in the file")
        assert not bad_options, f"bad options {bad_options} were blamed on the file: {error}"
        assert str(path) in str(error), f"the message does not name the file: {error}"
        return None
    except ZooError as error:
        event("refused: a bad option")
        assert any(f"data.{name}" in str(error) for name in bad_options), f"not an option error: {error!r}"
        return None
    event("loaded")
    assert not bad_options, f"bad options {bad_options} were accepted"
    return data


def assert_consistent(data: SequenceData, kind: str) -> None:
    """Every split has sequences, each of at least one step, of the declared kind and size; batches form."""
    spec = data.spec
    assert spec.kind == kind and spec.dim >= 1
    for split in ("train", "valid", "test"):
        seqs = data.split(split)
        assert seqs, split
        for seq in seqs:
            assert len(seq) >= 1
            if kind == "categorical":
                assert seq.dtype == torch.long and seq.ndim == 1
                assert 0 <= int(seq.min()) and int(seq.max()) < spec.dim
            else:
                assert seq.dtype == torch.float32 and seq.shape[1:] == (spec.dim,)
                assert torch.isfinite(seq).all()
                assert kind != "bernoulli" or ((seq == 0) | (seq == 1)).all()
        batch = next(data.batches(split, batch_size=4))
        assert batch.num_steps == sum(len(s) for s in seqs[:4])


# npz


@FUZZ
@given(case=npz_case(), compressed=st.booleans(), valid_fraction=GOOD_FRACTIONS, test_fraction=GOOD_FRACTIONS)
def test_npz_of_any_fields_loads_or_names_the_fault(tmp_path, case, compressed, valid_fraction, test_fraction):
    """Any arrays under any names load as a consistent data set or raise a DataError naming the file."""
    kind, fields = case
    path = fresh_file(tmp_path, "seqs.npz", npz_bytes(fields, compressed))
    data = load_or_refuse(partial(npz.load, path, kind, valid_fraction, test_fraction), path, bad_options=[])
    if data is not None:
        assert_consistent(data, kind)


@FUZZ
@given(contents=npz_faults(), kind=st.sampled_from(NPZ_KINDS))
def test_npz_bytes_that_are_no_npz_raise_a_data_error(tmp_path, contents, kind):
    """Random, cut short or corrupted bytes, a bare .npy, a zip of raw members: a DataError naming the file."""
    path = fresh_file(tmp_path, "seqs.npz", contents)
    data = load_or_refuse(partial(npz.load, path, kind), path, bad_options=[])
    if data is not None:
        assert_consistent(data, kind)


@settings(FUZZ, max_examples=50)
@given(case=npz_case(), kind=KINDS, valid_fraction=FRACTIONS, test_fraction=FRACTIONS)
def test_npz_options_are_named_before_the_file_is_read(tmp_path, case, kind, valid_fraction, test_fraction):
    """A bad data.kind or fraction is a ZooError naming it, whatever the file holds."""
    path = fresh_file(tmp_path, "seqs.npz", npz_bytes(case[1]))
    bad = (["kind"] if kind not in NPZ_KINDS else []) + bad_fractions(valid_fraction, test_fraction)
    data = load_or_refuse(partial(npz.load, path, kind, valid_fraction, test_fraction), path, bad)
    if data is not None:
        assert_consistent(data, kind)


@st.composite
def well_formed_npz(draw) -> tuple[str, dict[str, np.ndarray], dict[str, list[np.ndarray]]]:
    """(kind, the fields of a good .npz, the unpadded sequences of each split it holds)."""
    kind = draw(st.sampled_from(NPZ_KINDS))
    dim = draw(st.integers(1, 4))
    fields, expected = {}, {}
    for split in ("train", *sorted(draw(st.sets(st.sampled_from(["valid", "test"]))))):
        n, t = draw(st.integers(1, 8)), draw(st.integers(1, 5))
        if kind == "categorical":
            dtypes = st.sampled_from([np.int64, np.int32, np.uint8])
            x = draw(npst.arrays(dtypes, (n, t), elements=st.integers(0, dim - 1)))
        elif kind == "bernoulli":
            x = draw(npst.arrays(np.int8, (n, t, dim), elements=st.integers(0, 1)))
            x = x.astype(draw(st.sampled_from([np.float32, np.uint8, np.bool_])))
        else:
            values = st.floats(width=32, allow_nan=False, allow_infinity=False)
            x = draw(npst.arrays(st.sampled_from([np.float32, np.float64]), (n, t, dim), elements=values))
        lengths = draw(st.none() | npst.arrays(np.int64, (n,), elements=st.integers(1, t)))
        fields[split] = x
        if lengths is not None:
            fields[f"{split}_lengths"] = lengths
        expected[split] = [x[i, : t if lengths is None else lengths[i]] for i in range(n)]
    if kind == "categorical" and draw(st.booleans()):
        fields["vocab_size"] = np.array(dim)
    return kind, fields, expected


@settings(FUZZ, max_examples=60)
@given(case=well_formed_npz(), valid_fraction=GOOD_FRACTIONS, test_fraction=GOOD_FRACTIONS)
def test_npz_well_formed_round_trips(tmp_path, case, valid_fraction, test_fraction):
    """A good file loads every sequence as written, held-out splits taken from the end of train
    (or a DataError when train is too short to hold them out)."""
    kind, fields, expected = case
    path = fresh_file(tmp_path, "seqs.npz", npz_bytes(fields))
    try:
        data = npz.load(path, kind, valid_fraction, test_fraction)
    except DataError as error:
        assert "too few to hold out" in str(error) and str(path) in str(error)
        return
    assert_consistent(data, kind)
    loaded = {s: [seq.numpy() for seq in data.split(s)] for s in ("train", "valid", "test")}
    if kind == "categorical" and "vocab_size" in fields:
        assert data.spec.dim == int(fields["vocab_size"])
    held_out = [s for s in ("valid", "test") if s not in expected]
    got = {s: loaded[s] for s in ("train", "valid", "test") if s in expected}
    got["train"] = got["train"] + [seq for s in held_out for seq in loaded[s]]
    for split, seqs in expected.items():
        assert len(got[split]) == len(seqs)
        for mine, theirs in zip(got[split], seqs, strict=True):
            np.testing.assert_array_equal(mine, theirs.astype(mine.dtype))


# text


@settings(FUZZ, max_examples=200)
@given(
    contents=text_bytes(),
    seq_len=GOOD_SEQ_LENS,
    valid_fraction=GOOD_FRACTIONS,
    test_fraction=GOOD_FRACTIONS,
    max_train_chars=GOOD_MAX_TRAIN_CHARS,
)
def test_text_loads_or_names_the_fault(tmp_path, contents, seq_len, valid_fraction, test_fraction, max_train_chars):
    """Any bytes load as pieces of at most seq_len that spell the text (train cut to max_train_chars),
    or raise a DataError naming the file."""
    path = fresh_file(tmp_path, "corpus.txt", contents)
    load = partial(load_text, path, seq_len, valid_fraction, test_fraction, max_train_chars=max_train_chars)
    data = load_or_refuse(load, path, bad_options=[])
    if data is None:
        return
    assert_consistent(data, "categorical")
    text, vocab = contents.decode("utf-8"), data.spec.vocab
    assert vocab.tokens == sorted(set(text)) and data.spec.dim == len(vocab)
    assert all(len(seq) <= seq_len for s in ("train", "valid", "test") for seq in data.split(s))
    held_out = vocab.decode(torch.cat(data.valid + data.test))
    n_train = len(text) - len(held_out)
    assert text.endswith(held_out) and n_train >= 1
    kept = n_train if max_train_chars is None else min(n_train, max_train_chars)
    assert vocab.decode(torch.cat(data.train)) == text[:kept]
    assert data.info["chars"]["train"] == kept


@settings(FUZZ, max_examples=50)
@given(
    contents=text_bytes(),
    seq_len=SEQ_LENS,
    valid_fraction=FRACTIONS,
    test_fraction=FRACTIONS,
    max_train_chars=MAX_TRAIN_CHARS,
)
def test_text_options_are_named_before_the_file_is_read(
    tmp_path, contents, seq_len, valid_fraction, test_fraction, max_train_chars
):
    """A bad data.seq_len, fraction or max_train_chars is a ZooError naming it, whatever the file holds."""
    path = fresh_file(tmp_path, "corpus.txt", contents)
    bad = (["seq_len"] if not is_whole(seq_len) else []) + bad_fractions(valid_fraction, test_fraction)
    bad += ["max_train_chars"] if max_train_chars is not None and not is_whole(max_train_chars) else []
    load = partial(load_text, path, seq_len, valid_fraction, test_fraction, max_train_chars=max_train_chars)
    data = load_or_refuse(load, path, bad)
    if data is not None:
        assert_consistent(data, "categorical")
