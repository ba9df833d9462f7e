"""Statistics of samples against held-out data, because likelihood and sample quality are
different things (Theis et al. 2016). No Parzen-window likelihoods.

Tokens (characters of text, or the ids of a token data set):
  distinct-n         unique n-grams / n-grams of the samples (Li et al. 2016), and of as many
                     tokens of held-out data
  js_<n>gram_nats    Jensen-Shannon divergence of the n-gram distributions of samples and held-out data
  bleu_<n>           mean sentence BLEU-n of each sample sentence against all held-out sentences
  self_bleu_<n>      the same of each sample sentence against the other samples (Zhu et al. 2018,
                     Texygen): high = the samples repeat each other. Both NLTK's sentence BLEU with
                     smoothing method 1, from n-gram maxima counted once over the references;
                     `_reference` = the same of as many held-out sentences, scored against the others.
                     Text: sentences are lines, words are split on white space; token data: a
                     sequence is a sentence of its tokens.
Piano rolls: notes per frame, and the JS divergences of the polyphony, pitch-class and
note-length distributions (a note's length: the frames it sounds without a break).
All kinds: mmd, the maximum mean discrepancy between per-sequence features of samples and of
held-out sequences (zoo.estimators.mmd, median-heuristic bandwidths): unigram frequencies for
tokens; pitch-class and polyphony distributions for rolls; mmd_reference is that of held-out data.
Divergences in nats: 0 means identical distributions, ln 2 = 0.693 disjoint ones.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch

from zoo.data.dataset import SequenceData
from zoo.data.polyphonic import LOWEST_NOTE
from zoo.estimators.mmd import feature_mmd

ORDERS = (1, 2, 3, 4)
BLEU_ORDERS = (2, 3, 4)
MAX_SENTENCES = 100  # sentences scored by BLEU; each against 5x as many held-out sentences
MAX_NOTE_LENGTH = 16  # longer notes share the last bin of the note-length distribution


def ngrams(tokens: Sequence, n: int) -> Counter:
    """Counts of the n-grams (tuples) of one sequence of tokens (a string is a sequence of characters)."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ngram_table(sequences: list[Sequence], n: int) -> Counter:
    table = Counter()
    for tokens in sequences:
        table.update(ngrams(tokens, n))
    return table


def distinct_n(sequences: list[Sequence], n: int) -> float:
    """Unique n-grams over all n-grams in the sequences."""
    counts = ngram_table(sequences, n)
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def js_divergence(p: Counter, q: Counter) -> float:
    """Jensen-Shannon divergence between two count tables, in nats; ln 2 when one is empty."""
    total_p, total_q = sum(p.values()), sum(q.values())
    if not total_p or not total_q:
        return 0.0 if total_p == total_q else math.log(2)
    js = 0.0
    for key in p.keys() | q.keys():
        a, b = p.get(key, 0) / total_p, q.get(key, 0) / total_q
        m = (a + b) / 2
        js += 0.5 * (a * math.log(a / m) if a else 0.0) + 0.5 * (b * math.log(b / m) if b else 0.0)
    return js


class NgramMaxima:
    """What BLEU needs of a fixed set of references, counted once: for each n-gram its largest
    count in any one reference, how many references reach that count and the runner-up count
    (the largest once one of those is left out, for self-BLEU), and the references' lengths.
    BLEU of H hypotheses against R references then costs O((H + R) T), not NLTK's O(H R T)."""

    def __init__(self, references: list[Sequence], max_n: int):
        self.lengths = Counter(len(r) for r in references)
        self.top: list[dict] = [{} for _ in range(max_n + 1)]  # order n: n-gram -> [largest, how many, runner-up]
        for reference in references:
            for n in range(1, max_n + 1):
                for gram, count in ngrams(reference, n).items():
                    entry = self.top[n].setdefault(gram, [0, 0, 0])
                    if count > entry[0]:
                        entry[:] = [count, 1, entry[0]]
                    elif count == entry[0]:
                        entry[1] += 1
                    elif count > entry[2]:
                        entry[2] = count

    def largest(self, gram: tuple, n: int, own: int | None = None) -> int:
        """The largest count of `gram` in one reference; with `own` (its count in a reference
        left out), the largest among the others."""
        entry = self.top[n].get(gram)
        if entry is None:
            return 0
        if own is not None and own == entry[0] and entry[1] == 1:
            return entry[2]
        return entry[0]

    def closest_length(self, length: int, own: int | None = None) -> int:
        """The reference length closest to `length`, the shorter on a tie (NLTK's closest_ref_length);
        with `own`, one reference of that length left out."""
        lengths = [r for r, k in self.lengths.items() if k > (1 if r == own else 0)]
        return min(lengths, key=lambda r: (abs(r - length), r))

    def sentence_bleu(self, hypothesis: Sequence, n: int, leave_out: bool = False) -> float:
        """NLTK's sentence_bleu of one hypothesis against every reference (weights 1/n each,
        smoothing method 1), or, with leave_out, against every reference but one copy of the
        hypothesis itself (which must be one of the references)."""
        log_sum, first_matches = 0.0, 0
        for order in range(1, n + 1):
            counts = ngrams(hypothesis, order)
            clipped = sum(min(c, self.largest(g, order, c if leave_out else None)) for g, c in counts.items())
            denominator = max(1, sum(counts.values()))
            if order == 1:
                first_matches = clipped
            p = clipped / denominator if clipped else 0.1 / denominator  # method1: epsilon 0.1 for no match
            log_sum += math.log(p) / n
        if first_matches == 0:
            return 0.0
        length = len(hypothesis)
        closest = self.closest_length(length, length if leave_out else None)
        penalty = 1.0 if length > closest else (0.0 if length == 0 else math.exp(1 - closest / length))
        return penalty * math.exp(log_sum)


def bleu(hypotheses: list[list], references: list[list], n: int = 4) -> float:
    """Mean sentence BLEU-n of each hypothesis against all references: NLTK's sentence_bleu with
    smoothing method 1, computed from the references' n-gram maxima (NgramMaxima)."""
    hypotheses = [h for h in hypotheses if h]
    references = [r for r in references if r]
    if not hypotheses or not references:
        return 0.0
    table = NgramMaxima(references, n)
    return sum(table.sentence_bleu(h, n) for h in hypotheses) / len(hypotheses)


def self_bleu(hypotheses: list[list], n: int = 4) -> float:
    """Mean BLEU-n of each hypothesis against all the others: how much the samples repeat each other."""
    hypotheses = [h for h in hypotheses if h]
    if len(hypotheses) < 2:
        return 0.0
    table = NgramMaxima(hypotheses, n)
    return sum(table.sentence_bleu(h, n, leave_out=True) for h in hypotheses) / len(hypotheses)


def mmd_with_scale(samples: torch.Tensor, reference: torch.Tensor) -> dict:
    """mmd of sample features against held-out ones, and mmd_reference: that of as many
    held-out rows (the last ones) against the rest, the value a perfect generator would
    show at this sample size (small samples bias the clamped square root upwards)."""
    n = min(len(samples), len(reference) // 2)
    return {
        "mmd": feature_mmd(samples, reference),
        "mmd_reference": feature_mmd(reference[len(reference) - n :], reference[: len(reference) - n]),
    }


def unigram_features(sequences: list[Sequence], vocabulary: list) -> torch.Tensor:
    """Per-sequence unigram frequencies over `vocabulary`: (N, V), rows sum to 1 (0 when empty)."""
    index = {token: i for i, token in enumerate(vocabulary)}
    features = torch.zeros(len(sequences), len(vocabulary))
    for row, tokens in enumerate(sequences):
        for token, count in Counter(tokens).items():
            if token in index:
                features[row, index[token]] = count
    return features / features.sum(1, keepdim=True).clamp(min=1)


def first_tokens(sequences: list[Sequence], total: int) -> list[Sequence]:
    """The leading sequences holding `total` tokens (the last one cut), so distinct-n, which
    falls as text grows, compares samples with as much held-out data."""
    out = []
    for tokens in sequences:
        if total <= 0:
            break
        out.append(tokens[:total])
        total -= len(out[-1])
    return out


def _sequence_statistics(samples, reference, sample_sentences, reference_sentences) -> dict:
    out = {}
    same_size = first_tokens(reference, sum(len(s) for s in samples))
    for n in ORDERS:
        out[f"distinct_{n}"] = distinct_n(samples, n)
        out[f"distinct_{n}_reference"] = distinct_n(same_size, n)
        out[f"js_{n}gram_nats"] = js_divergence(ngram_table(samples, n), ngram_table(reference, n))
    hypotheses = sample_sentences[:MAX_SENTENCES]
    # the same statistics of held-out sentences, for scale: the last ones against the first
    split = len(reference_sentences) - min(len(hypotheses), len(reference_sentences) // 2)
    held_out, references = reference_sentences[split:], reference_sentences[:split][: 5 * MAX_SENTENCES]
    for n in BLEU_ORDERS:
        out[f"bleu_{n}"] = bleu(hypotheses, references, n)
        out[f"bleu_{n}_reference"] = bleu(held_out, references, n)
        out[f"self_bleu_{n}"] = self_bleu(hypotheses, n)
        out[f"self_bleu_{n}_reference"] = self_bleu(held_out, n)
    vocabulary = sorted(ngram_table(samples, 1).keys() | ngram_table(reference, 1).keys())
    vocabulary = [token for (token,) in vocabulary]
    out.update(mmd_with_scale(unigram_features(samples, vocabulary), unigram_features(reference, vocabulary)))
    return out


def text_statistics(samples: list[str], reference: list[str]) -> dict:
    """Statistics of text samples: n-grams of characters, BLEU of words in lines."""

    def sentences(texts):
        return [line.split() for text in texts for line in text.split("\n") if line.strip()]

    return _sequence_statistics(samples, reference, sentences(samples), sentences(reference))


def token_statistics(samples: list[list[int]], reference: list[list[int]]) -> dict:
    """Statistics of token-id samples: n-grams of tokens, each sequence one BLEU sentence."""
    return _sequence_statistics(samples, reference, samples, reference)


def note_lengths(roll: torch.Tensor) -> list[int]:
    """Lengths of the unbroken runs of every pitch in a (T, 88) roll."""
    on = torch.cat([torch.zeros(1, roll.shape[1]), roll.float().round(), torch.zeros(1, roll.shape[1])])
    change = on[1:] - on[:-1]  # (T + 1, 88): +1 at an onset, -1 just past a release
    starts, ends = [], []
    for column in range(roll.shape[1]):
        starts += (change[:, column] > 0).nonzero().flatten().tolist()
        ends += (change[:, column] < 0).nonzero().flatten().tolist()
    return [e - s for s, e in zip(starts, ends)]


def roll_features(roll: torch.Tensor) -> torch.Tensor:
    """Per-roll features for the MMD: pitch-class (12) and polyphony (0..8, 9) distributions."""
    frames = roll.float()
    pitch_class = torch.zeros(12)
    pitch_class.index_add_(0, (torch.arange(roll.shape[1]) + LOWEST_NOTE) % 12, frames.sum(0))
    polyphony = torch.bincount(frames.sum(1).long().clamp(max=8), minlength=9).float()
    return torch.cat([pitch_class / pitch_class.sum().clamp(min=1), polyphony / polyphony.sum().clamp(min=1)])


def roll_statistics(samples: list[torch.Tensor], reference: list[torch.Tensor]) -> dict:
    """samples and reference: lists of (T, 88) binary rolls, MIDI 21 at column 0."""

    def tables(rolls):
        frames = torch.cat([r.float() for r in rolls])  # (sum T, 88)
        polyphony = Counter(frames.sum(1).long().tolist())
        pitch_class = Counter()
        for column, count in enumerate(frames.sum(0).tolist()):
            pitch_class[(column + LOWEST_NOTE) % 12] += count
        lengths = [n for r in rolls for n in note_lengths(r)]
        return float(frames.sum(1).mean()), polyphony, pitch_class, lengths

    s_notes, s_poly, s_pc, s_len = tables(samples)
    r_notes, r_poly, r_pc, r_len = tables(reference)
    return {
        "notes_per_frame": s_notes,
        "notes_per_frame_reference": r_notes,
        "js_polyphony_nats": js_divergence(s_poly, r_poly),
        "js_pitch_class_nats": js_divergence(+s_pc, +r_pc),
        "mean_note_length": sum(s_len) / len(s_len) if s_len else 0.0,
        "mean_note_length_reference": sum(r_len) / len(r_len) if r_len else 0.0,
        "js_note_length_nats": js_divergence(
            Counter(min(n, MAX_NOTE_LENGTH) for n in s_len), Counter(min(n, MAX_NOTE_LENGTH) for n in r_len)
        ),
        **mmd_with_scale(
            torch.stack([roll_features(r) for r in samples]), torch.stack([roll_features(r) for r in reference])
        ),
    }


def sample_statistics(samples: torch.Tensor, data: SequenceData, limit: int = 500) -> dict | None:
    """The statistics above of samples against the first `limit` test sequences, by kind of data:
    text, token ids, or 88-key piano rolls; None for kinds of data they do not cover yet."""
    reference = data.test[:limit]
    vocab = data.spec.vocab
    if data.spec.kind == "categorical" and vocab is not None and all(len(t) == 1 for t in vocab.tokens):
        return text_statistics(
            [vocab.decode(s.tolist()) for s in samples.cpu()], [vocab.decode(r.tolist()) for r in reference]
        )
    if data.spec.kind == "categorical":
        return token_statistics([s.tolist() for s in samples.cpu()], [r.tolist() for r in reference])
    if data.spec.kind == "bernoulli" and data.spec.dim == 88:
        return roll_statistics(list(samples.cpu()), reference)
    return None
