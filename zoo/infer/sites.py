"""A model and a guide meet only through sample-site names: check they agree before training."""

from __future__ import annotations

import pyro.poutine as poutine

from zoo.data.batch import Batch
from zoo.errors import ZooError


class GuideMismatch(ZooError):
    """The guide's sample sites are not the model's latent sites."""


def latent_sites(program, batch: Batch) -> dict[str, tuple]:
    """Names and value shapes of the unobserved sample sites of one run of `program`."""
    trace = poutine.trace(program).get_trace(batch)
    return {
        name: tuple(site["value"].shape)
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site["is_observed"] and not site["infer"].get("_do_not_score")
        and not poutine.util.site_is_subsample(site)
    }


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
