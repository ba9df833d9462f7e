"""Character-level text: a user's own text file, and the machinery the text data sets share.

`data=text data.path=FILE` reads FILE as UTF-8, builds the vocabulary from the
whole file, and splits it contiguously as char-rnn does: the first
1 - valid_fraction - test_fraction of the characters train, the next
valid_fraction validate, the last test_fraction test. Each part is cut into
consecutive pieces of `seq_len` characters (the last piece of a part may be
shorter). `max_train_chars` keeps only the first `max_train_chars` characters of
the train part, for a small-data regime; valid and test stay whole, so numbers
stay comparable across train sizes. The text data sets (text, tiny_shakespeare,
shakespeare) share this option and its name.

The options are checked before the file is read: a bad one is a ZooError naming
it (`data.seq_len=0`); a fault in the file is a DataError naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor

from zoo.data.checks import file_path, held_out_fractions, optional_whole_number, whole_number
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.errors import DataError
from zoo.data.vocab import Vocabulary

SPLITS = ("train", "valid", "test")


def chunk_text(ids: Tensor, seq_len: int) -> list[Tensor]:
    """Consecutive pieces of `seq_len` ids; the last is shorter if the length does not divide."""
    seq_len = whole_number("seq_len", seq_len)
    return list(ids.split(seq_len)) if len(ids) else []


def read_text(path: str | os.PathLike) -> str:
    """The contents of a non-empty UTF-8 text file, or a DataError saying what is wrong with it."""
    path = Path(path).expanduser()
    if not path.is_file():
        missing = "is not a file" if path.exists() else "does not exist"
        raise DataError(f"text file {path} {missing}; set data.path to an existing UTF-8 text file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"text file {path} cannot be read ({e.strerror}); check its permissions") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"text file {path} is not UTF-8 (byte {e.start}: {raw[e.start : e.start + 4]!r}); "
            f"convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from e
    if not text:
        raise DataError(f"text file {path} is empty; give data.path a file with some text")
    return text


def split_text(text: str, valid_fraction: float, test_fraction: float, source: str) -> dict[str, str]:
    """Contiguous train / valid / test parts of `text`, in that order."""
    valid_fraction, test_fraction = held_out_fractions(valid_fraction, test_fraction)
    n_valid, n_test = round(len(text) * valid_fraction), round(len(text) * test_fraction)
    n_train = len(text) - n_valid - n_test
    if min(n_train, n_valid, n_test) < 1:
        raise DataError(
            f"{source} has only {len(text)} characters, too few to split into train, "
            f"{valid_fraction:.0%} valid and {test_fraction:.0%} test; give a longer text"
        )
    return {"train": text[:n_train], "valid": text[n_train : n_train + n_valid], "test": text[n_train + n_valid :]}


def first_chars(docs: list[str], n: int) -> list[str]:
    """The first `n` characters of the documents, the last one cut short (data.max_train_chars)."""
    n = whole_number("max_train_chars", n)
    kept = []
    for doc in docs:
        if n <= 0:
            break
        kept.append(doc[:n])
        n -= len(kept[-1])
    return kept


def text_data(name: str, parts: dict[str, list[str]], vocab: Vocabulary, seq_len: int, info: dict) -> SequenceData:
    """SequenceData from the documents of each split, each document encoded and chunked on its own."""
    splits = {s: [piece for doc in parts[s] for piece in chunk_text(vocab.encode(doc), seq_len)] for s in SPLITS}
    chars = {s: sum(len(doc) for doc in parts[s]) for s in SPLITS}
    spec = DataSpec("categorical", len(vocab), vocab)
    return SequenceData(name, spec, **splits, info={**info, "seq_len": seq_len, "chars": chars})


def from_text(
    name: str,
    path: Path,
    text: str,
    seq_len: int,
    valid_fraction: float,
    test_fraction: float,
    max_train_chars: int | None,
) -> SequenceData:
    """The text of file `path`, split contiguously, with a vocabulary over all of it."""
    parts = split_text(text, valid_fraction, test_fraction, source=str(path))
    docs = {s: [p] for s, p in parts.items()}
    if max_train_chars is not None:
        docs["train"] = first_chars(docs["train"], max_train_chars)
    info = {"path": str(path), "max_train_chars": max_train_chars}
    return text_data(name, docs, Vocabulary.from_text(text), seq_len, info)


def load_text(
    path: str | os.PathLike,
    seq_len: int = 100,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
    max_train_chars: int | None = None,
) -> SequenceData:
    """A user's own UTF-8 text file as character-level sequences (see the module docstring)."""
    seq_len = whole_number("seq_len", seq_len)
    valid_fraction, test_fraction = held_out_fractions(valid_fraction, test_fraction)
    max_train_chars = optional_whole_number("max_train_chars", max_train_chars)
    path = file_path(path, "a UTF-8 text file")
    return from_text(path.stem, path, read_text(path), seq_len, valid_fraction, test_fraction, max_train_chars)
