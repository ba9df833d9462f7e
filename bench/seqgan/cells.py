"""SeqGAN's table, its cells: each (row, seed) one `python -m zoo.run` in its own folder, with the
options of its row; a finished cell is skipped, an interrupted one resumes, one trained with other
options is refused."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from bench.common import options_for, relative, resume_options, zoo_process

RESULTS = Path(__file__).parents[1] / "results"
ROWS = ("untrained", "mle", "seqgan_cnn", "seqgan_rnn", "gumbel_gan")
LABELS = {
    "untrained": "random: untrained (the seed's initial weights)",
    "mle": "MLE",
    "seqgan_cnn": "MLE + SeqGAN, CNN critic",
    "seqgan_rnn": "MLE + SeqGAN, LSTM critic",
    "gumbel_gan": "MLE + Gumbel-softmax GAN (RSGAN)",
}


def model_options(args) -> list[str]:
    """What every cell shares: the generator, the oracle's data, and a short end-of-run report (the
    bench measures the table itself, from each cell's best checkpoint)."""
    return [
        "model=char_lstm",
        "data=oracle",
        f"data.oracle={args.oracle}",
        f"model.net.embedding_size={args.embedding}",
        f"model.net.hidden_size={args.hidden}",
        f"train.batch_size={args.batch}",
        "train.progress=false",
        f"train.valid_limit={args.valid_limit}",
        "evaluate.test_limit=200",
        "evaluate.oracle_samples=200",
        "sample.n=4",
        "sample.length=20",
    ]


def cell_dir(args, row: str, seed: int) -> Path:
    return RESULTS / "seqgan" / args.oracle / args.tag / row / f"seed{seed}"


def grid_file(args, tag: str | None = None) -> Path:
    """The JSON of grid `tag` (this invocation's --tag by default) on this --oracle."""
    return RESULTS / f"seqgan_{args.oracle}_{tag or args.tag}.json"


def mle_overrides(args, seed: int) -> list[str]:
    """The MLE cell: at most --mle-steps, early stopping on validation (or SeqGAN's 120 epochs),
    at most --mle-minutes."""
    if args.mle_schedule == "paper":  # sequence_gan.py's pre-training: 120 passes of 156 minibatches at Adam 0.01
        steps = [
            "train.lr=0.01",
            "train.lr_schedule=none",
            "train.steps_per_epoch=156",
            "train.max_epochs=120",
            "train.patience=100000",
        ]
    else:
        per_epoch = min(args.mle_steps_per_epoch, args.mle_steps)
        steps = [
            f"train.lr={args.lr}",
            "train.lr_schedule=plateau",
            "train.lr_patience=2",
            "train.patience=5",
            f"train.steps_per_epoch={per_epoch}",
            f"train.max_epochs={math.ceil(args.mle_steps / per_epoch)}",
        ]
    if args.paper:  # generator.py draws every weight and bias from N(0, 0.1^2), as experiment=seqgan
        steps.append("model.net.init_scale=0.1")
    return [
        *model_options(args),
        "objective=elbo",
        *steps,
        f"train.max_minutes={args.mle_minutes or 'null'}",
        f"train.seed={seed}",
        *options_for(args.options, "mle"),
    ]


def mle_generator(args, seed: int) -> Path:
    """The seed's MLE generator, the row measured and the start of every adversarial row: the best
    validation checkpoint when MLE stops early, the last one on SeqGAN's schedule (sequence_gan.py
    selects nothing: its adversarial phase starts where the 120 passes end)."""
    return cell_dir(args, "mle", seed) / ("last.pt" if args.mle_schedule == "paper" else "best.pt")


def warmup_steps(args) -> int:
    """D's steps alone before SeqGAN's first generator update: --discriminator-steps, or with
    --paper one pass over the training data (it fills the pool SeqGAN's rounds read)."""
    return math.ceil(args.num_train / args.batch) if args.paper else args.discriminator_steps


def adversarial_overrides(args, row: str, seed: int) -> list[str]:
    """An adversarial cell: from the seed's MLE checkpoint, the shared budget (or each paper's)."""
    start = [f"train.init={relative(mle_generator(args, seed))}", f"train.seed={seed}", "train.lr_schedule=none"]
    if row.startswith("seqgan"):
        objective = [
            "objective=seqgan",
            f"objective.discriminator={row.split('_')[1]}",
            "objective.pretrain_steps=0",
            f"objective.discriminator_warmup_steps={warmup_steps(args)}",
            f"objective.rollouts={args.rollouts}",
        ]
        if args.paper:  # experiment=seqgan's D schedule at SeqGAN's D step size, and its loss (no baseline)
            objective += [
                "objective.baseline=false",
                "objective.discriminator_lr=0.0001",
                "objective.discriminator_pretrain_rounds=50",
                "objective.discriminator_rounds=5",
                "objective.discriminator_epochs=3",
                "objective.discriminator_negatives=10000",
                "objective.discriminator_batch_size=64",
            ]
        first = warmup_steps(args)
    else:
        objective = [
            "objective=gumbel_gan",
            "objective.pretrain_steps=0",
            f"objective.discriminator={args.gumbel_discriminator}",
        ]
        if args.paper:  # RelGAN's oracle runs: G and D at Adam 1e-4, beta_max 100
            objective += ["objective.inverse_temperature=100", "objective.discriminator_lr=0.0001"]
        first = 0
    if args.paper or args.adversarial_steps:
        updates = (200 if row.startswith("seqgan") else 3000) if args.paper else args.adversarial_steps
        lr = (0.01 if row.startswith("seqgan") else 0.0001) if args.paper else args.adversarial_lr
        every = (40 if row.startswith("seqgan") else 100) if args.paper else args.adversarial_steps_per_epoch
        per_epoch, epochs = epochs_of(first + updates, every)
        budget = [f"train.steps_per_epoch={per_epoch}", f"train.max_epochs={epochs}", "train.max_minutes=null"]
    else:
        lr = args.adversarial_lr
        budget = [
            f"train.steps_per_epoch={args.adversarial_steps_per_epoch}",
            "train.max_epochs=100000",
            f"train.max_minutes={args.adversarial_minutes}",
        ]
    return [*model_options(args), *objective, f"train.lr={lr}", *budget, *start, *options_for(args.options, row)]


def epochs_of(steps: int, every: int) -> tuple[int, int]:
    """(steps per epoch, epochs) that make exactly `steps` trainer steps, validating about every
    `every` steps: the largest divisor of `steps` not above `every`, unless that is under a quarter
    of it (then `every`, and the last epoch overshoots by less than one epoch)."""
    divisor = max(d for d in range(1, min(every, steps) + 1) if steps % d == 0)
    per_epoch = divisor if 4 * divisor >= min(every, steps) else every
    return per_epoch, math.ceil(steps / per_epoch)


def recorded_overrides(record: dict) -> list[str]:
    """A cell's recorded options. Paths in them are from the repository's root; a record that
    named its checkout's results folder in full ("results") reads it as bench/results, so its
    cells are kept."""
    then = record.get("results")
    return [o.replace(then, relative(RESULTS)) for o in record["overrides"]] if then else record["overrides"]


def train_cell(args, row: str, seed: int) -> bool:
    """Train (or resume, or skip) one cell; whether its best checkpoint is there to measure."""
    folder = cell_dir(args, row, seed)
    overrides = mle_overrides(args, seed) if row == "mle" else adversarial_overrides(args, row, seed)
    record = folder / "bench_cell.json"
    if record.exists() and recorded_overrides(json.loads(record.read_text())) != overrides:
        logging.error(
            f"--- {row} / seed {seed}: {folder} was trained with other options "
            f"({record}); give this budget another --tag"
        )
        return False
    metrics = folder / "metrics.json"
    if metrics.exists() and json.loads(metrics.read_text()).get("status") == "trained":
        return True
    if row != "mle" and not mle_generator(args, seed).exists():
        logging.error(f"--- {row} / seed {seed}: no MLE checkpoint of seed {seed} to start from")
        return False
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"overrides": overrides}, indent=2))
    resume = resume_options(folder, None, f"{row} / seed {seed}")  # its own last.pt, if interrupted
    logging.info(f"--- {row} / seed {seed}: training{' (resumed)' if resume else ''}")
    command = ["zoo.run", *overrides, f"hydra.run.dir={relative(folder)}", *resume]
    return zoo_process(*command, threads=args.threads).returncode == 0
