"""Adversarial text on the field's own oracle: one table of token generators on SeqGAN's synthetic
benchmark, ours measured side by side at one budget, the published figures beside them.

    python -m bench.seqgan --oracle seqgan                       # the table: 3 seeds, about 40 min on a CPU
    python -m bench.seqgan --oracle seqgan --seeds 0 --mle-steps 200 --adversarial-minutes 0.5 --tag smoke
    python -m bench.seqgan --oracle seqgan --adversarial-steps 40   # the same generator updates, not minutes
    python -m bench.seqgan --oracle seqgan --paper               # SeqGAN's own schedule (a GPU's work)
    python -m bench.seqgan --oracle seqgan --mle-schedule paper --mle-minutes 20 --tag paper_mle
    python -m bench.seqgan --oracle random                       # the same table on a fresh N(0, 1) oracle
    python -m bench.seqgan --data shakespeare_lines --hidden 128 --embedding 32 --lr 0.002

Rows (`--rows`), each char_lstm with SeqGAN's generator sizes (embedding and hidden 32, batch 64):

    untrained    the seed's initial weights, as `python -m zoo.run` draws them (the "random" row)
    mle          `python -m zoo.run model=char_lstm data=oracle data.oracle=<oracle> ...`: at most
                 `--mle-steps` of Adam (`--lr`, SeqGAN's 0.01), halved on a plateau, stopped early on
                 the validation NLL; its best checkpoint is the MLE generator. `--mle-schedule paper`
                 trains as sequence_gan.py does (120 epochs of 156 steps at Adam 0.01, no stopping) and
                 the last checkpoint is the generator; `--mle-minutes` caps either schedule
    seqgan_cnn   from that seed's MLE checkpoint (`train.init`), `objective=seqgan` with SeqGAN's
    seqgan_rnn   convolutional discriminator, or with an LSTM one: D trains alone for
                 `--discriminator-steps` steps (`objective.discriminator_warmup_steps`), then each
                 step is one REINFORCE update of G with `--rollouts` Monte Carlo rollouts and one D step
    gumbel_gan   from the same checkpoint, `objective=gumbel_gan` (RelGAN's relaxation, RSGAN loss,
                 5 D steps per G step, beta rising from 1 towards 1000 over 5,000 steps)

The adversarial rows get one budget: `--adversarial-minutes` of wall time each (train.max_minutes,
D's warm-up included) or, with `--adversarial-steps`, that many generator updates each; all with
Adam at `--adversarial-lr`. The defaults (1,200 MLE steps, 1.5 adversarial minutes, 4 rollouts)
fit 3 seeds in about 40 minutes on one CPU thread; SeqGAN's own schedule is a thousand times
larger, which the table's header says. Columns, nats per token, mean ± sd over `--seeds`:

    NLL-oracle   the oracle's NLL of `--samples` sequences drawn from the generator
    NLL-test     the generator's exact NLL of the oracle's 2,000 test sequences
    BLEU-2..5    mean sentence BLEU (NLTK's, smoothing 1) of `--bleu-samples` drawn sequences against
                 the oracle's test sequences as references; self-BLEU-2..5 of the same against each other
    2-sample     a classifier two-sample test (zoo.evaluation.two_sample) of `--two-sample` N drawn against
                 N test sequences: held-out accuracy, 0.5 when the classifier cannot tell them apart
    its own D    the adversarial run's discriminator, from its checkpoint, on `--samples` drawn sequences
                 and as many held-out test sequences: its accuracy, 0.5 when its rewards know nothing of
                 the oracle beyond chance; in brackets the share of training sequences (its real class)
                 it calls real, far above the held-out ones' when it has learnt them by heart
    G updates    the generator's updates: to the best checkpoint for MLE, after D's warm-up for SeqGAN
    minutes      the cell's training time (D's warm-up included; start-up and measurement not)

next to the oracle's own held-out sequences (its validation split scored as a generator's samples
would be: the floor and the scale of every column) and a uniform generator. Each cell (row, seed)
is one `python -m zoo.run` in its own folder, bench/results/seqgan/<oracle>/<tag>/<row>/seed<k>/;
a finished cell is skipped, an interrupted one resumes, a cell trained with other options is
refused (use another `--tag`), and its measurement is kept beside it, so the table accumulates
over several invocations. Every cell records its command, budget and hardware in
bench/results/seqgan_<oracle>_<tag>.json. `--paper` trains MLE for SeqGAN's 120 epochs (18,720
steps, every weight drawn from N(0, 0.1^2) as SeqGAN's generator.py draws them) and gives each
SeqGAN row SeqGAN's schedule and loss (those of `experiment=seqgan`: D pre-trained on 50 rounds of
10,000 fresh negatives, then 200 generator steps each after 5 rounds, rewards without a baseline;
a warm-up pass over the training data fills the pool of real sequences first) and gumbel_gan RelGAN's (3,000
steps, Adam 1e-4, beta_max 100): days on a CPU, so each method at its own paper's budget.

Published NLL-oracle on SeqGAN's oracle (their runs, printed beside ours): Yu et al. 2017 Table 1,
Lin et al. 2017 (RankGAN), Guo et al. 2018 (LeakGAN, sequences of 20), Nie et al. 2019 (RelGAN);
PUBLISHED says which we found in a stored copy of a source and which are only as cited.

`--data shakespeare_lines` keeps the text comparison: MLE then SeqGAN (LSTM D) in this process,
with the sample statistics of zoo.evaluation.sample_stats against held-out lines; it writes
bench/results/seqgan_shakespeare_lines.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import statistics
import time
from pathlib import Path

import numpy
import torch

from bench.common import (
    command_line,
    compose_config,
    options_for,
    relative,
    reload_best,
    resume_options,
    spread,
    update_json,
    write_json,
    zoo_process,
)
from zoo.compare import read_curve
from zoo.training.devices import describe_device

RESULTS = Path(__file__).parent / "results"
ROWS = ("untrained", "mle", "seqgan_cnn", "seqgan_rnn", "gumbel_gan")
LABELS = {
    "untrained": "random: untrained (the seed's initial weights)",
    "mle": "MLE",
    "seqgan_cnn": "MLE + SeqGAN, CNN critic",
    "seqgan_rnn": "MLE + SeqGAN, LSTM critic",
    "gumbel_gan": "MLE + Gumbel-softmax GAN (RSGAN)",
}
BLEU_ORDERS = (2, 3, 4, 5)
DEFAULTS = {  # options whose default depends on --data
    "oracle": {"mle_steps": 1200, "adversarial_minutes": 1.5, "rollouts": 4, "discriminator_steps": 20},
    "shakespeare_lines": {"mle_steps": 3000, "adversarial_minutes": 20.0, "rollouts": 16, "discriminator_steps": 3000},
}

# NLL-oracle on SeqGAN's released oracle, nats per token, as published. `checked` says where a
# figure was confirmed: no stored copy of the papers' tables was found, only a results aggregator
# (wizwand.com) that lists each paper's synthetic-data result; "as cited" figures are quoted as
# they are commonly cited, unconfirmed.
PUBLISHED = [
    {
        "name": "random (Yu et al. 2017, Table 1)",
        "value": 10.310,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "as cited",
    },
    {
        "name": "MLE (Yu et al. 2017, Table 1)",
        "value": 9.038,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "as cited",
    },
    {
        "name": "scheduled sampling (Yu et al. 2017, Table 1)",
        "value": 8.985,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "as cited",
    },
    {
        "name": "PG-BLEU (Yu et al. 2017, Table 1)",
        "value": 8.946,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "as cited",
    },
    {
        "name": "SeqGAN (Yu et al. 2017, Table 1)",
        "value": 8.736,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "8.736 listed for SeqGAN's synthetic data (length 20) on wizwand.com; not in a copy of the paper",
    },
    {
        "name": "RankGAN (Lin et al. 2017)",
        "value": 8.247,
        "source": "Lin et al. 2017, arXiv 1705.11001",
        "checked": "8.247 listed for RankGAN's synthetic data on wizwand.com; not in a copy of the paper",
    },
    {
        "name": "LeakGAN (Guo et al. 2018), sequences of 20",
        "value": 7.038,
        "source": "Guo et al. 2018, arXiv 1709.08624",
        "checked": "as cited; the paper reports lengths 20 and 40, and its released length-20 log falls to "
        "about 7.0, but the table itself was not found",
    },
    {
        "name": "RelGAN (Nie et al. 2019)",
        "value": 6.680,
        "source": "Nie et al. 2019, ICLR, openreview rJedV3R5tm",
        "checked": "as cited",
    },
]


# -- the cells: one zoo.run each ---------------------------------------------------------------------


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


# -- the measurement ----------------------------------------------------------------------------------


def untrained_generator(args, data, seed: int):
    """The generator the seed's MLE run starts from: zoo.run's own build, weights drawn after
    torch.manual_seed(train.seed)."""
    from zoo.run import build_guide, build_model

    cfg = compose_config(mle_overrides(args, seed))
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, data.spec)
    return model.eval(), build_guide(cfg, model).eval()


def trained_generator(folder: Path, data, checkpoint: str = "best.pt"):
    """The model and guide of a cell's checkpoint, built by zoo.run's wiring from its config."""
    from omegaconf import OmegaConf

    from zoo.run import build_guide, build_model
    from zoo.training.checkpoint import load_checkpoint, load_module_state

    state = load_checkpoint(folder, checkpoint)
    cfg = OmegaConf.create(state["config"])
    model = build_model(cfg, data.spec)
    guide = build_guide(cfg, model)
    load_module_state(model, state["model"], "model")
    load_module_state(guide, state["guide"], "guide")
    return model.eval(), guide.eval(), state


def bleu_table(samples: list[list[int]], references) -> dict:
    """BLEU-n of the samples against the references (an NgramMaxima) and self-BLEU-n among them."""
    from zoo.evaluation.sample_stats import NgramMaxima

    own = NgramMaxima(samples, max(BLEU_ORDERS))
    out = {}
    for n in BLEU_ORDERS:
        out[f"bleu_{n}"] = statistics.fmean(references.sentence_bleu(s, n) for s in samples)
        out[f"self_bleu_{n}"] = statistics.fmean(own.sentence_bleu(s, n, leave_out=True) for s in samples)
    return out


def settings(args) -> dict:
    """What a measurement depends on besides the checkpoint: kept with it, redone when they change."""
    return {
        "samples": args.samples,
        "bleu_samples": args.bleu_samples,
        "two_sample": args.two_sample,
        "two_sample_steps": args.two_sample_steps,
        "test_limit": args.test_limit,
    }


def measure(model, guide, data, oracle, references, args, seed: int) -> dict:
    """NLL-test (exact), NLL-oracle, BLEU and self-BLEU, and the two-sample test of one generator,
    each with its own seeded draws; the seconds each took."""
    from zoo.evaluation.likelihood import held_out_figures
    from zoo.evaluation.oracle_metrics import nll_oracle
    from zoo.evaluation.sampling import draw_in_batches
    from zoo.evaluation.two_sample import model_two_sample_test

    out, seconds = {}, {}
    start = time.perf_counter()
    out["nll_test"] = held_out_figures(model, guide, data, "test", limit=args.test_limit)[0].as_dict()
    seconds["nll_test"] = time.perf_counter() - start
    torch.manual_seed(10_000 + seed)
    start = time.perf_counter()
    samples = draw_in_batches(model, guide, args.samples, oracle.length)  # (n, T)
    out["nll_oracle"] = nll_oracle(oracle, samples).as_dict()
    seconds["nll_oracle"] = time.perf_counter() - start
    start = time.perf_counter()
    out["bleu"] = bleu_table(samples[: args.bleu_samples].tolist(), references)
    seconds["bleu"] = time.perf_counter() - start
    if args.two_sample:
        start = time.perf_counter()
        out["two_sample"] = model_two_sample_test(
            model, guide, data, args.two_sample, "test", seed, steps=args.two_sample_steps
        )
        seconds["two_sample"] = time.perf_counter() - start
    out["seconds"] = seconds
    return out


@torch.no_grad()
def critic_check(state: dict, model, guide, data, n: int, length: int, seed: int) -> dict | None:
    """What the adversarial run's own D (from its checkpoint) says of n sequences each: drawn
    from the generator, the oracle's held-out test sequences, and training sequences, which D
    saw as its real class. Its accuracy on drawn against held-out is what its rewards know of
    the oracle; a share of training sequences called real far above held-out ones is a D that
    has learnt its real class by heart. None for a run without a D."""
    from zoo.evaluation.sampling import draw_in_batches
    from zoo.objectives.critic import make_discriminator

    kept = (state.get("objective") or {}).get("discriminator")
    if not kept:
        return None
    o = state["config"]["objective"]
    D = make_discriminator(o["discriminator"], model.spec, o["discriminator_hidden"], o["discriminator_embedding"])
    D.load_state_dict(kept["module"])

    def called_real(x, lengths) -> float:
        return (D.score(x, lengths) > 0.5).float().mean().item()

    def first(split: str):  # (x (n, T), lengths (n,)) of the split's first n sequences
        batch = next(iter(data.batches(split, n)))
        return batch.x, batch.lengths

    torch.manual_seed(20_000 + seed)
    drawn = draw_in_batches(model, guide, n, length)  # (n, length)
    real = called_real(*first("test"))
    fake = called_real(drawn, torch.full((n,), length))
    seen = called_real(*first("train"))
    return {
        "accuracy": (real + 1 - fake) / 2,
        "test_called_real": real,
        "drawn_called_real": fake,
        "train_called_real": seen,
        "n": n,
    }


def measure_cell(args, row: str, seed: int, data, oracle, references) -> dict | None:
    """A cell's row of the table: its measurement (kept in the cell folder, redone when the
    settings change), training record, command and hardware."""
    folder = cell_dir(args, row, seed)
    if row == "untrained":
        folder.mkdir(parents=True, exist_ok=True)
    kept = folder / "bench_evaluation.json"
    result = json.loads(kept.read_text()) if kept.exists() else None
    adversarial = row not in ("untrained", "mle")
    if result is None or result.get("settings") != settings(args) or (adversarial and "critic" not in result):
        logging.info(f"--- {row} / seed {seed}: measuring")
        if row == "untrained":
            model, guide = untrained_generator(args, data, seed)
        else:
            checkpoint = mle_generator(args, seed).name if row == "mle" else "best.pt"
            model, guide, state = trained_generator(folder, data, checkpoint)
        result = {"settings": settings(args), **measure(model, guide, data, oracle, references, args, seed)}
        if adversarial:
            result["critic"] = critic_check(state, model, guide, data, args.samples, oracle.length, seed)
        kept.write_text(json.dumps(result, indent=2))
    if row == "mle" and args.temperatures and frontier_of(result) != args.temperatures:
        logging.info(f"--- mle / seed {seed}: its temperature frontier")
        model, guide, _ = trained_generator(folder, data, mle_generator(args, seed).name)
        result["frontier"] = frontier(model, data, oracle, args, seed)
        kept.write_text(json.dumps(result, indent=2))
    cell = {
        key: result[key]
        for key in ("settings", "nll_test", "nll_oracle", "bleu", "two_sample", "critic", "frontier", "seconds")
        if result.get(key) is not None
    }
    if row == "untrained":
        cell.update(
            command="the initial weights of: python -m zoo.run " + " ".join(mle_overrides(args, seed)),
            generator_updates=0,
            minutes=0.0,
        )
        return cell
    metrics = json.loads((folder / "metrics.json").read_text())
    overrides = json.loads((folder / "bench_cell.json").read_text())["overrides"]
    history = read_curve(folder / "metrics.csv")
    steps = int(history[-1]["step"]) if history else 0
    cell.update(
        command="python -m zoo.run " + " ".join(overrides),
        minutes=metrics["minutes"],
        hardware=metrics.get("hardware"),
        threads=metrics.get("threads"),
        epochs=metrics["epochs"],
    )
    if row == "mle":
        cell.update(
            generator_updates=mle_updates(args, history),
            steps_run=steps,
            best_valid_nats_per_step=metrics.get("best_valid_nats_per_step"),
            curve=oracle_curve(history, lambda step: step),
        )
    else:
        first = warmup_steps(args) if row.startswith("seqgan") else 0
        before = mle_updates(args, read_curve(cell_dir(args, "mle", seed) / "metrics.csv"))
        cell.update(
            generator_updates=max(steps - first, 0),
            discriminator_warmup_steps=min(first, steps),
            valid_nats_per_step_after=float(history[-1]["valid_nats_per_step"]) if history else None,
            curve=oracle_curve(history, lambda step: before + max(step - first, 0)),
        )
    return cell


def frontier(model, data, oracle, args, seed: int) -> list[dict]:
    """The MLE generator's NLL-oracle and tempered NLL-test at each of --temperatures; drawn under
    the seed of `measure`'s NLL-oracle, so at tau = 1 the curve passes through the MLE row."""
    from zoo.evaluation.temperature import temperature_frontier

    return temperature_frontier(model, oracle, data, args.temperatures, args.samples, 10_000 + seed, args.test_limit)


def frontier_of(result: dict) -> list[float] | None:
    """The temperatures a kept MLE measurement traced its frontier at (None: not traced)."""
    return [point["temperature"] for point in result["frontier"]] if result.get("frontier") else None


def traced_cells(payload: dict, args) -> dict[str, dict]:
    """{seed: MLE cell} of the seeds whose frontier was traced at --temperatures."""
    cells = payload["results"].get("mle", {}).get("seeds", {})
    return {seed: c for seed, c in cells.items() if args.temperatures and frontier_of(c) == args.temperatures}


def adversarial_cells(payload: dict, args):
    """(row, seed, cell) of every adversarial cell measured as this invocation measures."""
    for row in ROWS:
        if row in ("untrained", "mle"):
            continue
        for seed, cell in payload["results"].get(row, {}).get("seeds", {}).items():
            if cell.get("settings") == settings(args):
                yield row, seed, cell


def efficient_branch(frontier: list[dict]) -> list[tuple[float, float]]:
    """(NLL-test, NLL-oracle) of the traced temperatures from the coldest up to the one with the
    lowest NLL-test, in increasing NLL-test: the part of the curve that trades one for the other
    (a warmer tau than that one is worse on both)."""
    points = sorted(frontier, key=lambda p: p["temperature"])
    tests = [p["nll_test"]["nats_per_step"] for p in points]
    warmest = tests.index(min(tests))
    return sorted((p["nll_test"]["nats_per_step"], p["nll_oracle"]["nats_per_step"]) for p in points[: warmest + 1])


def frontier_gains(payload: dict, args) -> dict[str, dict[str, tuple[float, float, float | None]]]:
    """{row: {seed: (NLL-test, NLL-oracle, the curve's NLL-oracle at that NLL-test)}} for every
    adversarial cell of a seed whose MLE curve was traced, the curve's value linear between its
    traced points on the efficient branch; None for a cell outside the branch's NLL-test range."""
    curves = {seed: efficient_branch(c["frontier"]) for seed, c in traced_cells(payload, args).items()}
    out = {}
    for row, seed, cell in adversarial_cells(payload, args):
        if seed not in curves:
            continue
        test, oracle = cell["nll_test"]["nats_per_step"], cell["nll_oracle"]["nats_per_step"]
        xs, ys = zip(*curves[seed])
        curve = float(numpy.interp(test, xs, ys)) if xs[0] <= test <= xs[-1] else None
        out.setdefault(row, {})[seed] = (test, oracle, curve)
    return out


def frontier_table(payload: dict, args) -> list[str]:
    """The MLE generator sampled at each temperature tau (zoo.evaluation.temperature), mean ± sd
    over the seeds that traced it at --temperatures, and each adversarial row against it; []
    when no seed traced it."""
    cells = list(traced_cells(payload, args).values())
    if not cells:
        return []
    lines = [
        f"The MLE generator at sampling temperature tau (Caccia et al. 2018): NLL-oracle of {args.samples:,} "
        "draws from softmax(logits / tau), and that tempered model's exact NLL-test; an adversarial row gains "
        f"over MLE only where it lies below this curve. {len(cells)} seed(s).",
        "",
        "| tau | NLL-oracle | NLL-test (exact, tempered) |",
        "|---|---|---|",
    ]
    for i, tau in enumerate(args.temperatures):
        oracle = spread([c["frontier"][i]["nll_oracle"]["nats_per_step"] for c in cells])
        test = spread([c["frontier"][i]["nll_test"]["nats_per_step"] for c in cells])
        lines.append(f"| {tau:g} | {oracle} | {test} |")
    gains = frontier_gains(payload, args)
    if not gains:
        return lines
    lines += [
        "",
        "Each adversarial cell against its own seed's curve at the cell's NLL-test (linear between the traced "
        "temperatures up to the one of lowest NLL-test; below 0: a lower NLL-oracle than a temperature of the MLE "
        "generator gives):",
        "",
        "| generator | NLL-test | NLL-oracle | the curve's NLL-oracle there | difference | seeds |",
        "|---|---|---|---|---|---|",
    ]
    outside = []
    for row, points in gains.items():
        inside = {seed: p for seed, p in points.items() if p[2] is not None}
        outside += [f"{LABELS[row]}, seed {seed} (NLL-test {p[0]:.3f})" for seed, p in points.items() if p[2] is None]
        if inside:
            test, oracle, curve = map(list, zip(*inside.values()))
            difference = spread([o - c for o, c in zip(oracle, curve)])
            lines.append(
                f"| {LABELS[row]} | {spread(test)} | {spread(oracle)} | {spread(curve)} | {difference} | "
                f"{' '.join(inside)} |"
            )
    if outside:
        lines += ["", f"Outside the traced temperatures' NLL-test range: {'; '.join(outside)}."]
    return lines


def plot_frontier(payload: dict, args, path: Path, others: dict[str, dict] | None = None) -> bool:
    """NLL-oracle against NLL-test: the MLE generator's temperature curve, a line per seed, and
    every adversarial cell as a point (lower left is better on both), with those of `others`
    ({tag: payload} of grids on the same MLE generators) labelled by their tag. False when no
    seed traced the curve."""
    from zoo.reports.plots import plot_learning_curves

    def point(cell: dict) -> tuple[float, float]:
        return cell["nll_test"]["nats_per_step"], cell["nll_oracle"]["nats_per_step"]

    mle = traced_cells(payload, args)
    if not mle:
        return False
    curves = {"MLE at temperature tau (Caccia et al. 2018)": [[point(p) for p in c["frontier"]] for c in mle.values()]}
    for tag, grid in {args.tag: payload, **(others or {})}.items():
        for row, _, cell in adversarial_cells(grid, args):
            curves.setdefault(f"{LABELS[row]} ({tag})", []).append([point(cell)])
    plot_learning_curves(
        curves, path, "NLL-oracle, nats per token", xlabel="NLL-test (exact), nats per token", markersize=6
    )
    return True


def oracle_curve(history: list[dict], updates) -> list[list[float]]:
    """[generator updates, NLL-oracle] after each validation of the run (metrics.csv's nll_oracle
    column, evaluate.oracle_curve), the updates counted from the untrained generator by `updates`."""
    return [[updates(int(h["step"])), float(h["nll_oracle"])] for h in history if h.get("nll_oracle")]


def plot_curves(payload: dict, path: Path) -> None:
    """NLL-oracle against generator updates, a colour per row and a line per seed."""
    from zoo.reports.plots import plot_learning_curves

    curves = {
        LABELS.get(row, row): [cell.get("curve") or [] for cell in entry["seeds"].values()]
        for row, entry in payload["results"].items()
    }
    curves = {name: runs for name, runs in curves.items() if any(runs)}
    if curves:
        plot_learning_curves(curves, path, "NLL-oracle, nats per token", xlabel="generator updates")


def mle_updates(args, history: list[dict]) -> int:
    """The MLE generator's updates: to its best validation figure, or all of them on SeqGAN's schedule."""
    if args.mle_schedule == "paper":
        return int(history[-1]["step"]) if history else 0
    return best_step(history)


def best_step(history: list[dict]) -> int:
    """The step of a run's best validation figure (where its best.pt was written); 0 without one."""
    return int(min(history, key=lambda h: float(h["valid_nats_per_step"]))["step"]) if history else 0


def oracle_rows(args, data, oracle, references) -> dict:
    """The oracle's own held-out sequences (its validation split) measured as a generator's
    samples are, and the uniform generator: the floor and the scale of each column."""
    from zoo.evaluation.oracle_metrics import nll_oracle, oracle_test_nll, uniform_row

    own = torch.stack(data.valid[: args.samples])  # (n, T), never among the references
    g = torch.Generator().manual_seed(0)
    return {
        "oracle": {
            "nll_oracle": nll_oracle(oracle, own, kind="NLL-oracle (its own sequences)").as_dict(),
            "nll_test": oracle_test_nll(oracle, data, limit=args.test_limit).as_dict(),
            "bleu": bleu_table(own[: args.bleu_samples].tolist(), references),
            "n": len(own),
        },
        "uniform": uniform_row(oracle, args.samples, g),
    }


# -- the table ----------------------------------------------------------------------------------------


def bleus(cells: list[dict], prefix: str) -> str:
    return " / ".join(f"{statistics.fmean(c['bleu'][f'{prefix}{n}'] for c in cells):.3f}" for n in BLEU_ORDERS)


def budget_lines(args) -> list[str]:
    """What the rows were given, in words, for the table's header."""
    cap = f", capped at {args.mle_minutes:g} minutes of wall time" if args.mle_minutes else ""
    if args.mle_schedule == "paper":
        mle = (
            f"budget: MLE on SeqGAN's schedule, 120 epochs (18,720 steps of 64, Adam 0.01, no early stop{cap}, "
            f"last checkpoint{', weights drawn from N(0, 0.1^2)' if args.paper else ''})"
        )
    else:
        mle = (
            f"budget: MLE at most {args.mle_steps:,} steps of {args.batch} (Adam {args.lr:g}, halved on a plateau, "
            f"early stop on {args.valid_limit} validation sequences{cap}, best checkpoint)"
        )
    given = [f"--options, which override the above where they meet: {' '.join(args.options)}"] if args.options else []
    if args.paper:
        return [
            f"{mle}. Every adversarial row starts from it at its own paper's schedule. "
            f"SeqGAN rows: D warm-up {warmup_steps(args)} steps (fills the pool), then SeqGAN's D schedule "
            "(Adam 1e-4; 50 rounds of 10,000 fresh negatives x 3 epochs, then 5 such rounds before each "
            f"generator step), 200 generator steps, Adam 0.01, {args.rollouts} rollouts, rewards without a "
            "baseline. gumbel_gan: RelGAN's 3,000 steps, 5 D steps each, Adam 1e-4, beta_max 100.",
            *given,
        ]
    if args.adversarial_steps:
        each = f"{args.adversarial_steps} generator updates each"
    else:
        each = f"{args.adversarial_minutes:g} minutes of wall time each (train.max_minutes, D's warm-up included)"
    return [
        f"{mle}; every adversarial row starts from its seed's MLE checkpoint (train.init) with {each}, "
        f"Adam {args.adversarial_lr:g}.",
        f"SeqGAN: D alone for {warmup_steps(args)} steps, then 1 D step (Adam 1e-3) per generator step "
        f"with {args.rollouts} rollouts; gumbel_gan ({args.gumbel_discriminator} D): 5 D steps (Adam 1e-4) "
        "per generator step, beta rising from 1 towards 1000 over 5,000 steps. SeqGAN's own schedule "
        "(--paper: 18,720 MLE steps; 200 generator steps, each after 4,680 D updates) is far larger.",
        *given,
    ]


def table(payload: dict, args) -> list[str]:
    """The table, in Markdown: our rows (mean ± sd over seeds), the oracle's and the
    uniform generator's, then the published figures."""
    results, refs = payload["results"], payload["references"]
    two = args.two_sample
    head = ["generator", "NLL-oracle", "NLL-test (exact)", "BLEU-2/3/4/5", "self-BLEU-2/3/4/5"]
    head += [f"2-sample acc. (N={two})"] if two else []
    head += ["its own D: acc. held out (train reals called real)", "G updates", "minutes", "seeds"]

    def markdown(cells: list[str]) -> str:  # a table row, blank in the columns after `cells`
        return "| " + " | ".join(cells + [""] * (len(head) - len(cells))) + " |"

    lines = [markdown(head), "|" + "---|" * len(head)]
    for row in ROWS:  # the cells measured as this invocation measures (others are redone when their seeds run)
        seeds = {k: c for k, c in results.get(row, {}).get("seeds", {}).items() if c.get("settings") == settings(args)}
        cells = list(seeds.values())
        if not cells:
            continue
        line = [
            LABELS[row],
            spread([c["nll_oracle"]["nats_per_step"] for c in cells]),
            spread([c["nll_test"]["nats_per_step"] for c in cells]),
            bleus(cells, "bleu_"),
            bleus(cells, "self_bleu_"),
        ]
        if two:
            accuracies = [c["two_sample"]["accuracy"] for c in cells if "two_sample" in c]
            line.append(spread(accuracies) if accuracies else "—")
        critics = [c["critic"] for c in cells if "critic" in c]
        own_d = f"{spread([c['accuracy'] for c in critics])} ({spread([c['train_called_real'] for c in critics])})"
        line += [
            own_d if critics else "—",
            spread([c["generator_updates"] for c in cells], 0),
            spread([c["minutes"] for c in cells], 1),
            " ".join(sorted(seeds, key=int)),
        ]
        lines.append(markdown(line))
    own = refs["oracle"]
    line = [
        f"the oracle's own held-out sequences ({own['n']})",
        f"{own['nll_oracle']['nats_per_step']:.3f}",
        f"{own['nll_test']['nats_per_step']:.3f}",
        " / ".join(f"{own['bleu'][f'bleu_{n}']:.3f}" for n in BLEU_ORDERS),
        " / ".join(f"{own['bleu'][f'self_bleu_{n}']:.3f}" for n in BLEU_ORDERS),
    ]
    lines.append(markdown(line + ["0.5 by construction"] * bool(two)))
    uniform = refs["uniform"]
    line = [
        "uniform tokens",
        f"{uniform['nll_oracle']['nats_per_step']:.3f}",
        f"{uniform['nll_test']['nats_per_step']:.3f}",
        "",
        "",
    ]
    lines.append(markdown(line))
    return lines


def published_lines(oracle: str) -> list[str]:
    where = "the same oracle" if oracle == "seqgan" else "SeqGAN's oracle, not this one: compare in scale only"
    lines = [
        f"Published NLL-oracle, nats per token ({where}; their budgets, their generators):",
        "",
        "| method | NLL-oracle | source | checked |",
        "|---|---|---|---|",
    ]
    lines += [f"| {p['name']} | {p['value']:.3f} | {p['source']} | {p['checked']} |" for p in PUBLISHED]
    return lines


def add_cell(out: Path, args, row: str, seed: int, cell: dict, extra: dict) -> dict:
    """One cell into the bench's JSON, so invocations add to one file; returns the whole payload."""

    def update(payload: dict) -> None:
        row_entry = payload["results"].setdefault(row, {"seeds": {}})
        row_entry["seeds"][str(seed)] = cell
        row_entry["minutes"] = statistics.fmean(c["minutes"] for c in row_entry["seeds"].values())
        row_entry["command"] = cell["command"]
        payload.update(extra, args=vars(args), command=command_line(), hardware=describe_device("cpu"))

    return update_json(out, update)


def oracle_table(args) -> None:
    from hydra.utils import instantiate

    from zoo.data.oracle import oracle_for
    from zoo.evaluation.sample_stats import NgramMaxima

    torch.set_num_threads(args.threads)
    data = instantiate(compose_config(mle_overrides(args, args.seeds[0])).data)
    args.num_train = len(data.train)
    oracle = oracle_for(data)
    references = NgramMaxima([s.tolist() for s in data.test], max(BLEU_ORDERS))
    out = RESULTS / f"seqgan_{args.oracle}_{args.tag}.json"
    name = (
        "SeqGAN's oracle (LantaoYu/SeqGAN target_params_py3.pkl)"
        if args.oracle == "seqgan"
        else f"a random N(0, 1) oracle (seed {data.info['oracle'].get('seed')})"
    )
    drawn = "" if args.oracle == "seqgan" else f" (data.seed={data.info['oracle'].get('seed')})"
    extra = {
        "data": f"oracle, data.oracle={args.oracle}{drawn}",
        "references": oracle_rows(args, data, oracle, references),
        "budget": budget_lines(args),
        "published": PUBLISHED,
        "anchors": {p["name"]: p["value"] for p in PUBLISHED},
    }
    if out.exists() and json.loads(out.read_text()).get("budget") != extra["budget"]:
        raise SystemExit(
            f"error: {out} holds cells trained on another budget ("
            f"{' '.join(json.loads(out.read_text()).get('budget') or ['none recorded'])}); "
            f"give this budget another --tag"
        )
    grids = {tag: RESULTS / f"seqgan_{args.oracle}_{tag}.json" for tag in args.frontier_also}
    missing = [str(path) for path in grids.values() if not path.exists()]
    if missing:  # before any cell trains, not after
        raise SystemExit(f"error: --frontier-also names grids that are not there: {', '.join(missing)}")
    payload = json.loads(out.read_text()) if out.exists() else {"results": {}, **extra}
    for seed in args.seeds:
        for row in args.rows:
            if row != "untrained" and not train_cell(args, row, seed):
                continue
            cell = measure_cell(args, row, seed, data, oracle, references)
            if cell is not None:
                payload = add_cell(out, args, row, seed, cell, extra)
    T, V = oracle.length, oracle.vocab_size
    print(
        f"\n{name}: V={V}, T={T}; {len(data.train):,} training, {len(data.test):,} test sequences. "
        f"char_lstm (embedding {args.embedding}, hidden {args.hidden}), batch {args.batch}, each cell on "
        f"{args.threads} CPU thread(s); nats per token, mean ± sd over seeds."
    )
    for line in payload.get("budget", []):
        print(line)
    print(
        f"NLL-oracle of {args.samples:,} drawn sequences; NLL-test on the {args.test_limit or len(data.test):,} "
        f"test sequences; BLEU of {args.bleu_samples} drawn sequences against the {len(data.test):,} test "
        "sequences as references, self-BLEU among the drawn ones.\n"
    )
    print("\n".join(table(payload, args)))
    print()
    frontier_lines = frontier_table(payload, args)
    if frontier_lines:
        print("\n".join(frontier_lines))
        print()
    print("\n".join(published_lines(args.oracle)))
    plot_curves(payload, out.with_suffix(".png"))
    print(f"\nwrote {out} and its NLL-oracle curves, {out.with_suffix('.png').name}")
    frontier = out.with_name(f"{out.stem}_frontier.png")
    others = {tag: json.loads(path.read_text()) for tag, path in grids.items()}  # as they are now
    if plot_frontier(payload, args, frontier, others):
        print(f"and NLL-oracle against NLL-test beside the temperature frontier, {frontier.name}")


# -- text: MLE then SeqGAN in this process (--data shakespeare_lines) ----------------------------------


def text_figures(model, guide, data, args) -> dict:
    """NLL-test and the sample statistics of the generator as it is now."""
    from zoo.evaluation.likelihood import held_out_figures
    from zoo.evaluation.sample_stats import sample_statistics
    from zoo.evaluation.sampling import draw

    model.eval()
    torch.manual_seed(args.seeds[0])
    out = {"nll_test": held_out_figures(model, guide, data, "test", limit=args.test_limit)[0].as_dict()}
    length = max(len(s) for s in data.test)
    samples = draw(model, guide, args.samples, length)
    out["sample_statistics"] = sample_statistics(samples, data)
    out["examples"] = [data.spec.vocab.decode(s.tolist()).split("\n")[0] for s in samples[:10]]
    return out


def text_comparison(args) -> None:
    from guides.empty import NoLatents
    from zoo.data import shakespeare_lines
    from zoo.models.char_lstm import CharLSTM
    from zoo.objectives import ELBO
    from zoo.objectives.seqgan import SeqGAN
    from zoo.training.trainer import Trainer, TrainOptions

    seed = args.seeds[0]
    data = shakespeare_lines.load(max_length=args.max_length)
    torch.manual_seed(seed)
    model = CharLSTM(data.spec, hidden_size=args.hidden, embedding_size=args.embedding)
    guide = NoLatents(model)
    folder = RESULTS / "seqgan_shakespeare_lines"
    per_epoch = 100
    start = time.perf_counter()
    mle_trainer = Trainer(
        model,
        guide,
        ELBO(),
        data,
        TrainOptions(
            max_epochs=args.mle_steps // per_epoch,
            steps_per_epoch=per_epoch,
            batch_size=args.batch,
            lr=args.lr,
            patience=5,
            lr_patience=2,
            seed=seed,
            progress=False,
            valid_limit=500,
        ),
        folder / "mle",
    )
    mle_steps = mle_trainer.fit()[-1]["step"]
    reload_best(mle_trainer)  # the early-stopped generator
    mle_minutes = (time.perf_counter() - start) / 60
    mle = text_figures(model, guide, data, args)

    objective = SeqGAN(pretrain_steps=0, rollouts=args.rollouts, mle_weight=args.mle_weight)
    start = time.perf_counter()
    epochs = (data.batches("train", args.batch, shuffle=True, seed=epoch) for epoch in itertools.count(1))
    d_loss = math.nan
    for _, batch in zip(range(args.discriminator_steps), itertools.chain.from_iterable(epochs)):
        d_loss = objective.discriminator_step(model, guide, batch)
    logging.info(f"discriminator pre-trained for {args.discriminator_steps} steps, loss {d_loss:.3f}")
    history = Trainer(
        model,
        guide,
        objective,
        data,
        TrainOptions(
            max_epochs=10**6,
            max_minutes=args.adversarial_minutes,
            steps_per_epoch=10,
            batch_size=args.batch,
            lr=args.adversarial_lr,
            lr_schedule="none",
            patience=10**6,
            seed=seed + 1,
            progress=False,
            valid_limit=500,
        ),
        folder / "seqgan",
    ).fit()
    adversarial_minutes = (time.perf_counter() - start) / 60
    adversarial = text_figures(model, guide, data, args)

    (folder / "samples.txt").write_text(
        "".join(
            f"{name}:\n" + "\n".join(f"  {line}" for line in f["examples"]) + "\n\n"
            for name, f in (("after maximum likelihood", mle), ("after SeqGAN", adversarial))
        )
    )
    rows = {
        "MLE": (mle, mle_trainer.step, mle_minutes),
        "SeqGAN": (adversarial, history[-1]["step"], adversarial_minutes),
    }
    print(
        f"\n{data.name}: char_lstm (embedding {args.embedding}, hidden {args.hidden}) on "
        f"{torch.get_num_threads()} CPU threads; nats per token"
    )
    for name, (f, steps, minutes) in rows.items():
        print(
            f"  {name:7s} NLL-test {f['nll_test']['nats_per_step']:.3f} ({f['nll_test']['kind']})  "
            f"{steps} generator updates, {minutes:.1f} min"
        )
        s = f["sample_statistics"] or {}
        shown = [
            k
            for k in (
                "bleu_2",
                "bleu_2_reference",
                "self_bleu_2",
                "self_bleu_2_reference",
                "distinct_2",
                "distinct_2_reference",
                "js_2gram_nats",
                "mmd",
                "mmd_reference",
            )
            if k in s
        ]
        print(f"  {'':7s} samples: " + ", ".join(f"{k} {s[k]:.3f}" for k in shown))
    write_json(
        "seqgan_shakespeare_lines",
        {
            "args": vars(args),
            "mle": mle,
            "seqgan": adversarial,
            "mle_steps": mle_steps,
            "mle_best_step": mle_trainer.step,
            "adversarial_steps": history[-1]["step"],
            "mle_minutes": mle_minutes,
            "adversarial_minutes": adversarial_minutes,
        },
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


if __name__ == "__main__":
    main()
