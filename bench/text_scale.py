"""`data=text` on a 100 MB file (enwik8's size): load time, peak memory, and training steps/s.

    python -m bench.text_scale [--megabytes 100 --batch 64 --seq-len 100 --hidden 128]

Writes, into a temporary folder, a synthetic text of --megabytes and one of tiny_shakespeare's
1,115,394 bytes from the same seeded generator: made-up words of a Zipf-distributed lexicon,
capitalised after a full stop, with commas, lines and paragraphs, and a few accented words so
that the file is UTF-8 beyond ASCII (71 characters, ids of uint8). Then measures, in one run:

  load       seconds of `load_text(..., windows=random)` and the peak memory it adds, over the
             file's size, each in a fresh process (Linux): the kernel's high-water mark of the
             process's resident memory (VmHWM), reset just before loading, less the resident
             memory then. Resident memory counts Python's, numpy's and torch's allocations alike,
             where tracemalloc misses torch's allocator; getrusage's ru_maxrss cannot be reset
             and starts a child at its parent's peak. The same for `windows=consecutive` (a long
             tensor per piece) and for the string path (read_text, Vocabulary.from_text, encode
             to the id dtype), which the other text data sets take.
  steps/s    training steps of a small char_lstm (ELBO, Adam, clipping: the trainer's step), each
             drawing its minibatch as the trainer does, from the big text's random windows, the
             small text's random windows, and the small text's consecutive pieces (reference),
             interleaved in one process on one thread; the seconds to draw a minibatch alone; and
             those of the index draw of the model's minibatch plate, randperm(N) for N training
             sequences, a cost of every step that grows with the data set.

Prints the figures; writes bench/results/text_scale.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pyro
import torch

from bench.common import time_steps, train_step, write_json
from guides.empty import NoLatents
from zoo.data.text import load_text, read_text
from zoo.data.vocab import Vocabulary
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO

TINY_SHAKESPEARE_BYTES = 1_115_394
LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
LETTER_WEIGHTS = [
    12.7,
    9.1,
    8.2,
    7.5,
    7.0,
    6.7,
    6.3,
    6.1,
    6.0,
    4.3,
    4.0,
    2.8,
    2.8,
    2.4,
    2.4,
    2.2,
    2.0,
    2.0,
    1.9,
    1.5,
    1.0,
    0.8,
    0.15,
    0.15,
    0.1,
    0.07,
]  # English letter frequencies, per cent
FOREIGN = ["café", "naïve", "über", "façade", "rôle", "señor", "déjà", "ångström", "smörgåsbord", "—"]
SEPARATORS = {" ": 0.80, ", ": 0.08, ". ": 0.055, ".\n": 0.03, ".\n\n": 0.01, "; ": 0.01, "? ": 0.0075, "! ": 0.0075}
SENTENCE_ENDS = {". ", ".\n", ".\n\n", "? ", "! "}
WORDS_PER_BLOCK = 1 << 20
REPO = Path(__file__).resolve().parents[1]


# the synthetic text


def lexicon(size: int, rng: np.random.Generator) -> list[str]:
    """`size` made-up words of 1 to 12 letters drawn by English letter frequencies, with the
    FOREIGN words among them, in the order of their Zipf ranks."""
    weights = np.array(LETTER_WEIGHTS) / sum(LETTER_WEIGHTS)
    lengths = np.clip(rng.geometric(0.2, size - len(FOREIGN)), 1, 12)
    words = ["".join(rng.choice(list(LETTERS), n, p=weights)) for n in lengths]
    for word, rank in zip(FOREIGN, rng.choice(np.arange(50, size // 2), len(FOREIGN), replace=False)):
        words.insert(int(rank), word)
    return words


def token_table(words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The UTF-8 bytes of the words, the capitalised words and the separators, one after
    another: (bytes, start of each token, length of each token)."""
    tokens = [w.encode() for w in words] + [w.capitalize().encode() for w in words]
    tokens += [s.encode() for s in SEPARATORS]
    lengths = np.array([len(t) for t in tokens])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.frombuffer(b"".join(tokens), dtype=np.uint8), starts, lengths


def text_blocks(num_bytes: int, seed: int = 0, vocabulary: int = 20_000) -> Iterator[bytes]:
    """UTF-8 text of (just under) `num_bytes` bytes in blocks of about a million words: Zipf-distributed words
    (p(rank k) ~ 1 / (k + 2.7)), each followed by a separator, capitalised after a full stop."""
    rng = np.random.default_rng(seed)
    words = lexicon(vocabulary, rng)
    table, starts, lengths = token_table(words)
    zipf = 1.0 / (np.arange(vocabulary) + 2.7)
    separators = list(SEPARATORS)
    ends_sentence = np.array([s in SENTENCE_ENDS for s in separators])
    written, capital = 0, True
    while written < num_bytes:
        word = rng.choice(vocabulary, WORDS_PER_BLOCK, p=zipf / zipf.sum())
        separator = rng.choice(len(separators), WORDS_PER_BLOCK, p=list(SEPARATORS.values()))
        capitalised = np.concatenate([[capital], ends_sentence[separator[:-1]]])
        capital = bool(ends_sentence[separator[-1]])
        sequence = np.stack([word + vocabulary * capitalised, 2 * vocabulary + separator], 1).ravel()  # (2W,)
        size = lengths[sequence]
        ends = np.cumsum(size)
        positions = np.repeat(starts[sequence] - ends + size, size) + np.arange(ends[-1])
        block = table[positions].tobytes()
        if written + len(block) >= num_bytes:
            block = block[: num_bytes - written]
            yield block[: block.rfind(b" ") + 1]  # whole characters
            return
        written += len(block)
        yield block


def write_text(path: Path, num_bytes: int, seed: int = 0) -> Path:
    """A synthetic text file of (just under) `num_bytes` bytes."""
    with open(path, "wb") as f:
        f.writelines(text_blocks(num_bytes, seed))
    return path


# loading, in a fresh process


def memory_status(field: str) -> int:
    """A field of /proc/self/status in bytes (VmRSS: resident now, VmHWM: its peak); Linux only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def reset_peak() -> int:
    """Reset this process's peak resident memory to what it holds now (Linux >= 4.0: writing 5
    to /proc/self/clear_refs), and return that."""
    Path("/proc/self/clear_refs").write_text("5")
    return memory_status("VmRSS")


def measure_load(path: str, seq_len: int, how: str) -> dict:
    """Seconds and added peak resident memory of loading `path` in this process: `how` is random
    or consecutive (load_text's windows) or string (read_text, Vocabulary.from_text, encode)."""
    torch.ones(1).long()  # torch's lazy set-up happens before the baseline
    before = reset_peak()
    start = time.perf_counter()
    if how == "string":
        text = read_text(path)
        vocab = Vocabulary.from_text(text)
        ids = vocab.encode(text, vocab.id_dtype)
        characters, symbols, dtype = len(ids), len(vocab), str(ids.dtype)
    else:
        data = load_text(path, seq_len, windows=how)
        characters, symbols = sum(data.info["chars"].values()), data.spec.dim
        dtype = str(data.train.ids.dtype) if how == "random" else str(data.train[0].dtype)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_added_bytes": memory_status("VmHWM") - before,
        "held_bytes": memory_status("VmRSS") - before,
        "characters": characters,
        "symbols": symbols,
        "dtype": dtype,
    }


def load_in_fresh_process(path: Path, seq_len: int, how: str) -> dict:
    """measure_load in a new Python process, so that nothing before it lifts its peak."""
    code = (
        "import json, sys\nfrom bench.text_scale import measure_load\n"
        "print(json.dumps(measure_load(sys.argv[1], int(sys.argv[2]), sys.argv[3])))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(seq_len), how],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    size = path.stat().st_size
    return {**figures, "file_bytes": size, "peak_over_file": figures["peak_added_bytes"] / size}


# training steps


def minibatches(data, batch_size: int):
    """Shuffled training minibatches pass after pass, seeded per pass as the trainer seeds them."""
    for n in itertools.count():
        yield from data.batches("train", batch_size, shuffle=True, seed=n)


def loss_per_step(objective, model, guide, batches, train_steps: int) -> torch.Tensor:
    """The objective on the next minibatch over the training steps, as the trainer scales it."""
    return objective(model, guide, next(batches)) / train_steps


def plate_indices(size: int, batch_size: int) -> torch.Tensor:
    """The indices pyro.plate(size=size, subsample_size=batch_size) draws for a minibatch."""
    return torch.randperm(size)[:batch_size]


def step_timings(contenders: dict, spec, args) -> dict[str, dict[str, float]]:
    """Seconds, interleaved: a training step of one char_lstm on each contender's minibatches
    ("step"), drawing a minibatch alone ("draw"), and the index draw of the step's minibatch
    plate ("plate": Pyro's pyro.plate(size=N, subsample_size=B) takes randperm(N)[:B], N the
    number of training sequences, which grows with the text)."""
    torch.manual_seed(0)
    model = CharLSTM(spec, args.hidden)
    guide, elbo = NoLatents(model), ELBO()
    params = list(model.parameters())
    steps, draws, plates = {}, {}, {}
    for name, data in contenders.items():
        loss = partial(loss_per_step, elbo, model, guide, minibatches(data, args.batch), data.num_steps("train"))
        steps[name] = train_step(loss, params)
        draws[name] = partial(next, minibatches(data, args.batch))
        plates[name] = partial(plate_indices, len(data.train), args.batch)
    with pyro.validation_enabled(False):  # as the trainer runs its steps
        step_seconds = time_steps(steps, repeats=args.repeats)
    return {
        "step": step_seconds,
        "draw": time_steps(draws, repeats=args.repeats, inner=50),
        "plate": time_steps(plates, repeats=args.repeats),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=100.0, help="size of the big text, 10^6 bytes")
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as folder:
        big = write_text(Path(folder) / "big.txt", int(args.megabytes * 1e6), args.seed)
        small = write_text(Path(folder) / "small.txt", TINY_SHAKESPEARE_BYTES, args.seed)
        loads = {
            f"{name} {how}": load_in_fresh_process(path, args.seq_len, how)
            for name, path in (("big", big), ("small", small))
            for how in ("random", "consecutive", "string")
        }
        contenders = {
            "big random": load_text(big, args.seq_len, windows="random"),
            "small random": load_text(small, args.seq_len, windows="random"),
            "small consecutive": load_text(small, args.seq_len),
        }
        spec = contenders["big random"].spec  # the small text's ids fit its vocabulary: one network for all
        seconds = step_timings(contenders, spec, args)
        sequences = {name: len(data.train) for name, data in contenders.items()}

    print(
        "loading a text file, each in a fresh process; peak = the peak resident memory (VmHWM) less the "
        "resident memory before loading"
    )
    for name, f in loads.items():
        print(
            f"  {name:20s} {f['file_bytes'] / 1e6:7.1f} MB  {f['characters']:>11,} characters  "
            f"{f['symbols']:3d} symbols  {f['dtype']:12s} {f['seconds']:6.2f} s   "
            f"peak +{f['peak_added_bytes'] / 1e6:7.1f} MB = {f['peak_over_file']:5.2f}x the file"
        )
    print(
        f"training steps, char_lstm hidden {args.hidden}, batch {args.batch} x {args.seq_len}, "
        f"{spec.dim} symbols, {torch.get_num_threads()} thread"
    )
    step = seconds["step"]
    for name in contenders:
        print(
            f"  {name:20s} {1 / step[name]:6.2f} steps/s  {step['small consecutive'] / step[name]:5.3f}x small "
            f"consecutive   drawing a minibatch {1e6 * seconds['draw'][name]:6.1f} us   minibatch plate's "
            f"randperm({sequences[name]:,}) {1e3 * seconds['plate'][name]:5.2f} ms"
        )
    ratio = step["small random"] / step["big random"]
    print(f"steps/s on {args.megabytes:g} MB over tiny_shakespeare's size, random windows: {ratio:.3f}x")
    write_json(
        "text_scale",
        {
            "args": vars(args),
            "load": loads,
            "seconds": seconds,
            "training_sequences": sequences,
            "big_over_small_steps_per_second": ratio,
        },
    )


if __name__ == "__main__":
    main()
