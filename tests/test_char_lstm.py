"""char_lstm: its log-likelihood is exact, masks change nothing, sampling continues a prime."""

import pyro.poutine as poutine
import pytest
import torch
import torch.nn.functional as F

from tests.helpers import toy_rolls, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.models.char_lstm import CharLSTM


@pytest.fixture
def text():
    return toy_text()


def hand_cross_entropy(model: CharLSTM, seq: torch.Tensor) -> torch.Tensor:
    """sum_t -log softmax(W h_t)[x_t], running the LSTM by hand from a zero start input."""
    one_hot_embed = model.emitter.embed.weight  # (V, E)
    inputs = torch.cat([torch.zeros(1, one_hot_embed.shape[1]), one_hot_embed[seq[:-1]]])  # (T, E)
    h, _ = model.lstm(inputs[None])  # (1, T, H)
    logits = model.emitter.output(h[0])  # (T, V)
    return F.cross_entropy(logits, seq, reduction="sum")


def test_log_prob_is_the_hand_computed_cross_entropy(text):
    torch.manual_seed(0)
    model = CharLSTM(text.spec, hidden_size=16)
    batch = collate(text.train[:5])
    log_p = model.log_prob(batch)
    expected = torch.stack([-hand_cross_entropy(model, s) for s in text.train[:5]])
    torch.testing.assert_close(log_p, expected)


def test_pyro_model_scores_the_same_log_likelihood(text):
    torch.manual_seed(0)
    model = CharLSTM(text.spec, hidden_size=16)
    batch = collate(text.train[:5])
    trace = poutine.trace(model).get_trace(batch)
    torch.testing.assert_close(trace.log_prob_sum(), model.log_prob(batch).sum())


def test_minibatch_likelihood_is_scaled_to_the_data_set(text):
    model = CharLSTM(text.spec, hidden_size=8)
    batch = collate(text.train[:3], dataset_size=12)
    trace = poutine.trace(model).get_trace(batch)
    assert trace.nodes["x"]["scale"] == pytest.approx(12 / 3)


@pytest.mark.parametrize("make", [toy_text, toy_rolls])
def test_padding_changes_no_log_probability(make):
    torch.manual_seed(0)
    data = make()
    model = CharLSTM(data.spec, hidden_size=8)
    seqs = data.train[:4]
    together = model.log_prob(collate(seqs))
    alone = torch.cat([model.log_prob(collate([s])) for s in seqs])
    torch.testing.assert_close(together, alone)
    # garbage in the padded steps changes nothing either
    batch = collate(seqs)
    noisy = batch.x.clone()
    noisy[~batch.mask] = 1
    batch.x = noisy
    torch.testing.assert_close(model.log_prob(batch), together)


def test_sample_continues_the_prime_and_respects_the_vocabulary(text):
    torch.manual_seed(0)
    model = CharLSTM(text.spec, hidden_size=8)
    prime = text.spec.vocab.encode("abc")
    out = model.sample(3, 7, prime=prime)
    assert out.shape == (3, 10)
    assert (out[:, :3] == prime).all()
    assert out.min() >= 0 and out.max() < 5


def test_low_temperature_sampling_is_greedy(text):
    torch.manual_seed(0)
    model = CharLSTM(text.spec, hidden_size=8)
    a = model.sample(2, 6, temperature=1e-4)
    b = model.sample(2, 6, temperature=1e-4)
    assert torch.equal(a, b) and torch.equal(a[0], a[1])


def test_piano_roll_samples_are_binary_frames():
    data = toy_rolls()
    model = CharLSTM(data.spec, hidden_size=8)
    out = model.sample(2, 5)
    assert out.shape == (2, 5, data.spec.dim)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_init_scale_draws_every_weight_and_bias_from_one_normal(text):
    """SeqGAN's generator: every parameter ~ N(0, 0.1^2), the embedding (N(0, 1) by default) too."""
    torch.manual_seed(0)
    model = CharLSTM(text.spec, hidden_size=64, embedding_size=32, init_scale=0.1)
    values = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert abs(values.mean()) < 0.005 and abs(values.std() - 0.1) < 0.005
    embedding = model.emitter.embed.weight.detach()
    assert abs(embedding.std() - 0.1) < 0.02  # not PyTorch's N(0, 1)
    assert abs(model.lstm.bias_ih_l0.detach().std() - 0.1) < 0.02  # biases too, not zeros or U(-1/8, 1/8)
    with pytest.raises(ZooError, match=r"model.net.init_scale=0 must be above 0"):
        CharLSTM(text.spec, hidden_size=8, init_scale=0.0)
