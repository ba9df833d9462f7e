"""The command line: compose a config, build data, model, guide and objective, train,
evaluate on the test split, sample, and write everything to the run folder.

    python -m zoo.run model=bayes_lstm
    python -m zoo.run model=char_lstm data=jsb_chorales train.max_epochs=5
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from guides.bernoulli import BernoulliWeights
from guides.sharpened import SharpenedWeights
from guides.with_weights import WeightsThenLatents
from zoo.cli import check_overrides, check_targets, describe, user_errors
from zoo.data.dataset import DataSpec
from zoo.data.oracle import oracle_for
from zoo.errors import ZooError
from zoo.evaluation.likelihood import held_out_figures
from zoo.evaluation.oracle_metrics import model_nll_oracle, oracle_figures
from zoo.evaluation.plan import HeldOutOptions, evaluation_plan
from zoo.evaluation.sample_stats import sample_statistics
from zoo.evaluation.sampling import SampleOptions, biased_emitters, draw, encode_prime, sampling_bias
from zoo.models.bayesian_weights import BayesianWeights, has_weight_latents
from zoo.options import build_record, check_arguments, check_value
from zoo.reports.codes import write_code_report
from zoo.reports.figures import summary_table, write_sequences
from zoo.reports.handwriting import write_stroke_sheets
from zoo.reports.plots import plot_curve
from zoo.reports.samples import write_samples
from zoo.training import available_cores, current_world, launched_world, launcher_jobs, process_group, use_threads
from zoo.training.checkpoint import CheckpointError, load_checkpoint, load_weights
from zoo.training.devices import describe_device
from zoo.training.sites import check_guide_covers
from zoo.training.trainer import Trainer, TrainingFault, TrainOptions

log = logging.getLogger("zoo")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RUN_PATHS = ("resume", "init")  # train.* options that name other runs' checkpoints, not TrainOptions fields
RUN_FOLDER = "run_folder"  # the key under which rank 0 tells the other ranks its run folder
INFO_FLAGS = {"--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc", "--version"}


def build_model(cfg: DictConfig, spec: DataSpec):
    """The network of `model.net`, with its weights made latent if `model.bayesian_weights`."""
    net = instantiate(cfg.model.net, spec=spec)
    if cfg.model.get("bayesian_weights", False):
        weights = cfg.model.get("weights", {})
        check_value("model.bayesian_weights", cfg.model.bayesian_weights, bool)
        check_arguments(BayesianWeights, weights, "model.weights", "BayesianWeights")
        return BayesianWeights(net, **weights)
    return net


def build_guide(cfg: DictConfig, model):
    """The guide of `guide`; with variational weights, q(w) of `weight_guide` followed by it.
    Without them the weight guide is unused, and one that cannot be left unused is refused."""
    if has_weight_latents(model):
        return WeightsThenLatents(
            model, instantiate(cfg.weight_guide, model=model), instantiate(cfg.guide, model=model.net)
        )
    if unusable := NOT_WITHOUT_WEIGHT_LATENTS.get(chosen_class(cfg.get("weight_guide"))):
        what, alternative = unusable
        raise ZooError(
            f"{what}, but model.bayesian_weights=false: set model.bayesian_weights=true "
            f"(model=bayes_lstm does){alternative}"
        )
    return instantiate(cfg.guide, model=model)


# Weight guides chosen only for variational weights, so that a run without them is refused rather
# than left to ignore the choice: (what each is, another way to what the user may want).
NOT_WITHOUT_WEIGHT_LATENTS = {
    SharpenedWeights: ("weight_guide=sharpened sharpens the posterior of variational weights", ""),
    BernoulliWeights: (
        "weight_guide=bernoulli is a q(w) of variational weights",
        ", or model.net.dropout for dropout alone",
    ),
}


def chosen_class(node):
    """The class a config node's `_target_` names, or None."""
    target = node.get("_target_") if node else None
    try:
        return get_object(target) if target else None
    except Exception:  # an unimportable target is named by check_targets, or by instantiate if chosen
        return None


def build(cfg: DictConfig, spec: DataSpec | None = None):
    """(data, model, guide, objective) from a composed config. `spec` (from a checkpoint)
    must match the data's when given."""
    data = instantiate(cfg.data)
    if spec is not None and spec.state_dict() != data.spec.state_dict():
        raise CheckpointError(
            f"the data set {data.name} ({data.spec.kind}, {data.spec.dim} symbols) does not match the "
            f"checkpoint's ({spec.kind}, {spec.dim} symbols): use the data set the model was trained on"
        )
    torch.manual_seed(cfg.train.seed)  # the initial weights depend on the seed alone
    model = build_model(cfg, data.spec)
    guide = build_guide(cfg, model)
    objective = instantiate(cfg.objective)
    return data, model, guide, objective


def start_from(trainer: Trainer, init: str | None, resume: str | None) -> None:
    """train.init: the model's (and guide's) weights of a trained run's checkpoint (its best.pt),
    under this run's own optimiser, schedule, step count and seed, as a fine-tuning starts from a
    pre-trained network. A run resumed with train.resume continues its own checkpoint instead,
    which already began from those weights."""
    if not init:
        return
    if resume:
        log.info(f"train.resume={resume} continues a run; train.init={init} is where it started, not read again")
        return
    source = load_weights(trainer.model, trainer.guide, trainer.data.spec.state_dict(), init)
    log.info(f"the model starts from the weights of {source} (train.init); optimiser, steps and history start afresh")


def oracle_curve(data, e: HeldOutOptions):
    """data=oracle: NLL-oracle of e.oracle_curve drawn sequences, for the trainer to add to each
    validation's row; None for other data or oracle_curve=0."""
    oracle = oracle_for(data) if e.oracle_curve else None
    if oracle is None:
        return None
    return lambda model, guide: {"nll_oracle": model_nll_oracle(model, guide, oracle, e.oracle_curve).nats_per_step}


def oracle_report(model, guide, data, num_samples: int, option: str = "evaluate.oracle_samples") -> list:
    """[NLL-oracle of `num_samples` sequences drawn from the model] when the data come from a
    known oracle (data=oracle), logged as a table; [] for other data. `option` names the
    setting of `num_samples` in errors."""
    figures = oracle_figures(model, guide, data, num_samples, option)
    if figures:
        log.info(summary_table(figures, "oracle"))
    return figures


def train_and_report(cfg: DictConfig, run_dir: Path) -> dict:
    world = current_world()
    world.publish(RUN_FOLDER, str(run_dir))  # the other ranks wait for it before they start (main)
    check_targets(cfg)
    options = build_record(TrainOptions, {k: v for k, v in cfg.train.items() if k not in RUN_PATHS}, "train.", "train")
    threads = use_threads(options.threads, world.local_size, hydra_launcher_jobs())
    sample = build_record(SampleOptions, cfg.sample, "sample.", "sample")
    e = build_record(HeldOutOptions, cfg.evaluate, "evaluate.", "evaluate")
    data, model, guide, objective = build(cfg)
    first = next(data.batches("train", 2))
    check_guide_covers(model, guide, first)
    prime = encode_prime(data.spec, sample.prime)  # sampling options are refused before training, not after
    biased_emitters(model, sample.bias)
    config = OmegaConf.to_container(cfg, resolve=True)
    trainer = Trainer(model, guide, objective, data, options, run_dir, config=config, monitor=oracle_curve(data, e))
    log.info(
        f"{cfg.model.name} on {data.name}: {sum(p.numel() for p in trainer.params):,} parameters, "
        f"{len(data.train)} training sequences ({trainer.train_steps:,} steps); run folder {run_dir}"
    )
    log.info(
        f"{threads} thread{'s' if threads > 1 else ''} of {available_cores()} cores"
        + (f" in each of {world.size} processes" if world.distributed else "")
    )
    start_from(trainer, cfg.train.get("init"), cfg.train.resume)
    try:
        history = trainer.fit(resume=cfg.train.resume)
    except TrainingFault as fault:  # the run folder says so too, for whoever reads it without the log
        status = "diverged" if trainer.diverged else "failed"
        if world.is_main:
            write_json(
                run_dir / "metrics.json",
                {
                    "model": cfg.model.name,
                    "data": data.name,
                    "status": status,
                    "error": str(fault),
                    "epochs": trainer.epoch,
                    "nonfinite_steps_skipped": trainer.skipped,
                },
            )
        raise
    if not world.is_main:  # rank 0 alone evaluates, samples and writes
        return {"rank": world.rank, "epochs": trainer.epoch}
    plot_curve(history, run_dir / "training_curve.png")

    epochs = trainer.epoch  # trained; loading best.pt sets it back to the best checkpoint's
    trainer.load_state_dict(load_checkpoint(run_dir, "best.pt"))
    model.eval()
    guide.eval()
    plan = evaluation_plan(
        model, guide, data, "test", e.num_samples, e.num_particles, e.test_limit, e.max_particle_steps
    )
    log.info(plan.describe())
    figures = held_out_figures(
        model,
        guide,
        data,
        "test",
        num_samples=plan.num_samples,
        num_particles=plan.num_particles,
        train_steps=trainer.train_steps,
        progress=options.progress,
        batch_size=options.eval_batch_size,
        device=trainer.device,
        limit=e.test_limit,
    )
    log.info(summary_table(figures))
    code = write_code_report(
        model, guide, data, run_dir, batch_size=options.eval_batch_size, device=trainer.device, limit=e.test_limit
    )  # None for models without a code
    oracle_figures = oracle_report(model, guide, data, e.oracle_samples)

    with sampling_bias(model, sample.bias):
        samples = draw(model, guide, sample.n, sample.length, sample.temperature, prime)
    sample_files = write_samples(samples, data.spec, run_dir, frame_beats=data.info.get("frame_beats", 1.0))
    if data.spec.kind == "strokes":
        sample_files += write_stroke_sheets(model, guide, data, run_dir, n=sample.n)
    statistics = sample_statistics(samples, data)
    if statistics:
        log.info("samples against test data: " + ", ".join(f"{k} {v:.3f}" for k, v in statistics.items()))
    metrics = {
        "model": cfg.model.name,
        "data": data.name,
        "test": [f.as_dict() for f in figures],
        **({"oracle": [f.as_dict() for f in oracle_figures]} if oracle_figures else {}),
        "status": "diverged" if trainer.diverged else "trained",
        **({"diverged": trainer.diverged} if trainer.diverged else {}),
        "best_valid_nats_per_step": trainer.best,
        "untrained_valid_nats_per_step": trainer.untrained,
        "nonfinite_steps_skipped": trainer.skipped,
        "epochs": epochs,
        "best_epoch": trainer.epoch,
        "minutes": history[-1]["minutes"],
        "hardware": describe_device(trainer.device),
        "threads": threads,
        "processes": world.size,
        "samples": [p.name for p in sample_files],
        "sample_statistics": statistics,
        **({"latent_code": code["latent_code"], "code_files": code["files"]} if code else {}),
    }
    write_json(run_dir / "metrics.json", metrics)
    write_sequences(run_dir / "test_sequences.npz", figures, "test")
    return metrics


def hydra_launcher_jobs() -> int:
    """Jobs a Hydra launcher runs side by side on this machine (the joblib launcher's n_jobs); 1 otherwise."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return 1
    return launcher_jobs(HydraConfig.get().launcher.get("n_jobs"))


def follower_overrides(run_folder: str) -> list[str]:
    """Hydra options of a rank other than 0: rank 0's run folder, and no files or log lines of its own."""
    quoted = "'" + run_folder.replace("'", "\\'") + "'"
    return [
        f"hydra.run.dir={quoted}",
        "hydra.output_subdir=null",
        "hydra/job_logging=disabled",
        "hydra/hydra_logging=disabled",
    ]


def write_json(path: Path, value: dict) -> None:
    """`value` as indented JSON at `path`."""
    path.write_text(json.dumps(value, indent=2))


@hydra.main(config_path=str(CONFIGS), config_name="config", version_base="1.3")
def run(cfg: DictConfig) -> float:
    """Train, evaluate and report one run, or one job of a multirun (-m); returns the best
    validation figure in nats per step for a sweeper to minimise, +inf when the run failed
    or diverged. Bad input ends a single run with one line and exit status 2; in a multirun
    it ends that job alone, with the same line, and the other jobs go on."""
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir)
    try:
        if hydra_config.mode != RunMode.MULTIRUN:
            with user_errors():
                metrics = train_and_report(cfg, run_dir)
        else:
            try:
                metrics = train_and_report(cfg, run_dir)
            except (ZooError, InstantiationException) as e:
                if os.environ.get("ZOO_DEBUG"):
                    raise
                print(f"error: {describe(e)}", file=sys.stderr)
                if not (run_dir / "metrics.json").exists():  # a failed training has written its own
                    choices = hydra_config.runtime.choices
                    write_json(
                        run_dir / "metrics.json",
                        {
                            "model": cfg.model.get("name", choices.get("model")),
                            "data": choices.get("data"),
                            "status": "failed",
                            "error": describe(e),
                        },
                    )
                return math.inf
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the last whole checkpoint is {run_dir / 'last.pt'}; continue with train.resume={run_dir}",
            file=sys.stderr,
        )
        sys.exit(130)
    metrics = metrics or {}
    best = float(metrics.get("best_valid_nats_per_step", math.inf))
    return best if metrics.get("status") == "trained" and math.isfinite(best) else math.inf


def main() -> None:
    """The command: its options checked first (a misspelt one is named with the nearest valid
    one), then composed and run by Hydra."""
    with user_errors():
        check_overrides(sys.argv[1:], CONFIGS)
        if launched_world().distributed and {"-m", "--multirun"} & set(sys.argv[1:]):
            raise ZooError(
                "--multirun under torchrun: a sweep's jobs each train in one process; start the sweep without torchrun"
            )
    if INFO_FLAGS & set(sys.argv[1:]):
        run()
        return
    with process_group() as world:  # torchrun's ranks: one group, joined here and left on the way out
        if not world.is_main:
            try:
                sys.argv += follower_overrides(world.receive(RUN_FOLDER))
            except KeyboardInterrupt:
                sys.exit(130)
        run()


if __name__ == "__main__":
    main()
