"""Fortunato et al. 2017 ("Bayesian recurrent neural networks", arXiv 1704.02798) against the
zoo's variational weights: the KL weighted per minibatch (their section 3) and the
initialisation of sigma = softplus(rho) from a range."""

import copy
import math

import pytest
import torch
from torch.nn.functional import softplus

from guides.weights import LowRankWeights, MeanFieldWeights, initial_rho
from tests.helpers import loss_and_draw, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.evaluation.likelihood import weight_kl
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM


@pytest.fixture
def data():
    return toy_text()  # 12 training sequences


@pytest.fixture
def model(data):
    torch.manual_seed(0)
    return BayesianWeights(CharLSTM(data.spec, hidden_size=8), prior_scale=0.3)


def test_a_minibatch_loss_is_C_times_fortunatos_cost(model, data):
    """Fortunato et al., section 3: minibatch b of C = N / B has the cost
    L_b = NLL_b + KL / C. The zoo scales the minibatch's likelihood by N / B, so its loss is
    (N / B) NLL_b + KL = C (NLL_b + KL / C) = C L_b for the same draw of w."""
    N, B = len(data.train), 3
    C = N / B  # 4 minibatches per epoch
    batch = collate(data.train[:B], dataset_size=N)
    guide = MeanFieldWeights(model, init_scale=0.05)
    loss, w = loss_and_draw(model, guide, batch)
    nll = -model.log_prob(batch, w).sum()  # NLL_b, unscaled: a sum over the minibatch's B sequences
    kl = weight_kl(model, guide)  # KL(q(w) || p(w)) in closed form
    torch.testing.assert_close(loss, nll * N / B + kl)
    torch.testing.assert_close(loss, C * (nll + kl / C))


def test_an_epoch_of_fortunatos_costs_is_the_whole_negative_elbo(model, data):
    """Summed over the C minibatches of an epoch (one draw of w for all), L_b = loss_b / C adds up
    to NLL(D) + KL: the KL counted once, as in the -ELBO of the whole data set."""
    N, B = len(data.train), 3
    C = N // B
    guide = MeanFieldWeights(model, init_scale=0.05)
    costs = []
    for b in range(C):
        loss, w = loss_and_draw(model, guide, collate(data.train[b * B : (b + 1) * B], dataset_size=N))
        costs.append(loss / C)
    whole = -model.log_prob(collate(data.train), w).sum() + weight_kl(model, guide)
    torch.testing.assert_close(sum(costs), whole)


def test_adam_takes_the_same_step_on_C_times_the_cost(model, data):
    """A constant factor on the loss leaves Adam's step as it is (up to its epsilon), so training
    on C L_b is training on Fortunato's L_b: no KL weight or per-epoch C is needed."""
    N, B = len(data.train), 3
    batch = collate(data.train[:B], dataset_size=N)
    guides = [MeanFieldWeights(model, init_scale=0.05) for _ in range(2)]
    guides[1].load_state_dict(guides[0].state_dict())
    for guide, factor in zip(guides, (1.0, B / N)):  # the zoo's loss, and L_b = loss / C
        optimizer = torch.optim.Adam(guide.parameters(), lr=1e-2)
        for step in range(3):
            optimizer.zero_grad()
            loss, _ = loss_and_draw(model, guide, batch, seed=step)
            (factor * loss).backward()
            optimizer.step()
    for a, b in zip(guides[0].parameters(), guides[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_single_init_scale_starts_every_sigma_there(model):
    guide = MeanFieldWeights(model, init_scale=0.02)
    for rho in guide.rho:
        torch.testing.assert_close(softplus(rho), torch.full_like(rho, 0.02))


def test_a_range_draws_rho_uniformly_between_the_inverse_softplus_of_its_ends(model):
    """init_scale = [a, b]: rho_i ~ U[softplus^-1(a), softplus^-1(b)] per weight, so every
    sigma_i = softplus(rho_i) lies in [a, b] (Fortunato et al.'s initialisation)."""
    a, b = 0.025, 0.05
    torch.manual_seed(1)
    guide = MeanFieldWeights(model, init_scale=[a, b])
    rho = torch.cat([r.detach() for r in guide.rho])  # (all weights,)
    low, high = (torch.log(torch.expm1(torch.tensor(v))) for v in (a, b))
    assert len(rho) > 500
    assert rho.min() >= low and rho.max() <= high
    sigma = softplus(rho)
    assert sigma.min() >= a * (1 - 1e-6) and sigma.max() <= b * (1 + 1e-6)
    # the empirical distribution function of rho against the uniform one: Kolmogorov-Smirnov
    u = ((rho - low) / (high - low)).sort().values
    ecdf = torch.arange(1, len(u) + 1) / len(u)
    assert float((ecdf - u).abs().max()) < 1.63 / len(u) ** 0.5  # the 1% critical value
    assert MeanFieldWeights(model, init_scale=[a, b]).rho[0].std() > 0  # a draw per weight, not per tensor


def test_a_range_from_the_prior_scale_mixture_as_fortunato_initialise_the_lstm():
    """Their open-source Penn Treebank code: sigma_p^2 = pi sigma_1^2 + (1 - pi) sigma_2^2, and the
    LSTM's rho between softplus^-1(sigma_p / 4) and softplus^-1(sigma_p / 2)."""
    pi, s1, s2 = 0.25, torch.tensor(-1.0).exp(), torch.tensor(-7.0).exp()
    sigma_p = float((pi * s1**2 + (1 - pi) * s2**2).sqrt())
    like = torch.zeros(5000)
    torch.manual_seed(0)
    sigma = softplus(initial_rho([sigma_p / 4, sigma_p / 2], like))
    assert sigma.min() >= sigma_p / 4 * (1 - 1e-6) and sigma.max() <= sigma_p / 2 * (1 + 1e-6)
    # this far below 1, softplus(rho) ~ e^rho: sigma is nearly log-uniform, of mean (b - a) / ln(b / a)
    assert sigma.mean() == pytest.approx((sigma_p / 4) / math.log(2), rel=0.02)


def test_the_low_rank_guide_takes_a_range_too(model):
    guide = LowRankWeights(model, rank=2, init_scale=[0.01, 0.03])
    sigma = torch.cat([softplus(r.detach()) for r in guide.rho])
    assert 0.01 * (1 - 1e-6) <= sigma.min() and sigma.max() <= 0.03 * (1 + 1e-6)


@pytest.mark.parametrize("bad", [0, -0.1, [0.2, 0.1], [0.0, 0.1], [0.1], [0.1, 0.2, 0.3], "wide"])
def test_an_init_scale_that_is_no_spread_is_refused_by_name(model, bad):
    with pytest.raises(ZooError, match=r"weight_guide\.init_scale=.* must be a positive number or a range"):
        MeanFieldWeights(model, init_scale=bad)


def test_the_default_guides_draw_nothing_at_initialisation(model):
    """A single init_scale draws no random numbers, so runs made before ranges existed start where they did."""
    torch.manual_seed(3)
    before = torch.get_rng_state()
    copy.deepcopy(MeanFieldWeights(model))
    assert torch.equal(before, torch.get_rng_state())
