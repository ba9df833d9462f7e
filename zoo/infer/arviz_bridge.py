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


def weight_posterior(draws: dict[str, np.ndarray], path_nc, path_png, plotted: int = 4) -> str:
    """Weight draws from a guide, {site: (S, n)}, as ArviZ InferenceData: written to
    netCDF, summarised as a markdown table (mean, sd, 94% HDI), and the first `plotted`
    weights of the first site drawn as posterior densities. Returns the table."""
    az = _arviz()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idata = az.from_dict(posterior={name: values[None] for name, values in draws.items()})  # one chain
    idata.to_netcdf(str(path_nc))
    summary = az.summary(idata, kind="stats")
    first = next(iter(draws))
    shown = list(range(min(plotted, draws[first].shape[-1])))
    axes = az.plot_posterior(idata, var_names=[first], coords={f"{first}_dim_0": shown})
    plt.gcf().savefig(path_png, dpi=80)
    plt.close("all")
    rows = ["| weight | mean | sd | hdi 3% | hdi 97% |", "|---|---|---|---|---|"]
    rows += [f"| `{name}` | {r['mean']:.4f} | {r['sd']:.4f} | {r['hdi_3%']:.4f} | {r['hdi_97%']:.4f} |"
             for name, r in summary.iterrows()]
    del axes
    return "\n".join(rows)
