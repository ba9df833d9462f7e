"""Variational weights against plain weights, at the same architecture and budget.

    python -m bench.hybrids [--minutes 15 --pairs jsb text]

jsb:  vrnn (filtering guide, analytic KL, KL annealing) against the same vrnn with every
      weight latent (mean-field q(w), Gaussian prior), on jsb_chorales.
text: char_lstm against bayes_lstm on the first 200k characters of tiny_shakespeare.

Each model trains for the whole budget (no early stopping, so overfitting shows), keeping
best.pt at its best validation figure (bayes_lstm's: the exact NLL of the network at q's mean,
as zoo.run's bayes_lstm validates). Printed per model, in nats per step (frame or
character): the test figure at the best checkpoint and at the last one, the same on the
first training sequences, as many as the test split has (the train/test gap), and the minute of the best validation figure.
Kinds: exact (char_lstm), -IWAE-K (vrnn), posterior predictive with S weight draws (weight
models; with each draw's likelihood an IWAE-K bound for the vrnn). Writes bench/results/hybrids.json.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from bench.common import write_json
from guides.empty import NoLatents
from guides.vrnn import VRNNFiltering
from guides.weights import MeanFieldWeights
from guides.with_weights import WeightsThenLatents
from zoo.data import jsb_chorales, tiny_shakespeare
from zoo.data.dataset import SequenceData
from zoo.evaluation.likelihood import held_out_figures
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO
from zoo.training.checkpoint import load_checkpoint
from zoo.training.trainer import Trainer, TrainOptions

PAIRS = {"jsb": ("vrnn", "bayes_vrnn"), "text": ("char_lstm", "bayes_lstm")}


def build(name: str, data, args):
    torch.manual_seed(args.seed)
    if name in ("vrnn", "bayes_vrnn"):
        net = VRNN(data.spec, hidden_size=args.hidden, z_size=args.z)
        objective = ELBO(analytic_kl=True, anneal_steps=args.anneal_steps)
    else:
        net = CharLSTM(data.spec, hidden_size=args.lstm_hidden)
        objective = ELBO()
    own_guide = VRNNFiltering(net) if isinstance(net, VRNN) else NoLatents(net)
    if not name.startswith("bayes"):
        return net, own_guide, objective
    model = BayesianWeights(net, prior_scale=args.prior_scale)
    return model, WeightsThenLatents(model, MeanFieldWeights(model, init_scale=args.init_scale), own_guide), objective


def figures(model, guide, data, split, args, train_steps):
    model.eval()
    guide.eval()
    return [
        f.as_dict()
        for f in held_out_figures(
            model,
            guide,
            data,
            split,
            num_samples=args.samples,
            num_particles=args.particles,
            train_steps=train_steps,
            batch_size=args.eval_batch,
        )
    ]


def run(name: str, data, args) -> dict:
    model, guide, objective = build(name, data, args)
    options = TrainOptions(
        max_epochs=100_000,
        max_minutes=args.minutes,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch,
        lr=args.lr,
        patience=100_000,
        lr_schedule="none",
        seed=args.seed,
        progress=False,
        valid_at_mean=name == "bayes_lstm",  # zoo.run's bayes_lstm default; bayes_vrnn has latents besides w
    )
    run_dir = Path(__file__).parent / "results" / "hybrids" / name
    trainer = Trainer(model, guide, objective, data, options, run_dir)
    history = trainer.fit()
    out = {"history": history}
    train_part = SequenceData(data.name, data.spec, data.train, data.valid, data.train[: len(data.test)])
    for checkpoint in ("best.pt", "last.pt"):
        trainer.load_state_dict(load_checkpoint(run_dir, checkpoint))
        torch.manual_seed(args.seed)
        out[checkpoint] = {
            "test": figures(model, guide, data, "test", args, trainer.train_steps),
            "train": figures(model, guide, train_part, "test", args, trainer.train_steps),
        }
    best = min(history, key=lambda h: h["valid_nats_per_step"])
    out.update(
        best_minute=best["minutes"], best_step=best["step"], minutes=history[-1]["minutes"], steps=history[-1]["step"]
    )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget for each model")
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--hidden", type=int, default=128, help="vrnn GRU units")
    parser.add_argument("--z", type=int, default=16)
    parser.add_argument("--lstm-hidden", type=int, default=256)
    parser.add_argument("--chars", type=int, default=200_000, help="tiny_shakespeare training characters kept")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--anneal-steps", type=int, default=1000)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--prior-scale", type=float, default=0.1)
    parser.add_argument("--init-scale", type=float, default=0.01)
    parser.add_argument("--samples", type=int, default=10, help="S weight draws")
    parser.add_argument("--particles", type=int, default=100, help="K for the IWAE bounds")
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    results = {}
    for pair in args.pairs:
        data = jsb_chorales.load() if pair == "jsb" else tiny_shakespeare.load(max_train_chars=args.chars)
        for name in PAIRS[pair]:
            logging.info(f"--- {name} on {data.name}")
            results[name] = run(name, data, args)

    print(
        f"\nheld-out NLL, nats per step; {args.minutes} min of training each on {torch.get_num_threads()} "
        f"CPU threads; S={args.samples}, K={args.particles}"
    )
    print(
        f"  {'model':11s} {'kind':36s} {'test@best':>9s} {'test@last':>9s} {'train@best':>10s} "
        f"{'train@last':>10s}  best at"
    )
    for name, r in results.items():
        for i, f in enumerate(r["best.pt"]["test"]):
            if f["kind"] == "-ELBO" and len(r["best.pt"]["test"]) > 1:
                continue  # the tighter figure is the one compared
            row = [r[c][s][i]["nats_per_step"] for c in ("best.pt", "last.pt") for s in ("test", "train")]
            print(
                f"  {name:11s} {f['kind']:36s} {row[0]:9.3f} {row[2]:9.3f} {row[1]:10.3f} {row[3]:10.3f}  "
                f"{r['best_minute']:.1f} of {r['minutes']:.1f} min (step {r['best_step']} of {r['steps']})"
            )
    write_json("hybrids", {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()
