"""The one module that talks to ArviZ, so a move to ArviZ 1.x changes only this file.

Pareto-smoothed importance sampling (Vehtari et al. 2024; Yao et al. 2018): the shape k of
a generalised Pareto fit to the largest importance weights says whether an importance-
weighted estimate can be trusted. k < 0.5: fine; 0.5 <= k < 0.7: usable, slow to converge;
k >= 0.7: the estimate (here an IWAE bound, and the ELBO it improves on) is unreliable.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch

K_UNRELIABLE = 0.7


def _arviz():
    logging.getLogger("arviz").setLevel(logging.WARNING)  # its notes on optional 1.x packages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the notice of ArviZ's coming refactor
        import arviz

    return arviz


def pareto_k(log_w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """k-hat and the effective sample size of the smoothed weights, per sequence, from log
    weights (K, N). ESS = 1 / sum_k wbar_k^2 with wbar the normalised smoothed weights."""
    smoothed, k = _arviz().psislw(log_w.double().T.cpu().numpy())  # (N, K), (N,)
    ess = 1.0 / np.exp(2 * smoothed).sum(-1)
    return np.asarray(k), ess
