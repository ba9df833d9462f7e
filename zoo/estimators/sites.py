"""Which sites of a Pyro trace are latent variables: the ones a guide must draw and a bound scores."""

from __future__ import annotations

from pyro.poutine.util import site_is_subsample


def is_latent(site: dict) -> bool:
    """A scored sample site that is neither observed nor a subsample index."""
    return (
        site["type"] == "sample"
        and not site["is_observed"]
        and not site["infer"].get("_do_not_score")
        and not site_is_subsample(site)
    )
