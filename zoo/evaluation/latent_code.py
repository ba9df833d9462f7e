"""What the codes of a sequence VAE carry, over the sequences of a split: KL per latent
dimension, active units, the mutual information I(x; z) under q, and a posterior-collapse flag.
For a guide whose site "z" is a diagonal Gaussian q(z | x) = N(mu(x), diag sigma(x)^2) and the
prior p(z) = N(0, I):

    KL_d      = (1/N) sum_i KL(q(z_d | x_i) || N(0, 1))
              = (1/N) sum_i [ (mu_d(x_i)^2 + sigma_d(x_i)^2 - 1) / 2 - log sigma_d(x_i) ]      nats
    A_d       = Cov_x(E_q[z_d | x]) = Var_i mu_d(x_i); d is active if A_d > 0.01            (Burda et al. 2015)
    I(x; z)   = E_x[KL(q(z | x) || p(z))] - KL(q(z) || p(z)),  q(z) = (1/N) sum_i q(z | x_i)
              = (1/N) sum_i [ log q(z_i | x_i) - log q(z_i) ],  z_i ~ q(z | x_i)          (He et al. 2019)
    collapse  = sum_d KL_d < 0.1 nats per sequence, or no dimension active

The aggregate posterior q(z) is the mixture of the N held-out posteriors, each z_i scored
against all N of them (a Monte Carlo estimate over the split, one draw per sequence), so
I(x; z) <= log N.

Codes of any sequence autoencoder (seq_ae, seq_vae), to look at and to compare:

    c(x)         the code: E_q[z | x] for a VAE, the encoder's output for a deterministic autoencoder
    x(alpha)     = decode((1 - alpha) c(x_a) + alpha c(x_b)),   alpha = 0, 1/(S-1), ..., 1
                 (the homotopies of Bowman et al. 2015)
    x_hat        = decode(c(x)), a reconstruction
    code MMD     between the codes a seq_ae makes up for new sequences and encoded held-out codes

decode is greedy (the most likely step each time) or sampled at a temperature. zoo.reports.codes
writes them into a run folder.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pyro.poutine as poutine
import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from zoo.data.batch import Batch, collate
from zoo.data.dataset import SequenceData
from zoo.errors import ZooError
from zoo.estimators.mmd import feature_mmd

ACTIVE = 0.01  # Burda et al. 2015's threshold on Cov_x(E_q[z_d | x])
COLLAPSED = 0.1  # nats per sequence of KL below which the codes are taken to carry nothing


def gaussian_posterior(guide, batch: Batch, site: str = "z") -> tuple[Tensor, Tensor]:
    """(mu(x), sigma(x)) of the guide's diagonal Gaussian at `site`: (B, Z) each."""
    trace = poutine.trace(guide).get_trace(batch)
    if site not in trace.nodes:
        raise ZooError(
            f"guide {type(guide).__name__} has no latent site {site!r}: the code diagnostics need a "
            "model with a Gaussian code per sequence (model=seq_vae)"
        )
    fn = trace.nodes[site]["fn"]
    while isinstance(fn, Independent):
        fn = fn.base_dist
    if not isinstance(fn, Normal):
        raise ZooError(f"the guide's site {site!r} is {type(fn).__name__}; the code diagnostics need a Normal q(z | x)")
    return fn.loc, fn.scale


@torch.no_grad()
def posterior_moments(
    guide,
    data: SequenceData,
    split: str = "test",
    batch_size: int = 256,
    device="cpu",
    limit: int | None = None,
    site: str = "z",
) -> tuple[Tensor, Tensor]:
    """(mu(x_i), sigma(x_i)) for every sequence i of a split, in its order: (N, Z) each."""
    seqs = data.split(split, limit)
    locs, scales = [], []
    for start in range(0, len(seqs), batch_size):
        loc, scale = gaussian_posterior(guide, collate(seqs[start : start + batch_size]).to(device), site)
        locs.append(loc.cpu())
        scales.append(scale.cpu())
    return torch.cat(locs), torch.cat(scales)


def kl_per_dimension(loc: Tensor, scale: Tensor) -> Tensor:
    """KL_d = mean_i KL(N(mu_id, sigma_id^2) || N(0, 1)) in nats: (N, Z) x2 -> (Z,)."""
    return (0.5 * (loc**2 + scale**2 - 1) - scale.log()).mean(0)


def activity(loc: Tensor) -> Tensor:
    """A_d = Var_i mu_d(x_i), the spread of the posterior means over sequences: (N, Z) -> (Z,)."""
    return loc.var(0, unbiased=False)


def mutual_information(loc: Tensor, scale: Tensor, chunk_elements: int = 2**22) -> float:
    """I(x; z) under q in nats: mean_i [log q(z_i | x_i) - log (1/N) sum_j q(z_i | x_j)], z_i ~ q(z | x_i)."""
    N, Z = loc.shape
    loc, scale = loc.double(), scale.double()
    z = loc + scale * torch.randn_like(loc)  # (N, Z), one draw per sequence
    log_q_own = Normal(loc, scale).log_prob(z).sum(-1)  # (N,)
    mixture = Normal(loc[None], scale[None])  # components j along dim 1
    rows = max(1, chunk_elements // (N * Z))
    log_q_aggregate = torch.cat(
        [
            torch.logsumexp(mixture.log_prob(z[i : i + rows, None]).sum(-1), dim=1)  # (rows, N) -> (rows,)
            for i in range(0, N, rows)
        ]
    ) - math.log(N)
    return float((log_q_own - log_q_aggregate).mean())


@dataclass
class LatentCodeReport:
    """The code diagnostics of one split."""

    kl_per_dimension: list[float]  # KL_d, nats per sequence
    kl: float  # sum_d KL_d: nats per sequence
    activity: list[float]  # A_d = Var_i mu_d(x_i)
    active_units: int  # #{d : A_d > 0.01}
    mutual_information: float  # I(x; z) under q, nats (at most log N)
    posterior_collapse: bool  # kl < 0.1 nats per sequence, or no active unit
    num_sequences: int

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        flag = "  POSTERIOR COLLAPSE" if self.posterior_collapse else ""
        return (
            f"code: KL {self.kl:.3f} nats/seq, active units {self.active_units}/{len(self.activity)}, "
            f"I(x; z) {self.mutual_information:.3f} nats (at most log N = {math.log(self.num_sequences):.2f}) "
            f"over {self.num_sequences} sequences{flag}"
        )


def diagnose(loc: Tensor, scale: Tensor, threshold: float = ACTIVE, collapse_kl: float = COLLAPSED) -> LatentCodeReport:
    """The diagnostics from the posterior moments of N sequences, (N, Z) each."""
    kl_d, a_d = kl_per_dimension(loc, scale), activity(loc)
    active = int((a_d > threshold).sum())
    kl = float(kl_d.sum())
    return LatentCodeReport(
        kl_d.tolist(),
        kl,
        a_d.tolist(),
        active,
        mutual_information(loc, scale),
        kl < collapse_kl or active == 0,
        loc.shape[0],
    )


def latent_code_report(
    guide, data: SequenceData, split: str = "test", batch_size: int = 256, device="cpu", limit: int | None = None
) -> LatentCodeReport:
    """KL per dimension, active units, I(x; z) and the collapse flag of a guide's codes on a split."""
    return diagnose(*posterior_moments(guide, data, split, batch_size, device, limit))


def codes(model, guide, batch: Batch) -> Tensor:
    """c(x) for every sequence of a batch: (B, C)."""
    if hasattr(model, "code"):
        return model.code(batch)
    return gaussian_posterior(guide, batch)[0]


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def homotopy(
    model,
    guide,
    x_a: Tensor,
    x_b: Tensor,
    steps: int = 5,
    length: int | None = None,
    greedy: bool = True,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """(alphas (S,), sequences decoded along the line from c(x_a) to c(x_b) (S, length[, D]));
    length defaults to the longer of the two."""
    c_a, c_b = codes(model, guide, collate([x_a, x_b]).to(_device(model)))
    alphas = torch.linspace(0, 1, steps, device=c_a.device)  # (S,)
    line = (1 - alphas[:, None]) * c_a + alphas[:, None] * c_b  # (S, C)
    return alphas.cpu(), model.decode(line, length or max(len(x_a), len(x_b)), temperature, greedy).cpu()


@torch.no_grad()
def reconstruct(model, guide, seqs: list[Tensor], greedy: bool = True, temperature: float = 1.0) -> list[Tensor]:
    """decode(c(x)) for each sequence, as long as its input: a list of (T_i[, D])."""
    batch = collate(seqs).to(_device(model))
    decoded = model.decode(codes(model, guide, batch), batch.mask.shape[1], temperature, greedy).cpu()
    return [x_hat[: len(x)] for x_hat, x in zip(decoded, seqs)]


@torch.no_grad()
def code_mmd(model, seqs, device="cpu", limit: int = 500) -> float:
    """MMD (sqrt of the unbiased MMD^2, median-heuristic bandwidths) between the codes a
    seq_ae makes up for new sequences and the codes of the first `limit` of `seqs`."""
    batch = collate(list(seqs[:limit])).to(device)
    encoded = model.code(batch)
    return feature_mmd(model.new_codes(len(encoded)), encoded)


def code_figures(
    model, guide, data: SequenceData, split: str = "test", batch_size: int = 256, device="cpu", limit: int | None = None
) -> dict | None:
    """What the codes of a model with codes carry on a split: the latent-code diagnostics of a
    VAE (q(z | x) is the guide's) as a dict, {"code_mmd": ...} for a seq_ae that makes up new
    codes (a code generator or a prior), else None. The model and guide are expected in
    evaluation mode."""
    report = None
    if not hasattr(model, "code"):  # a VAE: q(z | x) is the guide's
        report = latent_code_report(guide, data, split, batch_size, device, limit).as_dict()
    if hasattr(model, "code_source"):  # seq_ae: how close its new codes are to real ones
        report = {"code_mmd": code_mmd(model, data.split(split, limit), device)}
    return report
