"""The command line of SeqGAN's table: `python -m bench.seqgan` (its docstring says what it does)."""

from __future__ import annotations

import argparse
import logging

import bench.seqgan
from bench.seqgan.cells import ROWS
from bench.seqgan.table import oracle_table
from bench.seqgan.text import text_comparison

DEFAULTS = {  # options whose default depends on --data
    "oracle": {"mle_steps": 1200, "adversarial_minutes": 1.5, "rollouts": 4, "discriminator_steps": 20},
    "shakespeare_lines": {"mle_steps": 3000, "adversarial_minutes": 20.0, "rollouts": 16, "discriminator_steps": 3000},
}


def settle_defaults(args):
    """The options left unset take their data's defaults, or with --paper SeqGAN's own: 16
    rollouts and its MLE schedule."""
    if args.paper and args.rollouts is None:
        args.rollouts = 16  # sequence_gan.py's rollout_num
    for name, value in DEFAULTS[args.data].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.mle_schedule = args.mle_schedule or ("paper" if args.paper else "early_stop")
    return args


def main():
    parser = argparse.ArgumentParser(
        prog="python -m bench.seqgan",
        description=bench.seqgan.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", choices=["oracle", "shakespeare_lines"], default="oracle")
    parser.add_argument(
        "--oracle",
        choices=["seqgan", "random"],
        default="seqgan",
        help="data.oracle: SeqGAN's published oracle, or a fresh N(0, 1) draw of its architecture",
    )
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--seeds", "--seed", nargs="+", type=int, default=[0, 1, 2], help="text: the first one")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--embedding", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's step size of MLE (SeqGAN's 0.01)")
    parser.add_argument(
        "--mle-steps",
        type=int,
        default=None,
        help="MLE steps at most, early stopping on validation (oracle: 1200; text: 3000)",
    )
    parser.add_argument("--mle-steps-per-epoch", type=int, default=100, help="MLE steps between validations")
    parser.add_argument(
        "--adversarial-minutes",
        type=float,
        default=None,
        help="each adversarial row's wall time (oracle: 1.5; text: 20)",
    )
    parser.add_argument(
        "--adversarial-steps",
        type=int,
        default=None,
        help="instead of minutes: each adversarial row's generator updates",
    )
    parser.add_argument(
        "--adversarial-steps-per-epoch", type=int, default=10, help="adversarial steps between validations"
    )
    parser.add_argument(
        "--adversarial-lr", type=float, default=1e-3, help="Adam's step size of every adversarial row's G"
    )
    parser.add_argument(
        "--rollouts",
        type=int,
        default=None,
        help="SeqGAN's Monte Carlo rollouts per generator step (oracle: 4; text and SeqGAN's: 16)",
    )
    parser.add_argument(
        "--discriminator-steps",
        type=int,
        default=None,
        help="SeqGAN's D steps alone before the first generator update (oracle: 20; text: 3000)",
    )
    parser.add_argument("--gumbel-discriminator", choices=["rnn", "cnn"], default="rnn")
    parser.add_argument("--paper", action="store_true", help="SeqGAN's and RelGAN's own schedules (a GPU's work)")
    parser.add_argument(
        "--mle-schedule",
        choices=["early_stop", "paper"],
        default=None,
        help="early_stop (the default): at most --mle-steps, stopped on validation, best checkpoint; paper (the "
        "default with --paper): SeqGAN's 120 epochs at Adam 0.01, last checkpoint",
    )
    parser.add_argument("--mle-minutes", type=float, default=None, help="caps MLE's wall time (train.max_minutes)")
    parser.add_argument(
        "--samples", type=int, default=2000, help="drawn sequences for NLL-oracle (and text statistics)"
    )
    parser.add_argument("--bleu-samples", type=int, default=200, help="drawn sequences scored by BLEU and self-BLEU")
    parser.add_argument(
        "--two-sample",
        type=int,
        default=2000,
        help="N of the classifier two-sample test (2000: every test sequence); 0: off",
    )
    parser.add_argument(
        "--two-sample-steps", type=int, default=600, help="the two-sample classifier's Adam steps at most"
    )
    parser.add_argument(
        "--temperatures",
        nargs="*",
        type=float,
        default=[],
        help="trace the MLE generator's quality-diversity frontier at these sampling temperatures",
    )
    parser.add_argument(
        "--frontier-also",
        nargs="*",
        default=[],
        help="tags of other grids from the same MLE generators whose adversarial cells join the frontier picture",
    )
    parser.add_argument("--test-limit", type=int, default=None, help="NLL-test on the first N test sequences")
    parser.add_argument("--valid-limit", type=int, default=500, help="validation sequences of every run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each cell's process")
    parser.add_argument("--tag", default="default", help="names the grid: bench/results/seqgan_<oracle>_<tag>.json")
    parser.add_argument(
        "--options",
        nargs="*",
        default=[],
        help="more zoo.run options for every cell; `<row>:key=value` for one row's cells",
    )
    parser.add_argument("--mle-weight", type=float, default=0.0, help="text: teacher-forced NLL mixed into SeqGAN")
    parser.add_argument("--max-length", type=int, default=40, help="text: longest line kept")
    args = settle_defaults(parser.parse_args())
    if args.paper and args.data != "oracle":
        parser.error("--paper runs SeqGAN's synthetic experiment: it needs --data oracle")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.data == "shakespeare_lines":
        text_comparison(args)
    else:
        oracle_table(args)
