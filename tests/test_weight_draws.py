"""K draws of w per training minibatch (model.weights.draws): each group of sequences is scored
under its own w_k ~ q(w), and the -ELBO estimate keeps its expectation with less spread."""

import re

import pyro.poutine as poutine
import pytest
import torch
from torch import nn

from guides.bernoulli import BernoulliWeights
from guides.empty import NoLatents
from guides.weights import LowRankWeights, MeanFieldWeights
from guides.with_weights import WeightsThenLatents
from tests.helpers import composed, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.run import build_model
from zoo.training.distributed import World
from zoo.training.trainer import Trainer, TrainOptions


@pytest.fixture
def data():
    return toy_text()


def bayes(data, draws: int) -> BayesianWeights:
    torch.manual_seed(0)  # the same network, so the same means of q, whatever K
    return BayesianWeights(CharLSTM(data.spec, hidden_size=8), prior_scale=0.3, draws=draws)


def with_q(model, make_q=MeanFieldWeights, **options) -> WeightsThenLatents:
    return WeightsThenLatents(model, make_q(model, **options), NoLatents(model.net))


def sites(trace) -> dict[str, torch.Tensor]:
    return {n: s["value"] for n, s in trace.nodes.items() if s["type"] == "sample" and n.startswith("w.")}


@pytest.mark.parametrize("draws", [2, 3, 10])  # 3: groups of 3, 2 and 2; 10 > B = 7: one draw per sequence
def test_with_a_narrow_q_k_draws_give_the_loss_of_one(data, draws):
    """Every draw of a q with spread 1e-8 is its mean, so the K-draw -ELBO (closed-form KL) must
    equal the one-draw one: the groups' likelihoods add up to the minibatch's, scaled by N / B,
    and the K KL terms weighted 1 / K to one KL."""
    batch = collate(data.train[:7], dataset_size=len(data.train))
    one, k = (
        ELBO(analytic_kl=True)(m, with_q(m, init_scale=1e-8), batch) for m in (bayes(data, 1), bayes(data, draws))
    )
    torch.testing.assert_close(k, one, rtol=1e-5, atol=0)


def test_each_group_of_sequences_is_scored_under_its_own_draw(data):
    model = bayes(data, 2)
    guide = with_q(model, init_scale=0.1)
    batch = collate(data.train[:4], dataset_size=len(data.train))
    torch.manual_seed(1)
    guide_trace = poutine.trace(guide).get_trace(batch)
    trace = poutine.trace(poutine.replay(model, guide_trace)).get_trace(batch)
    w = sites(guide_trace)  # {site: (2, numel)}
    assert all(v.shape == (2, model.shapes[n].numel()) for n, v in w.items())
    assert all(s["scale"] == 0.5 for n, s in trace.nodes.items() if n.startswith("w."))  # 1 / K, in the model
    assert all(s["scale"] == 0.5 for n, s in guide_trace.nodes.items() if n.startswith("w."))  # and in the guide
    first, second = ({n: v[k] for n, v in w.items()} for k in (0, 1))
    assert not torch.equal(first["w.lstm.weight_hh_l0"], second["w.lstm.weight_hh_l0"])
    head, tail = batch.split(2)
    x = trace.nodes["x"]
    assert x["scale"] == pytest.approx(len(data.train) / 4)  # N / B, as with one draw
    scored = x["fn"].log_prob(x["value"])  # (B,)
    torch.testing.assert_close(scored, torch.cat([model.log_prob(head, first), model.log_prob(tail, second)]))
    assert not torch.allclose(scored[:2], model.log_prob(head, second))


@torch.no_grad()
@pytest.mark.parametrize(
    "make_q,analytic_kl", [(MeanFieldWeights, True), (LowRankWeights, True), (MeanFieldWeights, False)]
)
def test_k_draws_keep_the_expected_loss_and_cut_its_spread(data, make_q, analytic_kl):
    """The K-draw estimate of the -ELBO has the one-draw estimate's mean (within 4 standard
    errors over 300 draws each) and less variance: one shared draw of w moves every sequence's
    likelihood the same way, and independent draws per group remove that covariance between the
    groups (here about 45% of the variance with K = 4; the 0.75 bound is 2.5 standard errors of
    the log variance ratio above what is measured). With the KL in closed form only the guide's
    1 / K is exercised; the Monte Carlo KL (the default objective) scores log p(w_k) - log q(w_k)
    of every draw, so the model's 1 / K on the prior sites counts too."""
    batch = collate(data.train[:8], dataset_size=len(data.train))

    def losses(draws: int) -> torch.Tensor:
        model = bayes(data, draws)
        guide = with_q(model, make_q, init_scale=0.3)
        torch.manual_seed(2)
        return torch.stack([ELBO(analytic_kl=analytic_kl)(model, guide, batch) for _ in range(300)])

    one, four = losses(1), losses(4)
    standard_error = ((one.var() + four.var()) / 300).sqrt()
    assert abs(one.mean() - four.mean()) < 4 * standard_error
    assert four.var() < 0.75 * one.var()


def test_validation_and_test_draw_one_w_per_minibatch(data):
    model = bayes(data, 4).eval()
    batch = collate(data.train[:8], dataset_size=len(data.train))
    guide_trace = poutine.trace(with_q(model)).get_trace(batch)
    assert all(v.shape == (model.shapes[n].numel(),) for n, v in sites(guide_trace).items())
    trace = poutine.trace(poutine.replay(model, guide_trace)).get_trace(batch)
    assert trace.nodes["x"]["scale"] == pytest.approx(len(data.train) / 8)


def test_bernoulli_q_draws_k_masks(data):
    """Gal & Ghahramani's q(w) with K draws: K masks of the input units, each a column either
    dropped or kept at mu / (1 - p), drawn independently."""
    model = bayes(data, 3)
    q = BernoulliWeights(model, dropout=0.5)
    torch.manual_seed(3)
    w = q(collate(data.train[:6], dataset_size=len(data.train)), draws=3)["w.lstm.weight_ih_l0"]  # (3, numel)
    mu = q.loc[q.names.index("w.lstm.weight_ih_l0")].detach().view(model.shapes["w.lstm.weight_ih_l0"])
    kept = [(w_k.view_as(mu) != 0).any(0) for w_k in w]  # (columns,) each
    for w_k, keep in zip(w, kept):
        torch.testing.assert_close(w_k.view_as(mu), mu * keep / 0.5)
    assert not torch.equal(kept[0], kept[1]) or not torch.equal(kept[1], kept[2])


def test_draws_train_from_the_command_line_config(data, tmp_path):
    """model.weights.draws reaches the model, a few training steps run and lower the loss, and
    the model the trainer leaves in training mode draws three w per minibatch."""
    model = build_model(composed("model=bayes_lstm", "model.weights.draws=3", "model.net.hidden_size=8"), data.spec)
    assert model.draws == 3
    guide = with_q(model, init_scale=0.01)
    options = TrainOptions(max_epochs=3, steps_per_epoch=4, batch_size=6, lr=0.02, progress=False, seed=0)
    history = Trainer(model, guide, ELBO(), data, options, tmp_path).fit()
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert (tmp_path / "best.pt").exists()
    model.train()
    drawn = sites(poutine.trace(guide).get_trace(collate(data.train[:6], dataset_size=len(data.train))))
    assert all(v.shape == (3, model.shapes[n].numel()) for n, v in drawn.items())


@pytest.mark.parametrize(
    "fit,world,fragment",
    [
        ("guide", World(), "model.weights.draws=2 draws w per training minibatch of the model, and train.fit=guide"),
        ("all", World(rank=0, size=2), "model.weights.draws=2 splits each minibatch among 2 draws of w, and with 2"),
    ],
)
def test_draws_the_trainer_cannot_honour_are_refused_by_name(data, tmp_path, fit, world, fragment):
    """K draws are turned on by the model's training mode, which train.fit=guide leaves off, and
    are one process's split of the minibatch, which several ranks would each make of their shard."""
    model = bayes(data, 2)
    options = TrainOptions(max_epochs=1, steps_per_epoch=1, batch_size=6, progress=False, seed=0, fit=fit)
    with pytest.raises(ZooError, match=re.escape(fragment)):
        Trainer(model, with_q(model), ELBO(), data, options, tmp_path, world=world)


class NoExactLikelihood(nn.Module):
    """A network with latents of its own: no log p(x | w) in closed form."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 2)


@pytest.mark.parametrize(
    "net,options,fragment",
    [
        ("lstm", {"draws": 0}, "model.weights.draws=0 must be a whole number >= 1"),
        ("lstm", {"draws": 1.5}, "model.weights.draws=1.5 must be a whole number >= 1"),
        ("lstm", {"draws": True}, "model.weights.draws=True must be a whole number >= 1"),
        ("lstm", {"draws": 2, "local_scale": 0.01}, "model.weights.draws=2 with posterior sharpening"),
        ("latents", {"draws": 2}, "(log_prob), which NoExactLikelihood has not: set model.weights.draws=1"),
    ],
)
def test_draws_the_model_cannot_take_are_refused_by_name(data, net, options, fragment):
    network = CharLSTM(data.spec, hidden_size=8) if net == "lstm" else NoExactLikelihood()
    with pytest.raises(ZooError, match=re.escape(fragment)):
        BayesianWeights(network, **options)
