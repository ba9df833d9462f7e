"""The guide of a model with variational weights and latents of its own (zoo.models.bayesian_weights).

    q(w, z | x) = q(w) q(z | x, w)

A weight guide (guides.weights) draws w at the sites `w.*`; the network's own guide (none for
char_lstm, vrnn_filtering for vrnn, ...) then runs with w in place of the network's
parameters, so a guide that shares the model's recurrence shares the drawn weights too.
The two meet the model through site names, as any guide does.
"""

from __future__ import annotations

from torch import Tensor, nn

from guides.empty import NoLatents
from zoo.data.batch import Batch
from zoo.nn.swap import swap_parameters


class WeightsThenLatents(nn.Module):
    """q(w) then q(z | x, w). Called without a batch it draws w alone: {site: (numel,)}; for a
    training minibatch of a model with K > 1 draws, K of them: {site: (K, numel)}."""

    def __init__(self, model: nn.Module, weights: nn.Module, latents: nn.Module):
        super().__init__()
        object.__setattr__(self, "model", model)  # shared, not owned
        self.weights, self.latents = weights, latents

    def forward(self, batch: Batch | None = None) -> dict[str, Tensor]:
        K = self.model.draws_for(batch)  # the model's draws of w for this batch: {site: (K, numel)} when K > 1
        w = self.weights(batch) if K == 1 else self.weights(batch, draws=K)
        if batch is not None and not isinstance(self.latents, NoLatents):
            with swap_parameters(self.model.net, self.model.parameters_from_sites(w)):
                self.latents(batch)
        return w
