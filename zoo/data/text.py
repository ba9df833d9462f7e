"""Character-level text: a user's own text file, and the machinery the text data sets share.

`data=text data.path=FILE` reads FILE as UTF-8, builds the vocabulary from the
whole file, and splits it contiguously as char-rnn does: the first
1 - valid_fraction - test_fraction of the characters train, the next
valid_fraction validate, the last test_fraction test. `max_train_chars` keeps
only the first `max_train_chars` characters of the train part, for a small-data
regime; valid and test stay whole, so numbers stay comparable across train
sizes. The text data sets (text, tiny_shakespeare, shakespeare) share this
option and its name.

`windows` says how the training text is cut into sequences of `seq_len` characters:

consecutive   each part is cut into consecutive pieces (the last of a part may be
              shorter), one tensor each; a shuffled pass visits every piece once.
random        the file is held as one integer tensor of the smallest dtype that holds
              its vocabulary (uint8 up to 256 characters), and each shuffled pass over
              the training part draws windows of `seq_len` at uniformly random offsets
              (nanoGPT's get_batch), from a generator seeded by the pass's seed, so the
              trainer's order still depends only on (seed, epoch, pass). A pass draws as
              many windows as the consecutive cut has pieces, ceil(train characters /
              seq_len), in as many minibatches; the training steps (`num_steps`) are the
              training characters in both modes. Valid and test are the same consecutive
              pieces in both modes, cut from the tensor when indexed (`TextWindows`).

The file is read in pieces, twice (its characters, then their ids), so a 100 MB
file never exists as a Python string: with `windows=random` it loads in about the
memory of its ids.

The options are checked before the file is read: a bad one is a ZooError naming
it (`data.seq_len=0`); a fault in the file is a DataError naming the file.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zoo.data.batch import Batch, collate
from zoo.data.checks import file_path, held_out_fractions, optional_whole_number, whole_number
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.errors import DataError
from zoo.data.vocab import Vocabulary, code_points
from zoo.errors import ZooError
from zoo.options import did_you_mean, shown

SPLITS = ("train", "valid", "test")
WINDOWS = ("consecutive", "random")
READ_BYTES = 1 << 16  # a file is read and decoded 64 KiB at a time: small buffers that the allocator reuses
UNICODE_SIZE = 0x110000  # code points 0 .. U+10FFFF


def chunk_text(ids: Tensor, seq_len: int) -> list[Tensor]:
    """Consecutive pieces of `seq_len` ids; the last is shorter if the length does not divide."""
    seq_len = whole_number("seq_len", seq_len)
    return list(ids.split(seq_len)) if len(ids) else []


# reading a file


def existing_file(path: str | os.PathLike) -> Path:
    """`path` with a leading ~ expanded, or a DataError when it is no file."""
    path = Path(path).expanduser()
    if not path.is_file():
        missing = "is not a file" if path.exists() else "does not exist"
        raise DataError(f"text file {path} {missing}; set data.path to an existing UTF-8 text file")
    return path


def unreadable(path: Path, error: OSError) -> DataError:
    """The error for a file the operating system will not read."""
    return DataError(f"text file {path} cannot be read ({error.strerror}); check its permissions")


def not_utf8(path: Path, data: bytes, offset: int, error: UnicodeDecodeError) -> DataError:
    """The error for bytes that are no UTF-8, naming the first bad byte: `data` starts at byte `offset`."""
    return DataError(
        f"text file {path} is not UTF-8 (byte {offset + error.start}: {data[error.start : error.start + 4]!r}); "
        f"convert it, e.g. `iconv -f latin1 -t utf-8`"
    )


def empty(path: Path) -> DataError:
    """The error for a file without text."""
    return DataError(f"text file {path} is empty; give data.path a file with some text")


def read_text(path: str | os.PathLike) -> str:
    """The contents of a non-empty UTF-8 text file, or a DataError saying what is wrong with it."""
    path = existing_file(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise unreadable(path, e) from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise not_utf8(path, raw, 0, e) from e
    if not text:
        raise empty(path)
    return text


def last_character_start(data: bytes) -> int:
    """Where the last character of `data` starts: the last of its final four bytes that is not a
    UTF-8 continuation byte (len(data) when there is none: no UTF-8, which decoding will say)."""
    for i in range(len(data) - 1, max(len(data) - 5, -1), -1):
        if data[i] & 0xC0 != 0x80:
            return i
    return len(data)


def file_pieces(path: Path) -> Iterator[tuple[int, bytes]]:
    """(byte offset, bytes) of a file in pieces of about READ_BYTES, each ending before a
    character's first byte, so that each piece decodes on its own."""
    try:
        file = open(path, "rb")
    except OSError as e:
        raise unreadable(path, e) from e
    offset, carry = 0, b""
    with file:
        while block := file.read(READ_BYTES):
            block = carry + block
            cut = last_character_start(block)
            if cut:
                yield offset, block[:cut]
            offset, carry = offset + cut, block[cut:]
    if carry:
        yield offset, carry


def piece_code_points(path: Path, piece: bytes, offset: int) -> np.ndarray:
    """The code points of a piece of the file that starts at byte `offset`: the bytes themselves
    when they are ASCII (uint8), else decoded from UTF-8 (uint32)."""
    if piece.isascii():
        return np.frombuffer(piece, dtype=np.uint8)
    try:
        return code_points(piece.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise not_utf8(path, piece, offset, e) from e


def read_ids(path: str | os.PathLike) -> tuple[Tensor, Vocabulary]:
    """The characters of a non-empty UTF-8 file as one tensor of ids, of the vocabulary's id dtype
    (uint8 up to 256 characters), and that vocabulary: the file's characters in code point order.
    The file is read twice, a piece at a time: first for the characters it holds and their
    number, then for their ids, so only the ids are ever whole in memory."""
    path = existing_file(path)
    seen, count = np.zeros(UNICODE_SIZE, dtype=bool), 0
    for offset, piece in file_pieces(path):
        codes = piece_code_points(path, piece, offset)
        seen[codes] = True
        count += len(codes)
    if not count:
        raise empty(path)
    vocab = Vocabulary([chr(c) for c in np.flatnonzero(seen).tolist()])
    ids = np.empty(count, dtype=torch.empty(0, dtype=vocab.id_dtype).numpy().dtype)
    at = 0
    try:
        for offset, piece in file_pieces(path):
            codes = piece_code_points(path, piece, offset)
            ids[at : at + len(codes)] = vocab.ids_of_code_points(codes)
            at += len(codes)
    except ValueError as e:  # other characters, or more of them, than the first reading found
        raise DataError(f"text file {path} changed while it was read; load it again") from e
    if at != count:
        raise DataError(f"text file {path} changed while it was read; load it again")
    return torch.from_numpy(ids), vocab


# splits


def split_sizes(length: int, valid_fraction: float, test_fraction: float, source: str) -> tuple[int, int, int]:
    """The characters of the train, valid and test parts of a text of `length` characters."""
    n_valid, n_test = round(length * valid_fraction), round(length * test_fraction)
    n_train = length - n_valid - n_test
    if min(n_train, n_valid, n_test) < 1:
        raise DataError(
            f"{source} has only {length} characters, too few to split into train, "
            f"{valid_fraction:.0%} valid and {test_fraction:.0%} test; give a longer text"
        )
    return n_train, n_valid, n_test


def split_text(text: str, valid_fraction: float, test_fraction: float, source: str) -> dict[str, str]:
    """Contiguous train / valid / test parts of `text`, in that order."""
    valid_fraction, test_fraction = held_out_fractions(valid_fraction, test_fraction)
    n_train, n_valid, _ = split_sizes(len(text), valid_fraction, test_fraction, source)
    return {"train": text[:n_train], "valid": text[n_train : n_train + n_valid], "test": text[n_train + n_valid :]}


def split_ids(ids: Tensor, valid_fraction: float, test_fraction: float, source: str) -> dict[str, Tensor]:
    """Contiguous train / valid / test parts of a text's ids, as views of `ids`."""
    n_train, n_valid, n_test = split_sizes(len(ids), valid_fraction, test_fraction, source)
    return dict(zip(SPLITS, ids.split([n_train, n_valid, n_test]), strict=True))


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


# text held as one tensor


class TextWindows(Sequence):
    """A split of text held as one tensor of ids, read as consecutive windows of `seq_len` ids
    (the last may be shorter) that are cut, and widened to long, when indexed: window i is
    ids[i * seq_len : (i + 1) * seq_len]. It reads as the list `chunk_text` makes, without it."""

    def __init__(self, ids: Tensor, seq_len: int):
        assert ids.dim() == 1, f"ids {tuple(ids.shape)} must be one sequence"
        self.ids, self.seq_len = ids, seq_len

    def __len__(self) -> int:
        return (len(self.ids) + self.seq_len - 1) // self.seq_len

    def __getitem__(self, i):
        """Window i as a (T,) long tensor; a slice of windows as TextWindows (a list for a step)."""
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                return [self[j] for j in range(start, stop, step)]
            return TextWindows(self.ids[start * self.seq_len : max(start, stop) * self.seq_len], self.seq_len)
        i = operator.index(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"window {i} of {len(self)}")
        i %= len(self)
        return self.ids[i * self.seq_len : (i + 1) * self.seq_len].long()

    def __iter__(self) -> Iterator[Tensor]:
        for window in self.ids.split(self.seq_len) if len(self.ids) else ():
            yield window.long()

    def __repr__(self) -> str:
        return f"TextWindows({len(self)} windows of {self.seq_len}, {len(self.ids)} ids of {self.ids.dtype})"


def window_offsets(length: int, width: int, num_windows: int, batch_size: int, seed: int) -> Iterator[Tensor]:
    """(B,) offsets of windows of `width` in a text of `length`, uniform over 0 .. length - width,
    for num_windows windows in minibatches of batch_size (the last may be smaller), drawn from
    a generator seeded by `seed`."""
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, num_windows, batch_size):
        size = min(batch_size, num_windows - start)
        yield torch.randint(length - width + 1, (size,), generator=generator)


@dataclass
class WindowedText(SequenceData):
    """Text whose splits are TextWindows over one tensor of ids. Shuffled training minibatches
    are windows of seq_len at random offsets (`window_offsets`): a pass draws len(train)
    windows, ceil(train characters / seq_len). Everything else sees the consecutive windows."""

    def __post_init__(self):
        for split in SPLITS:
            if not len(getattr(self, split)):
                raise ZooError(f"data set {self.name!r}: the {split} split is empty")

    def num_steps(self, split: str) -> int:
        """The characters of the split."""
        return len(self.split(split).ids)

    def batches(
        self, split: str, batch_size: int, shuffle: bool = False, seed: int = 0, pool: int = 1
    ) -> Iterator[Batch]:
        """Minibatches of a split: training windows at random offsets when shuffled (drawn from a
        generator seeded by `seed`), else the split's windows, in order or shuffled by `seed`.
        Windows have one length, so `pool` (length bucketing) changes nothing and is ignored."""
        windows = self.split(split)
        if not shuffle:
            for start in range(0, len(windows), batch_size):
                chosen = range(start, min(start + batch_size, len(windows)))
                yield collate([windows[i] for i in chosen], dataset_size=len(windows), index=list(chosen))
        elif split != "train":
            yield from super().batches(split, batch_size, shuffle, seed)
        else:
            yield from self.random_windows(batch_size, seed)

    def random_windows(self, batch_size: int, seed: int) -> Iterator[Batch]:
        """One pass of training windows at random offsets, all of seq_len (of the whole training
        text when that is shorter): Batch.index is None, the windows have no place in the split."""
        ids, num_windows = self.train.ids, len(self.train)
        width = min(self.train.seq_len, len(ids))
        steps = torch.arange(width)
        for offsets in window_offsets(len(ids), width, num_windows, batch_size, seed):
            x = ids[offsets[:, None] + steps].long()  # (B, T)
            lengths = torch.full((len(offsets),), width)
            yield Batch(x, lengths, torch.ones_like(x, dtype=torch.bool), num_windows)


# data sets


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


def window_choice(windows) -> str:
    """data.windows: consecutive or random, else a ZooError naming the nearest."""
    if not isinstance(windows, str) or windows not in WINDOWS:
        near = did_you_mean(windows, WINDOWS) if isinstance(windows, str) else ""
        raise ZooError(f"data.windows={shown(windows)} is not one of {', '.join(WINDOWS)}{near}")
    return windows


def load_text(
    path: str | os.PathLike,
    seq_len: int = 100,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
    max_train_chars: int | None = None,
    windows: str = "consecutive",
) -> SequenceData:
    """A user's own UTF-8 text file as character-level sequences (see the module docstring)."""
    seq_len = whole_number("seq_len", seq_len)
    valid_fraction, test_fraction = held_out_fractions(valid_fraction, test_fraction)
    max_train_chars = optional_whole_number("max_train_chars", max_train_chars)
    windows = window_choice(windows)
    path = file_path(path, "a UTF-8 text file")
    ids, vocab = read_ids(path)
    parts = split_ids(ids, valid_fraction, test_fraction, source=str(path))
    parts["train"] = parts["train"][:max_train_chars]
    spec = DataSpec("categorical", len(vocab), vocab)
    chars = {s: len(part) for s, part in parts.items()}
    info = {
        "path": str(path),
        "max_train_chars": max_train_chars,
        "seq_len": seq_len,
        "chars": chars,
        "windows": windows,
    }
    if windows == "random":
        return WindowedText(path.stem, spec, *(TextWindows(parts[s], seq_len) for s in SPLITS), info=info)
    return SequenceData(path.stem, spec, *(chunk_text(parts[s].long(), seq_len) for s in SPLITS), info=info)
