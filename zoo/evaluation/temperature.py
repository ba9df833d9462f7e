"""The quality-diversity frontier of a next-step generator, traced by its sampling temperature
(Caccia et al. 2018, "Language GANs falling short", arXiv 1811.02549, section 4):

    q_tau(x_t | x_{<t}) = softmax(o_t / tau)       o_t the generator's logits; tau = 1 is q itself

    quality     NLL-oracle of n sequences drawn from q_tau: falls as tau < 1 sharpens q_tau
                towards the modes the oracle likes
    diversity   NLL-test of q_tau, exact: rises as q_tau puts less mass on what the oracle writes

A GAN's NLL-oracle is only a gain over maximum likelihood when it lies below this curve at its
own NLL-test: a lower NLL-oracle bought with a higher NLL-test is what a colder temperature
gives the MLE generator for free.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from zoo.data.dataset import SequenceData
from zoo.data.oracle import OracleLSTM
from zoo.errors import ZooError
from zoo.evaluation.likelihood import Figure, deterministic_nll
from zoo.evaluation.oracle_metrics import nll_oracle
from zoo.evaluation.sampling import draw_in_batches
from zoo.models.bayesian_weights import has_weight_latents
from zoo.models.char_lstm import dropout_off


@torch.no_grad()
def tempered_nll(
    model, data: SequenceData, temperature: float, split: str = "test", limit: int | None = None
) -> Figure:
    """-log q_tau(x) per step on a split, exact: the generator's logits divided by tau."""

    def log_prob(batch):  # (B,)
        p_x = model.next_step(batch.x, temperature=temperature)  # batch shape (B, T)
        return (p_x.log_prob(batch.x) * batch.mask).sum(-1)

    device = next(model.parameters()).device
    with dropout_off(model):
        return deterministic_nll(
            log_prob, f"exact, temperature {temperature:g}", data, split, 256, device, limit, False
        )


def temperature_frontier(
    model,
    oracle: OracleLSTM,
    data: SequenceData,
    temperatures: Sequence[float],
    n: int = 2000,
    seed: int = 0,
    limit: int | None = None,
) -> list[dict]:
    """[{temperature, nll_oracle, nll_test}] for each tau: NLL-oracle of n sequences drawn from
    q_tau after torch.manual_seed(seed) (the same seed at every tau, so the curve differs by tau
    alone, and at tau = 1 the draws are those of draw_in_batches under that seed) and q_tau's
    exact NLL-test. For a network of its own weights with a `next_step` (char_lstm)."""
    if has_weight_latents(model) or not hasattr(model, "next_step"):
        raise ZooError(
            f"a temperature frontier needs a next-step generator with its own weights (char_lstm), "
            f"not {type(model).__name__}"
        )
    if not all(t > 0 for t in temperatures):
        raise ZooError(f"temperatures {list(temperatures)} must all be above 0")
    out = []
    with dropout_off(model):
        for tau in temperatures:
            torch.manual_seed(seed)
            drawn = draw_in_batches(model, None, n, oracle.length, temperature=tau)  # (n, T); no guide: no latents
            out.append(
                {
                    "temperature": tau,
                    "nll_oracle": nll_oracle(oracle, drawn).as_dict(),
                    "nll_test": tempered_nll(model, data, tau, limit=limit).as_dict(),
                }
            )
    return out
