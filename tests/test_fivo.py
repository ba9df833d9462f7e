"""SMC and the FIVO bound against closed forms.

A linear-Gaussian state space model written to the SMC protocol gives the exact log p(x)
(Kalman filter) and its locally optimal proposal in closed form:

    p(z_t | z_{t-1}, x_t) = N(m, v),  v = 1 / (1/s^2 + 1/R^2),  m = v (mu/s^2 + x_t/R^2)
    with the prior step N(mu, s^2) = N(A z_{t-1}, Q^2) (N(0, 1) at t = 1), and weight
    p(x_t | z_{t-1}) = N(x_t | mu, s^2 + R^2).
"""

import math

import pyro.distributions as dist
import pytest
import torch

from guides.srnn import SRNNFiltering, SRNNSmoothing
from guides.vrnn import VRNNFiltering, VRNNSmoothing
from tests.helpers import QUICK, kalman, run_in_process, toy_rolls
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.estimators.importance import log_weights
from zoo.estimators.smc import effective_sample_size, resample, smc_log_marginal
from zoo.evaluation.likelihood import held_out_figures
from zoo.models.srnn import SRNN
from zoo.models.vrnn import VRNN
from zoo.objectives.fivo import FIVO

Q, R = 0.5, 0.7


class LinearGaussian:
    """z_1 ~ N(0, 1), z_t = A z_{t-1} + N(0, Q^2), x_t = z_t + N(0, R^2), one step at a time."""

    def __init__(self, A: float):
        self.A = A

    def prior(self, state, first):
        """(mu, s) of p(z_t | z_{t-1}); N(0, 1) on the rows where `first` (t = 1)."""
        (z_prev,) = state
        return (self.A * z_prev).masked_fill(first, 0.0), torch.full_like(z_prev, Q).masked_fill(first, 1.0)

    def smc_init(self, batch):
        """Context (x, whether t = 1), each (B, T): the step's position is context, as x is."""
        x = batch.x[..., 0].double()  # (B, T)
        first = torch.zeros_like(x, dtype=torch.bool)
        first[:, 0] = True
        return (x, first), (x.new_zeros(batch.batch_size),)

    def smc_step(self, context_t, state, z_t):
        x_t, first = context_t
        mu, s = self.prior(state, first)
        z = z_t[:, 0]
        return dist.Normal(mu, s).log_prob(z), dist.Normal(z, R).log_prob(x_t), (z,)


class Bootstrap:
    """q(z_t | z_{t-1}) = p(z_t | z_{t-1}): the bootstrap particle filter."""

    def __init__(self, model):
        self.model = model

    def smc_proposal(self, context_t, state):
        mu, s = self.model.prior(state, context_t[1])
        return dist.Normal(mu[:, None], s[:, None]).to_event(1)


class LocallyOptimal(Bootstrap):
    """q(z_t | z_{t-1}, x_t) = p(z_t | z_{t-1}, x_t)."""

    def smc_proposal(self, context_t, state):
        x_t, first = context_t
        mu, s = self.model.prior(state, first)
        v = 1 / (1 / s**2 + 1 / R**2)
        m = v * (mu / s**2 + x_t / R**2)
        return dist.Normal(m[:, None], v.sqrt()[:, None]).to_event(1)


def sequences(lengths, A=0.9, seed=0):
    """Draws of the model, (T, 1) each."""
    g = torch.Generator().manual_seed(seed)
    seqs = []
    for T in lengths:
        z, xs = torch.randn((), generator=g), []
        for t in range(T):
            z = z if t == 0 else A * z + Q * torch.randn((), generator=g)
            xs.append(z + R * torch.randn((), generator=g))
        seqs.append(torch.stack(xs)[:, None])
    return seqs


def exact_log_p(seqs, A) -> torch.Tensor:
    batch = collate(seqs)
    return kalman(batch.x[..., 0].double(), batch.mask, A, Q, R)[2]


@pytest.mark.parametrize("make_proposal", [Bootstrap, LocallyOptimal])
def test_the_smc_estimate_of_p_x_is_unbiased(make_proposal):
    """mean over M runs of p_hat(x) / p(x) is 1 within 4 standard errors, with resampling at
    every step; each run is one of M copies of the sequences in one batch."""
    torch.manual_seed(0)
    model = LinearGaussian(A=0.9)
    seqs, M = sequences([6, 3]), 4000
    log_p_hat = smc_log_marginal(
        model, make_proposal(model), collate(seqs * M), num_particles=4, ess_threshold=1.0
    ).reshape(M, 2)
    ratio = (log_p_hat - exact_log_p(seqs, 0.9)).exp()  # (M, 2)
    assert ((ratio.mean(0) - 1).abs() < 4 * ratio.std(0) / math.sqrt(M)).all()
    assert (ratio.std(0) > 0.05).all()  # the estimates do vary: the test could fail
    assert (log_p_hat.mean(0) < exact_log_p(seqs, 0.9)).all()  # and their log is a lower bound


def test_with_independent_steps_the_locally_optimal_proposal_gives_the_exact_likelihood():
    """With A = 0 every weight p(x_t | z_{t-1}) = N(x_t | 0, Q^2 + R^2) is the same for every
    particle, so p_hat(x) = p(x) for any K, resampled or not."""
    torch.manual_seed(0)
    model = LinearGaussian(A=0.0)
    seqs = sequences([7, 4, 1], A=0.0)
    for K, threshold in ((1, 0.5), (3, 1.0), (16, 0.5)):
        log_p_hat = smc_log_marginal(model, LocallyOptimal(model), collate(seqs), K, ess_threshold=threshold)
        torch.testing.assert_close(log_p_hat, exact_log_p(seqs, 0.0), rtol=1e-10, atol=1e-10)


def test_resampling_keeps_the_bound_tight_on_long_sequences_where_iwae_is_not():
    """On 60 steps, the same bootstrap particles resampled (FIVO-16) give a bound far closer to
    log p(x) than left alone (IWAE-16), and FIVO-256 is within 1% of it."""
    torch.manual_seed(0)
    model = LinearGaussian(A=0.9)
    seqs, M = sequences([60]), 200
    exact = float(exact_log_p(seqs, 0.9)[0])
    batch = collate(seqs * M)

    def bound(K, resampling):
        return float(smc_log_marginal(model, Bootstrap(model), batch, K, resampling).mean())

    fivo, iwae = bound(16, "multinomial"), bound(16, "none")
    assert iwae < fivo < exact and exact - fivo < 0.3 * (exact - iwae)
    assert exact - bound(256, "multinomial") < 0.01 * abs(exact)


class Tagged(LinearGaussian):
    """The model with each row's sequence number in its state, checked against the context
    (which is never resampled) at every step."""

    def smc_init(self, batch):
        (x, first), (z,) = super().smc_init(batch)
        tag = torch.arange(batch.batch_size)  # (B,)
        return (x, first, tag[:, None].expand_as(x)), (z, tag)

    def smc_step(self, context_t, state, z_t):
        assert torch.equal(state[1], context_t[2]), "a particle moved to another sequence"
        log_p_z, log_p_x, (z,) = super().smc_step(context_t[:2], state[:1], z_t)
        return log_p_z, log_p_x, (z, state[1])


class TaggedBootstrap(Bootstrap):
    def smc_proposal(self, context_t, state):
        return super().smc_proposal(context_t[:2], state[:1])


def test_resampling_never_moves_a_particle_to_another_sequence():
    torch.manual_seed(0)
    model = Tagged(A=0.9)
    seqs = sequences([9, 2, 5, 9], seed=3)
    seqs[1] = seqs[1] * 50  # weights of wildly different sizes across sequences
    smc_log_marginal(model, TaggedBootstrap(model), collate(seqs), 8, ess_threshold=1.0)


def test_multinomial_resampling_draws_ancestors_by_weight_within_each_sequence():
    torch.manual_seed(0)
    log_w = torch.log(torch.tensor([[0.7, 0.25], [0.2, 0.25], [0.1, 0.25], [0.0, 0.25]]))  # (K=4, B=2)
    chosen = torch.tensor([True, False])
    counts = torch.zeros(4)
    for _ in range(2000):
        rows = resample(log_w, chosen).reshape(4, 2)
        assert torch.equal(rows[:, 1], torch.arange(4) * 2 + 1)  # sequence 1 keeps its particles
        counts += torch.bincount(rows[:, 0] // 2, minlength=4)
    assert torch.allclose(counts / counts.sum(), torch.tensor([0.7, 0.2, 0.1, 0.0]), atol=0.02)
    assert effective_sample_size(log_w)[1] == pytest.approx(4.0)


# -- the VRNN and its filtering guide through the same estimator ------------------------------------


def filtering_and_smoothing(name: str):
    """A small state-space model of toy rolls with its filtering and its smoothing guide."""
    torch.manual_seed(0)
    data = toy_rolls()
    if name == "vrnn":
        model = VRNN(data.spec, hidden_size=8, z_size=3)
        return data, model, VRNNFiltering(model), VRNNSmoothing(model)
    model = SRNN(data.spec, hidden_size=8, z_size=3)
    return data, model, SRNNFiltering(model), SRNNSmoothing(model)


@pytest.fixture
def vrnn_pair():
    data, model, filtering, _ = filtering_and_smoothing("vrnn")
    return data, model, filtering


def test_the_vrnn_step_by_step_is_its_pyro_model(vrnn_pair, monkeypatch):
    """With every draw at its guide mean, one particle's SMC weight is the importance weight of
    the Pyro model and guide traces, sequence by sequence of a ragged batch."""
    data, model, guide = vrnn_pair
    batch = collate(data.train[:4])
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)  # the Pyro guide's draws
    monkeypatch.setattr(
        torch.distributions.normal,
        "_standard_normal",
        lambda shape, dtype, device: torch.zeros(shape, dtype=dtype, device=device),
    )
    with torch.no_grad():
        step_by_step = smc_log_marginal(model, guide, batch, 1, resampling="none")
        traced = log_weights(model, guide, batch, 1)[0]
    torch.testing.assert_close(step_by_step, traced, rtol=1e-5, atol=1e-4)


def test_what_depends_on_x_alone_is_computed_once_for_all_particles(vrnn_pair, monkeypatch):
    """smc_init reads the B sequences, not K copies of them: the context of a long piece takes the
    memory of one copy, and the particles read it one step at a time."""
    data, model, guide = vrnn_pair
    batch = collate(data.train[:3])
    rows, init = [], model.smc_init

    def counted(b):
        rows.append(b.batch_size)
        return init(b)

    monkeypatch.setattr(model, "smc_init", counted)
    with torch.no_grad():
        log_p_hat = smc_log_marginal(model, guide, batch, num_particles=16)
    assert rows == [3] and log_p_hat.shape == (3,)


@pytest.mark.parametrize("name", ["vrnn", "srnn"])
def test_fivo_objective_refuses_a_smoothing_guide(name):
    data, model, _, smoothing = filtering_and_smoothing(name)
    batch = collate(data.train[:2])
    with pytest.raises(ZooError, match=f"a smoothing guide looks ahead.*{name}_filtering"):
        FIVO()(model, smoothing, batch)
    with pytest.raises(ZooError, match="must be between 0"):
        FIVO(ess_threshold=2.0)


@pytest.mark.parametrize("name", ["vrnn", "srnn"])
def test_fivo_loss_is_minus_the_scaled_sum_of_the_smc_bounds(name):
    """The loss is minus the minibatch's SMC bounds scaled to the data set (8 of 4 here), and its
    gradient reaches every parameter of the model and of the filtering guide."""
    data, model, guide, _ = filtering_and_smoothing(name)
    batch = collate(data.train[:4], dataset_size=8)
    torch.manual_seed(3)
    loss = FIVO(num_particles=3)(model, guide, batch)
    torch.manual_seed(3)
    bounds = smc_log_marginal(model, guide, batch, 3)
    torch.testing.assert_close(loss, -bounds.sum() * 2)
    loss.backward()
    for owner in (model, guide):
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in owner.parameters())


def test_held_out_figures_add_fivo_beside_iwae_for_a_filtering_guide(vrnn_pair):
    data, model, guide = vrnn_pair
    kinds = [f.kind for f in held_out_figures(model, guide, data, "test", num_particles=8)]
    assert kinds == ["-ELBO", "-IWAE (K=8)", "-FIVO (K=8)"]
    smoothing = [f.kind for f in held_out_figures(model, VRNNSmoothing(model), data, "test", num_particles=8)]
    assert smoothing == ["-ELBO", "-IWAE (K=8)"]
    alone = [f.kind for f in held_out_figures(model, guide, data, "test", num_particles=8, fivo=True)]
    assert alone == ["-ELBO", "-FIVO (K=8)"]


def test_fivo_trains_a_vrnn_from_the_command_line(tmp_path):
    import json

    run_in_process(
        tmp_path,
        *QUICK,
        "model=vrnn",
        "guide=vrnn_filtering",
        "objective=fivo",
        "model.net.z_size=4",
        "evaluate.num_particles=10",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    kinds = [f["kind"] for f in metrics["test"]]
    assert kinds == ["-ELBO", "-IWAE (K=10)", "-FIVO (K=10)"]
    history = torch.load(tmp_path / "last.pt", weights_only=True)["history"]
    assert history[0]["valid_kind"] == "-FIVO (K=4)"
