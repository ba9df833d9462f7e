"""How many weight draws S and particles K the held-out figures of a split use, and what that costs.

The work of a split of N sequences and T steps is S x K x T particle-steps (S = 1 without
weight latents, K = 1 without per-sequence latents). A size left unset (None) is chosen:

    the full figure, S = 10 and K = 100, when S x K x T <= max_particle_steps;
    else the largest K of 1, 2, 5 x 10^j that fits, not below K = 5,
    then the largest S of 1, 2, 5 x 10^j that fits, not below S = 2.

A size given is kept as given. With the default budget of 5M particle-steps the full figure
holds for bayes_lstm on Shakespeare's test plays (S x T = 1.9M) and vrnn on JSB (K x T = 0.5M,
and 4.7M with variational weights); seq_vae on Shakespeare's test lines (T = 173,955) gets
K = 20, and with variational weights S = 5 and K = 5 (the full figure: 174M).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from zoo.data.dataset import SequenceData
from zoo.errors import ZooError
from zoo.estimators.smc import supports_smc
from zoo.evaluation.likelihood import draws, expected_kind, lengths_of, particle_steps
from zoo.options import check_at_least, check_fields

FULL_SAMPLES = 10  # S of the full posterior predictive figure
FULL_PARTICLES = 100  # K of the full IWAE figure
MIN_SAMPLES = 2  # the fewest weight draws a chosen S goes down to
MIN_PARTICLES = 5  # the fewest particles a chosen K goes down to
MAX_PARTICLE_STEPS = 5_000_000  # S x K x T of a chosen (S, K)
SYMBOL = {"num_samples": "S", "num_particles": "K"}


@dataclass
class HeldOutOptions:
    """Which test figures a training run ends with: `evaluate.<field>` of zoo.run."""

    num_samples: int | None = None  # S weight draws; None: chosen within max_particle_steps
    num_particles: int | None = None  # K particles per sequence; None: chosen within max_particle_steps
    max_particle_steps: int | None = MAX_PARTICLE_STEPS  # budget of S x K x T for the sizes left None
    test_limit: int | None = None  # the first N test sequences only
    oracle_samples: int = 2000  # data=oracle: sequences drawn from the model for NLL-oracle
    oracle_curve: int = 500  # data=oracle: sequences drawn for NLL-oracle after each validation; 0 = none

    def __post_init__(self):
        check_fields(self, "evaluate.")
        check_at_least(
            self,
            {
                **{
                    name: 1
                    for name in ("num_samples", "num_particles", "max_particle_steps", "test_limit", "oracle_samples")
                },
                "oracle_curve": 0,
            },
            "evaluate.",
        )


def round_down(n: int) -> int:
    """The largest of 1, 2, 5, 10, 20, 50, ... not above n; 0 when n < 1."""
    if n < 1:
        return 0
    power = 10 ** int(math.log10(n))
    return max(m * power for m in (1, 2, 5) if m * power <= n)


def choose_sizes(
    num_steps: int,
    weights: bool,
    particles: bool,
    num_samples: int | None = None,
    num_particles: int | None = None,
    max_particle_steps: int | None = MAX_PARTICLE_STEPS,
) -> tuple[int, int]:
    """(S, K) for a split of T = num_steps steps. A given size is kept; an unset one (None) is the
    full figure's when S x K x T <= max_particle_steps (None: no budget), else the largest K of
    1, 2, 5 x 10^j that fits (at least MIN_PARTICLES), then the largest such S (at least
    MIN_SAMPLES). S = 1 without weight draws, K = 1 without particles."""
    S = (FULL_SAMPLES if num_samples is None else num_samples) if weights else 1
    K = (FULL_PARTICLES if num_particles is None else num_particles) if particles else 1
    if S < 1 or K < 1:
        raise ZooError(f"S={S} weight draws and K={K} particles: each must be at least 1")
    if max_particle_steps is None:
        return S, K
    T = max(num_steps, 1)
    if particles and num_particles is None:
        K = min(K, max(MIN_PARTICLES, round_down(max_particle_steps // (S * T))))
    if weights and num_samples is None:
        S = min(S, max(MIN_SAMPLES, round_down(max_particle_steps // (K * T))))
    return S, K


def count(n: int) -> str:
    """n as people read it: 18,810 below a million, 4.6M above."""
    return f"{n:,}" if n < 1_000_000 else f"{n / 1e6:.3g}M"


@dataclass
class EvaluationPlan:
    """The held-out figures of a split: S weight draws w_s ~ q(w), K particles z_k ~ q(z | x)
    per sequence, over N sequences of T steps in all."""

    split: str
    figures: str  # what is computed, in words
    num_samples: int  # S; 1 when the figures draw no weights
    num_particles: int  # K; 1 when the figures draw no particles
    num_sequences: int  # N
    num_steps: int  # T
    reduced: dict[str, tuple[int, int]]  # option -> (full value, chosen value), for each size the budget lowered
    max_particle_steps: int | None

    @property
    def particle_steps(self) -> int:
        """S x K x T: the steps computed, what the progress bar counts."""
        return particle_steps(self.num_steps, self.num_samples, self.num_particles)

    @property
    def sequence_particles(self) -> int:
        """S x K x N."""
        return self.num_samples * self.num_particles * self.num_sequences

    def describe(self) -> str:
        """What will be computed, with S, K, N and T; and, when the budget lowered S or K, by how
        much and the options that ask for the full figure."""
        line = f"{self.split} figures: {self.figures}, over {self.num_sequences:,} sequences ({self.num_steps:,} steps)"
        if self.num_samples * self.num_particles > 1:
            unit = "sequence-particles" if self.num_particles > 1 else "sequence-draws"
            line += f": {count(self.sequence_particles)} {unit}, {count(self.particle_steps)} steps to compute"
        if not self.reduced:
            return line
        lowered = ", ".join(f"{SYMBOL[o]}={new} instead of {old}" for o, (old, new) in self.reduced.items())
        full = " ".join(f"evaluate.{o}={old}" for o, (old, _) in self.reduced.items())
        full_steps = self.particle_steps
        for old, new in self.reduced.values():
            full_steps = full_steps // new * old
        return (
            f"{line}\n{lowered} to keep the run quick (S x K x T at most evaluate.max_particle_steps="
            f"{self.max_particle_steps:,}); {full} asks for the full figure ({count(full_steps)} steps)"
        )


def evaluation_plan(
    model,
    guide,
    data: SequenceData,
    split: str,
    num_samples: int | None = None,
    num_particles: int | None = None,
    limit: int | None = None,
    max_particle_steps: int | None = MAX_PARTICLE_STEPS,
) -> EvaluationPlan:
    """The figures held_out_figures computes for this model on a split, with S and K from
    choose_sizes (None: chosen within max_particle_steps)."""
    weights, particles = draws(model, guide)
    lengths = lengths_of(data, split, limit)
    T = int(lengths.sum())
    S, K = choose_sizes(T, weights, particles, num_samples, num_particles, max_particle_steps)
    reduced = {}
    if weights and S < FULL_SAMPLES and num_samples is None:
        reduced["num_samples"] = (FULL_SAMPLES, S)
    if particles and K < FULL_PARTICLES and num_particles is None:
        reduced["num_particles"] = (FULL_PARTICLES, K)
    if weights and hasattr(model.net, "reconstruction_log_prob"):
        figures = f"{expected_kind(guide)} of the reconstruction and reconstruction posterior predictive"
        figures += f" with S={S} weight draws"
    elif weights:
        figures = f"{expected_kind(guide)} and posterior predictive with S={S} weight draws"
        figures += f", each an IWAE bound with K={K} particles" if particles else ""
    elif particles and K > 1 and supports_smc(model, guide):
        figures = f"-ELBO, -IWAE and -FIVO (SMC, a second pass) with K={K} particles"
    elif particles:
        figures = f"-ELBO and -IWAE with K={K} particles" if K > 1 else "-ELBO with K=1 particle"
    else:
        figures = "exact log-likelihood" if hasattr(model, "log_prob") else "reconstruction log-likelihood"
    return EvaluationPlan(split, figures, S, K, len(lengths), T, reduced, max_particle_steps)
