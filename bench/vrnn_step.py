"""Cost of one SVI step of vrnn + vrnn_filtering over a hand-written PyTorch VRNN.

    python -m bench.vrnn_step [--batch 32 --steps 100 --dim 88 --hidden 128 --z 16]

Both compute the same model, guide and estimator on the same Bernoulli frames: one drawn
path per sequence, the per-step Gaussian KL in closed form (objective=elbo_analytic_kl) and
the Bernoulli log-likelihood, then backward, clipping and Adam. The PyTorch reference runs
the recurrence once and batches everything else over the steps; the zoo runs the Pyro
model and the Pyro guide. Also timed: the zoo with Monte Carlo KL, and the zoo with its state hand-over
turned off (the model re-running the recurrence). Writes bench/results/vrnn_step.json.
"""

from __future__ import annotations

import argparse

import pyro
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from bench.common import time_steps, train_step, write_json
from guides.vrnn import VRNNFiltering
from zoo.data.batch import collate
from zoo.data.dataset import DataSpec
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO


def torch_vrnn_loss(model: VRNN, guide: VRNNFiltering, x: torch.Tensor) -> torch.Tensor:
    """The VRNN's -ELBO written directly and as fast as we can: the loop does only what must be
    sequential (encoder, draw, recurrence); prior, KL and decoder run batched over all steps."""
    B, T, _ = x.shape
    phi_x = model.phi_x(x)  # (B, T, F)
    h = x.new_zeros(B, model.hidden_size)
    h_prev, zs, locs, scales = [], [], [], []
    for t in range(T):
        loc, scale = guide.phi_enc(torch.cat([phi_x[:, t], h], -1))
        z = loc + scale * torch.randn_like(loc)
        h_prev.append(h)
        zs.append(z)
        locs.append(loc)
        scales.append(scale)
        h = model.rnn(torch.cat([phi_x[:, t], model.phi_z(z)], -1), h)
    z, h_prev = torch.stack(zs, 1), torch.stack(h_prev, 1)  # (B, T, Z), (B, T, H)
    prior_loc, prior_scale = model.phi_prior(h_prev)
    kl = kl_divergence(Normal(torch.stack(locs, 1), torch.stack(scales, 1)), Normal(prior_loc, prior_scale)).sum()
    logits = model.emitter.output(model.phi_dec(torch.cat([model.phi_z(z), h_prev], -1)))
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    return nll + kl


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--dim", type=int, default=88)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--z", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)

    x = (torch.rand(args.batch, args.steps, args.dim) < 0.05).float()
    batch = collate(list(x))
    model = VRNN(DataSpec("bernoulli", args.dim), hidden_size=args.hidden, z_size=args.z)
    guide = VRNNFiltering(model)
    params = list(model.parameters()) + list(guide.parameters())
    analytic, monte_carlo = ELBO(analytic_kl=True), ELBO()

    def no_handover(*a):
        pass

    def zoo_without_handover():
        remember, model.remember = model.remember, no_handover
        try:
            return analytic(model, guide, batch)
        finally:
            model.remember = remember

    steps = {
        "torch": train_step(lambda: torch_vrnn_loss(model, guide, x), params),
        "zoo": train_step(lambda: analytic(model, guide, batch), params),
        "zoo_mc_kl": train_step(lambda: monte_carlo(model, guide, batch), params),
        "zoo_no_handover": train_step(zoo_without_handover, params),
    }
    with pyro.validation_enabled(False):  # as the trainer runs its steps
        seconds = time_steps(steps, repeats=args.repeats)
    print(
        f"one SVI step of vrnn + vrnn_filtering, batch {args.batch} x {args.steps} steps, {args.dim} dims, "
        f"hidden {args.hidden}, z {args.z}, {torch.get_num_threads()} threads"
    )
    for name, s in seconds.items():
        print(f"  {name:18s} {1000 * s:8.1f} ms   {s / seconds['torch']:5.2f}x torch")
    ratio = seconds["zoo"] / seconds["torch"]
    print(f"zoo / torch = {ratio:.2f}x (target <= 1.2x)")
    write_json("vrnn_step", {"args": vars(args), "seconds": seconds, "zoo_over_torch": ratio})


if __name__ == "__main__":
    main()
