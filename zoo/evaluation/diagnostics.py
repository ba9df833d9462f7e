"""Diagnostics of importance weights and Markov chains, through ArviZ (`load_arviz` loads it; with
zoo.reports.weights, which writes weight draws as ArviZ data, the only modules that talk to it,
so a move to ArviZ 1.x changes only these two).

Pareto-smoothed importance sampling (Vehtari et al. 2024; Yao et al. 2018): the shape k of
a generalised Pareto fit to the largest importance weights says whether an importance-
weighted estimate can be trusted. k < 0.5: fine; 0.5 <= k < 0.7: usable, slow to converge;
k >= 0.7: the estimate (here an IWAE bound, and the ELBO it improves on) is unreliable.

Markov chains (zoo.evaluation.gold_standard): r-hat and the bulk effective sample size say whether
several chains have mixed and how many independent draws they are worth.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch

from zoo.errors import ZooError

K_UNRELIABLE = 0.7


def load_arviz():
    """The arviz module, imported quietly."""
    logging.getLogger("arviz").setLevel(logging.WARNING)  # its notes on optional 1.x packages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the notice of ArviZ's coming refactor
        import arviz

    return arviz


def pareto_k(log_w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """k-hat and the effective sample size of the smoothed weights, per sequence, from log
    weights (K, N). ESS = 1 / sum_k wbar_k^2 with wbar the normalised smoothed weights."""
    smoothed, k = load_arviz().psislw(log_w.double().T.cpu().numpy())  # (N, K), (N,)
    ess = 1.0 / np.exp(2 * smoothed).sum(-1)
    return np.asarray(k), ess


def importance_diagnostics(log_w: torch.Tensor) -> dict:
    """PSIS diagnostics of K importance weights per sequence, (K, N): each sequence's Pareto k
    and effective sample size, K, the fraction of sequences at k >= K_UNRELIABLE and the largest k."""
    k, ess = pareto_k(log_w)
    return {
        "pareto_k": k.tolist(),
        "ess": ess.tolist(),
        "num_particles": log_w.shape[0],
        "fraction_k_over_0.7": float((k >= K_UNRELIABLE).mean()),
        "max_k": float(k.max()),
    }


def chain_diagnostics(draws: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Convergence figures of Markov chains, {name: (chains, draws, ...)} -> {name: {figure:
    array of one draw's shape}}: the rank-normalised split r-hat and the bulk effective sample
    size (Vehtari et al. 2021, "Rank-normalization, folding, and localization"), the mean and
    the sd over all chains together. r-hat near 1 says the chains agree; well above 1 (say
    > 1.01 for a final analysis, > 1.1 for a rough one) that they have not mixed."""
    if not draws:
        raise ZooError("chain_diagnostics needs at least one variable, {name: (chains, draws, ...)}")
    arrays = {}
    for name, values in draws.items():
        values = np.asarray(values, dtype=float)
        if values.ndim < 2 or values.shape[0] < 2 or values.shape[1] < 4:
            raise ZooError(
                f"chain_diagnostics: {name!r} has shape {values.shape}; r-hat needs (chains, draws, ...) "
                "with at least 2 chains of at least 4 draws"
            )
        if not np.isfinite(values).all():
            raise ZooError(f"chain_diagnostics: {name!r} has values that are not finite")
        arrays[name] = values
    az = load_arviz()
    stats = {}
    for name, values in arrays.items():
        idata = az.from_dict(posterior={name: values})  # one variable each: chain counts may differ
        stats[name] = {
            "r_hat": np.asarray(az.rhat(idata)[name].values),
            "ess_bulk": np.asarray(az.ess(idata, method="bulk")[name].values),
            "mean": values.mean(axis=(0, 1)),
            "sd": values.std(axis=(0, 1), ddof=1),
        }
    return stats
