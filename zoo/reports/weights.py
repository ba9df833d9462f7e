"""Weight draws of a guide written for people, through ArviZ: InferenceData in netCDF, a summary
table and a picture of posterior densities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zoo.evaluation.diagnostics import load_arviz


def weight_posterior(draws: dict[str, np.ndarray], path_nc, path_png, plotted: int = 4) -> str:
    """Weight draws from a guide, {site: (S, n)}, as ArviZ InferenceData: written to
    netCDF, summarised as a markdown table (mean, sd, 94% HDI), and the first `plotted`
    weights of the first site drawn as posterior densities. Returns the table."""
    az = load_arviz()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # one chain, in float64: ArviZ's density grid cannot span float32 draws that differ in the last bits
    idata = az.from_dict(posterior={name: np.asarray(values, dtype=np.float64)[None] for name, values in draws.items()})
    idata.to_netcdf(str(path_nc))
    summary = az.summary(idata, kind="stats")
    first = next(iter(draws))
    shown = list(range(min(plotted, draws[first].shape[-1])))
    axes = az.plot_posterior(idata, var_names=[first], coords={f"{first}_dim_0": shown})
    plt.gcf().savefig(path_png, dpi=80)
    plt.close("all")
    rows = ["| weight | mean | sd | hdi 3% | hdi 97% |", "|---|---|---|---|---|"]
    rows += [
        f"| `{name}` | {r['mean']:.4f} | {r['sd']:.4f} | {r['hdi_3%']:.4f} | {r['hdi_97%']:.4f} |"
        for name, r in summary.iterrows()
    ]
    del axes
    return "\n".join(rows)


@torch.no_grad()
def write_weight_draws(guide, num_samples: int, per_site: int, out: Path) -> str:
    """S draws w_s ~ q(w) of the first `per_site` weights of every site, through ArviZ:
    weights.nc, weights.png and a summary table."""
    draws = [guide() for _ in range(num_samples)]
    by_site = {name: torch.stack([d[name][:per_site] for d in draws]).cpu().numpy() for name in draws[0]}
    return weight_posterior(by_site, out / "weights.nc", out / "weights.png")
