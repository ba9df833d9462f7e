"""K draws of w per training minibatch (model.weights.draws): what they cost and what they buy.

    python -m bench.weight_draws [--run RUN] [--data tiny_shakespeare] [--hidden 512] [--layers 2]
                                 [--draws 1 2 4 8 16] [--repeats 16] [--threads 1]

bayes_lstm with the mean-field guide, at q(w) as a run left it (`--run`: a bayes_lstm run folder
or checkpoint, its own data and size) or at a fresh q(w) of the given size, on one fixed
training minibatch of --batch sequences, for each K of --draws:

    seconds per step    the -ELBO's loss and backward pass, the contenders interleaved
                        (bench.common.time_steps); the reference is K = 1 in the same run
    gradient noise      the variance of d(-ELBO)/d mu over --repeats fresh draws of w, summed
                        over q's means and over their steps: trace Cov[g], against K = 1's
    signal / noise      |E g|^2 / trace Cov[g], E g from the same repeats (the squared mean
                        gradient, less its own sampling noise trace Cov[g] / R)

One draw of w shared by all B sequences makes every sequence's gradient move together; K
independent draws each serving B / K sequences remove that covariance between the groups, and
the network still runs as K fused recurrences. Writes bench/results/weight_draws_<tag>.json.
"""

from __future__ import annotations

import argparse
import logging

import torch

from bench.common import compose_config, time_steps, write_json
from zoo.objectives import ELBO


def shared(args):
    """(config, checkpoint state or None, data) that every K shares, read once: --run's, or a
    fresh q(w) of --hidden x --layers on --data."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from zoo.training.checkpoint import load_checkpoint

    if args.run:
        state = load_checkpoint(args.run, "best.pt")
        cfg = OmegaConf.create(state["config"])
    else:
        state = None
        cfg = compose_config(
            [
                "model=bayes_lstm",
                "weight_guide=mean_field",
                f"data={args.data}",
                f"model.net.hidden_size={args.hidden}",
                f"model.net.num_layers={args.layers}",
            ]
        )
    return cfg, state, instantiate(cfg.data)


def build(cfg, state: dict | None, data, draws: int):
    """(model, guide) with K = draws, at the checkpoint's q(w) or a fresh one."""
    from omegaconf import OmegaConf

    from zoo.run import build_guide, build_model
    from zoo.training.checkpoint import load_module_state

    cfg = OmegaConf.merge(cfg, {"model": {"weights": {"draws": draws}}})
    torch.manual_seed(0)
    model = build_model(cfg, data.spec)
    guide = build_guide(cfg, model)
    if state is not None:
        load_module_state(model, state["model"], "model")
        load_module_state(guide, state["guide"], "guide")
    return model.train(), guide.train()


def gradient_noise(model, guide, batch, repeats: int) -> tuple[float, float]:
    """(trace Cov[g], |E g|^2) of g = d(-ELBO)/d mu over `repeats` draws of w."""
    objective = ELBO()
    means = list(guide.weights.loc)
    grads = []
    for r in range(repeats):
        torch.manual_seed(1000 + r)
        g = torch.autograd.grad(objective(model, guide, batch), means)
        grads.append(torch.cat([x.reshape(-1) for x in g]))
    G = torch.stack(grads)  # (R, numel)
    mean = G.mean(0)
    noise = float(((G - mean) ** 2).sum() / (repeats - 1))
    signal = float((mean**2).sum()) - noise / repeats  # |E g|^2, less the noise of the mean itself
    return noise, signal


def main():
    parser = argparse.ArgumentParser(
        prog="python -m bench.weight_draws",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", default=None, help="a bayes_lstm run folder or checkpoint (its best.pt's q(w))")
    parser.add_argument("--data", default="tiny_shakespeare", help="without --run: the data set")
    parser.add_argument("--hidden", type=int, default=512, help="without --run: units per layer")
    parser.add_argument("--layers", type=int, default=2, help="without --run: LSTM layers")
    parser.add_argument("--batch", type=int, default=64, help="sequences in the minibatch")
    parser.add_argument("--draws", nargs="+", type=int, default=[1, 2, 4, 8, 16], help="the K compared; K = 1 first")
    parser.add_argument("--repeats", type=int, default=16, help="draws of w for the gradient noise")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tag", default="main", help="names bench/results/weight_draws_<tag>.json")
    args = parser.parse_args()
    if args.draws[0] != 1:
        parser.error("--draws must start with 1: the reference the others are measured against")
    if args.repeats < 2:
        parser.error("--repeats must be at least 2: the gradient's variance needs two draws")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    cfg, state, data = shared(args)
    built = {K: build(cfg, state, data, K) for K in args.draws}
    batch = next(iter(data.batches("train", args.batch, shuffle=True, seed=0)))

    def step(model, guide):
        def run():
            ELBO()(model, guide, batch).backward()

        return run

    seconds = time_steps({K: step(m, g) for K, (m, g) in built.items()}, repeats=5, inner=2, warmup=1)
    rows = {}
    for K, (model, guide) in built.items():
        noise, signal = gradient_noise(model, guide, batch, args.repeats)
        rows[K] = {"seconds_per_step": seconds[K], "gradient_noise": noise, "signal_to_noise": signal / noise}
    one = rows[1]
    print(
        f"\nbayes_lstm, mean field, {data.name}: {batch.batch_size} sequences of up to {batch.mask.shape[1]} steps, "
        f"{args.threads} CPU thread(s); q(w) {'of ' + args.run if args.run else 'fresh'}; gradient of -ELBO "
        f"with respect to q's means over {args.repeats} draws of w\n"
    )
    print(
        "| K draws | seconds per step | against K = 1 | gradient noise, trace Cov[g] | against K = 1 | signal / noise |"
    )
    print("|---|---|---|---|---|---|")
    for K, r in rows.items():
        print(
            f"| {K} | {r['seconds_per_step']:.3f} | {r['seconds_per_step'] / one['seconds_per_step']:.2f}x | "
            f"{r['gradient_noise']:.4g} | {r['gradient_noise'] / one['gradient_noise']:.2f}x | "
            f"{r['signal_to_noise']:.3g} |"
        )
    out = write_json(f"weight_draws_{args.tag}", {"args": vars(args), "rows": {str(K): r for K, r in rows.items()}})
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
