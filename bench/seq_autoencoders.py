"""Sequence autoencoders on short sequences: test figures and what the codes carry.

    python -m bench.seq_autoencoders [--data jsb_phrases --minutes 3 --particles 100]

Each contender trains for the same wall-clock budget with early stopping on its validation
figure, reloads its best checkpoint and is evaluated on the test split:

    char_lstm            exact NLL: the reference with no code at all
    seq_ae               reconstruction -log p(x | c(x)): not a likelihood of x
    seq_vae              plain ELBO (closed-form KL), no cure for posterior collapse
    seq_vae_bowman       KL annealing along a logistic curve + word dropout 0.25 (Bowman et al. 2015)
    seq_vae_free_bits    free bits, lambda nats per latent dimension (Kingma et al. 2016)
    seq_ae_mmd           seq_ae + a generator of codes trained on the MMD (Li et al. 2015)
    seq_ae_gan           seq_ae + a generator of codes trained against a critic (Goodfellow et al. 2014)
    seq_ae_aae           seq_ae whose codes a critic pushes towards N(0, I) (Makhzani et al. 2015)
    seqgan               char_lstm's best checkpoint, then SeqGAN's policy gradients (Yu et al. 2016)
    gumbel_gan           char_lstm's best checkpoint, then a Gumbel-softmax GAN (Nie et al. 2019; text only)

The seq_vae's encoder reads one way here, as Bowman et al.'s (`--bidirectional`: both ways,
the default of guide=seq_encoder and of bench.seq_vae). For the VAEs: -ELBO and -IWAE-K per
step, and the code diagnostics (KL per sequence, active units, I(x; z)); for the code
generators, the MMD between their new codes and the encoded test codes (a seq_ae's fitted
Gaussian too); for every model, statistics of `--samples` drawn sequences against the test
split, and the classifier two-sample test of `--two-sample` drawn sequences against as many test
sequences (Lopez-Paz & Oquab 2017; 0.5 = the classifier cannot tell them apart), the one figure
every row has, likelihood or not. The adversarial rows need char_lstm's run (this invocation or
an earlier one of the same tag) and train for `--minutes` from its weights with a fresh optimiser.
Reconstructions and homotopies go to bench/results/seq_autoencoders/<data>/[<tag>/]<name>/.
Writes bench/results/seq_autoencoders_<data>[_<tag>].json.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from bench.common import command_line, reload_best, update_json
from guides.empty import NoLatents
from guides.seq_encoder import SeqEncoder
from zoo.data import jsb_phrases, shakespeare_lines
from zoo.evaluation.likelihood import held_out_figures
from zoo.evaluation.sample_stats import sample_statistics
from zoo.evaluation.sampling import draw
from zoo.evaluation.two_sample import model_two_sample_test
from zoo.models.char_lstm import CharLSTM
from zoo.models.seq_ae import SeqAE
from zoo.models.seq_vae import SeqVAE
from zoo.objectives import ELBO
from zoo.objectives.gumbel_gan import GumbelGAN
from zoo.objectives.latent_code import AAE, GANLatent, MMDLatent
from zoo.objectives.seqgan import SeqGAN
from zoo.reports.codes import write_code_report
from zoo.training.checkpoint import load_weights
from zoo.training.devices import describe_device
from zoo.training.trainer import Trainer, TrainOptions

RESULTS = Path(__file__).parent / "results"
MODELS = (
    "char_lstm",
    "seq_ae",
    "seq_vae",
    "seq_vae_bowman",
    "seq_vae_free_bits",
    "seq_ae_mmd",
    "seq_ae_gan",
    "seq_ae_aae",
    "seqgan",
    "gumbel_gan",
)
ADVERSARIAL = ("seqgan", "gumbel_gan")
CODE_OBJECTIVES = {
    "seq_ae_mmd": ("generator", MMDLatent),
    "seq_ae_gan": ("generator", GANLatent),
    "seq_ae_aae": ("prior", AAE),
}


def build(name: str, data, args):
    torch.manual_seed(args.seed)
    if name == "char_lstm" or name in ADVERSARIAL:
        model = CharLSTM(data.spec, hidden_size=args.hidden)
        if name == "char_lstm":
            return model, NoLatents(model), ELBO()
        start = results_dir(args) / "char_lstm"
        if not (start / "best.pt").exists():
            raise SystemExit(f"{name} starts from char_lstm's best checkpoint: run --models char_lstm first")
        load_weights(model, NoLatents(model), data.spec.state_dict(), start)  # as train.init does
        if name == "seqgan":
            return (
                model,
                NoLatents(model),
                SeqGAN(pretrain_steps=0, rollouts=args.rollouts, discriminator_warmup_steps=args.discriminator_warmup),
            )
        return model, NoLatents(model), GumbelGAN(pretrain_steps=0)
    if name == "seq_ae":
        model = SeqAE(data.spec, hidden_size=args.hidden)
        return model, NoLatents(model), ELBO()
    if name in CODE_OBJECTIVES:
        source, objective = CODE_OBJECTIVES[name]
        model = SeqAE(data.spec, hidden_size=args.hidden, code_source=source)
        return model, NoLatents(model), objective(weight=args.code_weight)
    model = SeqVAE(
        data.spec,
        hidden_size=args.hidden,
        z_size=args.z,
        feed_latent=args.feed_latent,
        word_dropout=args.word_dropout if name == "seq_vae_bowman" else 0.0,
    )
    objective = {
        "seq_vae": ELBO(analytic_kl=True),
        "seq_vae_bowman": ELBO(analytic_kl=True, anneal_steps=args.anneal_steps, anneal_shape="sigmoid"),
        "seq_vae_free_bits": ELBO(analytic_kl=True, free_bits=args.free_bits),
    }[name]
    return model, SeqEncoder(model, bidirectional=args.bidirectional), objective


def run(name: str, data, args) -> dict:
    model, guide, objective = build(name, data, args)
    max_epochs = args.steps // args.steps_per_epoch if args.steps else 100_000
    adversarial = name in ADVERSARIAL
    options = TrainOptions(
        max_epochs=max_epochs,
        max_minutes=args.minutes,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch,
        lr=args.adversarial_lr if adversarial else args.lr,
        lr_schedule="none" if adversarial else "plateau",
        patience=10**6 if adversarial else args.patience,
        lr_patience=args.lr_patience,
        seed=args.seed,
        valid_limit=args.valid_limit,
        progress=False,
    )
    run_dir = results_dir(args) / label(name, args)
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(model, guide, objective, data, options, run_dir)
    history = trainer.fit()
    if adversarial:  # the generator as adversarial training left it: its likelihood does not select it
        model.eval()
    else:
        reload_best(trainer)
    torch.manual_seed(args.seed)
    figures = held_out_figures(
        model, guide, data, "test", num_particles=args.particles, batch_size=64, limit=args.test_limit
    )
    code = write_code_report(model, guide, data, run_dir, limit=args.test_limit)
    samples = draw(model, guide, args.samples, max(len(s) for s in data.test))
    statistics = sample_statistics(samples, data)
    two_sample = model_two_sample_test(model, guide, data, args.two_sample, seed=args.seed) if args.two_sample else None
    best = history[-1] if adversarial else min(history, key=lambda h: h["valid_nats_per_step"])
    return {
        "args": vars(args),
        "command": command_line(),
        "test": [f.as_dict() for f in figures],
        "code": code,
        "sample_statistics": statistics,
        "two_sample": two_sample,
        "best_minute": best["minutes"],
        "best_step": best["step"],
        "steps": history[-1]["step"],
        "generator_updates": generator_updates(name, history[-1]["step"], args) if adversarial else None,
        "minutes": history[-1]["minutes"],
    }


def generator_updates(name: str, steps: int, args) -> int:
    """An adversarial row's generator updates: SeqGAN's first steps train D alone."""
    return max(steps - args.discriminator_warmup, 0) if name == "seqgan" else steps


def results_dir(args) -> Path:
    """Where this data set's and tag's run folders go, one per model."""
    return RESULTS / "seq_autoencoders" / args.data / (args.tag or "")


def label(name: str, args) -> str:
    """The model's name in the results and its run folder, with the seq_vae's encoder and decoder options when set."""
    if not name.startswith("seq_vae"):
        return name
    return name + ("_bidirectional" if args.bidirectional else "") + ("_feed_latent" if args.feed_latent else "")


def budget(args) -> str:
    parts = ([f"{args.minutes} min"] if args.minutes else []) + ([f"{args.steps} steps"] if args.steps else [])
    return " or ".join(parts) or "unbounded"


def main(description: str = __doc__, **defaults):
    """Parse the command line (with `defaults` in place of the parser's own), train, evaluate, print."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=["jsb_phrases", "shakespeare_lines"], default="jsb_phrases")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget for each model")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train every model for this many steps at most (equal steps, not equal minutes)",
    )
    parser.add_argument("--particles", type=int, default=100, help="K for the IWAE bound")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--z", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--feed-latent", action="store_true", help="seq_vae: z fed to the decoder at every step")
    parser.add_argument(
        "--bidirectional",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="seq_vae: a bidirectional LSTM encoder (Bowman et al.'s reads one way)",
    )
    parser.add_argument("--anneal-steps", type=int, default=2000)
    parser.add_argument("--word-dropout", type=float, default=0.25)
    parser.add_argument("--free-bits", type=float, default=0.25, help="lambda, nats per latent dimension")
    parser.add_argument("--samples", type=int, default=100, help="sequences drawn for the sample statistics")
    parser.add_argument(
        "--two-sample", type=int, default=1000, help="N drawn and N test sequences of the two-sample test; 0 = off"
    )
    parser.add_argument("--rollouts", type=int, default=4, help="seqgan: Monte Carlo completions per step")
    parser.add_argument(
        "--discriminator-warmup", type=int, default=200, help="seqgan: D's steps alone before the first G update"
    )
    parser.add_argument("--adversarial-lr", type=float, default=1e-4, help="Adam step size of the adversarial rows")
    parser.add_argument("--code-weight", type=float, default=0.01, help="lambda of the code generators' terms")
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--lr-patience", type=int, default=3)
    parser.add_argument("--valid-limit", type=int, default=None, help="validate on the first N sequences only")
    parser.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test sequences only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tag",
        default="",
        help="names a variant: bench/results/seq_autoencoders_<data>_<tag>.json; "
        "runs of one tag accumulate there, so its models can train in parallel processes",
    )
    parser.set_defaults(**defaults)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = jsb_phrases.load() if args.data == "jsb_phrases" else shakespeare_lines.load()
    out = RESULTS / (f"seq_autoencoders_{args.data}" + (f"_{args.tag}" if args.tag else "") + ".json")
    results = json.loads(out.read_text())["results"] if out.exists() else {}
    for name in args.models:
        if name == "gumbel_gan" and data.spec.kind != "categorical":
            logging.info("--- gumbel_gan left out: it relaxes categorical tokens, and these are piano-roll frames")
            continue
        logging.info(f"--- {name}")
        cell = {**run(name, data, args), "hardware": describe_device("cpu")}

        def add(payload: dict, name: str = label(name, args), cell: dict = cell) -> None:
            payload["results"][name] = cell  # beside what other runs of this tag wrote meanwhile
            payload["data"] = data.name

        results = update_json(out, add)["results"]
    steps = sum(len(s) for s in data.split("test", args.test_limit))
    print(
        f"\n{data.name} test split ({len(data.split('test', args.test_limit))} sequences, {steps} steps); "
        f"training budget {budget(args)} each on {torch.get_num_threads()} CPU threads; nats per step"
    )
    for name, r in results.items():
        for f in r["test"]:
            print(
                f"  {name:18s} {f['nats_per_step']:7.3f}  {f['kind']:16s} best at {r['best_minute']:.1f} min "
                f"(step {r['best_step']} of {r['steps']})"
            )
        t = r.get("two_sample")
        if t:
            print(f"  {'':18s} two-sample accuracy {t['accuracy']:.3f} ± {t['stderr']:.3f} ({t['num_test']} held out)")
        c = (r["code"] or {}).get("latent_code")
        if c and "code_mmd" in c:
            print(f"  {'':18s} MMD of new codes to encoded test codes: {c['code_mmd']:.3f}")
        s = r["sample_statistics"] or {}
        if "mmd" in s:
            shown = (
                "notes_per_frame",
                "js_polyphony_nats",
                "js_pitch_class_nats",
                "js_note_length_nats",
                "js_2gram_nats",
                "bleu_2",
                "self_bleu_2",
                "mmd",
                "mmd_reference",
            )
            print(f"  {'':18s} samples: " + ", ".join(f"{k} {s[k]:.3f}" for k in shown if k in s))
        elif c:
            print(
                f"  {'':18s} code: KL {c['kl']:.2f} nats/seq, active units {c['active_units']}/{len(c['activity'])}, "
                f"I(x; z) {c['mutual_information']:.2f} nats, collapse {c['posterior_collapse']}"
            )

    print("\n" + "\n".join(markdown_table(results)))


def markdown_table(results: dict) -> list[str]:
    """Each model's tightest test figure (its kind named: exact, -IWAE-K, reconstruction) beside
    its two-sample accuracy and the samples' MMD to test sequences: where likelihood and
    sample quality agree, and where they do not (Theis et al. 2015)."""
    lines = [
        "| model | test NLL, nats per step | kind | two-sample accuracy ± s.e. | sample MMD (held-out's own) "
        "| minutes | G updates |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        figure = min(r["test"], key=lambda f: f["nats_per_step"])
        t, s = r.get("two_sample"), r["sample_statistics"] or {}
        updates = r.get("generator_updates")
        lines.append(
            f"| {name} | {figure['nats_per_step']:.3f} | {figure['kind']} | "
            + (f"{t['accuracy']:.3f} ± {t['stderr']:.3f} | " if t else "— | ")
            + (f"{s['mmd']:.3f} ({s['mmd_reference']:.3f}) | " if "mmd" in s else "— | ")
            + f"{r['minutes']:.1f} | {'—' if updates is None else updates} |"
        )
    return lines


if __name__ == "__main__":
    main()
