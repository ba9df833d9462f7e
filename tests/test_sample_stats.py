"""Sample statistics against values worked out by hand."""

import math

import pytest
import torch

from zoo.infer.sample_stats import distinct_n, js_divergence, ngrams, roll_statistics, text_statistics


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
