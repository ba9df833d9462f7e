"""How close do variational weight posteriors come to the exact one? NUTS as a gold standard.

    python -m bench.gold_standard [--hidden 3 --chains 4 --warmup 100 --draws 100]

A Bayesian LSTM small enough for NUTS (Hoffman and Gelman 2014), with a N(0, 1) prior on
every weight, on sequences from a fixed 3-symbol Markov chain. NUTS samples p(w | x) on the
whole training set; SVI fits a mean-field guide (Graves 2011) and a low-rank one by the ELBO
on the same set; a MAP network (a point-mass guide) is the reference without a posterior.
Reports test NLL in nats per step: posterior predictive with S = chains x draws weight
draws for NUTS and the guides, exact for the MAP network, the uniform guess and the chain
itself; NUTS's r-hat and bulk ESS, of its weights and of the symmetry-invariant
log-likelihood of each draw; how far each guide's means and sds are from NUTS's; and minutes.
Writes bench/results/gold_standard.json.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from pyro.infer.autoguide import AutoDelta
from pyro.infer.autoguide.initialization import init_to_value

from bench.common import write_json
from guides.weights import LowRankWeights, MeanFieldWeights
from zoo.data.batch import Batch, collate
from zoo.data.dataset import DataSpec
from zoo.evaluation.gold_standard import TRANSITIONS, compare, fit_guide, guide_draws, markov_sequences, nuts_draws
from zoo.evaluation.likelihood import Figure
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM


def chain_nll(batch: Batch) -> Figure:
    """-log p(x) under the chain that made the data: the best any model can do on average."""
    log_p = math.log(1 / 3) + TRANSITIONS.log()[batch.x[:, :-1], batch.x[:, 1:]].sum(-1)  # (B,), no padding
    return Figure.from_sequences("exact (the true chain)", -log_p, batch.lengths)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=3)
    parser.add_argument("--train", type=int, default=16, help="training sequences, all in one batch")
    parser.add_argument("--test", type=int, default=256, help="test sequences")
    parser.add_argument("--length", type=int, default=12, help="steps per sequence")
    parser.add_argument("--prior-scale", type=float, default=1.0)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--draws", type=int, default=100, help="per chain; guides draw as many")
    parser.add_argument("--max-tree-depth", type=int, default=5)
    parser.add_argument("--svi-steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--rank", type=int, default=2, help="of the low-rank guide's factor per tensor")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a network this small is a string of tiny ops: one thread is fastest

    g = torch.Generator().manual_seed(args.seed)
    train = collate(markov_sequences(args.train, args.length, g))
    test = collate(markov_sequences(args.test, args.length, g))
    torch.manual_seed(args.seed)
    model = BayesianWeights(
        CharLSTM(DataSpec("categorical", 3), hidden_size=args.hidden, embedding_size=2), prior_scale=args.prior_scale
    )
    num_weights = sum(len(w) for w in model.weight_sites.values())
    print(
        f"Bayesian LSTM, hidden {args.hidden} ({num_weights} weights, prior N(0, {args.prior_scale}^2)); "
        f"{args.train} training and {args.test} test sequences of {args.length} steps from a 3-symbol chain"
    )

    minutes, results = {}, {}
    start = time.perf_counter()
    nuts = nuts_draws(model, train, args.chains, args.warmup, args.draws, args.seed, args.max_tree_depth)
    minutes["NUTS"] = (time.perf_counter() - start) / 60
    for name, make in [
        ("mean field", lambda: MeanFieldWeights(model, init_scale=0.02)),
        ("low rank", lambda: LowRankWeights(model, rank=args.rank, init_scale=0.02)),
    ]:
        start = time.perf_counter()
        guide = make()
        fit_guide(model, guide, train, args.svi_steps, args.lr, seed=args.seed)
        draws = guide_draws(guide, args.chains, args.draws, seed=args.seed + 1)
        minutes[name] = (time.perf_counter() - start) / 60
        results[name] = compare(model, nuts, draws, train, test)
    start = time.perf_counter()
    point = AutoDelta(model, init_loc_fn=init_to_value(values=model.weight_sites))
    fit_guide(model, point, train, args.svi_steps, args.lr, seed=args.seed)  # the -ELBO of a point mass: MAP
    with torch.no_grad():
        map_nll = -model.log_prob(test, point.median(train))
    map_figure = Figure.from_sequences("exact (MAP weights)", map_nll, test.lengths)
    minutes["MAP"] = (time.perf_counter() - start) / 60

    first = next(iter(results.values()))
    rows = [
        (
            "NUTS",
            first.nuts,
            f"{first.train_log_lik_r_hat:.3f} / {first.test_log_lik_r_hat:.3f}",
            f"{first.train_log_lik_ess_bulk:.0f} / {first.test_log_lik_ess_bulk:.0f}",
            minutes["NUTS"],
        )
    ]
    rows += [(name, r.guide, "", "", minutes[name]) for name, r in results.items()]
    rows += [
        ("MAP", map_figure, "", "", minutes["MAP"]),
        (
            "uniform",
            Figure.from_sequences("exact (1/3 each step)", math.log(3) * test.lengths, test.lengths),
            "",
            "",
            0.0,
        ),
        ("true chain", chain_nll(test), "", "", 0.0),
    ]
    print(
        f"\ntest NLL, nats per step; NUTS {args.chains} chains x {args.draws} draws after {args.warmup} "
        f"warmup, max tree depth {args.max_tree_depth}; guides {args.svi_steps} SVI steps"
    )
    print(f"{'':11s} {'nats/step':>9s}  {'(s.e.)':8s} {'kind':34s} {'r-hat ll':>15s} {'ESS ll':>11s} {'minutes':>7s}")
    for name, f, r_hat, ess, mins in rows:
        print(f"{name:11s} {f.nats_per_step:9.4f}  ({f.stderr:.4f}) {f.kind:34s} {r_hat:>15s} {ess:>11s} {mins:7.2f}")
    print("r-hat ll, ESS ll: of each NUTS draw's log-likelihood, train / test (no symmetry changes it)")

    print(
        f"\nper weight tensor: NUTS's worst r-hat and bulk ESS, pooled over {args.chains} chains; "
        "each guide's mean |E_q w - E_NUTS w| and median sd_q / sd_NUTS"
    )
    names = list(results)
    print(
        f"{'site':26s} {'n':>4s} {'r-hat':>6s} {'ESS':>6s}  "
        + "  ".join(f"{n + ' |dmean|':>17s} {'sd ratio':>8s}" for n in names)
    )
    for site in model.weight_sites:
        s = first.sites[site]
        cells = "  ".join(
            f"{results[n].sites[site].mean_abs_diff:17.3f} {results[n].sites[site].sd_ratio:8.3f}" for n in names
        )
        print(f"{site:26s} {nuts[site].shape[-1]:4d} {s.max_r_hat:6.2f} {s.min_ess_bulk:6.0f}  {cells}")

    write_json(
        "gold_standard",
        {
            "args": vars(args),
            "num_weights": num_weights,
            "minutes": minutes,
            "test": {name: f.as_dict() for name, f, *_ in rows},
            "nuts_log_lik": {
                "train_r_hat": first.train_log_lik_r_hat,
                "train_ess_bulk": first.train_log_lik_ess_bulk,
                "test_r_hat": first.test_log_lik_r_hat,
                "test_ess_bulk": first.test_log_lik_ess_bulk,
            },
            "sites": {name: {site: vars(s) for site, s in r.sites.items()} for name, r in results.items()},
            "gap_nats_per_step": {name: r.gap for name, r in results.items()},
        },
    )


if __name__ == "__main__":
    main()
