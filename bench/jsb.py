"""JSB chorales: test NLL in nats per frame for vrnn (both guides) and char_lstm.

    python -m bench.jsb [--minutes 10 --particles 500]

Each model trains on the CPU for the same wall-clock budget with early stopping on the
validation -ELBO (exact NLL for char_lstm), reloads its best checkpoint, and is evaluated on
the whole test split: -ELBO and -IWAE-K per frame (sum over sequences / sum of lengths) for
vrnn; the exact NLL for char_lstm. The evaluation time of IWAE-K is printed too.

Anchors on JSB test, nats per frame: DMM (Krishnan et al. 2017) 6.93 -ELBO and 6.39
importance-sampled; DMM-Aug 6.29; Pyro's DMM example 6.87 -ELBO after 5000 epochs; RNN-NADE
5.56; LSTM 8.45 (Bai et al. 2018). Needs jsb_chorales.pickle in $ZOO_DATA_DIR (or the network).
Writes bench/results/jsb.json.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from bench.common import reload_best, write_json
from guides.empty import NoLatents
from guides.vrnn import VRNNFiltering, VRNNSmoothing
from zoo.data import jsb_chorales
from zoo.evaluation.likelihood import held_out_figures
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO
from zoo.training.checkpoint import load_checkpoint
from zoo.training.trainer import Trainer, TrainOptions

ANCHORS = {
    "DMM -ELBO": 6.93,
    "DMM importance-sampled": 6.39,
    "DMM-Aug": 6.29,
    "Pyro DMM example -ELBO": 6.87,
    "RNN-NADE": 5.56,
    "LSTM (Bai 2018)": 8.45,
}


def stem(args) -> str:
    """jsb, or jsb_<tag> for a named variant: where its run folders and JSON go."""
    return f"jsb_{args.tag}" if args.tag else "jsb"


def build(name: str, data, args):
    torch.manual_seed(args.seed)
    emission = {"emission": args.emission, "components": args.nade_hidden if args.emission == "nade" else None}
    if name == "char_lstm":
        model = CharLSTM(data.spec, hidden_size=args.lstm_hidden, **emission)
        return model, NoLatents(model), ELBO()
    model = VRNN(data.spec, hidden_size=args.hidden, z_size=args.z, dropout=args.dropout, **emission)
    guide = VRNNFiltering(model) if name == "vrnn_filtering" else VRNNSmoothing(model)
    return model, guide, ELBO(analytic_kl=True, anneal_steps=args.anneal_steps)


def run(name: str, data, args) -> dict:
    model, guide, objective = build(name, data, args)
    options = TrainOptions(
        max_epochs=100_000,
        max_minutes=args.minutes,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch,
        lr=args.lr,
        patience=args.patience,
        lr_schedule="plateau",
        lr_patience=args.lr_patience,
        seed=args.seed,
        progress=False,
    )
    run_dir = Path(__file__).parent / "results" / stem(args) / name
    trainer = Trainer(model, guide, objective, data, options, run_dir)
    if args.evaluate_only:  # a finished run: its best checkpoint, and its history from last.pt
        history = load_checkpoint(run_dir, "last.pt")["history"]
    else:
        history = trainer.fit()
    reload_best(trainer)
    start = time.perf_counter()
    figures = held_out_figures(model, guide, data, "test", num_particles=args.particles, batch_size=77)
    seconds = time.perf_counter() - start
    best = min(history, key=lambda h: h["valid_nats_per_step"])
    return {
        "test": [f.as_dict() for f in figures],
        "eval_seconds": seconds,
        "best_minute": best["minutes"],
        "best_step": best["step"],
        "minutes": history[-1]["minutes"],
        "steps": history[-1]["step"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget for each model")
    parser.add_argument("--models", nargs="+", default=["vrnn_filtering", "vrnn_smoothing", "char_lstm"])
    parser.add_argument("--particles", type=int, default=500, help="K for the IWAE bound")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--z", type=int, default=16)
    parser.add_argument(
        "--emission",
        choices=["bernoulli", "nade"],
        default="bernoulli",
        help="independent notes, or RNN-NADE's output (notes of a frame depend on each other)",
    )
    parser.add_argument("--nade-hidden", type=int, default=100, help="hidden units of the NADE output")
    parser.add_argument("--dropout", type=float, default=0.0, help="vrnn: dropout on the decoder's features")
    parser.add_argument("--lstm-hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--anneal-steps", type=int, default=1000)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--lr-patience", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="evaluate the checkpoints a finished run left in bench/results/jsb[_<tag>]/ instead of training",
    )
    parser.add_argument("--tag", default="", help="names a variant: bench/results/jsb_<tag>.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = jsb_chorales.load()
    results = {}
    for name in args.models:
        logging.info(f"--- {name}")
        results[name] = run(name, data, args)

    print(
        f"\nJSB chorales test NLL, nats per frame ({data.num_steps('test')} frames, {len(data.test)} chorales); "
        f"{args.minutes} min of training each on {torch.get_num_threads()} CPU threads; emission {args.emission}"
    )
    for name, r in results.items():
        for f in r["test"]:
            print(
                f"  {name:15s} {f['nats_per_step']:7.3f}  {f['kind']:16s} best at {r['best_minute']:.1f} min "
                f"(step {r['best_step']}); evaluated in {r['eval_seconds']:.0f} s"
            )
    print("anchors: " + ", ".join(f"{k} {v}" for k, v in ANCHORS.items()))
    write_json(stem(args), {"args": vars(args), "results": results, "anchors": ANCHORS})


if __name__ == "__main__":
    main()
