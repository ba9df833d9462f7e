"""LASA handwriting: test NLL in nats per pen point of three generators with Graves's mixture
density output (20 bivariate Gaussians and an end-of-stroke Bernoulli), and their sample sheets.

    python -m bench.handwriting [--minutes 5 --models char_lstm bayes_lstm vrnn]

    char_lstm    the LSTM of Graves 2013 section 4                     exact NLL
    bayes_lstm   the same with every weight latent (mean-field q(w))    posterior predictive, S draws
    vrnn         VRNN-GMM (Chung et al. 2015), filtering guide          -IWAE, K particles

Each trains for the same wall-clock budget with early stopping on its validation figure
(bayes_lstm's: the exact NLL of the network at q's mean, as zoo.run's bayes_lstm validates),
reloads its best checkpoint, is evaluated on the 30 test drawings (the 7th demonstration of
each shape) and draws sample_sheet.png (rows: bias 0, 0.5, 1, 2) and primed.png into
bench/results/handwriting/<model>/. Writes bench/results/handwriting.json.

Units: nats per pen point (sum over drawings / number of steps), with the pen offsets in units
of their training standard deviation (DataSpec.scale); a density in the data's own
millimetres is lower by 2 log(scale) per point. Negative NLLs are normal for densities of
smooth pen motion. The published anchors are on another data set, IAM-OnDB validation, and
per *line* of handwriting: Graves 2013 Table 3 log-loss (NLL) -1025.7 nats (one LSTM layer of
900) and -1057.7 (three layers of 400, adaptive weight noise); Chung et al. 2015 Table 1
VRNN-GMM log-likelihood >= 1384, i.e. NLL <= -1384 per line. They do not compare with LASA
figures; they are printed beside them so nobody mistakes one for the other.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from bench.common import reload_best, write_json
from guides.empty import NoLatents
from guides.vrnn import VRNNFiltering
from guides.weights import MeanFieldWeights
from guides.with_weights import WeightsThenLatents
from zoo.data import lasa_handwriting
from zoo.evaluation.likelihood import held_out_figures
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO
from zoo.reports.handwriting import write_stroke_sheets
from zoo.training.trainer import Trainer, TrainOptions

MODELS = ("char_lstm", "bayes_lstm", "vrnn")
ANCHORS = {  # IAM-OnDB validation, NLL in nats per line of handwriting (lower = better)
    "Graves 2013 LSTM 1x900, exact": -1025.7,
    "Graves 2013 LSTM 3x400 + adaptive weight noise": -1057.7,
    "Chung 2015 VRNN-GMM, bound (NLL <= this)": -1384.0,
}


def build(name: str, data, args):
    torch.manual_seed(args.seed)
    if name == "vrnn":
        model = VRNN(data.spec, hidden_size=args.hidden, z_size=args.z, emission="mdn", components=args.components)
        return model, VRNNFiltering(model), ELBO(analytic_kl=True, anneal_steps=args.anneal_steps)
    net = CharLSTM(data.spec, hidden_size=args.hidden, emission="mdn", components=args.components)
    if name == "char_lstm":
        return net, NoLatents(net), ELBO()
    model = BayesianWeights(net, prior_scale=args.prior_scale)
    return model, WeightsThenLatents(model, MeanFieldWeights(model, init_scale=args.init_scale), NoLatents(net)), ELBO()


def run(name: str, data, args) -> dict:
    model, guide, objective = build(name, data, args)
    options = TrainOptions(
        max_epochs=100_000,
        max_minutes=args.minutes,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch,
        lr=args.lr,
        patience=args.patience,
        lr_patience=args.lr_patience,
        seed=args.seed,
        progress=False,
        valid_at_mean=name == "bayes_lstm",  # zoo.run's bayes_lstm default: select by the network at q's mean
    )
    run_dir = Path(__file__).parent / "results" / "handwriting" / name
    trainer = Trainer(model, guide, objective, data, options, run_dir)
    history = trainer.fit()
    reload_best(trainer)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    figures = held_out_figures(
        model,
        guide,
        data,
        "test",
        num_samples=args.samples,
        num_particles=args.particles,
        train_steps=trainer.train_steps,
    )
    seconds = time.perf_counter() - start
    sheets = write_stroke_sheets(model, guide, data, run_dir, n=4)
    best = min(history, key=lambda h: h["valid_nats_per_step"])
    return {
        "test": [f.as_dict() for f in figures],
        "eval_seconds": seconds,
        "sheets": [str(p) for p in sheets],
        "best_minute": best["minutes"],
        "best_step": best["step"],
        "steps": history[-1]["step"],
        "minutes": history[-1]["minutes"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget for each model")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--every", type=int, default=5, help="keep every n-th LASA point (1000 / n per drawing)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument("--z", type=int, default=16, help="vrnn: size of z_t")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--anneal-steps", type=int, default=500, help="vrnn: KL annealing")
    parser.add_argument("--prior-scale", type=float, default=0.1, help="bayes_lstm: sigma of p(w)")
    parser.add_argument("--init-scale", type=float, default=0.01, help="bayes_lstm: initial sigma of q(w)")
    parser.add_argument("--samples", type=int, default=10, help="S weight draws (bayes_lstm)")
    parser.add_argument("--particles", type=int, default=100, help="K for the IWAE bound (vrnn)")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--lr-patience", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = lasa_handwriting.load(every=args.every)
    results = {}
    for name in args.models:
        logging.info(f"--- {name}")
        results[name] = run(name, data, args)

    print(
        f"\nLASA handwriting test split: {len(data.test)} drawings, {data.num_steps('test')} pen points "
        f"(every {args.every}th point); {args.minutes} min of training each on {torch.get_num_threads()} CPU "
        f"threads. NLL in nats per point, offsets in units of the training std ({data.spec.scale:.4f} mm):"
    )
    for name, r in results.items():
        for f in r["test"]:
            print(
                f"  {name:10s} {f['nats_per_step']:8.3f} ± {f['stderr']:.3f} per point "
                f"({f['nats_per_sequence']:8.1f} per drawing)  {f['kind']:28s} "
                f"best at {r['best_minute']:.1f} min (step {r['best_step']} of {r['steps']})"
            )
        print(f"  {'':10s} sample sheets: {', '.join(r['sheets'])}")
    print("published anchors: IAM-OnDB validation, NLL in nats per line (another data set; not comparable):")
    for k, v in ANCHORS.items():
        print(f"  {k}: {v}")
    write_json("handwriting", {"args": vars(args), "scale": data.spec.scale, "results": results, "anchors": ANCHORS})


if __name__ == "__main__":
    main()
