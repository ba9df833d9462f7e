"""The held-out figures users see first, each against a closed form.

Weight latents (bayesian_weights around char_lstm, on toy text):
  posterior predictive (S)  a guide that cycles through S point masses w_1..w_S draws each of
                            them once in any S consecutive calls, so the figure must be
                            -sum_i log (1/S) sum_s p(x_i | w_s) / sum_i T_i exactly, with each
                            log p(x_i | w_s) computed by running an LSTM loaded with w_s.
  -ELBO                     sum_i mean_s -log p(x_i | w_s) / sum_i T_i + KL(q || p) / (training
                            steps), with KL(N(mu, s^2) || N(0, sigma^2)) summed over weights:
                            log(sigma / s) + (s^2 + mu^2) / (2 sigma^2) - 1/2.

  exact at the posterior   -sum_i log p(x_i | w = mu) / sum_i T_i, the LSTM loaded with the guide's
  mean                      means: no draw, so equal whatever the spreads.

Per-sequence latents (a VRNN on toy rolls whose phi_z is zero, so z reaches neither the
emission nor the recurrence):
  log p(x) = sum_t log p(x_t | h_{t-1}), h_t = GRU([phi_x(x_t), 0], h_{t-1}), exact.
  Each weight is w = p(x) r with r = p(z) / q(z), E_q[r] = 1, so
  IWAE-K = log p(x) + log mean_k r_k, within a few sqrt(Var r / K) of log p(x); under the
  filtering guide q is a fixed diagonal Gaussian, and Var r = prod_d E_q[(p_d / q_d)^2] - 1 with
      E_q[(p / q)^2] = t / (s^2 sqrt(l)) exp((m^2 / l - c) / 2),  p = N(a, s^2), q = N(b, t^2),
      l = 2 / s^2 - 1 / t^2,  m = 2 a / s^2 - b / t^2,  c = 2 a^2 / s^2 - b^2 / t^2.
  ELBO = log p(x) - E_q[sum_t KL(q(z_t | .) || p(z_t | h_{t-1}))], the KL of two diagonal
  Gaussians per step: log(s / t) + (t^2 + (a - b)^2) / (2 s^2) - 1/2.
"""

import math

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from guides.vrnn import VRNNFiltering, VRNNSmoothing
from guides.weights import MeanFieldWeights
from tests.helpers import toy_rolls, toy_text
from zoo.data.batch import collate
from zoo.estimators.importance import iwae_bound
from zoo.evaluation.likelihood import held_out_figures, latent_log_weights, posterior_mean_nll, weight_kl
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN

HIDDEN = 4  # the char_lstm under variational weights
PRIOR_SCALE = 0.3  # sigma of p(w) = N(0, sigma^2 I)


# -- weight latents --------------------------------------------------------------------------------


def bayes_char_lstm():
    """Toy text and p(w) p(x | w) around a small char_lstm."""
    data = toy_text()
    model = BayesianWeights(CharLSTM(data.spec, hidden_size=HIDDEN), prior_scale=PRIOR_SCALE)
    return data, model


class PointMassCycle(nn.Module):
    """q(w) = uniform over S point masses, drawn in a fixed cycle: any S consecutive draws are
    w_1..w_S once each, so a figure from S draws is known exactly."""

    def __init__(self, weight_sets: list[dict[str, torch.Tensor]]):
        super().__init__()
        self.weight_sets, self.calls = weight_sets, 0

    def forward(self, batch=None) -> dict[str, torch.Tensor]:
        weights = self.weight_sets[self.calls % len(self.weight_sets)]
        self.calls += 1
        return {site: pyro.sample(site, dist.Delta(w, event_dim=1)) for site, w in weights.items()}


@torch.no_grad()
def lstm_log_p(spec, weights: dict[str, torch.Tensor], seq: torch.Tensor) -> float:
    """log p(x | w) of one sequence (T,), by a fresh char_lstm loaded with w (keyed by site)
    and a softmax cross-entropy over its unpadded steps."""
    net = CharLSTM(spec, hidden_size=HIDDEN)
    net.load_state_dict({n: weights[f"w.{n}"].reshape(p.shape) for n, p in net.named_parameters()})
    embedded = net.emitter.embed(seq[:-1])  # (T - 1, E)
    inputs = torch.cat([embedded.new_zeros(1, embedded.shape[1]), embedded])  # x_0 = 0: (T, E)
    h, _ = net.lstm(inputs[None])  # (1, T, H)
    return -float(F.cross_entropy(net.emitter.output(h[0]).double(), seq, reduction="sum"))


def predictive_nll_per_step(log_p: torch.Tensor, lengths: list[int]) -> float:
    """-sum_i log (1/S) sum_s exp(log_p[s, i]) / sum_i T_i, for log_p (S, N)."""
    total = 0.0
    for column in log_p.T.tolist():
        top = max(column)
        total -= top + math.log(sum(math.exp(v - top) for v in column) / len(column))
    return total / sum(lengths)


@pytest.mark.parametrize("num_samples", [3, 6])
def test_posterior_predictive_of_point_mass_draws_is_minus_log_mean_likelihood_per_step(num_samples):
    """S = 3 draws are the three point masses once each, S = 6 twice each: the same figure."""
    torch.manual_seed(0)
    data, model = bayes_char_lstm()
    weight_sets = [{site: torch.randn(w.numel()) for site, w in model.weight_sites.items()} for _ in range(3)]
    test, lengths = data.split("test"), [len(s) for s in data.split("test")]
    log_p = torch.tensor([[lstm_log_p(data.spec, w, s) for s in test] for w in weight_sets])  # (3, N)

    _, predictive = held_out_figures(model, PointMassCycle(weight_sets), data, "test", num_samples=num_samples)

    expected = predictive_nll_per_step(log_p, lengths)
    mean_log_likelihood = float(-log_p.mean(0).sum()) / sum(lengths)  # the wrong formula
    assert mean_log_likelihood - expected > 0.1  # the point masses disagree: the two formulas differ
    assert predictive.kind == f"posterior predictive (S={num_samples})"
    assert predictive.nats_per_step == pytest.approx(expected, rel=1e-5)
    assert (predictive.num_steps, predictive.num_sequences) == (sum(lengths), len(test))


def shifted_mean_field(model, init_scale: float, shift: float) -> MeanFieldWeights:
    """A mean-field guide with every sigma at `init_scale` and its means moved by N(0, shift^2) draws."""
    guide = MeanFieldWeights(model, init_scale=init_scale)
    with torch.no_grad():
        for loc in guide.loc:
            loc.add_(shift * torch.randn_like(loc))
    return guide


def gaussian_kl(mu: torch.Tensor, s: torch.Tensor, sigma: float) -> float:
    """KL(N(mu, s^2) || N(0, sigma^2)) summed over the weights."""
    mu, s = mu.detach().double(), s.detach().double()
    return float((math.log(sigma) - s.log() + (s**2 + mu**2) / (2 * sigma**2) - 0.5).sum())


@pytest.mark.parametrize("train_steps", [None, 10])
def test_elbo_figure_is_mean_nll_per_test_step_plus_gaussian_kl_per_training_step(train_steps):
    """With the same S draws w_s ~ q(w) (the figure draws them first, nothing random between),
    -ELBO = sum_i mean_s -log p(x_i | w_s) / test steps + KL(q || p) / training steps, the training
    steps by default those of the train split; the predictive figure comes from the same draws."""
    torch.manual_seed(0)
    data, model = bayes_char_lstm()
    guide = shifted_mean_field(model, init_scale=0.05, shift=0.2)
    kl = sum(gaussian_kl(guide.loc[j], F.softplus(guide.rho[j]), PRIOR_SCALE) for j in range(len(guide.names)))
    test, lengths = data.split("test"), [len(s) for s in data.split("test")]
    steps_of_training = train_steps or sum(len(s) for s in data.split("train"))

    torch.manual_seed(1)
    with torch.no_grad():
        draws = [guide() for _ in range(4)]
    log_p = torch.tensor([[lstm_log_p(data.spec, w, s) for s in test] for w in draws])  # (4, N)
    torch.manual_seed(1)
    elbo, predictive = held_out_figures(model, guide, data, "test", num_samples=4, train_steps=train_steps)

    assert weight_kl(model, guide) == pytest.approx(kl, rel=1e-5)
    assert kl / steps_of_training > 1.0  # the KL term is a visible part of the figure
    expected_nll = float(-log_p.mean(0).sum()) / sum(lengths)
    assert elbo.nats_per_step == pytest.approx(expected_nll + kl / steps_of_training, rel=1e-5)
    assert predictive.nats_per_step == pytest.approx(predictive_nll_per_step(log_p, lengths), rel=1e-5)


def test_posterior_mean_figure_is_the_exact_nll_of_the_lstm_at_the_guide_means():
    """Wide spreads make the draws differ from the mean (the predictive figure moves), while the
    figure at the posterior mean is the one LSTM loaded with mu, whatever sigma is."""
    torch.manual_seed(0)
    data, model = bayes_char_lstm()
    guide = shifted_mean_field(model, init_scale=0.5, shift=0.3)
    test, lengths = data.split("test"), [len(s) for s in data.split("test")]
    means = dict(zip(guide.names, guide.loc))
    expected = -sum(lstm_log_p(data.spec, means, s) for s in test) / sum(lengths)

    figure = posterior_mean_nll(model, guide, data, "test")
    _, predictive = held_out_figures(model, guide, data, "test", num_samples=4)

    assert figure.kind == "exact at the posterior mean"
    assert figure.nats_per_step == pytest.approx(expected, rel=1e-5)
    assert abs(predictive.nats_per_step - expected) > 0.05  # the draws are far from the mean
    assert (figure.num_steps, figure.num_sequences) == (sum(lengths), len(test))


# -- per-sequence latents: a VRNN whose z cannot reach x ---------------------------------------------

K = 2000  # particles per sequence
BLOCKS = (1, 4, 20, 100, 500, 2000)  # nested: each size divides the next


def blind_vrnn(make_guide):
    """Toy rolls, a VRNN with phi_z = 0 (weights and biases), and a guide of its path."""
    data = toy_rolls()
    model = VRNN(data.spec, hidden_size=8, z_size=1)
    with torch.no_grad():
        for p in model.phi_z.parameters():
            p.zero_()
    return data, model, make_guide(model)


@torch.no_grad()
def exact_path(model: VRNN, seq: torch.Tensor):
    """log p(x) of one sequence (T, D) with phi_z(z) = 0, and the prior p(z_t | h_{t-1}) along it:
    (float, (T, Z) loc, (T, Z) scale). The recurrence run step by step, no padding, no importance weights."""
    h = torch.zeros(1, model.hidden_size)  # h_0
    no_z = torch.zeros(1, model.phi_z[0].out_features)  # phi_z(z_t) for every z_t
    log_p, locs, scales = 0.0, [], []
    for x_t in seq:
        loc, scale = model.prior(h)  # (1, Z) x2
        locs.append(loc[0])
        scales.append(scale[0])
        emission = model.emitter(model.phi_dec(torch.cat([no_z, h], -1)))  # batch (1,)
        log_p += float(emission.log_prob(x_t[None]).double())
        h = model.rnn(torch.cat([model.phi_x(x_t[None]), no_z], -1), h)  # (1, H)
    return log_p, torch.stack(locs).double(), torch.stack(scales).double()


def exact_log_p(model, seqs) -> torch.Tensor:
    return torch.tensor([exact_path(model, s)[0] for s in seqs], dtype=torch.float64)  # (N,)


def nested_iwae(log_w: torch.Tensor, k: int) -> torch.Tensor:
    """IWAE-k averaged over the K / k disjoint blocks of k consecutive weights: (K, N) -> (N,)."""
    blocks = log_w.reshape(log_w.shape[0] // k, k, -1).transpose(0, 1)  # (k, K / k, N)
    return iwae_bound(blocks).mean(0)


def estimated_stderr(log_w: torch.Tensor) -> torch.Tensor:
    """Delta-method standard error of log mean_k w_k, sd(w) / (mean(w) sqrt(K)), per sequence: (K, N) -> (N,)."""
    w = (log_w - log_w.max(0).values).exp()
    return w.std(0) / (w.mean(0) * math.sqrt(log_w.shape[0]))


@torch.no_grad()
def path_kl(model, guide, seq: torch.Tensor, draws: int) -> torch.Tensor:
    """sum_t KL(q(z_t | .) || p(z_t | h_{t-1})) along `draws` paths z ~ q of one sequence: (draws,).
    The prior does not depend on z here; q's steps are read off the guide's GaussianPath."""
    _, a, s = exact_path(model, seq)  # (T, Z) x2
    with torch.no_grad():
        q = poutine.trace(guide).get_trace(collate([seq]).tile(draws)).nodes["z"]["fn"]
    b, t = q.loc.double(), q.scale.double()  # (draws, T, Z) x2
    return (torch.log(s / t) + (t**2 + (a - b) ** 2) / (2 * s**2) - 0.5).sum((1, 2))


GUIDES = [VRNNFiltering, VRNNSmoothing]


def test_blind_vrnn_likelihood_does_not_depend_on_z():
    torch.manual_seed(0)
    data, model, _ = blind_vrnn(VRNNFiltering)
    x, h = data.test[0][:1], torch.randn(1, 8)  # (1, D), (1, H)
    z_1, z_2 = torch.randn(1, model.z_size), 10 * torch.randn(1, model.z_size)
    with torch.no_grad():
        assert model.decoder(z_1, h).log_prob(x) == model.decoder(z_2, h).log_prob(x)
        assert torch.equal(model.step(model.phi_x(x), z_1, h), model.step(model.phi_x(x), z_2, h))


@pytest.mark.parametrize("make_guide", GUIDES)
def test_blind_vrnn_elbo_below_iwae_rising_in_k_below_exact_per_sequence(make_guide):
    """Per sequence: ELBO = IWAE-1 <= IWAE-4 <= ... <= IWAE-2000 (block means of nested blocks of
    the same 2000 weights: this holds draw by draw), and IWAE-2000 <= log p(x) + 4 standard errors."""
    torch.manual_seed(0)
    data, model, guide = blind_vrnn(make_guide)
    exact = exact_log_p(model, data.test)  # (N,)
    log_w = latent_log_weights(model, guide, data, "test", K).double()  # (K, N)

    bounds = [nested_iwae(log_w, k) for k in BLOCKS]  # (N,) each
    torch.testing.assert_close(bounds[0], log_w.mean(0))
    for lower, higher in zip(bounds, bounds[1:]):
        assert (lower <= higher + 1e-9).all()
    assert (bounds[0] < exact - 0.1).all()  # the guide is not the posterior: the ELBO is loose
    assert (bounds[-1] <= exact + 4 * estimated_stderr(log_w)).all()


def test_filtering_iwae_2000_is_within_four_closed_form_standard_errors_of_exact():
    """q is a fixed diagonal Gaussian here, so Var r has the closed form of the module docstring;
    |IWAE-K - log p(x)| <= 4 sqrt(Var r / K) + Var r / (2 K) (the bias of a log of a mean)."""
    torch.manual_seed(0)
    data, model, guide = blind_vrnn(VRNNFiltering)
    log_w = latent_log_weights(model, guide, data, "test", K).double()  # (K, N)
    for i, seq in enumerate(data.test):
        log_p, a, s = exact_path(model, seq)  # p(z_t | h_{t-1}): (T, Z) x2
        with torch.no_grad():
            q = poutine.trace(guide).get_trace(collate([seq])).nodes["z"]["fn"]
        b, t = q.loc[0].double(), q.scale[0].double()  # (T, Z) x2
        l = 2 / s**2 - 1 / t**2
        assert (l > 0).all()  # E_q[r^2] is finite
        m, c = 2 * a / s**2 - b / t**2, 2 * a**2 / s**2 - b**2 / t**2
        log_second_moment = (t.log() - 2 * s.log() - 0.5 * l.log() + 0.5 * (m**2 / l - c)).sum()
        variance = float(log_second_moment.exp()) - 1
        assert 0.5 < variance < 50  # the weights vary, and K = 2000 resolves log p(x) to 0.16 nats or better
        tolerance = 4 * math.sqrt(variance / K) + variance / (2 * K)
        assert abs(float(iwae_bound(log_w[:, i])) - log_p) < tolerance


def test_smoothing_iwae_2000_is_within_four_estimated_standard_errors_of_exact():
    """q(z_t | z_{t-1}, x_{t:T}) has no closed-form Var r: the delta-method standard error of the
    same 2000 weights stands in for it."""
    torch.manual_seed(0)
    data, model, guide = blind_vrnn(VRNNSmoothing)
    exact = exact_log_p(model, data.test)  # (N,)
    log_w = latent_log_weights(model, guide, data, "test", K).double()  # (K, N)
    stderr = estimated_stderr(log_w)
    assert (stderr < 0.1).all()
    assert ((iwae_bound(log_w) - exact).abs() < 4 * stderr).all()


@pytest.mark.parametrize("make_guide", GUIDES)
def test_blind_vrnn_elbo_gap_is_the_expected_path_kl(make_guide):
    """log p(x) - ELBO = E_q[sum_t KL(q(z_t | .) || p(z_t | h_{t-1}))]: the ELBO from 2000 weights,
    the KL in closed form per step averaged over 500 other paths, within 4 standard errors of both."""
    torch.manual_seed(0)
    data, model, guide = blind_vrnn(make_guide)
    exact = exact_log_p(model, data.test)  # (N,)
    log_w = latent_log_weights(model, guide, data, "test", K).double()  # (K, N)
    kl = torch.stack([path_kl(model, guide, seq, 500) for seq in data.test], 1)  # (500, N)

    gap = exact - log_w.mean(0)  # (N,)
    stderr = (log_w.var(0) / K + kl.var(0) / 500).sqrt()
    assert (kl.mean(0) > 0.1).all()
    assert ((gap - kl.mean(0)).abs() < 4 * stderr).all()


@pytest.mark.parametrize("make_guide", GUIDES)
def test_held_out_figures_of_a_blind_vrnn_are_sequence_bounds_summed_per_test_step(make_guide):
    """The figures are sum_i (-ELBO_i) / sum_i T_i and sum_i -log (1/K) sum_k w_ik / sum_i T_i
    from the same weights latent_log_weights draws, and -IWAE-2000 per step is the exact
    -log p(x) per step within 4 standard errors of the sum."""
    torch.manual_seed(0)
    data, model, guide = blind_vrnn(make_guide)
    steps = sum(len(s) for s in data.test)
    exact = exact_log_p(model, data.test)  # (N,)
    torch.manual_seed(1)
    elbo, iwae = held_out_figures(model, guide, data, "test", num_particles=K, fivo=False)
    torch.manual_seed(1)
    log_w = latent_log_weights(model, guide, data, "test", K).double()  # (K, N)

    assert (elbo.kind, iwae.kind) == ("-ELBO", f"-IWAE (K={K})")
    assert (iwae.num_steps, iwae.num_sequences) == (steps, len(data.test))
    assert elbo.nats_per_step == pytest.approx(float(-log_w.mean(0).sum()) / steps, rel=1e-6)
    by_hand = -(torch.logsumexp(log_w, 0) - math.log(K))  # (N,)
    assert iwae.nats_per_step == pytest.approx(float(by_hand.sum()) / steps, rel=1e-6)
    tolerance = 4 * float(estimated_stderr(log_w).pow(2).sum().sqrt()) / steps
    assert abs(iwae.nats_per_step - float(-exact.sum()) / steps) < tolerance
    assert elbo.nats_per_step > iwae.nats_per_step + tolerance
