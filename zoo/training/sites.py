"""A model and a guide meet only through sample-site names: check they agree before training."""

from __future__ import annotations

import pyro.poutine as poutine
import torch

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.estimators.sites import is_latent


class GuideMismatch(ZooError):
    """The guide's sample sites are not the model's latent sites."""


def latent_sites(program, batch: Batch) -> dict[str, tuple]:
    """Names and value shapes of the unobserved sample sites of one run of `program`."""
    trace = poutine.trace(program).get_trace(batch)
    return {name: tuple(site["value"].shape) for name, site in trace.nodes.items() if is_latent(site)}


def check_guide_covers(model, guide, batch: Batch) -> None:
    """Raise GuideMismatch naming every latent site of `model` that `guide` does not sample,
    and every site `guide` samples that `model` does not have."""
    in_model = latent_sites(model, batch)
    in_guide = latent_sites(guide, batch)
    missing = sorted(set(in_model) - set(in_guide))
    extra = sorted(set(in_guide) - set(in_model))
    problems = []
    if missing:
        problems.append(f"the model's latent sites {missing} are not covered by the guide")
    if extra:
        problems.append(f"the guide samples sites {extra} that the model does not have")
    if problems:
        raise GuideMismatch(
            f"guide {type(guide).__name__} does not fit model {type(model).__name__}: "
            + "; ".join(problems)
            + ". Choose a guide that samples exactly the model's latent sites (guide=...)."
        )


@torch.no_grad()
def first_nonfinite(model, guide, batch: Batch) -> str:
    """Where a non-finite loss comes from, in words: the first parameter holding NaN or inf,
    else the first sample site (guide, then model replayed on the guide's draws) whose
    log-probability is not finite, else that every site was finite on a fresh draw."""
    for owner, module in (("model", model), ("guide", guide)):
        for name, p in module.named_parameters():
            if not torch.isfinite(p).all():
                return f"the {owner} parameter {name} holds {_bad(p)}"
    try:
        guide_trace = poutine.trace(guide).get_trace(batch)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(batch)
    except Exception as e:  # a distribution refusing a non-finite argument names it
        return f"running the model and guide fails: {str(e).splitlines()[0]}"
    for owner, trace in (("guide", guide_trace), ("model", model_trace)):
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or poutine.util.site_is_subsample(site):
                continue
            log_p = site["fn"].log_prob(site["value"])
            if not torch.isfinite(log_p).all():
                return f"the log-probability of the {owner}'s sample site {name!r} is {_bad(log_p)}"
    return "every parameter and site log-probability is finite on a fresh draw (the draw that failed was extreme)"


def _bad(t: torch.Tensor) -> str:
    """'nan', 'inf' or '-inf': the first non-finite value of a tensor."""
    return str(float(t[~torch.isfinite(t)].flatten()[0]))
