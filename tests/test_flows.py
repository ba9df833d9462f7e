"""Inverse autoregressive flows on Gaussian path guides (zoo.nn.flows): no flows is the plain
guide, a flowed path's density is the base density over the Jacobian, its draws follow that
density, the next step reads the flowed draw, and the closed-form KL gives way to Monte Carlo."""

import json

import pyro.poutine as poutine
import pytest
import torch
from pyro.distributions import Normal, TransformedDistribution
from torch.distributions import kl_divergence

from guides.dmm import DMMGuide
from guides.srnn import SRNNFiltering, SRNNSmoothing
from guides.vrnn import VRNNFiltering, VRNNSmoothing
from tests.helpers import QUICK, run_in_process, toy_rolls
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.models.dmm import DMM
from zoo.models.srnn import SRNN
from zoo.models.vrnn import VRNN
from zoo.nn.flows import FlowPath, IAFStack
from zoo.nn.gaussian_path import GaussianPath
from zoo.objectives import ELBO
from zoo.training.sites import check_guide_covers, latent_sites


@pytest.fixture
def rolls():
    return toy_rolls()


@pytest.fixture
def batch(rolls):
    return collate(rolls.train[:4])  # ragged: lengths differ


def vrnn(rolls):
    return VRNN(rolls.spec, hidden_size=8, z_size=3)


def dmm(rolls):
    return DMM(rolls.spec, z_size=3, transition_size=8, hidden_size=8)


def srnn(rolls):
    return SRNN(rolls.spec, hidden_size=8, z_size=3)


GUIDES = {  # name -> (model, guide with `flows` IAFs)
    "vrnn_filtering": lambda rolls, flows: (m := vrnn(rolls), VRNNFiltering(m, flows=flows)),
    "vrnn_smoothing": lambda rolls, flows: (m := vrnn(rolls), VRNNSmoothing(m, hidden_size=8, flows=flows)),
    "dmm": lambda rolls, flows: (m := dmm(rolls), DMMGuide(m, hidden_size=8, flows=flows)),
    "srnn_smoothing": lambda rolls, flows: (m := srnn(rolls), SRNNSmoothing(m, flows=flows)),
    "srnn_filtering": lambda rolls, flows: (m := srnn(rolls), SRNNFiltering(m, flows=flows)),
}


def path_site(guide, batch):
    return poutine.trace(guide).get_trace(batch).nodes["z"]


def plain_vrnn_filtering(guide, batch) -> GaussianPath:
    """The filtering guide's eq. 9 loop as written before flows existed."""
    vrnn = guide.vrnn
    phi_x = vrnn.features(batch.x)
    h = vrnn.initial_state(batch.batch_size, phi_x)
    zs, locs, scales = [], [], []
    for t in range(batch.x.shape[1]):
        loc, scale = guide.phi_enc(torch.cat([phi_x[:, t], h], -1))
        zs.append(loc + scale * torch.randn_like(loc))
        locs.append(loc)
        scales.append(scale)
        h = vrnn.step(phi_x[:, t], zs[-1], h)
    return GaussianPath(torch.stack(zs, 1), torch.stack(locs, 1), torch.stack(scales, 1), batch.mask)


def test_no_flows_is_exactly_the_plain_guide(rolls, batch):
    _, guide = GUIDES["vrnn_filtering"](rolls, 0)
    torch.manual_seed(1)
    site = path_site(guide, batch)
    torch.manual_seed(1)
    plain = plain_vrnn_filtering(guide, batch)
    assert type(site["fn"]) is GaussianPath and not list(guide.flows.parameters())
    assert torch.equal(site["value"], plain.z)
    assert torch.equal(site["fn"].log_prob(site["value"]), plain.log_prob(plain.z))
    assert torch.equal(
        site["fn"].log_prob(site["value"]),
        (Normal(plain.loc, plain.scale).log_prob(plain.z).sum(-1) * batch.mask).sum(-1),
    )


@pytest.mark.parametrize("name", GUIDES)
def test_site_names_are_unchanged_and_the_guide_covers_the_model(rolls, batch, name):
    model, guide = GUIDES[name](rolls, 2)
    check_guide_covers(model, guide, batch)
    assert set(latent_sites(guide, batch)) == {"z"}
    assert isinstance(path_site(guide, batch)["fn"], FlowPath)


@pytest.mark.parametrize("name", GUIDES)
def test_flowed_log_q_is_the_base_density_over_the_jacobian(rolls, batch, name):
    """log q(z) of the path = sum_t mask_t log q(z_t | .), each step scored independently by Pyro's
    TransformedDistribution(N(loc_t, scale_t), flows) at a copy of z_t (so it inverts the flows
    rather than reading their cache)."""
    _, guide = GUIDES[name](rolls, 2)
    with torch.no_grad():
        q = path_site(guide, batch)["fn"]
        log_q = q.log_prob(q.z)
        expected = 0.0
        for t in range(q.z.shape[1]):
            step = TransformedDistribution(Normal(q.loc[:, t], q.scale[:, t]).to_event(1), list(guide.flows.transforms))
            expected = expected + step.log_prob(q.z[:, t].clone()) * batch.mask[:, t]
        eps, _ = guide.flows.inverse(q.z.reshape(-1, 3))
    torch.testing.assert_close(log_q, expected, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(eps.reshape(q.eps.shape), q.eps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(q.log_prob(q.z.clone()), log_q, atol=1e-4, rtol=1e-5)  # the inverting branch
    assert q.log_det.std() > 1e-3  # the flows are not volume-preserving here: the test has teeth


def test_draws_of_a_flowed_gaussian_have_its_density_moments():
    """One step, Z = 2: the mean and second moments of 200,000 draws equal those of the density
    log q(z) (computed by inverting the flows) integrated on a grid, which integrates to 1."""
    flows = IAFStack(2, num_flows=2, hidden_size=16)
    with torch.no_grad():
        for p in flows.parameters():
            p.mul_(2.0)  # a clearly non-Gaussian q
        loc, scale = torch.tensor([0.3, -0.2]), torch.tensor([0.8, 0.5])
        n = 200_000
        steps = flows.steps()
        steps.draw(loc.expand(n, 2), scale.expand(n, 2))
        z = steps.path(torch.ones(n, 1)).z[:, 0]  # (n, 2)
        lo, hi = z.quantile(1e-4, 0) - 1.0, z.quantile(1 - 1e-4, 0) + 1.0
        axes = [torch.linspace(float(lo[d]), float(hi[d]), 400) for d in range(2)]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)  # (G, 2)
        G = len(grid)
        q = FlowPath(
            grid[:, None],
            grid[:, None],
            torch.zeros(G, 1),
            loc.expand(G, 1, 2),
            scale.expand(G, 1, 2),
            torch.ones(G, 1),
            flows,
        )
        density = q.log_prob(grid[:, None].clone()).exp() * (axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0])
    assert abs(float(density.sum()) - 1) < 5e-3
    mean = (density[:, None] * grid).sum(0)
    second = (density[:, None, None] * grid[:, :, None] * grid[:, None, :]).sum(0)
    assert ((z.mean(0) - mean).abs() < 5 * z.std(0) / n**0.5).all()
    products = (z[:, :, None] * z[:, None, :]).reshape(n, 4)  # z_i z_j per draw
    assert ((products.mean(0) - second.reshape(4)).abs() < 5 * products.std(0) / n**0.5).all()
    skew = ((z - z.mean(0)) ** 3).mean(0) / z.std(0) ** 3
    assert skew.abs().max() > 0.1  # the draws are not Gaussian


def test_the_next_step_reads_the_flowed_draw(rolls, batch):
    _, guide = GUIDES["dmm"](rolls, 2)
    with torch.no_grad():
        q = path_site(guide, batch)["fn"]
        g = guide.backward_states(batch)
        loc, _ = guide.combiner(q.z[:, :-1], g[:, 1:])  # from the flowed z_{t-1}
        unflowed, _ = guide.combiner(q.eps[:, :-1], g[:, 1:])
    torch.testing.assert_close(q.loc[:, 1:], loc)
    assert not torch.allclose(q.loc[:, 1:], unflowed, atol=1e-3)


@pytest.mark.parametrize("name", GUIDES)
def test_analytic_kl_falls_back_to_monte_carlo_with_flows(rolls, batch, name):
    """No closed-form KL is registered for a flowed path, so objective=elbo_analytic_kl computes
    the same Monte Carlo ELBO as objective=elbo from the same draws."""
    model, guide = GUIDES[name](rolls, 2)
    with torch.no_grad():
        q = path_site(guide, batch)["fn"]
        p = poutine.trace(poutine.replay(model, trace=poutine.trace(guide).get_trace(batch))).get_trace(batch)
    with pytest.raises(NotImplementedError):
        kl_divergence(q, p.nodes["z"]["fn"])
    torch.manual_seed(3)
    analytic = ELBO(analytic_kl=True)(model, guide, batch)
    torch.manual_seed(3)
    torch.testing.assert_close(analytic, ELBO()(model, guide, batch))


def test_smc_proposal_is_the_flowed_step(rolls):
    """The filtering guide's one-step proposal for SMC carries the same flows as its path."""
    model, guide = GUIDES["vrnn_filtering"](rolls, 2)
    batch = collate(rolls.train[:3])
    with torch.no_grad():
        context, state = model.smc_init(batch)
        context_1 = tuple(c[:, 0] for c in context)  # the first step, one particle per sequence
        q = guide.smc_proposal(context_1, state)
        z = q.rsample()
        eps, log_det = guide.flows.inverse(z.clone())
        loc, scale = guide.phi_enc(torch.cat([context_1[1], state[0]], -1))
        torch.testing.assert_close(
            q.log_prob(z), Normal(loc, scale).log_prob(eps).sum(-1) - log_det, atol=1e-4, rtol=1e-5
        )


def test_srnn_smc_proposals_score_the_filtering_guides_flowed_path(rolls):
    """Along the path the SRNN filtering guide draws, its one-step SMC proposals, each fed the
    flowed z_{t-1}, multiply to the path's own log q(z_{1:T} | x)."""
    model, guide = GUIDES["srnn_filtering"](rolls, 2)
    batch = collate(rolls.train[:4])  # ragged
    with torch.no_grad():
        q = path_site(guide, batch)["fn"]
        context, (z_prev,) = model.smc_init(batch)
        log_q = torch.zeros(4)
        for t in range(q.z.shape[1]):
            step = guide.smc_proposal(tuple(c[:, t] for c in context), (z_prev,))
            log_q += step.log_prob(q.z[:, t].clone()) * batch.mask[:, t]  # a copy: the flows are inverted
            z_prev = q.z[:, t]
    assert isinstance(q, FlowPath)
    torch.testing.assert_close(log_q, q.log_prob(q.z), atol=1e-4, rtol=1e-5)


def test_a_negative_number_of_flows_is_refused(rolls):
    with pytest.raises(ZooError, match="guide.flows"):
        VRNNFiltering(vrnn(rolls), flows=-1)


def test_vrnn_with_flows_runs_from_the_command_line(tmp_path):
    run_in_process(
        tmp_path / "run", "model=vrnn", "guide.flows=2", *QUICK, "model.net.z_size=4", "evaluate.num_particles=10"
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    figures = {f["kind"]: f["nats_per_step"] for f in metrics["test"]}
    assert 0 < figures["-IWAE (K=10)"] < figures["-ELBO"]  # binary frames: a true bound is positive
