"""The SRNN and its guides: site coverage, what d_t and a_t may read, masks, KL forms, the
residual mean, the SMC protocol, every emission, variational weights, and the command line."""

import copy
import json

import pyro
import pytest
import torch
from pyro import poutine
from torch.distributions import kl_divergence

from guides.srnn import SRNNFiltering, SRNNSmoothing
from tests.helpers import QUICK, composed, run_in_process, run_zoo, toy_rolls, toy_strokes, toy_text
from zoo.data.batch import collate
from zoo.data.dataset import DataSpec, SequenceData
from zoo.errors import ZooError
from zoo.estimators.importance import log_weights
from zoo.models.srnn import SRNN, SRNNPrior
from zoo.models.vrnn import VRNN
from zoo.nn import layers, ragged_gru
from zoo.objectives import ELBO
from zoo.run import build_guide, build_model
from zoo.training.sites import check_guide_covers

GUIDES = [SRNNSmoothing, SRNNFiltering]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Networks this small run fastest on one thread."""


@pytest.fixture
def rolls():
    return toy_rolls()


@pytest.fixture
def model(rolls):
    torch.manual_seed(0)
    return SRNN(rolls.spec, hidden_size=16, z_size=3)


def real_frames() -> SequenceData:
    """The toy piano rolls plus noise: real frames near {0, 1}^6."""
    rolls = toy_rolls()
    frames = [r + 0.1 * torch.randn_like(r) for r in rolls.train]
    return SequenceData("real", DataSpec("real", rolls.spec.dim), frames, frames[:2], frames[2:4])


@pytest.mark.parametrize("make_guide", GUIDES)
def test_guides_cover_the_path_site_and_own_none_of_the_model(model, rolls, make_guide):
    guide = make_guide(model)
    check_guide_covers(model, guide, collate(rolls.train[:3]))
    assert not {id(p) for p in model.parameters()} & {id(p) for p in guide.parameters()}


def test_srnn_guides_refuse_other_models(rolls):
    with pytest.raises(ZooError, match="model=srnn"):
        SRNNSmoothing(VRNN(rolls.spec, hidden_size=4, z_size=2))


def test_d_t_reads_only_the_frames_before_t(model, rolls):
    """Changing x_k leaves d_1..d_k as they were and changes d_{k+1}."""
    x = collate(rolls.train[:1]).x  # (1, T, D)
    k = 2
    changed = x.clone()
    changed[0, k] = 1 - changed[0, k]
    with torch.no_grad():
        d, d_changed = (model.deterministic(model.features(v)) for v in (x, changed))
    torch.testing.assert_close(d[:, : k + 1], d_changed[:, : k + 1], rtol=0, atol=0)
    assert not torch.allclose(d[:, k + 1], d_changed[:, k + 1])


def test_handing_phi_x_and_d_over_changes_no_value_or_gradient(model, rolls, monkeypatch):
    """The model taking over the guide's phi_x and d computes what running the GRU again computes;
    the GRU runs once per ELBO instead of twice, and never on weights changed since."""
    batch = collate(rolls.train[:4])
    guide = SRNNSmoothing(model)
    params = [*model.parameters(), *guide.parameters()]

    def loss_and_grads():
        torch.manual_seed(3)
        loss = ELBO(analytic_kl=True)(model, guide, batch)
        return loss, torch.autograd.grad(loss, params)

    calls = []
    model.rnn.register_forward_hook(lambda *a: calls.append(1))
    with_handover = loss_and_grads()
    assert len(calls) == 1
    monkeypatch.setattr(model, "recurrence", lambda x, lengths, remember=False: SRNN.recurrence(model, x, lengths))
    without = loss_and_grads()
    assert len(calls) == 3
    torch.testing.assert_close(with_handover[0], without[0])
    for a, b in zip(with_handover[1], without[1]):
        torch.testing.assert_close(a, b)
    monkeypatch.undo()
    guide(batch)
    with torch.no_grad():
        model.rnn.weight_hh_l0.mul_(0.5)  # an optimiser step between the guide and the model
    model(batch)
    assert len(calls) == 5


def test_smoothing_looks_ahead_and_filtering_does_not(model, rolls, monkeypatch):
    """With the noise at zero, changing x_k moves the smoothing guide's mean at steps before k,
    and leaves the filtering guide's means at steps before k where they were."""
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)
    batch = collate(rolls.train[:1])
    k = 3
    changed = copy.copy(batch)
    changed.x = batch.x.clone()
    changed.x[0, k] = 1 - changed.x[0, k]
    for make_guide, looks_ahead in ((SRNNSmoothing, True), (SRNNFiltering, False)):
        guide = make_guide(model)
        with torch.no_grad():
            before, after = (poutine.trace(guide).get_trace(b).nodes["z"]["fn"].loc for b in (batch, changed))
        assert torch.allclose(before[:, :k], after[:, :k]) is not looks_ahead
        assert not torch.allclose(before[:, k], after[:, k])


def test_the_smoothing_mean_is_the_prior_mean_plus_the_residual(model, rolls):
    """mu_q(z_{t-1}, a_t) = mu_p(z_{t-1}, d_t) + delta(z_{t-1}, a_t) along the guide's own path,
    at every real step."""
    batch = collate(rolls.train[:4])
    real = batch.mask  # (B, T)
    guide = SRNNSmoothing(model)
    with torch.no_grad():
        q = poutine.trace(guide).get_trace(batch).nodes["z"]["fn"]
        phi_x = model.features(batch.x)
        d = model.deterministic(phi_x, batch.lengths)
        mu_p, _ = SRNNPrior(model, d, batch.mask).params(q.z)
        z_prev = torch.cat([torch.zeros_like(q.z[:, :1]), q.z[:, :-1]], 1)
        delta, sigma = guide.combiner(z_prev, guide.summaries(d, phi_x, batch.lengths))
    torch.testing.assert_close(q.loc[real], (mu_p + delta)[real])
    torch.testing.assert_close(q.scale[real], sigma[real])
    assert delta.abs().mean() > 1e-3  # the residual is not zero, so the sum is a real check


def test_the_prior_scores_a_path_in_one_pass_as_it_draws_it_step_by_step(model, rolls):
    batch = collate(rolls.train[:4])
    with torch.no_grad():
        prior = SRNNPrior(model, model.deterministic(model.features(batch.x)), batch.mask)
        z = prior.rsample()
        drawn = prior.params(z)
        prior._path = None
        for a, b in zip(drawn, prior.params(z)):
            torch.testing.assert_close(a[batch.mask], b[batch.mask])  # real steps; padding is masked out
    trace = poutine.trace(model).get_trace(batch)  # the model alone draws its path from this prior
    assert trace.nodes["z"]["value"].shape == (4, batch.mask.shape[1], 3)
    assert torch.isfinite(trace.log_prob_sum())


@pytest.mark.parametrize("make_guide", GUIDES)
def test_padding_and_particles_change_no_importance_weight(model, rolls, monkeypatch, make_guide):
    """With the noise fixed at zero, each of a sequence's particles in a ragged batch has the
    weight the sequence has alone."""
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)
    guide = make_guide(model)
    seqs = rolls.train[:4]
    with torch.no_grad():
        together = log_weights(model, guide, collate(seqs), 3)  # (3, 4)
        alone = torch.cat([log_weights(model, guide, collate([s]), 1) for s in seqs], 1)  # (1, 4)
    assert len({len(s) for s in seqs}) > 1 and len(set(alone[0].tolist())) == 4
    torch.testing.assert_close(together, alone.expand(3, -1), atol=1e-4, rtol=1e-5)


def paper_bounds(model, guide, batch, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fraccaro et al.'s equations, one sequence at a time and one step at a time, with torch.nn.GRU
    over the sequence's own frames: log w = log p(x, z) - log q(z | x) and the analytic-KL ELBO
    E log p(x | z) - sum_t KL(q_t || p_t), for the path drawn with noise eps (T, B, Z). (B,) x2."""
    log_w, elbo = [], []
    for b, T_b in enumerate(batch.lengths.tolist()):
        x = batch.x[b, :T_b]  # (T_b, D)
        phi_x = model.phi_x(x)  # (T_b, F)
        u = torch.cat([torch.zeros_like(phi_x[:1]), phi_x[:-1]])  # u_t = phi_x(x_{t-1}), u_1 = 0
        d = torch.nn.GRU.forward(model.rnn, u[None])[0][0]  # d_t = f_d(d_{t-1}, u_t): (T_b, H)
        if isinstance(guide, SRNNSmoothing):  # a_t = g_a(a_{t+1}, [d_t, phi_x(x_t)])
            a = torch.nn.GRU.forward(guide.backward_rnn, torch.cat([d, phi_x], -1).flip(0)[None])[0][0].flip(0)
        else:  # a_t = MLP([d_t, phi_x(x_t)])
            a = guide.encoder(torch.cat([d, phi_x], -1))
        z_prev, w, bound = torch.zeros(model.z_size), 0.0, 0.0
        for t in range(T_b):
            mu_p, sigma_p = model.transition(z_prev, d[t])  # p(z_t | z_{t-1}, d_t)
            delta, sigma_q = guide.combiner(z_prev, a[t])
            q_t, p_t = torch.distributions.Normal(mu_p + delta, sigma_q), torch.distributions.Normal(mu_p, sigma_p)
            z = mu_p + delta + sigma_q * eps[t, b]  # z_t ~ q(z_t | z_{t-1}, a_t)
            log_p_x = model.emission(z, d[t]).log_prob(x[t])  # log p(x_t | z_t, d_t)
            w = w + log_p_x + p_t.log_prob(z).sum() - q_t.log_prob(z).sum()
            bound = bound + log_p_x - kl_divergence(q_t, p_t).sum()
            z_prev = z
        log_w.append(w)
        elbo.append(bound)
    return torch.stack(log_w), torch.stack(elbo)


@pytest.mark.parametrize("skipping", [True, False], ids=["real steps", "padded"])
@pytest.mark.parametrize("make_guide", GUIDES)
def test_the_bounds_are_the_papers_computed_step_by_step_on_each_sequence_alone(
    model, rolls, monkeypatch, make_guide, skipping
):
    """The batched, ragged computation (one GRU call per recurrence, padding skipped on a CPU or
    zeroed after elsewhere, W_d d_t handed over, the prior scored in one pass) gives the importance
    weights and the analytic-KL ELBO of the paper's equations run step by step, with the same
    noise, values and gradients."""
    for module in (layers, ragged_gru):
        monkeypatch.setattr(module, "skips_padding", lambda x: skipping)
    batch = collate(rolls.train[:5])  # ragged
    assert len(set(batch.lengths.tolist())) > 1
    guide = make_guide(model)
    params = [*model.parameters(), *guide.parameters()]
    eps = torch.randn(batch.mask.shape[1], 5, model.z_size)  # (T, B, Z)
    with torch.no_grad():
        model.phi_emit[0].bias.add_(0.3)  # the padding's zeros are no one's fixed point
    monkeypatch.setattr(torch, "randn_like", lambda like: next(noise))  # the guide's eps_t, in turn

    noise = iter(eps.unbind(0))
    log_w = log_weights(model, guide, batch, 1)[0]  # (B,)
    noise = iter(eps.unbind(0))
    loss = ELBO(analytic_kl=True)(model, guide, batch)  # -sum_b ELBO_b (dataset_size = B)
    expected_w, expected_elbo = paper_bounds(model, guide, batch, eps)
    torch.testing.assert_close(log_w, expected_w)
    torch.testing.assert_close(loss, -expected_elbo.sum())
    for ours, theirs in ((log_w.sum(), expected_w.sum()), (loss, -expected_elbo.sum())):
        for a, b in zip(
            torch.autograd.grad(ours, params, allow_unused=True),
            torch.autograd.grad(theirs, params, allow_unused=True, retain_graph=True),
        ):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b)


def test_analytic_and_monte_carlo_kl_agree_in_expectation(model, rolls):
    batch = collate(rolls.train[:4])
    guide = SRNNSmoothing(model)
    with torch.no_grad():
        mc = torch.stack([ELBO()(model, guide, batch) for _ in range(300)])
        analytic = torch.stack([ELBO(analytic_kl=True)(model, guide, batch) for _ in range(300)])
    assert abs(mc.mean() - analytic.mean()) < 4 * (mc.var() / 300 + analytic.var() / 300).sqrt()
    assert analytic.var() < mc.var()


def test_smc_steps_give_the_log_weights_of_the_traces(model, rolls):
    """smc_init, smc_proposal and smc_step along the filtering guide's drawn path, masked past each
    length, sum to log p(x, z) - log q(z | x) of the Pyro traces of that same path."""
    from zoo.estimators.smc import supports_smc

    batch = collate(rolls.train[:5])  # ragged
    guide = SRNNFiltering(model)
    assert supports_smc(model, guide) and not supports_smc(model, SRNNSmoothing(model))  # it reads x_{t:T}
    with torch.no_grad():
        pyro.set_rng_seed(3)
        expected = log_weights(model, guide, batch, 1)[0]  # (B,)
        pyro.set_rng_seed(3)
        z = poutine.trace(guide).get_trace(batch).nodes["z"]["value"]  # the same path: (B, T, Z)
        context, state = model.smc_init(batch)
        assert state[0].shape == (5, 3) and not state[0].any()  # z_0 = 0
        total = torch.zeros(5)
        for t in range(z.shape[1]):
            context_t = tuple(c[:, t] for c in context)  # one particle per sequence
            q = guide.smc_proposal(context_t, state)
            assert q.batch_shape == (5,) and q.event_shape == (3,)
            log_p_z, log_p_x, state = model.smc_step(context_t, state, z[:, t])
            assert log_p_z.shape == log_p_x.shape == (5,)
            total += (log_p_z + log_p_x - q.log_prob(z[:, t])) * batch.mask[:, t]
    torch.testing.assert_close(total, expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize(
    "make_data,emission",
    [
        (toy_text, "softmax"),
        (toy_rolls, "bernoulli"),
        (toy_rolls, "nade"),
        (real_frames, "gaussian"),
        (real_frames, "gmm"),
        (toy_strokes, "mdn"),
    ],
)
def test_every_emission_trains_scores_and_samples(make_data, emission):
    """Each output of char_lstm serves the SRNN: five Adam steps lower the -ELBO (same draws before
    and after), the importance weights are finite, and samples have the data's shape."""
    data = make_data()
    model = SRNN(data.spec, hidden_size=8, z_size=2, emission=emission, components=2)
    guide = SRNNSmoothing(model)
    batch = collate(data.train)
    check_guide_covers(model, guide, batch)
    objective = ELBO(analytic_kl=True)

    def loss():
        pyro.set_rng_seed(0)
        with torch.no_grad():
            return objective(model, guide, batch).item()

    before = loss()
    optimizer = torch.optim.Adam([*model.parameters(), *guide.parameters()], lr=0.01)
    for _ in range(5):
        optimizer.zero_grad()
        objective(model, guide, batch).backward()
        optimizer.step()
    assert loss() < before
    with torch.no_grad():
        assert torch.isfinite(log_weights(model, guide, batch, 2)).all()
    samples = model.sample(2, 4)
    assert samples.shape == (2, 4, *batch.x.shape[2:]) and samples.dtype == batch.x.dtype


def test_samples_continue_a_prime():
    torch.manual_seed(0)
    text = toy_text()
    model = SRNN(text.spec, hidden_size=8, z_size=2)
    prime = text.spec.vocab.encode("ab")
    out = model.sample(3, 6, prime=prime)
    assert out.shape == (3, 8) and (out[:, :2] == prime).all()
    assert ((0 <= out) & (out < 5)).all()


def test_variational_weights_compose(rolls, monkeypatch):
    """model.bayesian_weights=true: q(w) q(z | x, w) covers the sites; with q(w) a near point mass
    at means w* away from the network's own values, log p(x | z, w) and KL(q(z) || p(z | w)),
    read from the traces after the weights are swapped back, equal those of a plain SRNN with
    weights w*; and a training step reaches q(w) and q(z | x, w)."""
    from guides.weights import MeanFieldWeights
    from guides.with_weights import WeightsThenLatents
    from zoo.models.bayesian_weights import BayesianWeights

    torch.manual_seed(0)
    net = SRNN(rolls.spec, hidden_size=8, z_size=2)
    weighted = BayesianWeights(net)
    weights = MeanFieldWeights(weighted, init_scale=1e-7)
    with torch.no_grad():
        for loc in weights.loc:
            loc.add_(0.3 * torch.randn_like(loc))  # w*: not the network's own values
    guide = WeightsThenLatents(weighted, weights, SRNNSmoothing(net))
    batch = collate(rolls.train[:4])
    check_guide_covers(weighted, guide, batch)

    plain = copy.deepcopy(net)
    for name, loc in zip(weights.names, weights.loc):
        plain.get_parameter(name[2:]).data.copy_(loc.detach().view_as(plain.get_parameter(name[2:])))
    plain_guide = SRNNSmoothing(plain)
    plain_guide.load_state_dict(guide.latents.state_dict())

    def terms(model, guide):
        with torch.no_grad():
            guide_trace = poutine.trace(guide).get_trace(batch)
            model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(batch)
            x, z = model_trace.nodes["x"], model_trace.nodes["z"]
            return x["fn"].log_prob(x["value"]), kl_divergence(guide_trace.nodes["z"]["fn"], z["fn"])

    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)  # z_t at the guide's means
    for a, b in zip(terms(weighted, guide), terms(plain, plain_guide)):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)
    monkeypatch.undo()

    loss = ELBO(analytic_kl=True)(weighted, guide, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(loc.grad.abs().sum() > 0 for loc in weights.loc)
    assert all(p.grad is not None for p in guide.latents.parameters())


@pytest.mark.parametrize("make_data", [toy_text, toy_rolls, toy_strokes])
@pytest.mark.parametrize(
    "overrides", [[], ["guide=srnn_filtering"], ["model.bayesian_weights=true"], ["guide.flows=2"]]
)
def test_the_config_builds_a_model_and_a_guide_that_fits_it(make_data, overrides):
    cfg = composed("model=srnn", "model.net.hidden_size=8", "model.net.z_size=2", *overrides)
    assert cfg.data._target_ == "zoo.data.jsb_chorales.load"
    assert cfg.guide._target_ == (
        "guides.srnn.SRNNFiltering" if overrides[:1] == ["guide=srnn_filtering"] else "guides.srnn.SRNNSmoothing"
    )
    data = make_data()
    net = build_model(cfg, data.spec)
    check_guide_covers(net, build_guide(cfg, net), collate(data.train[:2]))


@pytest.mark.parametrize("guide", ["srnn_smoothing", "srnn_filtering"])
def test_srnn_on_jsb_reports_elbo_and_iwae(tmp_path, guide, shared_data):
    """Both guides from the command line, the filtering one with a flow on its steps (its SMC
    proposals too)."""
    run = run_zoo if guide == "srnn_smoothing" else run_in_process  # one of them in a process of its own
    run(
        tmp_path,
        "model=srnn",
        "data=jsb_chorales",
        f"guide={guide}",
        *(["guide.flows=1"] if guide == "srnn_filtering" else []),
        *QUICK,
        "model.net.z_size=8",
        "evaluate.num_particles=20",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    kinds = [f["kind"] for f in metrics["test"]]
    smc = ["-FIVO (K=20)"] if guide == "srnn_filtering" else []  # SMC needs a guide that proposes from the past
    assert kinds == ["-ELBO", "-IWAE (K=20)", *smc]
    elbo, iwae = (f["nats_per_step"] for f in metrics["test"][:2])
    assert 0 < iwae < elbo  # binary frames: -log p(x) > 0; 20 particles of a barely trained guide leave a gap
    assert (tmp_path / "samples.png").exists()
