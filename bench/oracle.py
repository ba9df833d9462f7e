"""SeqGAN's synthetic benchmark (Yu et al. 2016, section 5): every token generator of the zoo
against an oracle LSTM whose likelihood is known.

    python -m bench.oracle [--minutes 3 --models char_lstm bayes_lstm vrnn] [--oracle seqgan]

The oracle (zoo.data.oracle: V = 5000 tokens, embedding and hidden 32, T = 20; `--oracle random`,
the default, draws its weights from N(0, 1), `--oracle seqgan` is SeqGAN's released one) writes
10,000 training sequences. Each model is trained through the CLI's own wiring
(`python -m zoo.run model=M experiment=oracle`: embedding and hidden 32 as SeqGAN's generator)
for the same wall-clock budget with early stopping on validation, reloads its best checkpoint
and reports, in nats per token:

    NLL-oracle   the oracle's NLL of n sequences drawn from the model (lower: more realistic)
    NLL-test     the model's NLL of the oracle's test split, its tightest figure: exact for
                 char_lstm, posterior predictive for bayes_lstm, IWAE-K for vrnn

next to the oracle itself (NLL-oracle of its own samples; NLL-test = its entropy rate, the
floor of every model's NLL-test) and a uniform random generator (NLL-test = log V).

Anchors, NLL-oracle (Yu et al. 2016, Table 1, on SeqGAN's oracle: to the digit with `--oracle
seqgan`, in scale only on a random draw): random 10.310, MLE 9.038, scheduled sampling 8.985,
PG-BLEU 8.946, SeqGAN 8.736. Writes bench/results/oracle.json (oracle_seqgan.json) and a run
folder per model under bench/results/oracle/ (oracle_seqgan/).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from bench.common import compose_config, write_json
from zoo.data.oracle import load, oracle_for
from zoo.evaluation.oracle_metrics import nll_oracle, oracle_test_nll, uniform_row
from zoo.run import train_and_report

ANCHORS = {"random": 10.310, "MLE": 9.038, "scheduled sampling": 8.985, "PG-BLEU": 8.946, "SeqGAN": 8.736}


def overrides(name: str, args) -> list[str]:
    """The command line of one model's run: SeqGAN's sizes, the shared budget and evaluation."""
    return [
        f"model={name}",
        "experiment=oracle",
        f"data.oracle={args.oracle}",
        f"data.seed={args.seed_oracle}",
        f"train.max_minutes={args.minutes}",
        "train.max_epochs=100000",
        f"train.steps_per_epoch={args.steps_per_epoch}",
        f"train.batch_size={args.batch}",
        f"train.lr={args.lr}",
        f"train.patience={args.patience}",
        f"train.seed={args.seed}",
        "train.progress=false",
        f"evaluate.num_particles={args.particles}",
        f"evaluate.num_samples={args.weight_draws}",
        f"evaluate.oracle_samples={args.samples}",
    ]


def run(name: str, args) -> dict:
    """Train one model as `python -m zoo.run` would and return its metrics."""
    cfg = compose_config(overrides(name, args))
    run_dir = Path(__file__).parent / "results" / results_name(args) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    return train_and_report(cfg, run_dir)


def results_name(args) -> str:
    """The name of the bench's JSON and run folder: oracle for a random oracle, oracle_seqgan for SeqGAN's."""
    return "oracle" if args.oracle == "random" else f"oracle_{args.oracle}"


def references(data, args) -> dict:
    """The oracle's own figures and the uniform generator's, in nats per token."""
    oracle = oracle_for(data)
    g = torch.Generator().manual_seed(args.seed)
    own = nll_oracle(oracle, oracle.sample(args.samples, g))
    return {
        "oracle": {"nll_oracle": own.as_dict(), "nll_test": oracle_test_nll(oracle, data).as_dict()},
        "uniform": uniform_row(oracle, args.samples, g),
    }


def row(name: str, nll_oracle: dict, nll_test: dict, note: str = "") -> str:
    return (
        f"  {name:16s} {nll_oracle['nats_per_step']:7.3f} ({nll_oracle['stderr']:.3f})   "
        f"{nll_test['nats_per_step']:7.3f} ({nll_test['stderr']:.3f})  {nll_test['kind']:34s} {note}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget for each model")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["char_lstm", "bayes_lstm", "vrnn"],
        help="model configs (configs/model) of token generators",
    )
    parser.add_argument("--samples", type=int, default=2000, help="sequences drawn for each NLL-oracle")
    parser.add_argument("--particles", type=int, default=20, help="K for the IWAE bound of models with latent states")
    parser.add_argument("--weight-draws", type=int, default=10, help="S for the posterior predictive of weight latents")
    parser.add_argument("--batch", type=int, default=64, help="SeqGAN's batch size")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam's step size, SeqGAN's for MLE pretraining")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--oracle", choices=["random", "seqgan"], default="random", help="data.oracle: a random draw or SeqGAN's"
    )
    parser.add_argument("--seed-oracle", type=int, default=88, help="data.seed: which random oracle (and split)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = load(seed=args.seed_oracle, oracle=args.oracle)
    refs = references(data, args)
    results = {}
    for name in args.models:
        logging.info(f"--- {name}")
        results[name] = run(name, args)

    print(
        f"\n{args.oracle} oracle LSTM (V=5000, E=H=32, T=20, data seed {args.seed_oracle}): {len(data.train)} train, "
        f"{len(data.valid)} valid, {len(data.test)} test sequences; {args.minutes} min of training each "
        f"on {torch.get_num_threads()} CPU threads; NLL-oracle from {args.samples} samples"
    )
    print(f"  {'':16s} NLL-oracle (s.e.)  NLL-test (s.e.)  kind of NLL-test, nats per token")
    for name, r in refs.items():
        print(row(name, r["nll_oracle"], r["nll_test"], "(entropy floor)" if name == "oracle" else ""))
    for name, m in results.items():
        print(row(name, m["oracle"][0], m["test"][-1], f"{m['epochs']} epochs, {m['minutes']:.1f} min"))
    print(
        "Yu et al. 2016, Table 1, NLL-oracle on their oracle: " + ", ".join(f"{k} {v:.3f}" for k, v in ANCHORS.items())
    )
    write_json(results_name(args), {"args": vars(args), "references": refs, "results": results, "anchors": ANCHORS})


if __name__ == "__main__":
    main()
