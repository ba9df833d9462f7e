"""Held-out log-likelihood figures, each with its unit and its kind.

Per-step figures are sums over the sequences of a split divided by its number of steps
(characters or frames); bits are nats / ln 2.

exact                  log p(x) of a model with no latent variables (char_lstm).
-ELBO                  for weight-latent models: E_q[-log p(x | w)] per step plus
                       KL(q(w) || p(w)) shared over the training steps, i.e. the training
                       objective per step evaluated on held-out data.
E_q[-log p(x, w)]      the same without q's entropy, for a q(w) of point masses (dropout's
                       Bernoulli masks, guides.bernoulli): the training objective up to a
                       constant, not a bound.
posterior predictive   -sum_i log (1/S) sum_s p(x_i | w_s), w_s ~ q(w): each held-out
                       sequence i predicted by the average of S weight draws.
exact at the posterior -log p(x | w = E_q[w]): the one network at the mean of the weight guide,
mean                   no average over weights (zoo.evaluate reports it beside the predictive).
posterior predictive   MC dropout (zoo.evaluate mc_dropout=true): -sum_i log (1/S) sum_s
(S, dropout masks)     p(x_i | z_s) over S draws of a network's dropout masks z_s, beside its
                       exact figure without them (Gal & Ghahramani 2016).
-ELBO, -IWAE-K         for per-sequence latents (vrnn, seq_vae): each sequence's own bounds,
                       -ELBO <= ... and IWAE-K <= log p(x) (zoo.estimators.importance).
-FIVO (K)              the particle filter's bound with K particles (zoo.estimators.smc), for
                       models with a filtering guide: also a lower bound on log p(x).
reconstruction         -log p(x | c(x)) of a deterministic autoencoder (seq_ae), each x rebuilt
                       from its own code: not a likelihood of x, not comparable with the others.
posterior predictive   for weight and per-sequence latents together (vrnn with variational
(S, IWAE K)            weights): -sum_i log (1/S) sum_s IWAE-K(x_i | w_s), w_s ~ q(w), the
                       likelihood p(x_i | w_s) of each draw estimated by its IWAE-K bound.
-ELBO of the           with variational weights on seq_ae: the two weight figures of its
reconstruction,        reconstructions, each x rebuilt from its own code.
reconstruction
posterior predictive

The work of a figure is S x K x T particle-steps, T the split's steps: every step of every
sequence under each of S weight draws and K particles (S = 1 without weight latents, K = 1
without per-sequence latents). With `progress`, a bar counts them as they are computed.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field, fields

import pyro.poutine as poutine
import torch
from torch.distributions import kl_divergence
from tqdm.auto import tqdm

from guides.empty import NoLatents
from zoo.data.batch import collate
from zoo.data.dataset import SequenceData
from zoo.errors import ZooError
from zoo.estimators.importance import chunked_log_weights, iwae_bound
from zoo.estimators.smc import smc_log_marginal, supports_smc
from zoo.models.bayesian_weights import has_weight_latents
from zoo.models.char_lstm import dropout_on
from zoo.nn.swap import swap_parameters

# Sequence-particle-steps held at once when bounds are computed: a (rows, T, 128) float tensor of
# this many row-steps takes 256 MB, so a 4,273-frame piece with 500 particles goes in several passes.
MAX_ROW_STEPS = 2**19


@dataclass
class Figure:
    """One negative log-likelihood on a split, per step, with its standard error over sequences.
    A figure made from sequences (`from_sequences`) keeps each sequence's nats and steps too
    (`per_sequence`); they stay out of `as_dict`."""

    kind: str  # "exact", "-ELBO", "posterior predictive (S=10)", "-IWAE (K=500)"
    nats_per_step: float
    stderr: float  # of nats_per_step, from the spread over sequences (a ratio estimator)
    num_steps: int
    num_sequences: int
    nll: torch.Tensor | None = field(default=None, repr=False, compare=False)  # (N,) nats of each sequence
    lengths: torch.Tensor | None = field(default=None, repr=False, compare=False)  # (N,) steps T_i of each

    @classmethod
    def from_sequences(cls, kind: str, nll: torch.Tensor, lengths: torch.Tensor) -> Figure:
        """sum_i nll_i / sum_i T_i, and its standard error se = sd_i(nll_i - r T_i) sqrt(N) / sum_i T_i."""
        nll, lengths = nll.double(), lengths.double()
        steps, n = float(lengths.sum()), len(nll)
        rate = float(nll.sum()) / steps
        residual = nll - rate * lengths
        stderr = float(residual.std() * math.sqrt(n) / steps) if n > 1 else math.nan
        return cls(kind, rate, stderr, int(steps), n, nll.detach().cpu(), lengths.detach().cpu().long())

    def per_sequence(self) -> torch.Tensor | None:
        """(N,) float64 nats of each sequence, in the split's order, summing to nats_per_step x
        num_steps: a per-step term added to the figure after it was made (the weight KL shared
        over the training steps, in -ELBO) is shared by the sequences in proportion to their
        steps. None for a figure made without sequences."""
        if self.nll is None or self.lengths is None:
            return None
        added = self.nats_per_step - float(self.nll.sum()) / float(self.lengths.sum())  # per step
        return self.nll + added * self.lengths.double()

    @property
    def bits_per_step(self) -> float:
        return self.nats_per_step / math.log(2)

    @property
    def nats_per_sequence(self) -> float:
        return self.nats_per_step * self.num_steps / self.num_sequences

    def as_dict(self) -> dict:
        """JSON-ready, without the per-sequence values: an undefined standard error (one sequence) is null."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("nll", "lengths")}
        row = {**row, "bits_per_step": self.bits_per_step, "nats_per_sequence": self.nats_per_sequence}
        return {**row, "stderr": None if math.isnan(self.stderr) else self.stderr}


def _per_sequence(
    fn,
    data: SequenceData,
    split: str,
    batch_size: int,
    device,
    limit=None,
    bar=None,
    passes: int = 1,
    max_row_steps: int | None = None,
) -> torch.Tensor:
    """fn(batch) -> (..., B) over the split, (..., N) in the split's order. Batches hold
    sequences of similar length, so little is computed on padding; with `max_row_steps`, a
    batch of B sequences padded to T steps also keeps B x passes x T within it (a long piece
    goes alone), so memory stays bounded however long the pieces. `bar` advances by
    passes x T_b after each batch of T_b steps (passes = K particles of each step)."""
    seqs = data.split(split, limit)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    pieces, start = [], 0
    while start < len(order):
        end = min(start + batch_size, len(order))
        if max_row_steps is not None:  # sorted by length: the last sequence of a batch is its longest
            while end - start > 1 and (end - start) * passes * len(seqs[order[end - 1]]) > max_row_steps:
                end -= 1
        batch = collate([seqs[i] for i in order[start:end]])
        start = end
        pieces.append(fn(batch.to(device)).double().cpu())
        if bar is not None:
            bar.update(passes * batch.num_steps)
    values = torch.cat(pieces, -1)
    result = torch.empty_like(values)
    result[..., order] = values
    return result


def lengths_of(data: SequenceData, split: str, limit=None) -> torch.Tensor:
    """T_i of every sequence i of the split: (N,)."""
    seqs = data.split(split, limit)
    return torch.tensor([len(s) for s in seqs])


def draws(model, guide) -> tuple[bool, bool]:
    """(whether the figures draw S weights w_s ~ q(w), whether they draw K particles
    z_k ~ q(z | x) per sequence) for this model and guide, as held_out_figures computes them."""
    if has_weight_latents(model):
        own_latents = not isinstance(getattr(guide, "latents", None), NoLatents)  # q(z | x, w) after q(w)
        return True, own_latents and not hasattr(model.net, "log_prob")
    return False, not any(hasattr(model, a) for a in ("log_prob", "reconstruction_log_prob"))


def particle_steps(num_steps: int, num_samples: int = 1, num_particles: int = 1) -> int:
    """S x K x T: the steps computed for a split of T steps under S weight draws, K particles each."""
    return num_samples * num_particles * num_steps


def progress_bar(progress: bool | tqdm, total: int, split: str):
    """A bar over `total` particle-steps of a split, shown when `progress` is true; `progress`
    itself when it is a bar already (a figure computed inside another)."""
    if not isinstance(progress, bool):
        return nullcontext(progress)
    return tqdm(total=total, desc=f"{split} figures", unit="step", unit_scale=True, leave=False, disable=not progress)


@torch.no_grad()
def exact_nll(model, data: SequenceData, split: str, **kw) -> Figure:
    """-log p(x) per step for a model with an exact `log_prob`; `kw` as deterministic_nll's."""
    return deterministic_nll(model.log_prob, "exact", data, split, **kw)


@torch.no_grad()
def reconstruction_nll(model, data: SequenceData, split: str, **kw) -> Figure:
    """-log p(x | c(x)) per step for a model with a `reconstruction_log_prob` (an autoencoder)."""
    return deterministic_nll(model.reconstruction_log_prob, "reconstruction", data, split, **kw)


def deterministic_nll(
    log_prob,
    kind: str,
    data: SequenceData,
    split: str,
    batch_size: int = 256,
    device="cpu",
    limit=None,
    progress: bool | tqdm = False,
) -> Figure:
    """The figure `kind` from a per-sequence log-probability that draws nothing, one pass per batch
    of `batch_size` sequences on `device`, over the split's first `limit` sequences (all: None)."""
    lengths = lengths_of(data, split, limit)
    with progress_bar(progress, particle_steps(int(lengths.sum())), split) as bar:
        log_p = _per_sequence(log_prob, data, split, batch_size, device, limit, bar)
    return Figure.from_sequences(kind, -log_p, lengths)


def check_mc_dropout(model) -> None:
    """A ZooError unless `model` is a network that draws dropout masks and has an exact log-likelihood."""
    if has_weight_latents(model) or not getattr(model, "dropout", 0) or not hasattr(model, "log_prob"):
        raise ZooError(
            f"mc_dropout=true draws a network's dropout masks: {type(model).__name__} "
            f"{'has variational weights' if has_weight_latents(model) else 'has no dropout and exact log-likelihood'}"
            " (char_lstm with model.net.dropout > 0 has both); leave mc_dropout=false"
        )


@torch.no_grad()
def mc_dropout_nll(
    model,
    data: SequenceData,
    split: str,
    num_samples: int = 10,
    batch_size: int = 256,
    device="cpu",
    limit=None,
    progress: bool | tqdm = False,
) -> Figure:
    """-log (1/S) sum_s p(x_i | z_s) per step: the posterior predictive over S draws of the
    network's dropout masks z_s (MC dropout, Gal & Ghahramani 2016), each sequence its own
    draws. With masks held over a sequence (char_lstm's dropout_masks=sequence) a draw is a draw
    of w from Gal & Ghahramani's q(w), and the network without masks is q's mean."""
    check_mc_dropout(model)
    lengths = lengths_of(data, split, limit)
    log_p = []  # (S, N): log p(x_i | z_s)
    with progress_bar(progress, particle_steps(int(lengths.sum()), num_samples), split) as bar, dropout_on(model):
        for _ in range(num_samples):
            log_p.append(_per_sequence(model.log_prob, data, split, batch_size, device, limit, bar))
    predictive = predictive_nll(torch.stack(log_p))
    return Figure.from_sequences(predictive_kind(num_samples, "dropout masks"), predictive, lengths)


def predictive_nll(log_p: torch.Tensor) -> torch.Tensor:
    """-log (1/S) sum_s p(x_i | w_s) per sequence, (N,), from (S, N) log-likelihoods of S draws."""
    return -iwae_bound(log_p)


@torch.no_grad()
def weight_kl(model, guide) -> float:
    """KL(q(w) || p(w)) in nats: in closed form where torch has it, else a Monte Carlo
    estimate from one draw of w."""
    guide_trace = poutine.trace(guide).get_trace()
    total = 0.0
    for name, site in guide_trace.nodes.items():
        if site["type"] != "sample":
            continue
        q, p = site["fn"], model.weight_prior(name)
        try:
            total += float(kl_divergence(q, p))
        except NotImplementedError:
            total += float(q.log_prob(site["value"]) - p.log_prob(site["value"]))
    return total


@torch.no_grad()
def weight_posterior_nll(
    model,
    guide,
    data: SequenceData,
    split: str,
    num_samples: int = 10,
    train_steps: int | None = None,
    batch_size: int = 256,
    device="cpu",
    limit=None,
    progress: bool | tqdm = False,
) -> list[Figure]:
    """-ELBO (E_q[-log p(x, w)] for point masses) and posterior predictive NLL per step of a
    model p(w) p(x | w) under guide q(w)."""
    log_p = weight_log_likelihoods(model, guide, data, split, num_samples, batch_size, device, limit, progress)
    lengths = lengths_of(data, split, limit)
    return _weight_figures(model, guide, log_p, log_p, lengths, train_steps or data.num_steps("train"))


@torch.no_grad()
def weight_log_likelihoods(
    model,
    guide,
    data: SequenceData,
    split: str,
    num_samples: int = 10,
    batch_size: int = 256,
    device="cpu",
    limit=None,
    progress: bool | tqdm = False,
) -> torch.Tensor:
    """log p(x_i | w_s) of every sequence i of the split under S draws w_s ~ q(w): (S, N)."""
    lengths = lengths_of(data, split, limit)
    log_p = []
    with progress_bar(progress, particle_steps(int(lengths.sum()), num_samples), split) as bar:
        for _ in range(num_samples):
            weights = guide()
            log_p.append(
                _per_sequence(lambda b: model.log_prob(b, weights), data, split, batch_size, device, limit, bar)
            )
    return torch.stack(log_p)


def predictive_kind(num_samples: int, drawn: str = "") -> str:
    """The kind of a figure averaged over S draws: "posterior predictive (S=10)", with what was
    drawn or what each draw's likelihood is after a comma ("dropout masks", "IWAE K=500")."""
    return f"posterior predictive (S={num_samples}{', ' + drawn if drawn else ''})"


def _weight_figures(model, guide, expected, bounds, lengths, train_steps: int, bound: str = "") -> list[Figure]:
    """The two figures of S draws w_s ~ q(w), from (S, N) per-sequence log-likelihoods: `expected`
    log p(x_i | w_s) (or its ELBO) averaged over the draws, plus KL(q(w) || p(w)) shared over the
    training steps (-ELBO, or E_q[-log p(x, w)] for point masses); and the posterior predictive
    -log (1/S) sum_s p(x_i | w_s) from `bounds` (the likelihoods, or their IWAE bounds, named by
    `bound` in the figure's kind)."""
    num_samples = len(bounds)
    figure = Figure.from_sequences(expected_kind(guide), -expected.mean(0), lengths)
    figure.nats_per_step += weight_kl(model, guide) / train_steps
    predictive = predictive_nll(bounds)  # (N,)
    return [figure, Figure.from_sequences(predictive_kind(num_samples, bound), predictive, lengths)]


def expected_kind(guide) -> str:
    """-ELBO, or E_q[-log p(x, w)] for a q(w) of point masses (guides.bernoulli), whose entropy
    term the figure leaves out, so that it bounds nothing."""
    return "E_q[-log p(x, w)]" if getattr(weight_guide_of(guide), "point_masses", False) else "-ELBO"


def weight_guide_of(guide):
    """q(w) of a guide: the guide itself, or the q(w) of guides.with_weights."""
    return getattr(guide, "weights", guide)


def posterior_mean(guide) -> dict[str, torch.Tensor] | None:
    """E_q[w] keyed by site, from a weight guide with a mean (guides.weights), alone or as the
    q(w) of guides.with_weights; None for a guide without one."""
    weights = weight_guide_of(guide)
    return weights.posterior_mean() if hasattr(weights, "posterior_mean") else None


AT_POSTERIOR_MEAN = "exact at the posterior mean"  # the kind of posterior_mean_nll's figure


@torch.no_grad()
def posterior_mean_nll(model, guide, data: SequenceData, split: str, **kw) -> Figure:
    """-log p(x | w = E_q[w]) per step, exact: the plug-in network of a guide with a posterior
    mean, for a model p(w) p(x | w) with no other latents; `kw` as deterministic_nll's."""
    weights = posterior_mean(guide)
    return deterministic_nll(lambda b: model.log_prob(b, weights), AT_POSTERIOR_MEAN, data, split, **kw)


@torch.no_grad()
def latent_log_weights(
    model,
    guide,
    data: SequenceData,
    split: str,
    num_particles: int = 100,
    batch_size: int = 256,
    device="cpu",
    limit=None,
    max_rows: int = 4096,
    progress: bool | tqdm = False,
) -> torch.Tensor:
    """log w_k(x_i) = log p(x_i, z_k) - log q(z_k | x_i) for every sequence i of the split,
    (K, N), drawn at most max_rows sequence-particles and MAX_ROW_STEPS sequence-particle-steps
    at a time (the particles of one long piece in several passes)."""

    def batch_weights(batch):
        rows = min(max_rows, max(1, MAX_ROW_STEPS // batch.mask.shape[1]))  # sequence-particles per pass
        return chunked_log_weights(model, guide, batch, num_particles, max(1, rows // batch.batch_size))

    return _particle_passes(batch_weights, data, split, num_particles, batch_size, device, limit, max_rows, progress)


@torch.no_grad()
def weight_latent_nll(
    model,
    guide,
    data: SequenceData,
    split: str,
    num_samples: int = 10,
    num_particles: int = 100,
    train_steps: int | None = None,
    limit=None,
    progress: bool | tqdm = False,
    **kw,
) -> list[Figure]:
    """-ELBO (E_q[-log p(x, z, w)] for point masses) and posterior predictive NLL per step of
    p(w) p(x, z | w) under q(w) q(z | x, w)
    (guides.with_weights): for S draws w_s, each sequence's K-particle log weights under the
    network with weights w_s. A network without latents of its own (seq_ae) needs one particle;
    its figures are reconstruction figures and say so."""
    if isinstance(guide.latents, NoLatents):
        num_particles = 1
    lengths = lengths_of(data, split, limit)
    elbo, iwae = [], []  # (S, N) each
    with progress_bar(progress, particle_steps(int(lengths.sum()), num_samples, num_particles), split) as bar:
        for _ in range(num_samples):
            w = guide()  # w_s ~ q(w)
            with swap_parameters(model.net, model.parameters_from_sites(w)):
                log_w = latent_log_weights(
                    model.net, guide.latents, data, split, num_particles, limit=limit, progress=bar, **kw
                )
            elbo.append(log_w.mean(0))
            iwae.append(iwae_bound(log_w))
    bound = f"IWAE K={num_particles}" if num_particles > 1 else ""
    steps = train_steps or data.num_steps("train")
    figures = _weight_figures(model, guide, torch.stack(elbo), torch.stack(iwae), lengths, steps, bound)
    if hasattr(model.net, "reconstruction_log_prob"):
        figures[0].kind += " of the reconstruction"
        figures[1].kind = "reconstruction " + figures[1].kind
    return figures


@torch.no_grad()
def smc_log_marginals(
    model,
    guide,
    data: SequenceData,
    split: str,
    num_particles: int = 100,
    batch_size: int = 256,
    device="cpu",
    limit=None,
    max_rows: int = 4096,
    progress: bool | tqdm = False,
) -> torch.Tensor:
    """log p_hat(x_i) of every sequence of the split from SMC with K particles (zoo.estimators.smc):
    (N,). The K particles of a sequence are resampled together, so they are never split
    across passes; a pass holds at most max_rows sequence-particles and MAX_ROW_STEPS
    sequence-particle-steps, or one sequence."""
    return _particle_passes(
        lambda b: smc_log_marginal(model, guide, b, num_particles),
        data,
        split,
        num_particles,
        batch_size,
        device,
        limit,
        max_rows,
        progress,
    )


def _particle_passes(fn, data, split, num_particles, batch_size, device, limit, max_rows, progress):
    """fn(batch) over the split's sequences, K particles of a batch in one pass of at most
    max_rows sequence-particles and MAX_ROW_STEPS sequence-particle-steps, a progress bar
    counting the particle-steps."""
    batch_size = min(batch_size, max(1, max_rows // num_particles))  # K particles of a batch in one pass
    total = particle_steps(int(lengths_of(data, split, limit).sum()), num_particles=num_particles)
    with progress_bar(progress, total, split) as bar:
        return _per_sequence(
            fn, data, split, batch_size, device, limit, bar, passes=num_particles, max_row_steps=MAX_ROW_STEPS
        )


def latent_figures(log_w: torch.Tensor, lengths: torch.Tensor) -> list[Figure]:
    """-ELBO (the mean log weight) and -IWAE-K (log of the mean weight) per step from (K, N)."""
    num_particles = log_w.shape[0]
    figures = [Figure.from_sequences("-ELBO", -log_w.mean(0), lengths)]
    if num_particles > 1:
        figures.append(Figure.from_sequences(f"-IWAE (K={num_particles})", -iwae_bound(log_w), lengths))
    return figures


def held_out_figures(
    model,
    guide,
    data: SequenceData,
    split: str,
    num_samples: int = 10,
    num_particles: int = 100,
    train_steps: int | None = None,
    fivo: bool | None = None,
    **kw,
) -> list[Figure]:
    """Every figure this model has on a split; the first is the one to select models by.

    Weight latents: -ELBO and posterior predictive with S = num_samples weight draws.
    Weight and per-sequence latents: the same, each draw's likelihood an IWAE-K bound.
    Per-sequence latents: -ELBO and IWAE-K with K = num_particles; with a filtering guide of a
    state-space model (zoo.estimators.smc.supports_smc), -FIVO-K too, unless `fivo` is False
    (True asks for it alone beside -ELBO, as FIVO training validates).
    No latents: the exact NLL; for an autoencoder, the reconstruction NLL (not a likelihood of x).
    `progress=True` shows a bar over the S x K x T particle-steps with the time left."""
    if has_weight_latents(model) and not hasattr(model.net, "log_prob"):
        return weight_latent_nll(model, guide, data, split, num_samples, num_particles, train_steps, **kw)
    if has_weight_latents(model):
        return weight_posterior_nll(model, guide, data, split, num_samples, train_steps, **kw)
    if hasattr(model, "log_prob"):
        return [exact_nll(model, data, split, **kw)]
    if hasattr(model, "reconstruction_log_prob"):
        return [reconstruction_nll(model, data, split, **kw)]
    lengths = lengths_of(data, split, kw.get("limit"))
    log_w = latent_log_weights(model, guide, data, split, num_particles if fivo is not True else 1, **kw)
    figures = latent_figures(log_w, lengths)
    if fivo is not False:
        figures += fivo_figures(model, guide, data, split, num_particles, **kw)
    return figures


def fivo_figures(model, guide, data: SequenceData, split: str, num_particles: int, **kw) -> list[Figure]:
    """[-FIVO-K per step] for a filtering guide of a state-space model with K > 1, else []."""
    if num_particles < 2 or not supports_smc(model, guide):
        return []
    log_p_hat = smc_log_marginals(model, guide, data, split, num_particles, **kw)
    return [Figure.from_sequences(f"-FIVO (K={num_particles})", -log_p_hat, lengths_of(data, split, kw.get("limit")))]
