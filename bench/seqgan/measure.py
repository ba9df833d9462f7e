"""SeqGAN's table, its measurements: NLL-oracle, NLL-test, BLEU, the two-sample test and the
adversarial run's own critic of each cell's generator, kept beside its checkpoint; the oracle's own
sequences and the uniform generator as the floor and scale of every column."""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path

import torch

from bench.common import compose_config
from bench.seqgan.cells import cell_dir, mle_generator, mle_overrides, warmup_steps
from zoo.compare import read_curve

BLEU_ORDERS = (2, 3, 4, 5)


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


def oracle_curve(history: list[dict], updates) -> list[list[float]]:
    """[generator updates, NLL-oracle] after each validation of the run (metrics.csv's nll_oracle
    column, evaluate.oracle_curve), the updates counted from the untrained generator by `updates`."""
    return [[updates(int(h["step"])), float(h["nll_oracle"])] for h in history if h.get("nll_oracle")]


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
