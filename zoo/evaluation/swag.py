"""The figures of SWAG's q(w) (guides.swag) collected while a deterministic network trained.

    posterior predictive (S, SWAG)   -sum_i log (1/S) sum_s p(x_i | w_s), w_s ~ q(w)
    exact at the posterior mean      -log p(x | theta_bar): the SWA network, no average over draws

The network is wrapped as BayesianWeights(network), whose sites w.<name> the draws fill; its
prior is never read, since SWAG's q(w) is not fitted by an ELBO and no ELBO is reported.
"""

from __future__ import annotations

from guides.swag import SwagWeights
from zoo.data.dataset import SequenceData
from zoo.errors import ZooError
from zoo.evaluation.likelihood import Figure, lengths_of, predictive_kind, predictive_nll, weight_log_likelihoods
from zoo.models.bayesian_weights import BayesianWeights, has_weight_latents


def swag_posterior(network, state: dict) -> tuple[BayesianWeights, SwagWeights]:
    """(BayesianWeights(network), SWAG's q(w)) from a checkpoint `state` of a run trained with
    train.swag_from, at the rank its moments were collected with; a ZooError when the run
    collected no weights (its checkpoints then hold none)."""
    if has_weight_latents(network) or not hasattr(network, "log_prob"):
        raise ZooError(
            f"swag=true draws a deterministic network's weights from SWAG's q(w): {type(network).__name__} "
            "is not one with an exact likelihood (char_lstm is); leave swag=false"
        )
    if not state.get("swag"):
        raise ZooError(
            "swag=true reads SWAG's q(w) from the checkpoint, and this one holds no collected weights: it was "
            "written before minute train.swag_from (evaluate a later one, checkpoint=last.pt), or its run had "
            "train.swag_from=null (train with train.swag_from=M, the minute collection starts); else leave swag=false"
        )
    swag = SwagWeights(network, SwagWeights.rank_of(state["swag"])).to(next(network.parameters()).device)
    swag.load_state_dict(state["swag"])
    return BayesianWeights(network), swag


def swag_nll(
    model: BayesianWeights, swag: SwagWeights, data: SequenceData, split: str, num_samples: int = 10, **kw
) -> Figure:
    """The posterior predictive per step over S draws of SWAG's q(w), each sequence predicted by the
    average of the draws' likelihoods; `kw` as weight_log_likelihoods'."""
    log_p = weight_log_likelihoods(model, swag, data, split, num_samples, **kw)  # (S, N)
    return Figure.from_sequences(
        swag_kind(swag, num_samples), predictive_nll(log_p), lengths_of(data, split, kw.get("limit"))
    )


def swag_kind(swag: SwagWeights, num_samples: int) -> str:
    """The kind of a figure averaged over S draws of SWAG's q(w), with the collections behind it."""
    return predictive_kind(num_samples, f"SWAG of {swag.collected} collections")
