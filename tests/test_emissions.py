"""Emitters p(x_t | h_t): their densities against the formulas, written out by hand."""

import math

import pyro
import pytest
import torch

from guides.empty import NoLatents
from guides.vrnn import VRNNFiltering
from tests.helpers import toy_rolls
from zoo.data.batch import collate
from zoo.data.dataset import DataSpec, SequenceData
from zoo.errors import ZooError
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN
from zoo.nn.emissions import BernoulliEmitter, GaussianEmitter, GaussianMixtureEmitter, make_emitter
from zoo.objectives import ELBO


def test_bernoulli_log_prob_is_the_binary_cross_entropy():
    torch.manual_seed(0)
    emitter = BernoulliEmitter(4, 3)
    h, x = torch.randn(2, 5, 3), (torch.rand(2, 5, 4) < 0.5).float()
    p = torch.sigmoid(emitter.output(h))
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum(-1)
    torch.testing.assert_close(emitter(h).log_prob(x), expected)


def test_gaussian_log_prob_is_the_diagonal_normal_density():
    torch.manual_seed(0)
    emitter = GaussianEmitter(3, 4)
    h, x = torch.randn(2, 5, 4), torch.randn(2, 5, 3)
    d = emitter(h)
    mu, sigma = d.base_dist.loc, d.base_dist.scale
    expected = (-0.5 * ((x - mu) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(d.log_prob(x), expected)


def test_mixture_log_prob_is_the_log_of_the_weighted_sum():
    torch.manual_seed(0)
    emitter = GaussianMixtureEmitter(2, 4, components=3)
    h, x = torch.randn(5, 4), torch.randn(5, 2)
    d = emitter(h)
    pi = torch.softmax(emitter.logits(h), -1)  # (5, 3)
    mu = emitter.loc(h).reshape(5, 3, 2)
    sigma = torch.nn.functional.softplus(emitter.scale(h)).reshape(5, 3, 2) + emitter.min_scale
    density = torch.exp(-0.5 * ((x[:, None] - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    expected = torch.log((pi * density.prod(-1)).sum(-1))
    torch.testing.assert_close(d.log_prob(x), expected)


def test_lower_temperature_narrows_the_gaussian():
    emitter = GaussianEmitter(2, 3)
    h = torch.randn(4, 3)
    assert (emitter(h, 0.5).base_dist.scale < emitter(h).base_dist.scale).all()


def test_an_emission_that_cannot_model_the_data_is_refused():
    with pytest.raises(ZooError, match="cannot model bernoulli"):
        make_emitter(DataSpec("bernoulli", 4), 8, "gmm")
    with pytest.raises(ZooError, match="not one of"):
        make_emitter(DataSpec("real", 4), 8, "laplace")


@pytest.mark.parametrize("emission", ["gaussian", "gmm"])
@pytest.mark.parametrize("make_model", [CharLSTM, VRNN])
def test_real_frames_train_and_sample(emission, make_model):
    """Frames near {0, 1}^6: a few Adam steps on the -ELBO (for char_lstm, -log p(x) exactly)
    lower it by more than a nat per step, and samples are real-valued frames."""
    rolls = toy_rolls()
    frames = [r + 0.1 * torch.randn_like(r) for r in rolls.train]
    data = SequenceData("real", DataSpec("real", rolls.spec.dim), frames, frames[:2], frames[2:4])
    model = make_model(data.spec, hidden_size=8, emission=emission, components=2)
    guide = VRNNFiltering(model) if make_model is VRNN else NoLatents(model)
    batch = collate(data.train)
    objective = ELBO(analytic_kl=True)

    def nats_per_step():
        pyro.set_rng_seed(0)  # the same draws of z before and after training
        with torch.no_grad():
            return objective(model, guide, batch).item() / batch.num_steps

    before = nats_per_step()
    if make_model is CharLSTM:
        assert before == pytest.approx(-model.log_prob(batch).sum().item() / batch.num_steps, rel=1e-5)
    optimizer = torch.optim.Adam([*model.parameters(), *guide.parameters()], lr=0.03)
    for _ in range(20):
        optimizer.zero_grad()
        objective(model, guide, batch).backward()
        optimizer.step()
    assert nats_per_step() < before - 1.0
    samples = model.sample(2, 4)
    assert samples.shape == (2, 4, data.spec.dim) and torch.isfinite(samples).all()
    assert not torch.equal(samples, samples.round())  # real values, not binary notes


def test_nade_is_normalised_and_matches_its_definition():
    import itertools

    from zoo.nn.nade import NADEEmitter

    torch.manual_seed(0)
    D = 4
    emitter = NADEEmitter(D, hidden_size=3, nade_hidden=5).double()
    with torch.no_grad():
        emitter.W.normal_()
        emitter.V.normal_()
    h = torch.randn(2, 3, dtype=torch.float64)
    p = emitter(h)
    frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=D)), dtype=torch.float64)  # (16, D)
    log_p = p.log_prob(frames[:, None, :])  # (16, 2)
    assert torch.allclose(log_p.exp().sum(0), torch.ones(2, dtype=torch.float64))  # sums to 1 over all frames
    b, c = emitter.b(h), emitter.c(h)  # the definition, note by note, for one frame
    x = frames[11]
    expected = torch.zeros(2, dtype=torch.float64)
    for d in range(D):
        a = c + emitter.W[:, :d] @ x[:d]
        p_d = torch.sigmoid(b[:, d] + torch.sigmoid(a) @ emitter.V[d])
        expected += torch.log(p_d if x[d] == 1 else 1 - p_d)
    assert torch.allclose(p.log_prob(x), expected)
    draws = p.sample((20000,))[:, 0]  # frequencies of the 16 frames against their probabilities
    index = (draws * 2 ** torch.arange(D - 1, -1, -1)).sum(-1).long()
    freq = torch.bincount(index, minlength=16).double() / len(index)
    assert torch.allclose(freq, log_p[:, 0].exp(), atol=0.015)
    mode = p.mode[0]
    assert mode.shape == (D,) and set(mode.tolist()) <= {0.0, 1.0}


def test_nade_serves_char_lstm_and_vrnn_on_piano_rolls():
    from tests.helpers import toy_rolls
    from zoo.data.batch import collate
    from zoo.models.char_lstm import CharLSTM
    from zoo.models.vrnn import VRNN

    data = toy_rolls()
    batch = collate(data.train[:3])
    lstm = CharLSTM(data.spec, hidden_size=8, emission="nade", components=6)
    assert lstm.log_prob(batch).shape == (3,) and (lstm.log_prob(batch) < 0).all()
    assert lstm.sample(2, 4).shape == (2, 4, data.spec.dim)
    vrnn = VRNN(data.spec, hidden_size=8, z_size=2, emission="nade")
    assert vrnn.sample(2, 4).shape == (2, 4, data.spec.dim)


def test_gumbel_max_draws_follow_the_softmax():
    import pyro.distributions as dist

    from zoo.nn.emissions import draw_sample

    torch.manual_seed(0)
    logits = torch.tensor([2.0, 0.0, -1.0, 1.0])
    draws = draw_sample(dist.Categorical(logits=logits.expand(100_000, 4)))
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    assert torch.allclose(freq, torch.softmax(logits, 0), atol=0.006)


def test_nade_logits_note_by_note_equal_the_cumulative_sum_of_every_note_at_once():
    from zoo.nn.nade import NADEEmitter

    torch.manual_seed(1)
    emitter = NADEEmitter(6, hidden_size=3, nade_hidden=4).double()
    h = torch.randn(2, 5, 7, 3, dtype=torch.float64)  # two particles of each row of x
    x = (torch.rand(5, 7, 6) < 0.4).double()
    p = emitter(h)
    contribution = x[..., :, None] * p.W.T  # x_d W_{:, d}: (5, 7, D, H')
    a = p.c[..., None, :] + torch.cumsum(contribution, -2) - contribution  # c + sum_{j<d}: (2, 5, 7, D, H')
    expected = p.b + (torch.sigmoid(a) * p.V).sum(-1)
    assert p.logits(x).shape == (2, 5, 7, 6)
    assert torch.allclose(p.logits(x), expected)
    assert torch.allclose(p.logits_at_once(x), expected)  # the GPU's way
