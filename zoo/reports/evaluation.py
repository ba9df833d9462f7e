"""The page zoo.evaluate writes beside a run's checkpoint, evaluation/report.md: the figures with
their kinds, units and standard errors, NLL-oracle, the two-sample test, calibration, the PSIS
diagnostics of importance weights and the weight posterior's table."""

from __future__ import annotations

import torch

from zoo.evaluation.calibration import describe as describe_calibration
from zoo.evaluation.two_sample import describe as describe_two_sample


def markdown(result: dict) -> str:
    """A markdown page: the figures table and, where there are importance weights, their diagnostics."""
    lines = [
        f"# {result['model']} on {result['data']}: {result['split']} split",
        "",
        f"Checkpoint: `{result['run']}`",
        "",
        *([f"Parameters: {result['averaged']}.", ""] if result.get("averaged") else []),
        "| kind | nats/step | ± s.e. | bits/step | nats/sequence | steps | sequences |",
        "|---|---|---|---|---|---|---|",
    ]
    unreliable = result["diagnostics"] and result["diagnostics"]["fraction_k_over_0.7"] > 0
    for f in result["figures"]:
        flag = " (unreliable: Pareto k >= 0.7)" if unreliable and f["kind"].startswith(("-ELBO", "-IWAE")) else ""
        stderr = "n/a" if f["stderr"] is None else f"{f['stderr']:.4f}"
        lines.append(
            f"| {f['kind']}{flag} | {f['nats_per_step']:.4f} | {stderr} | {f['bits_per_step']:.4f} "
            f"| {f['nats_per_sequence']:.2f} | {f['num_steps']} | {f['num_sequences']} |"
        )
    for f in result.get("oracle", []):
        stderr = "n/a" if f["stderr"] is None else f"{f['stderr']:.4f}"
        lines += [
            "",
            f"Samples under the oracle: {f['kind']} {f['nats_per_step']:.4f} nats/token "
            f"(± {stderr}) over {f['num_sequences']} sequences drawn from the model.",
        ]
    if result.get("two_sample"):
        lines += ["", describe_two_sample(result["two_sample"])]
    if result.get("calibration"):
        lines += ["", describe_calibration(result["calibration"]), "", "![reliability diagram](reliability.png)"]
    d = result["diagnostics"]
    if d:
        k = torch.tensor(d["pareto_k"])
        lines += [
            "",
            f"Importance weights, K = {d['num_particles']} per sequence (PSIS, Vehtari et al. 2024):",
            "",
            f"- Pareto k: median {k.median():.2f}, max {d['max_k']:.2f}; "
            f"{100 * d['fraction_k_over_0.7']:.1f}% of sequences at k >= 0.7",
            f"- effective sample size: median {torch.tensor(d['ess']).median():.1f} of {d['num_particles']}",
        ]
    if result["weights_table"]:
        lines += [
            "",
            "Weight posterior q(w): the first weights of each tensor, from `num_samples` draws "
            "(ArviZ data in weights.nc):",
            "",
            "![posterior of the first weights](weights.png)",
            "",
            result["weights_table"],
        ]
    return "\n".join(lines) + "\n"
