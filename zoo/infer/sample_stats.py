"""Statistics of samples against held-out data, because likelihood and sample quality are
different things (Theis et al. 2016). No Parzen-window likelihoods.

Text: distinct-n (unique n-grams / n-grams, Li et al. 2016) and the Jensen-Shannon
divergence between the n-gram distributions of samples and of held-out text.
Piano rolls: notes per frame, and the Jensen-Shannon divergences of the polyphony and
pitch-class distributions against held-out rolls.
All divergences in nats; 0 means identical distributions, ln 2 = 0.693 disjoint ones.
"""

from __future__ import annotations

import math
from collections import Counter

import torch


def ngrams(text: str, n: int) -> Counter:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def distinct_n(texts: list[str], n: int) -> float:
    """Unique n-grams over all n-grams in the samples."""
    counts = sum((ngrams(t, n) for t in texts), Counter())
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def js_divergence(p: Counter, q: Counter) -> float:
    """Jensen-Shannon divergence between two count tables, in nats."""
    total_p, total_q = sum(p.values()), sum(q.values())
    js = 0.0
    for key in p.keys() | q.keys():
        a, b = p.get(key, 0) / total_p, q.get(key, 0) / total_q
        m = (a + b) / 2
        js += 0.5 * (a * math.log(a / m) if a else 0.0) + 0.5 * (b * math.log(b / m) if b else 0.0)
    return js


def text_statistics(samples: list[str], reference: list[str], orders=(1, 2, 3, 4)) -> dict:
    ref = {n: sum((ngrams(t, n) for t in reference), Counter()) for n in orders}
    out = {}
    for n in orders:
        out[f"distinct_{n}"] = distinct_n(samples, n)
        out[f"distinct_{n}_reference"] = distinct_n(reference, n)
        out[f"js_{n}gram_nats"] = js_divergence(sum((ngrams(t, n) for t in samples), Counter()), ref[n])
    return out


def roll_statistics(samples: list[torch.Tensor], reference: list[torch.Tensor]) -> dict:
    """samples and reference: lists of (T, 88) binary rolls, MIDI 21 at column 0."""

    def tables(rolls):
        frames = torch.cat([r.float() for r in rolls])  # (sum T, 88)
        polyphony = Counter(frames.sum(1).long().tolist())
        pitch_class = Counter()
        for column, count in enumerate(frames.sum(0).tolist()):
            pitch_class[(column + 21) % 12] += count
        return float(frames.sum(1).mean()), polyphony, pitch_class

    s_notes, s_poly, s_pc = tables(samples)
    r_notes, r_poly, r_pc = tables(reference)
    return {
        "notes_per_frame": s_notes, "notes_per_frame_reference": r_notes,
        "js_polyphony_nats": js_divergence(s_poly, r_poly),
        "js_pitch_class_nats": js_divergence(s_pc, r_pc) if sum(s_pc.values()) else math.log(2),
    }
