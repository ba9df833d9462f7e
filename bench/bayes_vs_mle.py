"""Does weight noise beat maximum likelihood when data are scarce? (Graves 2011, 2013)

    python -m bench.bayes_vs_mle [--chars 200000 --steps 3000 --hidden 256]

Trains char_lstm (maximum likelihood) and bayes_lstm (mean-field variational weights) with
the same network, batch size, step budget and early stopping (bayes_lstm's on the exact NLL of
the network at q's mean, as zoo.run's bayes_lstm validates) on the first `--chars`
characters of tiny_shakespeare, then reports held-out NLL on its test split in nats and bits
per character: exact for char_lstm; posterior predictive (S draws) and -ELBO for bayes_lstm.
Graves 2013 reports weight noise beating no regularisation on Penn Treebank, 1.26-1.27
against 1.32 bits per character (a different data set). Needs tiny_shakespeare.txt in
$ZOO_DATA_DIR (or the network). Writes bench/results/bayes_vs_mle.json.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import torch

from bench.common import reload_best, write_json
from guides.empty import NoLatents
from guides.weights import MeanFieldWeights
from zoo.data import tiny_shakespeare
from zoo.evaluation.likelihood import held_out_figures
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.training.trainer import Trainer, TrainOptions


def train(name: str, data, args) -> dict:
    torch.manual_seed(args.seed)
    net = CharLSTM(data.spec, hidden_size=args.hidden)
    if name == "bayes_lstm":
        model = BayesianWeights(net, prior=args.prior, prior_scale=args.prior_scale)
        guide = MeanFieldWeights(model, init_scale=args.init_scale)
    else:
        model, guide = net, NoLatents(net)
    options = TrainOptions(
        max_epochs=args.steps // args.steps_per_epoch,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch,
        lr=args.lr,
        patience=args.patience,
        seed=args.seed,
        progress=False,
        valid_at_mean=name == "bayes_lstm",  # zoo.run's bayes_lstm default: select by the network at q's mean
    )
    run_dir = Path(__file__).parent / "results" / "bayes_vs_mle" / name
    trainer = Trainer(model, guide, ELBO(), data, options, run_dir)
    history = trainer.fit()
    reload_best(trainer)
    figures = held_out_figures(model, guide, data, "test", num_samples=args.samples, train_steps=trainer.train_steps)
    best = min(history, key=lambda h: h["valid_nats_per_step"])
    return {
        "test": [f.as_dict() for f in figures],
        "best_epoch_step": best["step"],
        "best_valid_nats_per_step": best["valid_nats_per_step"],
        "final_train_loss": history[-1]["train_loss"],
        "steps": history[-1]["step"],
        "minutes": history[-1]["minutes"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=200_000, help="training characters kept")
    parser.add_argument("--steps", type=int, default=3000, help="training step budget for each model")
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--prior", default="gaussian", choices=["gaussian", "adaptive", "scale_mixture"])
    parser.add_argument("--prior-scale", type=float, default=0.1)
    parser.add_argument("--init-scale", type=float, default=1e-3)
    parser.add_argument("--samples", type=int, default=10, help="weight draws S for the predictive NLL")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = tiny_shakespeare.load(max_train_chars=args.chars)
    print(
        f"tiny_shakespeare: {data.num_steps('train'):,} training characters, {data.num_steps('test'):,} test characters"
    )
    results = {name: train(name, data, args) for name in ("char_lstm", "bayes_lstm")}

    print(f"\ntest NLL, nats (bits) per character, after early stopping on validation; budget {args.steps} steps")
    for name, r in results.items():
        for f in r["test"]:
            print(
                f"  {name:11s} {f['nats_per_step']:.4f} ({f['bits_per_step']:.4f})  {f['kind']:28s} "
                f"best at step {r['best_epoch_step']}, {r['minutes']:.1f} min, final train loss "
                f"{r['final_train_loss']:.4f}"
            )
    mle = results["char_lstm"]["test"][0]["nats_per_step"]
    bayes = results["bayes_lstm"]["test"][1]["nats_per_step"]  # posterior predictive
    print(f"bayes_lstm (posterior predictive) / char_lstm (exact) = {bayes / mle:.3f}")
    write_json(
        "bayes_vs_mle", {"args": vars(args), "results": results, "ratio": bayes / mle, "bits_per_nat": 1 / math.log(2)}
    )


if __name__ == "__main__":
    main()
