"""Recompute the held-out figures of a trained run, with standard errors and diagnostics.

    python -m zoo.evaluate run=PATH [checkpoint=best.pt] [split=test] [num_samples=10]
                           [num_particles=100] [batch_size=256] [device=auto] [limit=null]
                           [export_weights=5] [oracle_samples=2000] [two_sample=0]
                           [two_sample_steps=600] [calibration=false] [calibration_bins=15]
                           [mc_dropout=false] [swag=false] [averaged=false] [data.<field>=...]

PATH is a run folder or a checkpoint file. Writes evaluation/metrics.json and
evaluation/report.md beside the checkpoint: every figure with its kind, unit and standard
error over sequences; for models with per-sequence latents the Pareto k of each
sequence's importance weights (k >= 0.7 marks the ELBO and IWAE figures as unreliable); for
models with weight latents, draws of the first `export_weights` weights of each tensor as
ArviZ data (weights.nc), their summary table and a posterior plot (weights.png), and, where
they have no other latents, the exact NLL of the one network at the guide's mean beside the
posterior predictive (how much the average over weights adds). On data drawn
from a known oracle (data=oracle), the NLL-oracle of `oracle_samples` sequences drawn from the
model too (zoo.evaluation.oracle_metrics). With two_sample=N (0, off, by default; 1000 is typical),
a classifier two-sample test of N drawn sequences against N of the split (zoo.evaluation.two_sample):
a fresh recurrent classifier's held-out accuracy, 0.5 when it cannot tell them apart; the
classifier takes at most `two_sample_steps` Adam steps. With calibration=true, for models that
predict the next token by a softmax (char_lstm, bayes_lstm), the expected calibration error of
the top-1 next-step predictions in `calibration_bins` equal-width confidence bins
(zoo.evaluation.calibration; for variational weights the posterior predictive of `num_samples`
draws) and a reliability diagram, reliability.png. With mc_dropout=true, for a network with
dropout and an exact likelihood (char_lstm with model.net.dropout > 0), the posterior
predictive over `num_samples` draws of its dropout masks (MC dropout, Gal & Ghahramani 2016),
reported first, beside its exact figure without masks; calibration then reads the same average.
With swag=true, for a network trained with train.swag_from (zoo.training.trainer), the posterior
predictive over `num_samples` draws of SWAG's q(w) (guides.swag, Maddox et al. 2019) and the
exact figure of its mean, the SWA network, reported first, beside the network's own; calibration
then reads the SWAG average. With averaged=true, for a run trained with train.average_from
(zoo.training.averaging), every figure, the calibration and the weight draws are of the model
and guide at the average of the parameters they passed through; the checkpoint's own
parameters' figures follow, marked (iterate), computed with the same random draws.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from dataclasses import dataclass
from typing import ClassVar

import torch
from omegaconf import OmegaConf

from zoo.cli import check_key, check_targets, user_errors
from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.evaluation.calibration import NUM_BINS
from zoo.evaluation.diagnostics import importance_diagnostics
from zoo.evaluation.likelihood import (
    check_mc_dropout,
    fivo_figures,
    held_out_figures,
    latent_figures,
    latent_log_weights,
    lengths_of,
    mc_dropout_nll,
    posterior_mean,
    posterior_mean_nll,
)
from zoo.evaluation.plan import evaluation_plan
from zoo.evaluation.swag import swag_kind, swag_nll, swag_posterior
from zoo.models.bayesian_weights import has_weight_latents
from zoo.options import build_record, check_at_least, check_choice, check_fields, unknown
from zoo.reports.evaluation import markdown
from zoo.reports.figures import write_sequences  # each sequence's figures, as a run folder's test_sequences.npz
from zoo.reports.weights import write_weight_draws
from zoo.training.averaging import averaged_states
from zoo.training.checkpoint import load_checkpoint, load_module_state, resolve_checkpoint
from zoo.training.devices import check_device, resolve_device

log = logging.getLogger("zoo")


@dataclass
class EvaluateOptions:
    """The options of zoo.evaluate, each `name=value` on its command line."""

    command: ClassVar[str] = "python -m zoo.evaluate"
    run: str | None = None  # a run folder or a .pt checkpoint
    checkpoint: str = "best.pt"  # inside the run folder
    split: str = "test"
    num_samples: int = 10  # S weight draws (posterior predictive)
    num_particles: int = 100  # K particles per sequence (IWAE)
    batch_size: int = 256
    device: str = "auto"
    limit: int | None = None  # the first N sequences of the split only
    seed: int = 0
    export_weights: int = 5  # weights per tensor exported through ArviZ; 0: none
    oracle_samples: int = 2000  # data=oracle: sequences drawn for NLL-oracle
    two_sample: int = 0  # N drawn and N real sequences for the classifier two-sample test; 0 = off
    two_sample_steps: int = 600  # the test's classifier: Adam steps at most
    calibration: bool = False  # ECE of the next-token predictions and a reliability diagram (softmax outputs)
    calibration_bins: int = NUM_BINS  # equal-width confidence bins of the ECE (Guo et al. 2017 use 15)
    mc_dropout: bool = False  # a network with dropout: the posterior predictive over num_samples draws of its masks
    swag: bool = False  # a network trained with train.swag_from: the posterior predictive over SWAG's q(w)
    averaged: bool = False  # a run trained with train.average_from: the figures at its averaged parameters

    def __post_init__(self):
        check_fields(self)
        check_at_least(
            self,
            {
                "num_samples": 1,
                "num_particles": 1,
                "batch_size": 1,
                "limit": 1,
                "export_weights": 0,
                "oracle_samples": 1,
                "two_sample": 0,
                "two_sample_steps": 1,
                "calibration_bins": 1,
            },
        )
        check_choice(self, "split", ("train", "valid", "test"))
        check_device(self.device, "device")
        if self.mc_dropout and self.swag:
            raise ZooError("mc_dropout=true and swag=true are two posteriors of one network: choose one")
        if self.swag and self.averaged:
            raise ZooError(
                "swag=true and averaged=true: SWAG's mean is the average of the weights already, reported with "
                "swag=true (its posterior-mean figure); choose one"
            )


TEXT = {"run", "checkpoint", "split", "device", "prime"}  # options taken as typed, never as YAML


def parse(argv: list[str], record=EvaluateOptions) -> tuple[dict, list[str]]:
    """key=value arguments: the command's own options (the fields of `record`, checked), and
    data.* overrides for the run's config."""
    options, overrides = {}, []
    names = [f.name for f in dataclasses.fields(record)]
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ZooError(f"argument {arg!r} is not key=value; the options are {', '.join(names)} and data.<field>")
        if key.startswith("data."):
            overrides.append(arg)
        elif key in TEXT:
            options[key] = value  # a prime such as "ROMEO:" is text, not YAML
        elif key in names:
            options[key] = yaml_value(key, value)
        else:
            raise unknown(key, key, names, record.command)
    options = dataclasses.asdict(build_record(record, options))
    if options["run"] is None:
        raise ZooError("give the run to load: run=PATH (a run folder or a .pt checkpoint)")
    return options, overrides


def yaml_value(key: str, value: str):
    """A command-line value read as YAML (10 -> int, 1e-3 -> float, null -> None), as Hydra reads it."""
    try:
        return OmegaConf.from_dotlist([f"{key}={value}"])[key]
    except Exception:
        raise ZooError(f"{key}={value!r} cannot be read as a value") from None


def load_run(path: str, checkpoint: str = "best.pt", overrides: list[str] = (), device="cpu"):
    """(config, data, model, guide, checkpoint state) of a trained run, states loaded."""
    from zoo.run import build  # the run's own wiring, so evaluation rebuilds exactly what was trained

    state = load_checkpoint(path, checkpoint)
    cfg = OmegaConf.create(state["config"])
    for override in overrides:
        key, _, value = override.partition("=")
        if OmegaConf.select(cfg, key, default=KeyError) is KeyError:
            check_key(cfg, key)
        OmegaConf.update(cfg, key, yaml_value(key, value))
    check_targets(cfg)
    data, model, guide, _ = build(cfg, DataSpec.from_state_dict(state["data_spec"]))
    load_module_state(model, state["model"], "model")
    load_module_state(guide, state["guide"], "guide")
    model.to(device).eval()
    guide.to(device).eval()
    return cfg, data, model, guide, state


ITERATE = "(iterate)"  # marks, with averaged=true, a figure of the checkpoint's own parameters


def likelihood_figures(options: dict, data, model, guide, swag_model, swag, progress: bool, kw: dict):
    """(the held-out figures of (model, guide) on the split, the importance diagnostics or None):
    exact, posterior predictive and at the posterior mean where the model has an exact
    likelihood, with MC dropout's or SWAG's figures first when asked for; else -ELBO, -IWAE and
    -FIVO from the guide's importance weights, with their Pareto k."""
    split = options["split"]
    if has_weight_latents(model) or any(hasattr(model, a) for a in ("log_prob", "reconstruction_log_prob")):
        figures = held_out_figures(
            model,
            guide,
            data,
            split,
            options["num_samples"],
            options["num_particles"],
            train_steps=data.num_steps("train"),
            progress=progress,
            **kw,
        )
        if has_weight_latents(model) and hasattr(model.net, "log_prob") and posterior_mean(guide) is not None:
            figures.append(posterior_mean_nll(model, guide, data, split, progress=progress, **kw))
        if options["mc_dropout"]:  # the posterior predictive over the masks first, the network without them beside
            figures.insert(0, mc_dropout_nll(model, data, split, options["num_samples"], progress=progress, **kw))
        if swag is not None:  # SWAG's posterior predictive and its mean first, the network itself beside
            figures[:0] = [
                swag_nll(swag_model, swag, data, split, options["num_samples"], progress=progress, **kw),
                posterior_mean_nll(swag_model, swag, data, split, progress=progress, **kw),
            ]
        return figures, None
    log_w = latent_log_weights(model, guide, data, split, options["num_particles"], progress=progress, **kw)
    figures = latent_figures(log_w, lengths_of(data, split, options["limit"]))
    figures += fivo_figures(model, guide, data, split, options["num_particles"], progress=progress, **kw)
    return figures, importance_diagnostics(log_w)


def averaged_note(cfg, state: dict) -> str:
    """What averaged=true evaluated, for metrics.json and report.md."""
    train = cfg.train
    return (
        f"every figure not marked {ITERATE} is of the model and guide at the average of their parameters over "
        f"{state['average']['count']} collections, one every {train.get('average_every')} steps from minute "
        f"{train.get('average_from')} (train.average_from); {ITERATE} marks the checkpoint's own parameters"
    )


def evaluate(options: dict, overrides: list[str]) -> dict:
    device = resolve_device(options["device"])
    ckpt = resolve_checkpoint(options["run"], options["checkpoint"])
    cfg, data, model, guide, state = load_run(str(ckpt), overrides=overrides, device=device)
    if options["calibration"]:
        from zoo.evaluation.calibration import token_network

        token_network(model)  # a model without next-token probabilities is refused before any figure
    if options["mc_dropout"]:
        check_mc_dropout(model)
    swag_model, swag = None, None
    if options["swag"]:
        swag_model, swag = swag_posterior(model, state)
    averaged = averaged_states(state) if options["averaged"] else None  # refused first where there is none
    split, kw = options["split"], {"batch_size": options["batch_size"], "device": device, "limit": options["limit"]}
    progress = cfg.train.get("progress", True)  # the run's train.progress: a bar with the time left
    log.info(
        evaluation_plan(
            model, guide, data, split, options["num_samples"], options["num_particles"], options["limit"]
        ).describe()
    )
    if options["mc_dropout"] or swag is not None:
        steps = options["num_samples"] * int(lengths_of(data, split, options["limit"]).sum())
        draws = "the dropout masks" if options["mc_dropout"] else f"SWAG's q(w) ({swag.collected} collections)"
        log.info(f"and the posterior predictive over S={options['num_samples']} draws of {draws}: {steps:,} steps")
    iterate = []  # averaged=true: the figures of the checkpoint's own parameters, reported after the average's
    if averaged is not None:
        log.info(
            f"of the checkpoint's parameters first, then of their average over {state['average']['count']} collections"
        )
        torch.manual_seed(options["seed"])
        figures, _ = likelihood_figures(options, data, model, guide, swag_model, swag, progress, kw)
        iterate = [dataclasses.replace(f, kind=f"{f.kind} {ITERATE}") for f in figures]
        load_module_state(model, averaged["model"], "model")
        load_module_state(guide, averaged["guide"], "guide")
    torch.manual_seed(options["seed"])  # with averaged=true, the same draws as the iterate's: paired figures
    weights_table = None
    out = ckpt.parent / "evaluation"
    out.mkdir(exist_ok=True)
    if has_weight_latents(model) and options["export_weights"]:
        weights_table = write_weight_draws(guide, options["num_samples"], options["export_weights"], out)
    figures, diagnostics = likelihood_figures(options, data, model, guide, swag_model, swag, progress, kw)
    figures += iterate
    from zoo.run import oracle_report  # NLL-oracle as the run reported it, when the data have an oracle

    oracle = oracle_report(model, guide, data, options["oracle_samples"], option="oracle_samples")
    two_sample = None
    if options["two_sample"]:
        from zoo.evaluation.two_sample import model_two_sample_test

        log.info(f"two-sample test: {options['two_sample']} drawn against {options['two_sample']} {split} sequences")
        two_sample = model_two_sample_test(
            model, guide, data, options["two_sample"], split, options["seed"], device, steps=options["two_sample_steps"]
        )
    calibration = None
    if options["calibration"]:
        from zoo.evaluation.calibration import predictive_calibration
        from zoo.reports.plots import plot_reliability

        log.info(f"calibration: next-step predictions on the {split} split, {options['calibration_bins']} bins")
        predictor = (model, guide) if swag is None else (swag_model, swag)  # SWAG's average, when asked for
        calibration = predictive_calibration(
            *predictor, data, split, options["num_samples"], options["calibration_bins"], options["mc_dropout"], **kw
        )
        if swag is not None:
            calibration["kind"] = swag_kind(swag, options["num_samples"])
        plot_reliability(
            calibration,
            out / "reliability.png",
            f"{cfg.model.name} on {data.name} ({split}): ECE {calibration['ece']:.4f}, {calibration['kind']}",
        )
        calibration["figure"] = "reliability.png"
    result = {
        "run": str(ckpt),
        "model": cfg.model.name,
        "data": data.name,
        "split": split,
        "figures": [f.as_dict() for f in figures],
        "diagnostics": diagnostics,
        "weights_table": weights_table,
        **({"averaged": averaged_note(cfg, state)} if averaged is not None else {}),
        **({"oracle": [f.as_dict() for f in oracle]} if oracle else {}),
        **({"two_sample": two_sample} if two_sample else {}),
        **({"calibration": calibration} if calibration else {}),
    }
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    write_sequences(out / f"{split}_sequences.npz", figures, split)
    (out / "report.md").write_text(markdown(result))
    log.info(markdown(result))
    return result


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with user_errors():
        evaluate(*parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
