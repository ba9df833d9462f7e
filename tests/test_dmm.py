"""The Deep Markov Model and its structured guide: sites, every emission, the prior's factors,
padding, the closed-form KL, variational weights, the SMC steps, samples, the command line."""

import json

import pyro.poutine as poutine
import pytest
import torch
from pyro.distributions import Normal

from guides.dmm import DMMGuide
from tests.helpers import QUICK, composed, run_in_process, run_zoo, toy_rolls, toy_strokes, toy_text
from zoo.data.batch import collate
from zoo.data.dataset import DataSpec, SequenceData
from zoo.errors import ZooError
from zoo.estimators.importance import iwae_bound, log_weights
from zoo.models.dmm import DMM
from zoo.models.vrnn import VRNN
from zoo.nn.gaussian_path import GaussianPath
from zoo.objectives import ELBO
from zoo.run import build_guide, build_model
from zoo.training.sites import check_guide_covers


def toy_real(num_sequences: int = 8, dim: int = 4) -> SequenceData:
    """Real frames of `dim` values, ragged lengths 2..7."""
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(int(torch.randint(2, 8, (1,), generator=g)), dim, generator=g) for _ in range(num_sequences)]
    return SequenceData("toy_real", DataSpec("real", dim), seqs, seqs[:3], seqs[3:6])


@pytest.fixture
def rolls():
    return toy_rolls()


def small(spec, **kwargs) -> DMM:
    return DMM(spec, z_size=3, transition_size=8, hidden_size=8, **kwargs)


@pytest.mark.parametrize(
    "make_data,emission",
    [
        (toy_rolls, "bernoulli"),
        (toy_rolls, "nade"),
        (toy_text, "softmax"),
        (toy_real, "gaussian"),
        (toy_real, "gmm"),
        (toy_strokes, "mdn"),
    ],
)
def test_every_emission_trains_and_samples(make_data, emission):
    data = make_data()
    model = small(data.spec, emission=emission)
    guide = DMMGuide(model, hidden_size=8)
    batch = collate(data.train[:4])
    check_guide_covers(model, guide, batch)
    loss = ELBO(analytic_kl=True)(model, guide, batch)
    loss.backward()
    assert torch.isfinite(loss) and model.transition.z_to_loc.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in guide.parameters())
    assert model.sample(2, 5).shape == (2, 5, *batch.x.shape[2:])


def test_the_guide_owns_no_model_parameter_and_refuses_other_models(rolls):
    model = small(rolls.spec)
    assert not {id(p) for p in model.parameters()} & {id(p) for p in DMMGuide(model).parameters()}
    with pytest.raises(ZooError, match="model=dmm"):
        DMMGuide(VRNN(rolls.spec, hidden_size=4, z_size=2))


def test_the_prior_over_the_path_is_the_chain_of_transitions(rolls):
    """log p(z) of the path site (all steps at once) = sum_t mask_t log N(z_t | transition(z_{t-1})),
    run step by step from z_0."""
    model = small(rolls.spec)
    batch = collate(rolls.train[:4])
    p_z = poutine.trace(model).get_trace(batch).nodes["z"]["fn"]
    z = torch.randn(4, batch.mask.shape[1], 3)
    expected, z_prev = 0.0, model.z_0.expand(4, 3)
    for t in range(z.shape[1]):
        loc, scale = model.transition(z_prev)
        expected = expected + Normal(loc, scale).log_prob(z[:, t]).sum(-1) * batch.mask[:, t]
        z_prev = z[:, t]
    torch.testing.assert_close(p_z.log_prob(z), expected)


def test_the_gated_transition_starts_near_the_identity(rolls):
    """W_mu starts as I (Pyro's initialisation): with the gate closed, mu_t = z_{t-1}."""
    model = small(rolls.spec)
    z = torch.randn(5, 3)
    g = model.transition.gate(z)
    loc, scale = model.transition(z)
    torch.testing.assert_close(loc, (1 - g) * z + g * model.transition.proposed_mean(z))
    assert (scale > 0).all()


@pytest.mark.parametrize("flows", [0, 2])
def test_padding_changes_no_importance_weight(rolls, monkeypatch, flows):
    """With the noise fixed at zero, each sequence's weight in a ragged batch is its weight alone."""
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)
    model = small(rolls.spec)
    guide = DMMGuide(model, hidden_size=8, flows=flows)
    seqs = rolls.train[:4]
    assert len({len(s) for s in seqs}) > 1
    with torch.no_grad():
        together = log_weights(model, guide, collate(seqs), 3)  # (3, 4)
        alone = torch.cat([log_weights(model, guide, collate([s]), 1) for s in seqs], 1)  # (1, 4)
    assert len(set(alone[0].tolist())) == 4
    torch.testing.assert_close(together, alone.expand(3, -1), atol=1e-4, rtol=1e-5)


def test_analytic_and_monte_carlo_kl_agree_in_expectation(rolls):
    model = small(rolls.spec)
    guide = DMMGuide(model, hidden_size=8)
    batch = collate(rolls.train[:4])
    with torch.no_grad():
        mc = torch.stack([ELBO()(model, guide, batch) for _ in range(300)])
        analytic = torch.stack([ELBO(analytic_kl=True)(model, guide, batch) for _ in range(300)])
    assert abs(mc.mean() - analytic.mean()) < 4 * (mc.var() / 300 + analytic.var() / 300).sqrt()
    assert analytic.var() < mc.var()


def test_the_closed_form_kl_is_the_sum_of_per_step_gaussian_kls(rolls):
    model = small(rolls.spec)
    guide = DMMGuide(model, hidden_size=8)
    batch = collate(rolls.train[:4])
    with torch.no_grad():
        q = poutine.trace(guide).get_trace(batch).nodes["z"]["fn"]
        prior = poutine.trace(model).get_trace(batch).nodes["z"]["fn"]
        kl = torch.distributions.kl_divergence(q, prior)
        loc, scale = model.transition(model.previous(q.z))
        expected = (
            torch.distributions.kl_divergence(Normal(q.loc, q.scale), Normal(loc, scale)).sum(-1) * batch.mask
        ).sum(-1)
    assert isinstance(q, GaussianPath)
    torch.testing.assert_close(kl, expected)


def test_iwae_rises_above_the_elbo(rolls):
    model = small(rolls.spec)
    guide = DMMGuide(model, hidden_size=8)
    with torch.no_grad():
        log_w = log_weights(model, guide, collate(rolls.test), 200)  # (200, B)
    assert (log_w.mean(0) < iwae_bound(log_w)).all()


def test_variational_weights_compose(rolls):
    """model.bayesian_weights=true: q(w) then the DMM guide under the drawn w. The prior's
    factors are computed with the drawn weights, not the network's initial values, and the
    gradient reaches both guides."""
    from zoo.nn.swap import swap_parameters

    cfg = composed(
        "model=dmm",
        "model.bayesian_weights=true",
        "model.net.z_size=3",
        "model.net.hidden_size=8",
        "model.net.transition_size=8",
        "guide.hidden_size=8",
    )
    weighted = build_model(cfg, rolls.spec)
    guide = build_guide(cfg, weighted)
    batch = collate(rolls.train[:4])
    check_guide_covers(weighted, guide, batch)
    guide_trace = poutine.trace(guide).get_trace(batch)
    model_trace = poutine.trace(poutine.replay(weighted, trace=guide_trace)).get_trace(batch)
    z, p_z = guide_trace.nodes["z"]["value"], model_trace.nodes["z"]["fn"]
    w = {name: site["value"] for name, site in guide_trace.nodes.items() if name.startswith("w.")}
    with torch.no_grad():
        with swap_parameters(weighted.net, weighted.parameters_from_sites(w)):
            drawn = weighted.net.transition(weighted.net.previous(z))
        initial = weighted.net.transition(weighted.net.previous(z))
    torch.testing.assert_close(p_z.params(z)[0], drawn[0])
    assert not torch.allclose(drawn[0], initial[0])
    for analytic in (False, True):
        loss = ELBO(analytic_kl=analytic)(weighted, guide, batch)
        loss.backward()
        assert torch.isfinite(loss)
    assert guide.latents.combiner.z_to_hidden.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in guide.weights.parameters())


def test_the_smc_steps_add_up_to_the_joint_density(rolls):
    """sum_t mask_t [log p(z_t | z_{t-1}) + log p(x_t | z_t)] from smc_init/smc_step along a path
    is log p(x, z) of the Pyro model; the smoothing guide proposes no single steps."""
    model = small(rolls.spec)
    guide = DMMGuide(model, hidden_size=8)
    batch = collate(rolls.train[:4])
    with torch.no_grad():
        guide_trace = poutine.trace(guide).get_trace(batch)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(batch)
        z = guide_trace.nodes["z"]["value"]
        joint = sum(model_trace.nodes[s]["fn"].log_prob(model_trace.nodes[s]["value"]) for s in ("z", "x"))
        context, state = model.smc_init(batch)
        total = 0.0
        for t in range(z.shape[1]):
            log_p_z, log_p_x, state = model.smc_step(tuple(c[:, t] for c in context), state, z[:, t])
            total = total + (log_p_z + log_p_x) * batch.mask[:, t]
    torch.testing.assert_close(total, joint)
    assert not hasattr(guide, "smc_proposal")


def test_samples_continue_a_prime():
    text = toy_text()
    model = small(text.spec)
    prime = text.spec.vocab.encode("abc")
    out = model.sample(3, 6, prime=prime, prime_particles=16)
    assert out.shape == (3, 9) and (out[:, :3] == prime).all()
    rolls = toy_rolls()
    roll_prime = rolls.train[0]
    out = small(rolls.spec).sample(2, 4, prime=roll_prime)
    assert out.shape == (2, len(roll_prime) + 4, rolls.spec.dim) and (out[:, : len(roll_prime)] == roll_prime).all()


def test_the_config_names_its_guide_data_and_objective():
    cfg = composed("model=dmm")
    assert cfg.guide._target_ == "guides.dmm.DMMGuide" and cfg.data._target_ == "zoo.data.jsb_chorales.load"
    assert cfg.objective.analytic_kl and cfg.objective.anneal_steps > 0 and cfg.guide.flows == 0


@pytest.mark.parametrize("flows", [0, 1])
def test_dmm_runs_from_the_command_line(tmp_path, flows):
    run = run_zoo if flows == 0 else run_in_process  # one of them in a process of its own
    run(
        tmp_path / "run",
        "model=dmm",
        f"guide.flows={flows}",
        *QUICK,
        "model.net.z_size=8",
        "model.net.transition_size=16",
        "guide.hidden_size=32",
        "evaluate.num_particles=10",
        "sample.length=20",
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == "dmm" and metrics["data"] == "jsb_chorales"
    figures = {f["kind"]: f["nats_per_step"] for f in metrics["test"]}
    assert 0 < figures["-IWAE (K=10)"] < figures["-ELBO"]  # binary frames: a true bound is positive
    assert (tmp_path / "run" / "samples.png").is_file()
