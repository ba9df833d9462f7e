"""Cost of one bayes_lstm SVI step (mean-field guide) over one char_lstm step of the same size.

    python bench/bayes_step.py [--batch 64 --steps 100 --hidden 256 --vocab 65]

Contenders, each a full training step (loss, backward, clip, Adam) on the same batch:
  torch       plain PyTorch: nn.LSTM + cross-entropy (the fastest reference we can write)
  char_lstm   the zoo's char_lstm through its Pyro model (Trace_ELBO, no latents)
  bayes_lstm  the zoo's bayes_lstm + MeanFieldWeights guide (Trace_ELBO, MC KL)
  bayes_lstm_analytic_kl   the same with TraceMeanField_ELBO's closed-form KL
  pyrosample_autonormal    the textbook Pyro version: PyroModule with PyroSample priors + AutoNormal
All run with distribution argument checks off, as the trainer runs its steps.
Prints seconds per step and the ratios; writes bench/results/bayes_step.json.
"""

from __future__ import annotations

import argparse

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroSample

from bench.common import time_steps, train_step, write_json
from guides.empty import NoLatents
from guides.weights import MeanFieldWeights
from zoo.data.batch import collate
from zoo.data.dataset import DataSpec
from zoo.data.vocab import Vocabulary
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO


class TorchCharLSTM(torch.nn.Module):
    """The same network in plain PyTorch."""

    def __init__(self, vocab: int, hidden: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, vocab)
        self.lstm = torch.nn.LSTM(vocab, hidden, batch_first=True)
        self.out = torch.nn.Linear(hidden, vocab)

    def loss(self, x):
        e = self.embed(x)
        inputs = torch.cat([torch.zeros_like(e[:, :1]), e[:, :-1]], 1)
        h, _ = self.lstm(inputs)
        return F.cross_entropy(self.out(h).flatten(0, 1), x.flatten(), reduction="sum")


def pyrosample_model(vocab: int, hidden: int, scale: float):
    """A PyroModule whose every parameter has a PyroSample N(0, scale) prior."""
    net = TorchCharLSTM(vocab, hidden)
    pyro.nn.module.to_pyro_module_(net)
    for m in net.modules():
        for name, p in list(m.named_parameters(recurse=False)):
            setattr(m, name, PyroSample(dist.Normal(0.0, scale).expand(p.shape).to_event(p.dim())))

    def model(x, size):
        e = net.embed(x)
        inputs = torch.cat([torch.zeros_like(e[:, :1]), e[:, :-1]], 1)
        h, _ = net.lstm(inputs)
        logits = net.out(h)
        with pyro.plate("sequences", size, subsample_size=x.shape[0]):
            pyro.sample("x", dist.Categorical(logits=logits).to_event(1), obs=x)

    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=65)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    pyro.set_rng_seed(0)

    spec = DataSpec("categorical", args.vocab, Vocabulary([chr(0x100 + i) for i in range(args.vocab)]))
    x = torch.randint(0, args.vocab, (args.batch, args.steps))
    batch = collate(list(x), dataset_size=100 * args.batch)
    scale = 1.0 / (100 * args.batch * args.steps)  # losses in nats per step, as the trainer does

    reference = TorchCharLSTM(args.vocab, args.hidden)
    char = CharLSTM(spec, args.hidden)
    bayes = BayesianWeights(CharLSTM(spec, args.hidden))
    mean_field = MeanFieldWeights(bayes)
    elbo, elbo_kl = ELBO(), ELBO(analytic_kl=True)
    none = NoLatents(char)
    textbook = pyrosample_model(args.vocab, args.hidden, 0.1)
    auto = AutoNormal(textbook)
    auto(x, 100 * args.batch)  # create its parameters
    textbook_elbo = pyro.infer.Trace_ELBO()

    steps = {
        "torch": train_step(lambda: reference.loss(x) * 100 * scale, list(reference.parameters())),
        "char_lstm": train_step(lambda: elbo(char, none, batch) * scale, list(char.parameters())),
        "bayes_lstm": train_step(lambda: elbo(bayes, mean_field, batch) * scale, list(mean_field.parameters())),
        "bayes_lstm_analytic_kl": train_step(
            lambda: elbo_kl(bayes, mean_field, batch) * scale, list(mean_field.parameters())
        ),
        "pyrosample_autonormal": train_step(
            lambda: textbook_elbo.differentiable_loss(textbook, auto, x, 100 * args.batch) * scale,
            list(auto.parameters()),
        ),
    }
    with pyro.validation_enabled(False):  # as the trainer runs its steps
        seconds = time_steps(steps, repeats=args.repeats)
    print(
        f"one training step, batch {args.batch} x {args.steps} steps, hidden {args.hidden}, "
        f"vocabulary {args.vocab}, {torch.get_num_threads()} threads"
    )
    for name, s in seconds.items():
        print(
            f"  {name:24s} {1000 * s:8.1f} ms   {s / seconds['char_lstm']:5.2f}x char_lstm   "
            f"{s / seconds['torch']:5.2f}x torch"
        )
    ratio = seconds["bayes_lstm"] / seconds["char_lstm"]
    print(f"bayes_lstm / char_lstm = {ratio:.2f}x (target <= 1.3x)")
    write_json("bayes_step", {"args": vars(args), "seconds": seconds, "bayes_over_char": ratio})


if __name__ == "__main__":
    main()
