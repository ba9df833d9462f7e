"""A gold standard for variational weight posteriors: NUTS against SVI on a Bayesian RNN
small enough for NUTS.

    p(w | x) ∝ p(w) prod_i p(x_i | w)          the exact posterior, sampled by NUTS (Hoffman
                                              and Gelman 2014) on the whole training set
    q(w) ≈ p(w | x)                           a weight guide fitted by the ELBO (Graves 2011)

Both are judged on held-out sequences by the posterior predictive
    log p(x* | x) ≈ log (1/S) sum_s p(x* | w_s),   w_s from NUTS or from q,
per sequence, reported as nats per step; and weight by weight by their means and sds.

An RNN's posterior is symmetric: permuting hidden units, or flipping the sign of one unit's
cell input and of every weight that reads it, leaves p(x | w) unchanged. Chains that settle
in different copies of one mode disagree weight by weight (large r-hat) while describing the
same predictive distribution, so the figures that decide convergence are those of quantities
the symmetries leave alone: the log-likelihood of each draw on the training and test sets.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pyro
import pyro.poutine as poutine
import torch
from pyro.infer import MCMC, NUTS
from pyro.infer.autoguide.initialization import init_to_sample

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.estimators.importance import iwae_bound
from zoo.evaluation.diagnostics import chain_diagnostics
from zoo.evaluation.likelihood import Figure, predictive_kind
from zoo.objectives import ELBO

# The small data set of the gold standard. p(x_t | x_{t-1}): each symbol mostly moves to the
# next one; x_1 is uniform; entropy rate 0.693 nats per step.
TRANSITIONS = torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])


def markov_sequences(num_sequences: int, length: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Sequences of the chain TRANSITIONS started uniformly, (length,) each."""
    seqs = []
    for _ in range(num_sequences):
        x = [int(torch.randint(0, 3, (1,), generator=generator))]
        for _ in range(length - 1):
            x.append(int(torch.multinomial(TRANSITIONS[x[-1]], 1, generator=generator)))
        seqs.append(torch.tensor(x))
    return seqs


def _whole(batch: Batch) -> Batch:
    """The batch, if it is a whole data set (no subsampling, so no rescaled likelihood)."""
    if batch.dataset_size != batch.batch_size:
        raise ZooError(
            f"the batch holds {batch.batch_size} of {batch.dataset_size} sequences: NUTS and the gold "
            "standard's SVI see the whole training set as one batch, collate(train) with no dataset_size"
        )
    return batch


def nuts_draws(
    model,
    batch: Batch,
    num_chains: int = 2,
    warmup: int = 100,
    draws: int = 100,
    seed: int = 0,
    max_tree_depth: int = 5,
    jit_compile: bool = True,
) -> dict[str, np.ndarray]:
    """Draws from p(w | x) by NUTS, {site: (chains, draws, numel)}.

    The chains run one after another, chain c seeded by seed + c and started from a draw of
    the prior (so they start apart, as r-hat needs). Each adapts its own step size and
    diagonal mass matrix during `warmup`; a trajectory holds at most 2^max_tree_depth - 1
    leapfrog steps. `batch` is the whole training set."""
    if num_chains < 1 or warmup < 1 or draws < 1:
        raise ZooError(f"NUTS needs num_chains, warmup and draws >= 1, got {num_chains}, {warmup}, {draws}")
    _whole(batch)
    chains = []
    for c in range(num_chains):
        pyro.set_rng_seed(seed + c)
        kernel = NUTS(
            model,
            max_tree_depth=max_tree_depth,
            init_strategy=init_to_sample,
            jit_compile=jit_compile,
            ignore_jit_warnings=True,
        )
        mcmc = MCMC(kernel, num_samples=draws, warmup_steps=warmup, num_chains=1, disable_progbar=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*torch.jit.trace.*deprecated", DeprecationWarning)
            mcmc.run(batch)
        chains.append({site: w.detach().cpu().numpy() for site, w in mcmc.get_samples().items()})  # (S, n)
    return {site: np.stack([chain[site] for chain in chains]) for site in chains[0]}  # (C, S, n)


@torch.no_grad()
def guide_draws(
    guide, num_chains: int = 2, draws: int = 100, seed: int = 0, batch: Batch | None = None
) -> dict[str, np.ndarray]:
    """Independent draws of every latent site of `guide` (a weight guide, or the prior
    `model.sample_weights`), {site: (chains, draws, numel)}: the layout of nuts_draws, so both
    go through the same figures."""
    pyro.set_rng_seed(seed)
    samples = []
    for _ in range(num_chains * draws):
        trace = poutine.trace(guide).get_trace(*([batch] if batch is not None else []))
        samples.append(
            {
                name: site["value"].reshape(-1).cpu().numpy()
                for name, site in trace.nodes.items()
                if site["type"] == "sample" and not site["is_observed"]
            }
        )
    if not samples[0]:
        raise ZooError(f"{type(guide).__name__} has no latent sample sites to draw")
    return {site: np.stack([s[site] for s in samples]).reshape(num_chains, draws, -1) for site in samples[0]}


@torch.no_grad()
def log_likelihoods(model, draws: dict[str, np.ndarray], batch: Batch) -> torch.Tensor:
    """log p(x_i | w_cs) for every draw and sequence, (chains, draws, B)."""
    missing = set(model.weight_sites) - set(draws)
    if missing:
        raise ZooError(f"the draws lack the weight sites {sorted(missing)}")
    num_chains, num_draws = next(iter(draws.values())).shape[:2]
    for site, w in model.weight_sites.items():
        if draws[site].shape != (num_chains, num_draws, len(w)):
            raise ZooError(
                f"draws of {site} have shape {draws[site].shape}, not (chains, draws, numel) = "
                f"{(num_chains, num_draws, len(w))}"
            )
    log_p = torch.empty(num_chains, num_draws, batch.batch_size, dtype=torch.float64)
    for c in range(num_chains):
        for s in range(num_draws):
            weights = {site: torch.as_tensor(draws[site][c, s], dtype=torch.float32) for site in model.weight_sites}
            log_p[c, s] = model.log_prob(batch, weights).double()  # (B,)
    return log_p


def predictive_nll(model, draws: dict[str, np.ndarray], batch: Batch) -> tuple[Figure, np.ndarray]:
    """The posterior predictive -log p(x_i | data) ≈ -log (1/S) sum_s p(x_i | w_s) of each
    sequence over all S = chains x draws draws, as a Figure in nats per step; and each draw's
    log-likelihood of the whole batch, sum_i log p(x_i | w_cs), (chains, draws)."""
    log_p = log_likelihoods(model, draws, batch)  # (C, S, B)
    num_draws = log_p.shape[0] * log_p.shape[1]
    nll = -iwae_bound(log_p.reshape(num_draws, -1))  # (B,)
    figure = Figure.from_sequences(predictive_kind(num_draws), nll, batch.lengths)
    return figure, log_p.sum(-1).numpy()


def fit_guide(
    model, guide, batch: Batch, steps: int = 500, lr: float = 0.02, num_particles: int = 1, seed: int = 0
) -> list[float]:
    """SVI on the batch NUTS sees: `steps` full-batch Adam steps on the -ELBO (the KL in closed
    form where it has one) over the guide's parameters only, so that q and NUTS aim at one
    posterior. Returns the -ELBO per step of the batch at each step."""
    _whole(batch)
    pyro.set_rng_seed(seed)
    objective = ELBO(num_particles=num_particles, analytic_kl=True)
    objective(model, guide, batch)  # an AutoGuide makes its parameters on its first call
    params = [p for p in guide.parameters() if p.requires_grad]
    if not params:
        raise ZooError(f"{type(guide).__name__} has no parameters to fit")
    optimizer = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss = objective(model, guide, batch) / batch.num_steps
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@dataclass
class SiteComparison:
    """One weight tensor w_j under NUTS and under q, over its numel weights."""

    mean_abs_diff: float  # mean_i |E_q w_i - E_NUTS w_i|
    sd_ratio: float  # median_i sd_q(w_i) / sd_NUTS(w_i); mean-field VI tends to be below 1
    max_r_hat: float  # of NUTS, the worst weight
    min_ess_bulk: float  # of NUTS, the worst weight


@dataclass
class GoldStandard:
    """NUTS against a guide q on one data set: predictive figures in nats per step (posterior
    predictive with the S draws of each), weight-by-weight moments, and NUTS's diagnostics."""

    nuts: Figure
    guide: Figure
    sites: dict[str, SiteComparison]
    train_log_lik_r_hat: float  # of sum_i log p(x_i | w) over NUTS draws: symmetry-invariant
    train_log_lik_ess_bulk: float
    test_log_lik_r_hat: float
    test_log_lik_ess_bulk: float

    @property
    def gap(self) -> float:
        """q's predictive NLL minus NUTS's, nats per step."""
        return self.guide.nats_per_step - self.nuts.nats_per_step


def compare(
    model, nuts: dict[str, np.ndarray], guide: dict[str, np.ndarray], train: Batch, test: Batch
) -> GoldStandard:
    """The gold standard's figures from NUTS draws and guide draws, both {site: (chains, draws, n)}.

    Means and sds of NUTS pool its chains; where chains sit in different symmetric copies of a
    mode, a site's mean difference and r-hat measure that too (the output bias is the one
    site no symmetry moves)."""
    if set(nuts) != set(guide):
        raise ZooError(f"NUTS has sites {sorted(nuts)}, the guide {sorted(guide)}: they must be the same")
    nuts_figure, test_log_lik = predictive_nll(model, nuts, test)
    guide_figure, _ = predictive_nll(model, guide, test)
    train_log_lik = log_likelihoods(model, nuts, train).sum(-1).numpy()  # (C, S)
    stats = chain_diagnostics({**nuts, "train log-lik": train_log_lik, "test log-lik": test_log_lik})
    sites = {}
    for site in nuts:
        q_mean, q_sd = guide[site].mean(axis=(0, 1)), guide[site].std(axis=(0, 1), ddof=1)  # (n,)
        s = stats[site]
        sites[site] = SiteComparison(
            mean_abs_diff=float(np.abs(q_mean - s["mean"]).mean()),
            sd_ratio=float(np.median(q_sd / s["sd"])),
            max_r_hat=float(s["r_hat"].max()),
            min_ess_bulk=float(s["ess_bulk"].min()),
        )
    return GoldStandard(
        nuts_figure,
        guide_figure,
        sites,
        float(stats["train log-lik"]["r_hat"]),
        float(stats["train log-lik"]["ess_bulk"]),
        float(stats["test log-lik"]["r_hat"]),
        float(stats["test log-lik"]["ess_bulk"]),
    )
