"""Variational weights around a model with latents of its own: the VRNN with q(w) q(z | x, w)."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from guides.vrnn import VRNNFiltering
from guides.weights import MeanFieldWeights
from guides.with_weights import WeightsThenLatents
from tests.helpers import toy_rolls
from zoo.data.batch import collate
from zoo.estimators.importance import iwae_bound
from zoo.estimators.mmd import mmd2
from zoo.evaluation.likelihood import held_out_figures, latent_log_weights, weight_kl
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.vrnn import VRNN
from zoo.nn.swap import swap_parameters
from zoo.objectives import ELBO
from zoo.training.sites import check_guide_covers, latent_sites


@pytest.fixture
def rolls():
    return toy_rolls()


def bayes_vrnn(rolls, init_scale=0.05):
    torch.manual_seed(0)
    model = BayesianWeights(VRNN(rolls.spec, hidden_size=12, z_size=3), prior_scale=0.5)
    guide = WeightsThenLatents(model, MeanFieldWeights(model, init_scale=init_scale), VRNNFiltering(model.net))
    return model, guide


def test_the_combined_guide_covers_weight_and_state_sites(rolls):
    model, guide = bayes_vrnn(rolls)
    batch = collate(rolls.train[:3])
    check_guide_covers(model, guide, batch)
    sites = latent_sites(guide, batch)
    assert "z" in sites and {f"w.{n}" for n, _ in model.net.named_parameters()} <= sites.keys()
    assert guide().keys() == model.weight_sites.keys()  # without a batch: w alone


def test_the_latent_guide_runs_on_the_drawn_weights(rolls):
    """q(z | x, w) must see w, not the network's stored parameters: z's mean moves with w."""
    model, guide = bayes_vrnn(rolls, init_scale=1.0)
    batch = collate(rolls.train[:3])
    locs = []
    for seed in (0, 1):
        pyro.set_rng_seed(seed)
        trace = pyro.poutine.trace(guide).get_trace(batch)
        locs.append(trace.nodes["z"]["fn"].loc)
    assert not torch.allclose(locs[0], locs[1])


def test_the_weight_kl_counts_once_per_data_set(rolls):
    """-ELBO(N) = KL(q(w) || p(w)) + (N / B) sum_b -ELBO_b(z | w): the minibatch plate scales
    the per-sequence terms alone."""
    model, guide = bayes_vrnn(rolls)
    elbo = ELBO(analytic_kl=True)

    def loss(dataset_size):
        batch = collate(rolls.train[:4], dataset_size=dataset_size)
        pyro.set_rng_seed(3)
        return elbo(model, guide, batch).item()

    per_sequence_terms = (loss(40) - loss(20)) / (20 / 4)  # sum over the batch of -ELBO_b
    kl_w = loss(20) - (20 / 4) * per_sequence_terms
    assert kl_w == pytest.approx(weight_kl(model, guide), rel=1e-4)


def test_with_a_point_mass_q_w_the_figures_are_the_networks_elbo_and_iwae(rolls):
    """With q(w) all but a point at its means, every draw w_s is that point: the predictive
    figure is -IWAE-K of the VRNN with those weights (3 draws of 400 particles: K = 1200), and
    the -ELBO figure is the VRNN's -ELBO plus KL(q(w) || p(w)) per training step."""
    model, guide = bayes_vrnn(rolls, init_scale=1e-8)
    torch.manual_seed(0)
    figures = held_out_figures(model, guide, rolls, "test", num_samples=3, num_particles=400, batch_size=8)
    assert [f.kind for f in figures] == ["-ELBO", "posterior predictive (S=3, IWAE K=400)"]
    means = {site: loc for site, loc in zip(guide.weights.names, guide.weights.loc)}
    with torch.no_grad(), swap_parameters(model.net, model.parameters_from_sites(means)):
        log_w = latent_log_weights(model.net, guide.latents, rolls, "test", num_particles=1200, batch_size=8)
    steps = sum(len(s) for s in rolls.test)
    direct = -iwae_bound(log_w).sum().item() / steps
    assert figures[1].nats_per_step == pytest.approx(direct, abs=0.02)
    elbo = -log_w.mean(0).sum().item() / steps + weight_kl(model, guide) / rolls.num_steps("train")
    assert figures[0].nats_per_step == pytest.approx(elbo, abs=0.03)  # 4 standard errors


def test_the_state_regulariser_with_weight_zero_is_the_elbo(rolls):
    from zoo.objectives.state_regulariser import StateRegularisedELBO

    torch.manual_seed(0)
    model = VRNN(rolls.spec, hidden_size=12, z_size=3)
    guide = VRNNFiltering(model)
    batch = collate(rolls.train[:4], dataset_size=8)
    pyro.set_rng_seed(1)
    plain = ELBO(analytic_kl=True)(model, guide, batch)
    pyro.set_rng_seed(1)
    assert StateRegularisedELBO("mmd", weight=0.0, analytic_kl=True)(model, guide, batch).item() == pytest.approx(
        plain.item()
    )


@pytest.mark.parametrize("kind", ["mmd", "aae"])
def test_the_state_regulariser_pulls_the_guide_towards_the_prior(rolls, kind):
    """The extra term has gradients in the guide, and a few steps on it alone bring the
    posterior's pooled draws closer to the prior's (measured by MMD on fresh draws)."""
    from zoo.objectives.state_regulariser import StateRegularisedELBO

    torch.manual_seed(0)
    model = VRNN(rolls.spec, hidden_size=12, z_size=2)
    guide = VRNNFiltering(model)
    with torch.no_grad():
        guide.phi_enc[1].loc.bias.fill_(3.0)  # q's draws start far from the prior's
    batch = collate(rolls.train, dataset_size=len(rolls.train))
    objective = StateRegularisedELBO(kind, weight=1.0, analytic_kl=True)

    def distance():
        pyro.set_rng_seed(5)
        guide_trace = pyro.poutine.trace(guide).get_trace(batch)
        model_trace = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_trace)).get_trace(batch)
        z_q, z_p = objective.state_draws(model_trace, guide_trace, batch)
        return mmd2(z_q.detach(), z_p.detach(), [1.0]).item()

    before = distance()
    optimizer = torch.optim.Adam(guide.parameters(), lr=0.05)
    for i in range(30):
        optimizer.zero_grad()
        pyro.set_rng_seed(i)  # the same draws of z in both, so the difference is the extra term alone
        regularised = objective(model, guide, batch)
        pyro.set_rng_seed(i)
        (regularised - ELBO(analytic_kl=True)(model, guide, batch)).backward()
        optimizer.step()
    assert distance() < 0.5 * before


def test_the_state_regulariser_refuses_a_model_without_a_state_path(rolls):
    from guides.empty import NoLatents
    from zoo.errors import ZooError
    from zoo.models.char_lstm import CharLSTM
    from zoo.objectives.state_regulariser import StateRegularisedELBO

    model = CharLSTM(rolls.spec, hidden_size=4)
    with pytest.raises(ZooError, match="model=vrnn"):
        StateRegularisedELBO("mmd")(model, NoLatents(model), collate(rolls.train[:2]))


def test_the_state_kl_uses_the_drawn_weights_not_the_networks_stored_ones(rolls):
    """The ELBO's KL(q(z) || p(z | w)) is evaluated after the model has run and w has been
    swapped out again: the prior's parameters must be those computed with w in place."""
    from torch.distributions import kl_divergence

    model, guide = bayes_vrnn(rolls, init_scale=0.3)
    with torch.no_grad():
        for loc in guide.weights.loc:
            loc.add_(0.5 * torch.randn_like(loc))  # means far from the network's stored values
    batch = collate(rolls.train[:4])
    guide_trace = pyro.poutine.trace(guide).get_trace(batch)
    model_trace = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_trace)).get_trace(batch)
    q, p = guide_trace.nodes["z"]["fn"], model_trace.nodes["z"]["fn"]
    after = kl_divergence(q, p)
    w = {site: guide_trace.nodes[site]["value"] for site in guide.weights.names}
    with swap_parameters(model.net, model.parameters_from_sites(w)):
        loc, scale = model.net.prior(model.net.states(batch.x, model.net.features(batch.x), q.z))
        within = kl_divergence(dist.Normal(q.loc, q.scale), dist.Normal(loc, scale)).sum(-1)
    assert torch.allclose(after, (within * batch.mask).sum(-1), atol=1e-4)


def test_an_autoencoder_with_variational_weights_reports_reconstruction_figures(rolls):
    from guides.empty import NoLatents
    from zoo.models.seq_ae import SeqAE

    torch.manual_seed(0)
    model = BayesianWeights(SeqAE(rolls.spec, hidden_size=8))
    guide = WeightsThenLatents(model, MeanFieldWeights(model), NoLatents(model.net))
    figures = held_out_figures(model, guide, rolls, "test", num_samples=2, num_particles=50, batch_size=8)
    assert [f.kind for f in figures] == ["-ELBO of the reconstruction", "reconstruction posterior predictive (S=2)"]
