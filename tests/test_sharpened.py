"""Posterior sharpening (Fortunato et al. 2017, arXiv 1704.02798, section 4) against its equations:

    theta ~ q(theta | phi, (x, y)) = N(theta | phi - eta * grad_phi -log p(y | phi, x), sigma_0^2 I)
    KL(q(theta | phi, (x, y)) || p(theta | phi)) = sum_i (eta_i g_i)^2 / (2 sigma_0^2)

on a network whose log-likelihood gradient has a closed form, then on bayes_lstm end to end."""

import json
import math

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from torch import nn
from torch.distributions import kl_divergence

from guides.sharpened import SharpenedWeights
from guides.weights import MeanFieldWeights
from tests.helpers import QUICK, SHORT, command, composed, refused_in_process, run_in_process, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.evaluation.likelihood import weight_kl
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.run import build_guide, build_model
from zoo.training.sites import GuideMismatch, check_guide_covers


class GaussianMean(nn.Module):
    """x_t ~ N(m, I) at every step of every sequence: one weight tensor m (D,), with
    -grad_m log p(x | m) = sum_{i,t} (m - x_it) = n m - sum_{i,t} x_it over the n real steps."""

    spec = None

    def __init__(self, dim: int = 3):
        super().__init__()
        self.m = nn.Parameter(torch.randn(dim))

    def log_prob(self, batch):
        """log p(x_i | m) per sequence, (B,)."""
        return (dist.Normal(self.m, 1.0).log_prob(batch.x).sum(-1) * batch.mask).sum(-1)

    def forward(self, batch):
        p_x = dist.Normal(self.m, 1.0).expand(batch.x.shape).to_event(1)  # batch (B, T), event (D,)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            pyro.sample("x", p_x.mask(batch.mask).to_event(1), obs=batch.x)


N, B, SIGMA_0, ETA_0 = 10, 4, 0.1, 0.01


@pytest.fixture
def gaussian():
    """(model, guide, batch): the Gaussian-mean network with sharpening, eta different for every weight."""
    torch.manual_seed(0)
    frames = [torch.randn(int(t), 3) + 2.0 for t in torch.randint(2, 7, (N,))]
    batch = collate(frames[:B], dataset_size=N)
    model = BayesianWeights(GaussianMean(3), prior_scale=1.0, local_scale=SIGMA_0)
    guide = SharpenedWeights(model, init_scale=0.3, step_init=ETA_0)
    with torch.no_grad():
        guide.step[0].uniform_(0.5, 1.5)  # eta = eta_0 r, a step of its own per weight
    return model, guide, batch


def closed_form_gradient(phi, batch):
    """g = -grad_phi log p(y | phi, x) = n phi - sum x over the minibatch's n real steps: (D,)."""
    return batch.num_steps * phi - (batch.x * batch.mask[..., None]).sum((0, 1))


@pytest.mark.parametrize("second_order", [False, True])
def test_the_sharpened_mean_is_phi_minus_eta_times_the_minibatch_gradient(gaussian, second_order):
    model, guide, batch = gaussian
    guide.second_order = second_order
    trace = poutine.trace(guide).get_trace(batch)
    phi = trace.nodes["w.m"]["value"]
    q = trace.nodes["theta.m"]["fn"]
    eta = ETA_0 * guide.step[0]
    torch.testing.assert_close(q.mean, phi - eta * closed_form_gradient(phi, batch))
    torch.testing.assert_close(q.stddev, torch.full((3,), SIGMA_0))
    assert trace.nodes["theta.m"]["scale"] == pytest.approx(N / B)  # per minibatch, as its likelihood
    assert trace.nodes["w.m"]["scale"] == 1.0  # phi: once per data set
    torch.testing.assert_close(trace.nodes["_RETURN"]["value"]["w.m"], trace.nodes["theta.m"]["value"])


def test_the_sharpening_kl_is_its_closed_form_and_the_loss_is_C_times_the_minibatch_cost(gaussian):
    """KL(q(theta | phi, (x, y)) || p(theta | phi)) = sum_i (eta_i g_i)^2 / (2 sigma_0^2), and the
    zoo's loss of minibatch b is C L_b with L_b = NLL_b + KL_theta + KL(q(phi) || p(phi)) / C."""
    model, guide, batch = gaussian
    torch.manual_seed(1)
    loss = ELBO(analytic_kl=True)(model, guide, batch)
    torch.manual_seed(1)
    guide_trace = poutine.trace(guide).get_trace(batch)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(batch)
    phi, theta = guide_trace.nodes["w.m"]["value"], guide_trace.nodes["theta.m"]["value"]
    step = ETA_0 * guide.step[0] * closed_form_gradient(phi, batch)  # eta * g, (D,)
    closed = (step**2).sum() / (2 * SIGMA_0**2)
    kl_theta = kl_divergence(guide_trace.nodes["theta.m"]["fn"], model_trace.nodes["theta.m"]["fn"])
    torch.testing.assert_close(kl_theta, closed)
    nll = -model.log_prob(batch, {"w.m": theta}).sum()
    kl_phi = weight_kl(model, guide)  # KL(q(phi) || p(phi)), closed form
    C = N / B
    torch.testing.assert_close(loss, C * (nll + closed + kl_phi / C))
    # the Monte Carlo form of the same KL, log q(theta) - log p(theta | phi) averaged over draws of theta
    q, p = guide_trace.nodes["theta.m"]["fn"], model.local_prior(phi)
    draws = q.sample((20000,))
    mc = (q.log_prob(draws) - p.log_prob(draws)).detach()
    assert abs(float(mc.mean() - closed.detach())) < 4 * float(mc.std()) / math.sqrt(len(draws))


def test_second_order_differentiates_through_the_gradient(gaussian):
    """mean = phi - eta (n phi - sum x), phi = mu + sigma eps: d mean / d mu is 1 - eta n when the
    step is differentiated through (the Hessian of -log p is n), 1 when g is a constant; eta's
    gradient, -g, is exact either way."""
    model, guide, batch = gaussian
    eta = (ETA_0 * guide.step[0]).detach()
    for second_order, slope in ((False, torch.ones(3)), (True, 1 - eta * batch.num_steps)):
        guide.second_order = second_order
        guide.zero_grad()
        torch.manual_seed(2)
        trace = poutine.trace(guide).get_trace(batch)
        trace.nodes["theta.m"]["fn"].mean.sum().backward()
        torch.testing.assert_close(guide.loc[0].grad, slope)
        phi = trace.nodes["w.m"]["value"].detach()
        torch.testing.assert_close(guide.step[0].grad, -ETA_0 * closed_form_gradient(phi, batch))


@pytest.fixture
def lstm_data():
    return toy_text()


def lstm_model(data, local_scale=None, seed=0):
    torch.manual_seed(seed)
    return BayesianWeights(CharLSTM(data.spec, hidden_size=8), prior_scale=0.3, local_scale=local_scale)


def test_with_eta_zero_the_guide_is_the_mean_field_guide(lstm_data):
    """eta = 0: phi draws and log q(phi) are the mean-field guide's under the same seed, theta is
    centred on phi with no KL to p(theta | phi), and with sigma_0 -> 0 the loss is mean-field's."""
    batch = collate(lstm_data.train[:3], dataset_size=len(lstm_data.train))
    mean_field = MeanFieldWeights(lstm_model(lstm_data), init_scale=0.05)
    hierarchical = lstm_model(lstm_data, local_scale=0.02)
    sharpened = SharpenedWeights(hierarchical, init_scale=0.05)
    with torch.no_grad():
        for r in sharpened.step:
            r.zero_()
    torch.manual_seed(3)
    mf = poutine.trace(mean_field).get_trace(batch)
    torch.manual_seed(3)
    sh = poutine.trace(sharpened).get_trace(batch)
    mf.compute_log_prob()
    sh.compute_log_prob()
    for name in mean_field.names:
        torch.testing.assert_close(sh.nodes[name]["value"], mf.nodes[name]["value"])
        torch.testing.assert_close(sh.nodes[name]["log_prob_sum"], mf.nodes[name]["log_prob_sum"])
        local = sh.nodes[hierarchical.local_site(name)]["fn"]
        torch.testing.assert_close(local.mean, sh.nodes[name]["value"])
        assert float(kl_divergence(local, hierarchical.local_prior(sh.nodes[name]["value"])).detach()) == 0.0
    tight = lstm_model(lstm_data, local_scale=1e-7)
    tight_guide = SharpenedWeights(tight, init_scale=0.05)
    with torch.no_grad():
        for r in tight_guide.step:
            r.zero_()
    plain = lstm_model(lstm_data)
    losses = []
    for model, guide in ((plain, MeanFieldWeights(plain, init_scale=0.05)), (tight, tight_guide)):
        torch.manual_seed(4)
        losses.append(ELBO(analytic_kl=True)(model, guide, batch))
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-3)


def test_without_a_batch_theta_comes_from_the_hierarchical_prior(lstm_data):
    """Held-out figures call the guide without targets: theta ~ p(theta | phi) = N(phi, sigma_0^2),
    phi ~ q(phi), at no site of its own, so the -ELBO's KL is KL(q(phi) || p(phi)) alone."""
    model = lstm_model(lstm_data, local_scale=0.05)
    guide = SharpenedWeights(model, init_scale=0.01)
    torch.manual_seed(5)
    trace = poutine.trace(guide).get_trace()
    sites = [n for n, s in trace.nodes.items() if s["type"] == "sample"]
    assert sites == guide.names  # phi alone
    theta = trace.nodes["_RETURN"]["value"]
    noise = torch.cat([theta[n] - trace.nodes[n]["value"] for n in guide.names])
    assert noise.std().item() == pytest.approx(0.05, rel=0.1) and abs(noise.mean().item()) < 0.01
    plain = lstm_model(lstm_data)
    assert weight_kl(model, guide) == pytest.approx(
        weight_kl(plain, MeanFieldWeights(plain, init_scale=0.01)), rel=1e-6
    )


def test_the_composed_guide_covers_the_hierarchical_model(lstm_data):
    cfg = composed("model=bayes_lstm", "weight_guide=sharpened", "model.net.hidden_size=8")
    assert cfg.model.weights.local_scale == cfg.weight_guide.local_scale == 0.005
    model = build_model(cfg, lstm_data.spec)
    batch = collate(lstm_data.train[:2], dataset_size=len(lstm_data.train))
    check_guide_covers(model, build_guide(cfg, model), batch)
    with pytest.raises(GuideMismatch, match=r"theta\.lstm\.weight_hh_l0"):  # mean field knows no theta
        check_guide_covers(model, MeanFieldWeights(model), batch)
    plain = composed("model=bayes_lstm", "model.net.hidden_size=8")
    assert plain.model.weights.local_scale is None  # other weight guides keep one w per data set


def test_guides_that_cannot_sharpen_are_refused_by_name(lstm_data):
    with pytest.raises(ZooError, match="weight_guide.step_init=0 must be a positive number"):
        SharpenedWeights(lstm_model(lstm_data, local_scale=0.02), step_init=0.0)
    with pytest.raises(ZooError, match="weight_guide.local_scale=-1 must be a positive number"):
        SharpenedWeights(lstm_model(lstm_data, local_scale=0.02), local_scale=-1.0)
    with pytest.raises(ZooError, match="model.weights.local_scale=0 must be a positive number"):
        lstm_model(lstm_data, local_scale=0.0)
    with pytest.raises(ZooError, match="needs a model with per-minibatch weights"):
        SharpenedWeights(lstm_model(lstm_data))
    with pytest.raises(ZooError, match="share sigma_0"):
        SharpenedWeights(lstm_model(lstm_data, local_scale=0.02), local_scale=0.03)


def test_bayes_lstm_trains_and_evaluates_with_sharpening(tmp_path):
    """A few steps of bayes_lstm with weight_guide=sharpened, the posterior predictive after
    training, and zoo.evaluate reloading the checkpoint for a fresh predictive figure."""
    metrics = run_in_process(tmp_path, "model=bayes_lstm", "weight_guide=sharpened", *QUICK)
    assert metrics["status"] == "trained"
    assert [f["kind"] for f in metrics["test"]] == ["-ELBO", "posterior predictive (S=3)"]
    assert all(math.isfinite(f["nats_per_step"]) for f in metrics["test"])
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    losses = [float(r.split(",")[header.index("train_loss")]) for r in rows[1:]]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    assert any(k.startswith("weights.step.") for k in state["guide"])  # eta travels with the checkpoint
    from zoo.evaluate import main as evaluate

    evaluate([f"run={tmp_path}", "num_samples=2", "limit=10"])
    again = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    kinds = ["-ELBO", "posterior predictive (S=2)", "exact at the posterior mean"]  # the mean of q(phi)
    assert [f["kind"] for f in again["figures"]] == kinds
    assert all(math.isfinite(f["nats_per_step"]) for f in again["figures"])


REFUSED = [
    (
        ["model=char_lstm", "weight_guide=sharpened", "data=jsb_chorales"],
        "weight_guide=sharpened sharpens the posterior of variational weights, but model.bayesian_weights=false",
    ),
    (["weight_guide=sharpened", "weight_guide.step_init=0"], "weight_guide.step_init=0 must be a positive number"),
    (["weight_guide=sharpened", "weight_guide.step_init=-0.5"], "weight_guide.step_init=-0.5 must be a positive"),
    (["weight_guide=sharpened", "weight_guide.local_scale=0"], "takes from weight_guide.local_scale"),
    (["weight_guide=sharpened", "weight_guide.local_scale=-1"], "model.weights.local_scale=-1 must be a positive"),
    (["model=vrnn", "model.bayesian_weights=true", "weight_guide=sharpened"], "has no exact form"),
    (["weight_guide.init_scale=0"], "weight_guide.init_scale=0 must be a positive number or a range"),
    (["weight_guide.init_scale=[0.2,0.1]"], "weight_guide.init_scale=[0.2, 0.1] must be a positive number or a range"),
]


@pytest.mark.parametrize("args,fragment", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_bad_sharpening_options_get_one_line_and_exit_status_2(args, fragment, tmp_path, monkeypatch, capfd):
    """zoo.run's own main in this process (a fresh interpreter costs seconds a row)."""
    code, lines = refused_in_process(monkeypatch, capfd, f"hydra.run.dir={tmp_path}", *SHORT, *args)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


def test_a_real_process_refuses_sharpening_without_weight_latents(tmp_path):
    result = command(
        "zoo.run",
        f"hydra.run.dir={tmp_path}",
        "model=char_lstm",
        "weight_guide=sharpened",
        "data=jsb_chorales",
        *SHORT,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "weight_guide=sharpened" in result.stderr and "model.bayesian_weights=true" in result.stderr
