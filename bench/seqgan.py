"""Does SeqGAN help? The same generator after maximum likelihood and after policy gradients.

    python -m bench.seqgan [--data oracle --mle-steps 3000 --adversarial-minutes 20]
    python -m bench.seqgan --data shakespeare_lines --hidden 128 --embedding 32 --lr 0.002

1. char_lstm trains by maximum likelihood for at most `--mle-steps`, stopping early on the
   validation NLL; its best checkpoint is the MLE generator.
2. A recurrent discriminator trains alone for `--discriminator-steps` against its samples.
3. The generator trains by SeqGAN's REINFORCE with `--rollouts` Monte Carlo rollouts and a
   leave-one-out baseline for `--adversarial-minutes` (optionally with `--mle-weight` times the
   teacher-forced NLL mixed in), D stepping once per generator update.

Printed for both generators, nats per token: NLL-test (exact, on the test split) and, on the
oracle, NLL-oracle (the oracle's NLL of 2,000 samples: lower = samples the true process finds
likelier); on Shakespeare lines, the sample statistics of zoo.infer.sample_stats (BLEU against
held-out lines, self-BLEU, distinct-n, n-gram JS, MMD) of `--samples` samples. Also the number
of generator updates and minutes. Anchors (Yu et al. 2016, their own oracle, NLL-oracle): MLE
9.038, SeqGAN 8.736; our oracle is another draw of the same construction (its uniform
generator scores 11.20, theirs 10.31), so they compare in scale only.
Writes bench/results/seqgan_<data>.json.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

import torch

from bench.common import reload_best, write_json
from guides.empty import NoLatents
from zoo.data import oracle, shakespeare_lines
from zoo.infer.generate import draw, sample_statistics
from zoo.infer.likelihood import held_out_figures
from zoo.infer.oracle_metrics import model_nll_oracle
from zoo.infer.trainer import Trainer, TrainOptions
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.objectives.seqgan import SeqGAN

ANCHORS = {"Yu et al. 2016 MLE (their oracle)": 9.038, "Yu et al. 2016 SeqGAN (their oracle)": 8.736}


def figures(model, guide, data, args) -> dict:
    """NLL-test, NLL-oracle (oracle data) and sample statistics of the generator as it is now."""
    model.eval()
    torch.manual_seed(args.seed)
    out = {"nll_test": held_out_figures(model, guide, data, "test", limit=args.test_limit)[0].as_dict()}
    teacher = oracle.oracle_for(data)
    if teacher is not None:
        out["nll_oracle"] = model_nll_oracle(model, guide, teacher, args.samples).as_dict()
    length = max(len(s) for s in data.test)
    samples = draw(model, guide, args.samples, length)
    out["sample_statistics"] = sample_statistics(samples, data)
    if data.spec.vocab is not None:  # the first lines, as text, for the samples file
        out["examples"] = [data.spec.vocab.decode(s.tolist()).split("\n")[0] for s in samples[:10]]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=["oracle", "shakespeare_lines"], default="oracle")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--embedding", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01, help="Adam step size of the MLE phase")
    parser.add_argument("--mle-steps", type=int, default=3000)
    parser.add_argument("--discriminator-steps", type=int, default=3000)
    parser.add_argument("--adversarial-minutes", type=float, default=20.0)
    parser.add_argument("--adversarial-lr", type=float, default=1e-3)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--mle-weight", type=float, default=0.0)
    parser.add_argument("--samples", type=int, default=2000, help="samples for NLL-oracle and statistics")
    parser.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test sequences")
    parser.add_argument("--max-length", type=int, default=40, help="shakespeare_lines: longest line kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = oracle.load() if args.data == "oracle" else shakespeare_lines.load(max_length=args.max_length)
    torch.manual_seed(args.seed)
    model = CharLSTM(data.spec, hidden_size=args.hidden, embedding_size=args.embedding)
    guide = NoLatents(model)
    folder = Path(__file__).parent / "results" / f"seqgan_{args.data}"
    per_epoch = 100
    start = time.perf_counter()
    mle_trainer = Trainer(model, guide, ELBO(), data, TrainOptions(
        max_epochs=args.mle_steps // per_epoch, steps_per_epoch=per_epoch, batch_size=args.batch, lr=args.lr,
        patience=5, lr_patience=2, seed=args.seed, progress=False, valid_limit=500), folder / "mle")
    mle_steps = mle_trainer.fit()[-1]["step"]
    reload_best(mle_trainer)  # the early-stopped generator
    mle_minutes = (time.perf_counter() - start) / 60
    mle = figures(model, guide, data, args)

    objective = SeqGAN(pretrain_steps=0, rollouts=args.rollouts, mle_weight=args.mle_weight)
    start = time.perf_counter()
    epochs = (data.batches("train", args.batch, shuffle=True, seed=epoch) for epoch in itertools.count(1))
    for _, batch in zip(range(args.discriminator_steps), itertools.chain.from_iterable(epochs)):
        d_loss = objective.discriminator_step(model, guide, batch)
    logging.info(f"discriminator pre-trained for {args.discriminator_steps} steps, loss {d_loss:.3f}")
    history = Trainer(model, guide, objective, data, TrainOptions(
        max_epochs=10**6, max_minutes=args.adversarial_minutes, steps_per_epoch=10, batch_size=args.batch,
        lr=args.adversarial_lr, lr_schedule="none", patience=10**6, seed=args.seed + 1, progress=False,
        valid_limit=500), folder / "seqgan").fit()
    adversarial_minutes = (time.perf_counter() - start) / 60
    adversarial = figures(model, guide, data, args)

    if "examples" in adversarial:
        (folder / "samples.txt").write_text("".join(
            f"{name}:\n" + "\n".join(f"  {line}" for line in f["examples"]) + "\n\n"
            for name, f in (("after maximum likelihood", mle), ("after SeqGAN", adversarial))))
    rows = {"MLE": (mle, mle_trainer.step, mle_minutes), "SeqGAN": (adversarial, history[-1]["step"], adversarial_minutes)}
    print(f"\n{data.name}: char_lstm (embedding {args.embedding}, hidden {args.hidden}) on "
          f"{torch.get_num_threads()} CPU threads; nats per token")
    for name, (f, steps, minutes) in rows.items():
        oracle_part = f"NLL-oracle {f['nll_oracle']['nats_per_step']:.3f}  " if "nll_oracle" in f else ""
        print(f"  {name:7s} {oracle_part}NLL-test {f['nll_test']['nats_per_step']:.3f} ({f['nll_test']['kind']})  "
              f"{steps} generator updates, {minutes:.1f} min")
        s = f["sample_statistics"] or {}
        shown = [k for k in ("bleu_2", "bleu_2_reference", "self_bleu_2", "self_bleu_2_reference", "distinct_2",
                             "distinct_2_reference", "js_2gram_nats", "mmd", "mmd_reference") if k in s]
        print(f"  {'':7s} samples: " + ", ".join(f"{k} {s[k]:.3f}" for k in shown))
    if args.data == "oracle":
        print("anchors: " + ", ".join(f"{k} {v}" for k, v in ANCHORS.items()))
    write_json(f"seqgan_{args.data}", {"args": vars(args), "mle": mle, "seqgan": adversarial,
                                       "mle_steps": mle_steps, "mle_best_step": mle_trainer.step,
                                       "adversarial_steps": history[-1]["step"], "mle_minutes": mle_minutes,
                                       "adversarial_minutes": adversarial_minutes, "anchors": ANCHORS})


if __name__ == "__main__":
    main()
