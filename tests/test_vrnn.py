"""The VRNN and its guides: site coverage, the state hand-over, KL forms, masks, bounds."""

import pyro
import pyro.poutine as poutine
import pytest
import torch

from guides.vrnn import VRNNFiltering, VRNNSmoothing
from tests.helpers import toy_rolls, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.estimators.importance import chunked_log_weights, iwae_bound, log_weights
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO, IWAE
from zoo.objectives.anneal import ScaleLatents
from zoo.training.sites import check_guide_covers


@pytest.fixture
def rolls():
    return toy_rolls()


@pytest.fixture
def model(rolls):
    torch.manual_seed(0)
    return VRNN(rolls.spec, hidden_size=16, z_size=3)


@pytest.mark.parametrize("make_guide", [VRNNFiltering, VRNNSmoothing])
def test_guides_cover_the_path_site(model, rolls, make_guide):
    check_guide_covers(model, make_guide(model), collate(rolls.train[:3]))


def test_vrnn_guides_refuse_other_models(rolls):
    with pytest.raises(ZooError, match="vrnn"):
        VRNNFiltering(CharLSTM(rolls.spec, hidden_size=4))


def test_the_guide_does_not_own_the_model_parameters(model):
    guide = VRNNFiltering(model)
    model_ids = {id(p) for p in model.parameters()}
    assert not model_ids & {id(p) for p in guide.parameters()}


def test_handing_the_states_over_changes_no_value_or_gradient(model, rolls):
    """The model reusing the filtering guide's h_{t-1} computes what running eq. 7 again computes."""
    batch = collate(rolls.train[:4])
    guide = VRNNFiltering(model)
    params = list(model.parameters()) + list(guide.parameters())

    def loss_and_grads():
        torch.manual_seed(3)
        loss = ELBO(analytic_kl=True)(model, guide, batch)
        return loss, torch.autograd.grad(loss, params)

    calls = []
    model.rnn.register_forward_hook(lambda *a: calls.append(1))
    with_handover = loss_and_grads()
    assert len(calls) == batch.mask.shape[1]  # eq. 7 ran once per step: in the guide only
    remember, model.remember = model.remember, lambda *a: None
    without = loss_and_grads()
    model.remember = remember
    assert len(calls) == 3 * batch.mask.shape[1]
    torch.testing.assert_close(with_handover[0], without[0])
    for a, b in zip(with_handover[1], without[1]):
        torch.testing.assert_close(a, b)


def test_analytic_and_monte_carlo_kl_agree_in_expectation(model, rolls):
    batch = collate(rolls.train[:4])
    guide = VRNNFiltering(model)
    with torch.no_grad():
        mc = torch.stack([ELBO()(model, guide, batch) for _ in range(300)])
        analytic = torch.stack([ELBO(analytic_kl=True)(model, guide, batch) for _ in range(300)])
    assert abs(mc.mean() - analytic.mean()) < 4 * (mc.var() / 300 + analytic.var() / 300).sqrt()
    assert analytic.var() < mc.var()


def test_padding_and_particles_change_no_importance_weight(model, rolls, monkeypatch):
    """With the noise fixed at zero (every z_t at its guide mean), each of a sequence's particles
    in a ragged batch has the weight the sequence has alone."""
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)
    guide = VRNNFiltering(model)
    seqs = rolls.train[:4]
    together = log_weights(model, guide, collate(seqs), 3)  # (3, 4)
    alone = torch.cat([log_weights(model, guide, collate([s]), 1) for s in seqs], 1)  # (1, 4)
    assert len(set(alone[0].tolist())) == 4  # the sequences' weights differ, so a mix-up would show
    torch.testing.assert_close(together, alone.expand(3, -1), atol=1e-4, rtol=1e-5)


def test_importance_weights_average_to_the_elbo_objective_and_iwae_rises_with_k(model, rolls):
    """The mean log weight per sequence, summed over the batch, estimates the ELBO that the
    training objective (Pyro's TraceMeanField_ELBO, with the KL in closed form) estimates too;
    on those weights, IWAE-K of disjoint blocks rises with K."""
    batch = collate(rolls.test)  # dataset_size = batch size: the objective is the batch's -ELBO
    guide = VRNNSmoothing(model)
    torch.manual_seed(0)
    with torch.no_grad():
        log_w = chunked_log_weights(model, guide, batch, 500, chunk=100)  # (500, B)
        objective = torch.stack([ELBO(analytic_kl=True)(model, guide, batch) for _ in range(30)])
    elbo, iwae_500 = log_w.mean(0), iwae_bound(log_w)
    stderr = (log_w.var(0).sum() / 500 + objective.var() / 30).sqrt()
    assert abs(float(elbo.sum() + objective.mean())) < 4 * float(stderr)
    iwae_50 = torch.stack([iwae_bound(block) for block in log_w.split(50)]).mean(0)  # 10 disjoint blocks
    assert (elbo < iwae_50).all() and (iwae_50 <= iwae_500).all()


def test_kl_annealing_weights_only_the_latent_terms(model, rolls):
    """With the same draws, -ELBO(beta) = NLL + beta KL, so it is linear in beta."""
    batch = collate(rolls.train[:4])
    guide = VRNNFiltering(model)
    elbo = ELBO(analytic_kl=True)

    def loss(beta):
        torch.manual_seed(5)
        return elbo.elbo.differentiable_loss(ScaleLatents(beta)(model), ScaleLatents(beta)(guide), batch)

    l0, half, l1 = loss(0.0), loss(0.5), loss(1.0)
    torch.testing.assert_close(half, (l0 + l1) / 2)
    assert l1 > l0  # the KL is positive
    anneal = ELBO(analytic_kl=True, anneal_steps=10)
    torch.manual_seed(5)
    torch.testing.assert_close(anneal(model, guide, batch, step=5), half)


def test_standard_prior_is_vrnn_i(rolls):
    model = VRNN(rolls.spec, hidden_size=8, z_size=3, prior="standard")
    loc, scale = model.prior(torch.randn(2, 5, 8))
    assert (loc == 0).all() and (scale == 1).all()


def test_iwae_objective_is_the_scaled_sum_of_per_sequence_bounds_and_refuses_weight_models(model, rolls):
    """-(N / B) sum_b IWAE-K(x_b), with the bounds of zoo.estimators.importance from the same draws;
    its gradient reaches the model and the guide. Weight latents are shared across sequences,
    so a model with them is refused."""
    from guides.weights import MeanFieldWeights
    from guides.with_weights import WeightsThenLatents
    from zoo.models.bayesian_weights import BayesianWeights

    guide = VRNNFiltering(model)
    batch = collate(rolls.train[:4], dataset_size=8)
    pyro.set_rng_seed(1)
    loss = IWAE(num_particles=3)(model, guide, batch)
    pyro.set_rng_seed(1)
    bounds = iwae_bound(log_weights(model, guide, batch, 3))  # (4,)
    torch.testing.assert_close(loss, -bounds.sum() * 8 / 4)
    loss.backward()
    assert model.phi_prior.loc.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in guide.parameters() if p.requires_grad)
    weighted = BayesianWeights(VRNN(rolls.spec, hidden_size=8, z_size=2))
    both = WeightsThenLatents(weighted, MeanFieldWeights(weighted), VRNNFiltering(weighted.net))
    with pytest.raises(ZooError, match="objective=elbo"):
        IWAE(num_particles=3)(weighted, both, batch)


def test_samples_continue_a_prime(rolls):
    torch.manual_seed(0)
    text = toy_text()
    model = VRNN(text.spec, hidden_size=8, z_size=2)
    prime = text.spec.vocab.encode("ab")
    out = model.sample(3, 6, prime=prime)
    assert out.shape == (3, 8) and (out[:, :2] == prime).all()
    rolls_model = VRNN(rolls.spec, hidden_size=8, z_size=2)
    assert rolls_model.sample(2, 5).shape == (2, 5, rolls.spec.dim)


def test_model_alone_draws_its_path_from_the_prior(model, rolls):
    batch = collate(rolls.train[:2])
    trace = poutine.trace(model).get_trace(batch)
    z = trace.nodes["z"]["value"]
    assert z.shape == (2, batch.mask.shape[1], 3)
    assert torch.isfinite(trace.log_prob_sum())
    pyro.clear_param_store()
