"""KL annealing: the latent terms of the bound weighted by beta, rising from 0 to 1
(Bowman et al. 2015; Sønderby et al. 2016)."""

from __future__ import annotations


from pyro.poutine.messenger import Messenger


class ScaleLatents(Messenger):
    """Multiply the log-density of every unobserved sample site by beta, in model and guide
    alike, so log p(z) - log q(z) (the KL term) is weighted by beta and log p(x | z) is not."""

    def __init__(self, beta: float):
        super().__init__()
        self.beta = beta

    def _process_message(self, msg):
        if msg["type"] == "sample" and not msg["is_observed"] and not msg["infer"].get("_do_not_score"):
            msg["scale"] = msg["scale"] * self.beta


def linear_beta(step: int, anneal_steps: int) -> float:
    """beta = min(1, step / anneal_steps); 1 when anneal_steps is 0."""
    return 1.0 if anneal_steps <= 0 else min(1.0, step / anneal_steps)


def annealed(model, guide, beta: float):
    """(model, guide) with their latent sites scaled by beta; unchanged when beta == 1."""
    if beta == 1.0:
        return model, guide
    return ScaleLatents(beta)(model), ScaleLatents(beta)(guide)



