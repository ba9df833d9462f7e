"""Sample statistics against values worked out by hand."""

import math

import pytest
import torch

from zoo.estimators.mmd import mmd2
from zoo.evaluation.sample_stats import (
    bleu,
    distinct_n,
    js_divergence,
    ngrams,
    note_lengths,
    roll_statistics,
    self_bleu,
    text_statistics,
    token_statistics,
)


def test_distinct_n_counts_unique_ngrams():
    assert distinct_n(["abab"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["aaaa"], 1) == pytest.approx(1 / 4)


def test_js_divergence_is_zero_for_equal_and_ln2_for_disjoint_tables():
    assert js_divergence(ngrams("abcabc", 1), ngrams("cba", 1)) == pytest.approx(0.0)
    assert js_divergence(ngrams("aaa", 1), ngrams("bbb", 1)) == pytest.approx(math.log(2))
    # p = (1, 0), q = (1/2, 1/2): JS = 1/2 KL(p || m) + 1/2 KL(q || m) with m = (3/4, 1/4)
    expected = 0.5 * math.log(4 / 3) + 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2))
    assert js_divergence(ngrams("aa", 1), ngrams("ab", 1)) == pytest.approx(expected)


def test_text_statistics_of_held_out_text_against_itself():
    stats = text_statistics(["to be or not to be"], ["to be or not to be"])
    assert stats["js_2gram_nats"] == pytest.approx(0.0)
    assert stats["distinct_1"] == stats["distinct_1_reference"]


def test_roll_statistics():
    chord = torch.zeros(4, 88)
    chord[:, [39, 43, 46]] = 1  # C4 E4 G4: three notes per frame, pitch classes 0, 4, 7
    stats = roll_statistics([chord], [chord])
    assert stats["notes_per_frame"] == 3 and stats["js_polyphony_nats"] == pytest.approx(0.0)
    silence = torch.zeros(4, 88)
    assert roll_statistics([silence], [chord])["js_pitch_class_nats"] == pytest.approx(math.log(2))


def test_ngrams_of_token_ids_match_those_of_characters():
    assert distinct_n([[0, 1, 0, 1]], 2) == distinct_n(["abab"], 2)
    assert js_divergence(ngrams([1, 2, 3], 1), ngrams("abc", 1)) == pytest.approx(math.log(2))  # no shared keys


def test_bleu_is_one_for_a_copy_of_a_reference_and_low_for_unseen_words():
    references = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "ran", "in", "the", "park"]]
    assert bleu([references[0]], references) == pytest.approx(1.0)
    assert bleu([["zebra", "quartz", "lamp", "moon", "fig", "owl"]], references) < 0.05


def test_self_bleu_is_one_when_samples_repeat_and_falls_when_they_differ():
    same = [["to", "be", "or", "not", "to", "be"]] * 3
    assert self_bleu(same) == pytest.approx(1.0)
    varied = [["to", "be", "or", "not", "to", "be"], ["what", "light", "through", "yonder", "window", "breaks"]]
    assert self_bleu(varied) < 0.1


def test_token_statistics_of_held_out_tokens_against_themselves():
    held_out = [[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8], [1, 4, 1, 4, 2, 1, 3, 5]]
    stats = token_statistics(held_out, held_out + held_out)  # the first three are the BLEU references
    assert stats["js_3gram_nats"] == pytest.approx(0.0)
    assert stats["bleu_4"] == pytest.approx(1.0) and stats["bleu_4_reference"] == pytest.approx(1.0)
    assert stats["mmd"] == pytest.approx(0.0, abs=1e-6)  # unbiased MMD^2 of a set against itself is <= 0
    other = token_statistics([[0, 0, 0, 0, 0, 0, 0, 0]] * 3, held_out)
    assert other["mmd"] > 0.1 and other["distinct_1"] == pytest.approx(1 / 24)


def test_note_lengths_are_the_unbroken_runs_of_each_pitch():
    roll = torch.zeros(6, 88)
    roll[0:3, 40] = 1  # one note of 3 frames
    roll[4:6, 40] = 1  # the same pitch again, 2 frames, after a rest
    roll[:, 50] = 1  # 6 frames
    assert sorted(note_lengths(roll)) == [2, 3, 6]
    stats = roll_statistics([roll], [roll])
    assert stats["mean_note_length"] == pytest.approx(11 / 3) and stats["js_note_length_nats"] == 0.0
    staccato = torch.zeros(6, 88)
    staccato[::2, 40] = 1
    assert roll_statistics([staccato], [roll])["js_note_length_nats"] > 0.3


def test_mmd_is_unbiased_near_zero_for_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g)
    same = mmd2(x, y, [0.5, 1.0, 2.0]).item()
    shifted = mmd2(x, y + 1.0, [0.5, 1.0, 2.0]).item()
    assert abs(same) < 0.01 and shifted > 20 * abs(same)
    # one point each side, one bandwidth: MMD^2 needs two, and says so
    with pytest.raises(ValueError, match="at least two"):
        mmd2(x[:1], y[:1], [1.0])


def test_mmd_of_two_point_sets_matches_the_kernel_sums_by_hand():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [3.0]])
    k = lambda d: math.exp(-(d**2) / 2)  # one bandwidth, s = 1
    expected = k(1) + k(3) - 2 * (k(0) + k(3) + k(1) + k(2)) / 4
    assert mmd2(x, y, [1.0]).item() == pytest.approx(expected)


def test_bleu_and_self_bleu_equal_nltks_sentence_bleu_on_ragged_token_sequences():
    """The n-gram maxima are counted once over the references; the figures are NLTK's to the last
    bit or so, short sequences, repeated n-grams and a hypothesis that copies a reference included."""
    import random

    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    rng = random.Random(0)
    smooth = SmoothingFunction().method1

    def sequences(k, vocabulary):
        return [[rng.randrange(vocabulary) for _ in range(rng.randint(1, 9))] for _ in range(k)]

    for vocabulary in (3, 20):
        references = sequences(12, vocabulary)
        hypotheses = sequences(10, vocabulary) + references[:2]
        for n in (1, 2, 4, 5):
            weights = (1 / n,) * n
            nltk = sum(sentence_bleu(references, h, weights, smooth) for h in hypotheses) / len(hypotheses)
            assert bleu(hypotheses, references, n) == pytest.approx(nltk, abs=1e-12)
            others = [
                sentence_bleu(hypotheses[:i] + hypotheses[i + 1 :], h, weights, smooth)
                for i, h in enumerate(hypotheses)
            ]
            assert self_bleu(hypotheses, n) == pytest.approx(sum(others) / len(others), abs=1e-12)
