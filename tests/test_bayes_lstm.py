"""bayes_lstm = char_lstm + variational weights: sites, scaling, KL, predictive figures."""

import math
import re

import numpy as np
import pyro
import pyro.poutine as poutine
import pytest
import torch

from guides.empty import NoLatents
from guides.weights import LowRankWeights, MeanFieldWeights
from tests.helpers import toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.evaluation.likelihood import Figure, weight_kl, weight_posterior_nll
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.training.sites import GuideMismatch, check_guide_covers, latent_sites


@pytest.fixture
def data():
    return toy_text()


@pytest.fixture
def model(data):
    torch.manual_seed(0)
    return BayesianWeights(CharLSTM(data.spec, hidden_size=8), prior_scale=0.3)


def test_every_weight_is_one_latent_site(model):
    net_names = {f"w.{n}" for n, _ in model.net.named_parameters()}
    assert set(model.weight_sites) == net_names
    assert set(latent_sites(model, collate(toy_text().train[:2]))) == net_names


def test_the_network_runs_with_the_sampled_weights(model, data):
    """The likelihood under w is the deterministic network's likelihood with its parameters set to w."""
    batch = collate(data.train[:3])
    own = model.net.log_prob(batch)
    weights = MeanFieldWeights(model, init_scale=0.1)()
    expected_net = CharLSTM(data.spec, hidden_size=8)
    expected_net.load_state_dict({n: weights[f"w.{n}"].reshape(p.shape) for n, p in expected_net.named_parameters()})
    with_weights = model.log_prob(batch, weights)
    torch.testing.assert_close(with_weights, expected_net.log_prob(batch))
    assert not torch.allclose(with_weights, own)  # the draw, not the network's own parameters
    # and the wrapped network gets its own parameters back afterwards
    for name, p in model.net.named_parameters():
        assert isinstance(p, torch.nn.Parameter)
    torch.testing.assert_close(model.net.log_prob(batch), own)


@pytest.mark.parametrize("make_guide", [MeanFieldWeights, LowRankWeights])
def test_guides_cover_the_weight_sites(model, data, make_guide):
    check_guide_covers(model, make_guide(model), collate(data.train[:2]))


def test_a_guide_that_misses_sites_is_refused_by_name(model, data):
    class Partial(MeanFieldWeights):
        def forward(self, batch=None):
            return {n: pyro.sample(n, self.distribution(j)) for j, n in enumerate(self.names) if "lstm" in n}

    with pytest.raises(GuideMismatch, match=r"w\.emitter\.output\.weight"):
        check_guide_covers(model, Partial(model), collate(data.train[:2]))
    with pytest.raises(GuideMismatch, match="not covered"):
        check_guide_covers(model, NoLatents(model), collate(data.train[:2]))


def test_weight_guide_on_a_model_without_weights_is_a_clear_error(data):
    with pytest.raises(ZooError, match="bayes_lstm"):
        MeanFieldWeights(CharLSTM(data.spec, hidden_size=8))


def test_likelihood_is_scaled_by_data_set_size_and_the_prior_is_not(model, data):
    batch = collate(data.train[:3], dataset_size=len(data.train))
    guide = MeanFieldWeights(model)
    guide_trace = poutine.trace(guide).get_trace(batch)
    trace = poutine.trace(poutine.replay(model, guide_trace)).get_trace(batch)
    assert trace.nodes["x"]["scale"] == pytest.approx(len(data.train) / 3)
    assert all(s["scale"] == 1.0 for n, s in trace.nodes.items() if n.startswith("w."))


def test_elbo_is_expected_nll_times_scale_plus_kl(model, data):
    """With a guide of tiny spread, -ELBO = -(N/B) log p(x_B | mu) + KL(q || p)."""
    batch = collate(data.train[:3], dataset_size=len(data.train))
    guide = MeanFieldWeights(model, init_scale=1e-6)
    loss = ELBO(analytic_kl=True)(model, guide, batch)
    means = {n: guide.loc[j] for j, n in enumerate(guide.names)}
    nll = -model.log_prob(batch, means).sum() * len(data.train) / 3
    torch.testing.assert_close(loss, nll + weight_kl(model, guide), rtol=1e-4, atol=1e-2)


@torch.no_grad()
def test_analytic_kl_matches_its_monte_carlo_estimate(model):
    guide = MeanFieldWeights(model, init_scale=0.05)
    analytic = weight_kl(model, guide)
    draws = []
    for _ in range(400):
        tr = poutine.trace(guide).get_trace()
        draws.append(
            sum(
                float(s["fn"].log_prob(s["value"]) - model.weight_prior(n).log_prob(s["value"]))
                for n, s in tr.nodes.items()
                if s["type"] == "sample"
            )
        )
    mc = torch.tensor(draws)
    assert abs(mc.mean() - analytic) < 4 * mc.std() / math.sqrt(len(draws))


def test_scale_mixture_prior_density():
    net = CharLSTM(toy_text().spec, hidden_size=4)
    model = BayesianWeights(net, prior="scale_mixture", mixture_scales=(1.0, 0.1), mixture_weight=0.25)
    w = torch.randn(net.emitter.output.bias.numel())
    normal = torch.distributions.Normal
    expected = torch.log(0.25 * normal(0, 1.0).log_prob(w).exp() + 0.75 * normal(0, 0.1).log_prob(w).exp()).sum()
    torch.testing.assert_close(model.weight_prior("w.emitter.output.bias").log_prob(w), expected)


def test_adaptive_prior_fits_graves_closed_form_optimum(data):
    """For a fixed q, maximising the ELBO over the prior's sigma_j gives
    sigma_j^2 = mean_i (mu_i^2 + s_i^2) over tensor j (Graves 2011)."""
    torch.manual_seed(0)
    model = BayesianWeights(CharLSTM(data.spec, hidden_size=6), prior="adaptive", prior_scale=1.0)
    guide = MeanFieldWeights(model, init_scale=0.05).requires_grad_(False)
    optimizer = torch.optim.Adam([model.log_prior_scale], lr=0.05)
    batch = collate(data.train[:2])
    for _ in range(400):
        optimizer.zero_grad()
        ELBO(analytic_kl=True)(model, guide, batch).backward()
        optimizer.step()
    for j, name in enumerate(guide.names):
        mu, s = guide.loc[j], torch.nn.functional.softplus(guide.rho[j])
        optimum = (mu**2 + s**2).mean().sqrt()
        assert float(model.log_prior_scale[j].detach().exp()) == pytest.approx(float(optimum), rel=0.02), name


def test_weight_figures_are_the_mean_and_the_log_mean_of_the_draws_likelihoods(model, data):
    """With the draws w_1..w_S of q(w) that the figures use: -ELBO per step is
    mean_s -sum_i log p(x_i | w_s) plus KL(q || p) per training step, and the posterior
    predictive is -sum_i log mean_s p(x_i | w_s), strictly below the expected NLL when the draws differ."""
    guide = MeanFieldWeights(model, init_scale=0.2)
    torch.manual_seed(1)
    elbo, predictive = weight_posterior_nll(model, guide, data, "test", num_samples=20)
    torch.manual_seed(1)
    batch = collate(data.test)
    with torch.no_grad():
        log_p = torch.stack([model.log_prob(batch, guide()) for _ in range(20)]).double()  # (S, N)
    steps, kl_per_step = batch.num_steps, weight_kl(model, guide) / data.num_steps("train")
    assert elbo.nats_per_step == pytest.approx(-log_p.mean(0).sum().item() / steps + kl_per_step, rel=1e-6)
    log_mean = torch.logsumexp(log_p, 0) - math.log(20)
    assert predictive.nats_per_step == pytest.approx(-log_mean.sum().item() / steps, rel=1e-6)
    assert predictive.nats_per_step < elbo.nats_per_step - kl_per_step  # q(w) has spread: a strict gap


def test_swapping_weights_leaves_the_network_as_it_was(model, data):
    before = [(n, p) for n, p in model.net.named_parameters()]
    batch = collate(data.train[:3])
    log_p = model.net.log_prob(batch)
    model.log_prob(batch, MeanFieldWeights(model, init_scale=0.5)())
    after = [(n, p) for n, p in model.net.named_parameters()]
    assert [n for n, _ in before] == [n for n, _ in after]
    assert all(a is b for (_, a), (_, b) in zip(before, after))
    torch.testing.assert_close(model.net.log_prob(batch), log_p)


def test_figures_carry_a_standard_error_over_sequences():
    nll, lengths = torch.tensor([10.0, 30.0, 20.0]), torch.tensor([5, 10, 10])
    f = Figure.from_sequences("exact", nll, lengths)
    assert f.nats_per_step == pytest.approx(60 / 25)
    residual = nll - 2.4 * lengths
    assert f.stderr == pytest.approx(float(residual.std()) * 3**0.5 / 25)
    single = Figure.from_sequences("exact", nll[:1], lengths[:1])
    assert math.isnan(single.stderr) and single.as_dict()["stderr"] is None


def test_weight_export_takes_float32_draws_that_differ_in_the_last_bits(tmp_path):
    """Two float32 draws 1e-6 apart: ArviZ's density grid would need bins finer than float32 holds."""
    from zoo.reports.weights import weight_posterior

    draws = np.full((2, 3), 0.1, dtype=np.float32)
    draws[1] += np.float32(1e-6)
    table = weight_posterior({"w.a": draws}, tmp_path / "w.nc", tmp_path / "w.png")
    assert (tmp_path / "w.png").exists() and table.count("`w.a[") == 3


def test_the_networks_dropout_acts_in_training_only(data):
    """bayes_lstm with model.net.dropout: under one draw of w, log p(x | w) in training mode is the
    dropout network's (fresh masks, so it moves), in evaluation mode the plain network's."""
    torch.manual_seed(0)
    model = BayesianWeights(CharLSTM(data.spec, hidden_size=8, num_layers=2, dropout=0.5))
    plain = CharLSTM(data.spec, hidden_size=8, num_layers=2).eval()
    batch = collate(data.train[:4])
    w = MeanFieldWeights(model)()
    plain.load_state_dict({name: w[f"w.{name}"].reshape(p.shape) for name, p in plain.named_parameters()})
    model.train()
    dropped = [model.log_prob(batch, w) for _ in range(2)]
    assert not torch.equal(dropped[0], dropped[1])
    model.eval()
    torch.testing.assert_close(model.log_prob(batch, w), plain.log_prob(batch))


@pytest.mark.parametrize(
    "options,fragment",
    [
        ({"prior_scale": 0.0}, "model.weights.prior_scale=0 must be a positive number"),
        ({"prior_scale": -1.0, "prior": "adaptive"}, "model.weights.prior_scale=-1 must be a positive number"),
        ({"mixture_scales": (1.0, 0.0)}, "model.weights.mixture_scales=[1.0, 0.0] must be two positive numbers"),
        ({"mixture_scales": (1.0,)}, "model.weights.mixture_scales=[1.0] must be two positive numbers"),
        ({"mixture_weight": 1.0}, "model.weights.mixture_weight=1 must be above 0 and below 1"),
    ],
)
def test_prior_options_out_of_range_are_refused_by_name(data, options, fragment):
    with pytest.raises(ZooError, match=re.escape(fragment)):
        BayesianWeights(CharLSTM(data.spec, hidden_size=8), **options)
