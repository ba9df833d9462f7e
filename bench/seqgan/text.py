"""MLE then SeqGAN (an LSTM critic) on lines of the plays, in this process, with the sample
statistics of zoo.evaluation.sample_stats against held-out lines (--data shakespeare_lines)."""

from __future__ import annotations

import itertools
import logging
import math
import time
from pathlib import Path

import torch

from bench.common import reload_best, write_json

FOLDER = Path(__file__).parents[1] / "results" / "seqgan_shakespeare_lines"


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
    folder = FOLDER
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
