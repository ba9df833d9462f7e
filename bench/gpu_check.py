"""A few training steps of every model on CUDA and on the CPU from the same seed: the losses must
agree, and both devices' training steps per second are printed.

    python -m bench.gpu_check [--steps 10 --batch 32 --length 50 --hidden 64 --models vrnn dmm]

Both devices start from the same weights and take every random draw from the CPU's generator
(CPUDraws), so the GPU sees the CPU's noise and the two differ only by float rounding: fp32
losses must agree to --tolerance, bf16 ones (train.precision=bf16, CUDA autocast) to
--bf16-tolerance, both relative, at every step. Speeds are timed without that bridge, each
device drawing on its own. On a machine without CUDA the check stops at once with one line;
`--device cpu` runs the same comparison CPU against CPU (a check of the script itself).
Writes bench/results/gpu_check.json (on CUDA); exits with status 1 when a loss disagrees.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time

import pyro
import torch
from hydra.utils import instantiate
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from bench.common import compose_config, write_json
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.vocab import Vocabulary
from zoo.run import build_guide, build_model
from zoo.training.devices import seed_everything
from zoo.training.trainer import Trainer, TrainOptions

MODELS = ("char_lstm", "bayes_lstm", "vrnn", "srnn", "dmm", "seq_vae")
# aten's ops that draw random numbers and run on the CPU too (not the recurrent cells, which are
# tagged random for their dropout but have kernels of their own on each device)
DRAWS = frozenset(
    {
        "bernoulli",
        "bernoulli_",
        "cauchy_",
        "exponential_",
        "geometric_",
        "log_normal_",
        "multinomial",
        "native_dropout",
        "normal",
        "normal_",
        "poisson",
        "rand",
        "rand_like",
        "randint",
        "randint_like",
        "randn",
        "randn_like",
        "randperm",
        "uniform_",
        "_standard_gamma",
    }
)
TEXT = ("char_lstm", "bayes_lstm", "seq_vae")  # trained on characters; the others on piano rolls


class CPUDraws(TorchDispatchMode):
    """Every random op bound for another device drawn on the CPU from the CPU's generator, then
    moved there: the same draws on both devices."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        """Run `func`; a random one bound for a GPU on the CPU, its result moved to the GPU."""
        kwargs = kwargs or {}
        device = self.target(args, kwargs)
        if func.overloadpacket.__name__ not in DRAWS or device is None or device.type == "cpu":
            return func(*args, **kwargs)
        on_cpu = lambda v: v.cpu() if isinstance(v, torch.Tensor) else v  # noqa: E731
        cpu_args = tree_map(on_cpu, args)
        cpu_kwargs = {k: (torch.device("cpu") if k == "device" else tree_map(on_cpu, v)) for k, v in kwargs.items()}
        out = func(*cpu_args, **cpu_kwargs)
        if func._schema.is_mutable:  # in place: normal_, uniform_, bernoulli_ ...
            return args[0].copy_(cpu_args[0])
        return tree_map(lambda v: v.to(device) if isinstance(v, torch.Tensor) else v, out)

    @staticmethod
    def target(args, kwargs) -> torch.device | None:
        """Where the op's result lives: its `device` argument, else its first tensor's device."""
        if kwargs.get("device") is not None:
            return torch.device(kwargs["device"])
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        return tensors[0].device if tensors else None


class Recorded:
    """An objective whose every training loss is kept (as tensors, read once at the end)."""

    def __init__(self, objective):
        self.objective, self.losses = objective, []

    def __call__(self, model, guide, batch, step=None):
        """The objective's loss, kept."""
        loss = self.objective(model, guide, batch, step=step)
        self.losses.append(loss.detach().float())
        return loss

    def __getattr__(self, name):
        """The objective's own attributes (validation_particles, progress, ...)."""
        return getattr(self.objective, name)


def toy_data(name: str, sequences: int, length: int) -> SequenceData:
    """`sequences` random sequences of `length` steps: 30 characters for the text models, 88-note
    rolls with a tenth of the notes on for the others."""
    g = torch.Generator().manual_seed(0)
    if name in TEXT:
        vocab = Vocabulary([chr(ord("a") + i) for i in range(26)] + list(" .,\n"))
        seqs = [torch.randint(0, len(vocab.tokens), (length,), generator=g) for _ in range(sequences)]
        spec = DataSpec("categorical", len(vocab.tokens), vocab)
    else:
        seqs = [(torch.rand(length, 88, generator=g) < 0.1).float() for _ in range(sequences)]
        spec = DataSpec("bernoulli", 88)
    return SequenceData(f"toy_{name}", spec, seqs, seqs[:8], seqs[:8])


def build(name: str, data: SequenceData, hidden: int):
    """(model, guide, objective) of `model=name` with its own guide and objective, `hidden` units
    wide, seeded."""
    sizes = {
        "vrnn": ["model.net.z_size=16"],
        "srnn": ["model.net.z_size=16"],
        "dmm": ["model.net.z_size=16", f"model.net.transition_size={2 * hidden}", f"guide.hidden_size={hidden}"],
        "seq_vae": ["model.net.z_size=16"],
    }.get(name, [])
    cfg = compose_config([f"model={name}", f"model.net.hidden_size={hidden}", *sizes])
    torch.manual_seed(0)
    model = build_model(cfg, data.spec)
    return model, build_guide(cfg, model), instantiate(cfg.objective)


def trainer_for(name: str, data: SequenceData, device: str, precision: str, args, run_dir: str) -> Trainer:
    """A trainer of `name` on `device`, --steps steps per epoch, its objective's losses recorded."""
    model, guide, objective = build(name, data, args.hidden)
    options = TrainOptions(
        device=device,
        precision=precision,
        batch_size=args.batch,
        steps_per_epoch=args.steps,
        max_epochs=1,
        lr_schedule="none",
        progress=False,
        max_minutes=None,
    )
    return Trainer(model, guide, Recorded(objective), data, options, run_dir)


def losses(name: str, data: SequenceData, device: str, precision: str, args, run_dir: str) -> list[float]:
    """The training loss at each of --steps steps, every random draw from the CPU's generator."""
    trainer = trainer_for(name, data, device, precision, args, run_dir)
    seed_everything(0)
    with CPUDraws(), pyro.validation_enabled(False):
        trainer.train_epoch(math.inf)
    return [loss.item() for loss in trainer.objective.losses]


def steps_per_second(name: str, data: SequenceData, device: str, precision: str, args, run_dir: str) -> float:
    """Training steps per second after three warm-up steps."""
    trainer = trainer_for(name, data, device, precision, args, run_dir)
    seed_everything(0)
    synchronise = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    with pyro.validation_enabled(False):
        trainer.options.steps_per_epoch = 3
        trainer.train_epoch(math.inf)
        synchronise()
        trainer.options.steps_per_epoch = args.steps
        start = time.perf_counter()
        trainer.train_epoch(math.inf)
        synchronise()
    return args.steps / (time.perf_counter() - start)


def gap(reference: list[float], other: list[float]) -> float:
    """The largest relative difference between two loss curves (inf when one is not finite)."""
    if not all(math.isfinite(v) for v in reference + other):
        return math.inf
    return max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(reference, other))


def check(name: str, args, run_dir: str) -> dict:
    """One model: its losses on both devices, their gaps, and both speeds."""
    data = toy_data(name, sequences=4 * args.batch, length=args.length)
    cpu = losses(name, data, "cpu", "fp32", args, run_dir)
    other = losses(name, data, args.device, "fp32", args, run_dir)
    bf16 = losses(name, data, args.device, "bf16", args, run_dir) if args.device == "cuda" else None
    row = {
        "model": name,
        "cpu_losses": cpu,
        "device_losses": other,
        "bf16_losses": bf16,
        "fp32_gap": gap(cpu, other),
        "bf16_gap": None if bf16 is None else gap(cpu, bf16),
        "cpu_steps_per_second": steps_per_second(name, data, "cpu", "fp32", args, run_dir),
        "device_steps_per_second": steps_per_second(name, data, args.device, "fp32", args, run_dir),
        "bf16_steps_per_second": None
        if bf16 is None
        else steps_per_second(name, data, args.device, "bf16", args, run_dir),
    }
    row["ok"] = row["fp32_gap"] <= args.tolerance and (bf16 is None or row["bf16_gap"] <= args.bf16_tolerance)
    return row


def main() -> None:
    """Check every model of --models, print a line each, write the JSON; status 1 on a disagreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--tolerance", type=float, default=1e-3, help="fp32: largest relative loss gap")
    parser.add_argument("--bf16-tolerance", type=float, default=5e-2, help="bf16: largest relative loss gap")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: check the script itself")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        build_note = (
            f"torch {torch.__version__} built for CUDA {torch.version.cuda}"
            if torch.version.cuda
            else f"torch {torch.__version__} is a CPU build"
        )
        print(f"gpu_check: no CUDA device is visible ({build_note}); run it on a machine with a GPU", file=sys.stderr)
        sys.exit(1)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 on both devices, not TF32's 10-bit mantissa
    torch.backends.cudnn.allow_tf32 = False
    started = time.perf_counter()
    print(
        f"{'model':11s} {'fp32 gap':>9s} {'bf16 gap':>9s} {'cpu steps/s':>12s} "
        f"{args.device + ' steps/s':>13s} {'bf16 steps/s':>13s}  ok"
    )
    rows = []
    with tempfile.TemporaryDirectory() as run_dir:
        for name in args.models:
            row = check(name, args, run_dir)
            rows.append(row)
            bf16_gap = "-" if row["bf16_gap"] is None else f"{row['bf16_gap']:.2e}"
            bf16_speed = "-" if row["bf16_steps_per_second"] is None else f"{row['bf16_steps_per_second']:.1f}"
            print(
                f"{name:11s} {row['fp32_gap']:9.2e} {bf16_gap:>9s} {row['cpu_steps_per_second']:12.1f} "
                f"{row['device_steps_per_second']:13.1f} {bf16_speed:>13s}  {'yes' if row['ok'] else 'NO'}",
                flush=True,
            )
    if args.device == "cuda":
        write_json(
            "gpu_check",
            {
                "rows": rows,
                "steps": args.steps,
                "batch": args.batch,
                "length": args.length,
                "hidden": args.hidden,
                "minutes": (time.perf_counter() - started) / 60,
            },
        )
    failed = [r["model"] for r in rows if not r["ok"]]
    if failed:
        print(
            f"gpu_check: the losses of {', '.join(failed)} differ between the CPU and {args.device} beyond "
            f"--tolerance {args.tolerance:g} (fp32) or --bf16-tolerance {args.bf16_tolerance:g}",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
