"""Tiny Shakespeare (Karpathy's char-rnn): 1,115,394 characters of Shakespeare, 65 distinct.

The file is karpathy/char-rnn data/tinyshakespeare/input.txt, checked by
sha256. It is split contiguously as char-rnn does: the first 90% of the
characters train, the next 5% validate, the last 5% test; the vocabulary is
the characters of the whole file. Each part is cut into pieces of `seq_len`
characters. `max_train_chars` keeps only the first characters of the train
part (valid and test stay whole), as for data=text.
"""

from __future__ import annotations

import os

from zoo.data.checks import optional_whole_number, whole_number
from zoo.data.dataset import SequenceData
from zoo.data.fetch import fetch
from zoo.data.text import from_text, read_text

NAME = "tiny_shakespeare.txt"
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
VALID_FRACTION = TEST_FRACTION = 0.05


def load(
    seq_len: int = 100, data_dir: str | os.PathLike | None = None, max_train_chars: int | None = None
) -> SequenceData:
    """Tiny Shakespeare as character ids in pieces of `seq_len`, split 90/5/5."""
    seq_len = whole_number("seq_len", seq_len)
    max_train_chars = optional_whole_number("max_train_chars", max_train_chars)
    path = fetch(NAME, URL, SHA256, data_dir)
    text = read_text(path)
    return from_text("tiny_shakespeare", path, text, seq_len, VALID_FRACTION, TEST_FRACTION, max_train_chars)
