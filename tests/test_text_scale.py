"""data=text held as one tensor of ids: random training windows, fixed held-out windows, memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.text_scale import load_in_fresh_process, write_text
from guides.empty import NoLatents
from zoo.data import DataError, load_text
from zoo.data.text import READ_BYTES, TextWindows, WindowedText, read_ids, window_offsets
from zoo.errors import ZooError
from zoo.evaluation.likelihood import exact_nll
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.training.trainer import Trainer, TrainOptions

SEQ_LEN = 16


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A synthetic text of 200 kB, words and punctuation with a few characters beyond ASCII."""
    return write_text(tmp_path_factory.mktemp("text") / "corpus.txt", 200_000, seed=1)


@pytest.fixture(scope="module")
def windowed(corpus) -> WindowedText:
    return load_text(corpus, SEQ_LEN, windows="random")


def train_text(data, corpus) -> str:
    """The characters of the training split."""
    return corpus.read_text(encoding="utf-8")[: data.num_steps("train")]


def first_batches(data, seed: int, n: int = 3, batch_size: int = 8) -> list[torch.Tensor]:
    """x of the first `n` shuffled training minibatches drawn with `seed`."""
    batches = data.batches("train", batch_size, shuffle=True, seed=seed)
    return [batch.x for batch, _ in zip(batches, range(n))]


def test_the_text_is_one_tensor_of_the_smallest_dtype(windowed, corpus):
    text = corpus.read_text(encoding="utf-8")
    assert windowed.train.ids.dtype == torch.uint8 and any(ord(c) > 127 for c in windowed.spec.vocab.tokens)
    storage = {split.ids.untyped_storage().data_ptr() for split in (windowed.train, windowed.valid, windowed.test)}
    assert len(storage) == 1  # views of one tensor
    ids = torch.cat([windowed.train.ids, windowed.valid.ids, windowed.test.ids])
    assert torch.equal(ids.long(), windowed.spec.vocab.encode(text))
    assert windowed.spec.vocab.tokens == sorted(set(text))


def test_random_windows_are_windows_of_the_text_at_their_offsets(windowed, corpus):
    text, vocab = train_text(windowed, corpus), windowed.spec.vocab
    batches = windowed.batches("train", 8, shuffle=True, seed=5)
    offsets = window_offsets(len(text), SEQ_LEN, len(windowed.train), 8, seed=5)
    for batch, at, _ in zip(batches, offsets, range(4)):
        assert batch.x.shape == (8, SEQ_LEN) and batch.x.dtype == torch.long and batch.mask.all()
        assert batch.lengths.tolist() == [SEQ_LEN] * 8 and batch.dataset_size == len(windowed.train)
        for row, offset in zip(batch.x, at.tolist(), strict=True):
            assert vocab.decode(row) == text[offset : offset + SEQ_LEN]


def test_the_same_seed_draws_the_same_windows_and_another_seed_others(windowed):
    same = first_batches(windowed, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(same, first_batches(windowed, seed=7), strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(same, first_batches(windowed, seed=8), strict=True))
    assert not torch.equal(same[0], same[1])  # the minibatches of a pass differ


def test_a_pass_draws_as_many_windows_as_the_consecutive_cut_has_pieces(windowed, corpus):
    consecutive = load_text(corpus, SEQ_LEN)
    n_train = consecutive.info["chars"]["train"]
    assert windowed.num_steps("train") == consecutive.num_steps("train") == n_train
    assert len(windowed.train) == len(consecutive.train) == -(-n_train // SEQ_LEN)
    assert windowed.num_batches("train", 64) == consecutive.num_batches("train", 64)
    sizes = [b.batch_size for b in windowed.batches("train", 64, shuffle=True, seed=0)]
    assert len(sizes) == windowed.num_batches("train", 64) and sum(sizes) == len(windowed.train)


def test_held_out_splits_are_the_consecutive_cut(windowed, corpus):
    consecutive = load_text(corpus, SEQ_LEN)
    for split in ("train", "valid", "test"):
        lazy, pieces = windowed.split(split), consecutive.split(split)
        assert len(lazy) == len(pieces) and windowed.num_steps(split) == consecutive.num_steps(split)
        assert all(torch.equal(a, b) for a, b in zip(lazy, pieces, strict=True))
        assert torch.equal(lazy[-1], pieces[-1]) and torch.equal(lazy[3], pieces[3])
        assert all(torch.equal(a, b) for a, b in zip(windowed.split(split, 5), pieces[:5], strict=True))
    for a, b in zip(windowed.batches("valid", 32), consecutive.batches("valid", 32), strict=True):
        assert torch.equal(a.x, b.x) and torch.equal(a.index, b.index)
    model = CharLSTM(windowed.spec, hidden_size=8)
    lazy, listed = (exact_nll(model, d, "valid", limit=100) for d in (windowed, consecutive))
    assert lazy.nats_per_step == listed.nats_per_step and lazy.num_steps == listed.num_steps


def test_text_windows_slice_like_a_list():
    ids = torch.arange(10, dtype=torch.uint8)
    windows, pieces = TextWindows(ids, 3), [p.long() for p in ids.split(3)]
    for chosen in (slice(None), slice(1, 3), slice(2, None), slice(-2, None), slice(3, 1), slice(0, 4, 2)):
        got = windows[chosen]
        assert len(got) == len(pieces[chosen])
        assert all(torch.equal(a, b) for a, b in zip(got, pieces[chosen], strict=True))
    assert torch.equal(windows[-1], torch.tensor([9])) and windows[0].dtype == torch.long
    with pytest.raises(IndexError):
        windows[4]


def test_a_training_text_shorter_than_seq_len_is_one_whole_window(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("abcdefghij" * 4, encoding="utf-8")
    data = load_text(path, seq_len=100, valid_fraction=0.25, test_fraction=0.25, windows="random")
    (batch,) = data.batches("train", 4, shuffle=True, seed=0)
    assert batch.x.shape == (1, 20) and data.spec.vocab.decode(batch.x[0]) == ("abcdefghij" * 2)


def small_trainer(data, run_dir, epochs: int) -> Trainer:
    """char_lstm with 8 units over `data`, a few minibatches an epoch."""
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8)
    options = TrainOptions(
        max_epochs=epochs,
        steps_per_epoch=4,
        batch_size=8,
        lr=0.01,
        lr_schedule="none",
        patience=100,
        progress=False,
        valid_limit=20,
    )
    return Trainer(model, NoLatents(model), ELBO(), data, options, run_dir)


def test_training_on_random_windows_resumes_onto_the_unbroken_curve(windowed, tmp_path):
    straight = small_trainer(windowed, tmp_path / "a", epochs=3).fit()
    assert straight[-1]["train_loss"] < straight[0]["train_loss"]
    small_trainer(windowed, tmp_path / "b", epochs=2).fit()
    resumed = small_trainer(windowed, tmp_path / "c", epochs=3).fit(resume=tmp_path / "b")
    for a, b in zip(straight, resumed, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["valid_nats_per_step"] == pytest.approx(b["valid_nats_per_step"], rel=1e-6)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads peak memory from Linux's /proc")
def test_a_5_mb_file_loads_in_under_3_times_its_size(tmp_path):
    """The peak resident memory a load adds, in a fresh process (bench.text_scale.measure_load)."""
    path = write_text(tmp_path / "five.txt", 5_000_000, seed=2)
    load = load_in_fresh_process(path, 100, "random")
    assert load["characters"] > 0.99 * load["file_bytes"] and load["dtype"] == "torch.uint8"
    # the peak saw what the load holds, to within pages the process had touched before it
    assert 0.99 * load["held_bytes"] <= load["peak_added_bytes"] < 3 * load["file_bytes"], load


def test_characters_split_across_read_pieces_decode(tmp_path):
    text = "é—🐝a" * (READ_BYTES // 3)  # 10 bytes a repeat: pieces end inside characters
    path = tmp_path / "wide.txt"
    path.write_text(text, encoding="utf-8")
    ids, vocab = read_ids(path)
    assert ids.dtype == torch.uint8 and torch.equal(ids.long(), vocab.encode(text))


def test_bytes_that_are_no_utf8_deep_in_a_file_are_named(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"plain text " * 20_000 + b"caf\xe9" + b" more" * 10)
    with pytest.raises(DataError, match=r"mixed\.txt is not UTF-8 \(byte 220003: b'\\xe9 mo'\)"):
        load_text(path, windows="random")


@pytest.mark.parametrize(("windows", "match"), [("randm", "did you mean random"), (None, "data.windows=null")])
def test_a_bad_windows_option_is_named_before_the_file_is_read(tmp_path, windows, match):
    with pytest.raises(ZooError, match=match) as error:
        load_text(tmp_path / "absent.txt", windows=windows)
    assert "data.windows" in str(error.value) and not isinstance(error.value, DataError)


@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.text(min_size=3, max_size=300), seq_len=st.integers(1, 40), max_train_chars=st.none() | st.integers(1, 50)
)
def test_random_windows_hold_the_consecutive_pieces_of_any_text(tmp_path, text, seq_len, max_train_chars):
    """Any text loads the same pieces either way, and its random windows lie in the training text."""
    path = tmp_path / "any.txt"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        consecutive = load_text(path, seq_len, 0.3, 0.3, max_train_chars)
    except DataError:
        return
    windowed = load_text(path, seq_len, 0.3, 0.3, max_train_chars, windows="random")
    assert windowed.spec.vocab == consecutive.spec.vocab and windowed.info["chars"] == consecutive.info["chars"]
    for split in ("train", "valid", "test"):
        assert [s.tolist() for s in windowed.split(split)] == [s.tolist() for s in consecutive.split(split)]
    training = torch.cat(consecutive.train).tolist()
    for batch in windowed.batches("train", 3, shuffle=True, seed=1):
        for row in batch.x.tolist():
            assert any(training[i : i + len(row)] == row for i in range(len(training) - len(row) + 1))
