"""Dropout as variational inference (Gal & Ghahramani 2016, "A theoretically grounded application
of dropout in recurrent neural networks", NeurIPS 2016, arXiv 1512.05287): q(w) drops whole input
units of every weight matrix, and one draw holds for every time step.

    z_jk ~ Bernoulli(1 - p_j)             unit k of the input of weight matrix j, kept or dropped
    W_j  = M_j diag(z_j) / (1 - p_j)      q(W_j): the columns of the means M_j, scaled as inverted dropout
    b_j  = m_j                            biases and embeddings: point masses at their means

For an LSTM layer the input units of W_ih are x_t's features (or the layer below's h_t) and those
of W_hh are h_{t-1}, all four gates at once; for the output layer they are the top layer's h_t.
p_j is `dropout` for every matrix but the recurrent ones W_hh, whose p_j is `recurrent_dropout`
(by default the same; 0 leaves W_hh a point mass at its mean): Gal & Ghahramani give each kind
of connection its own probability (their p_U for the recurrent units).
A draw of w is one network for the whole sequence, so a dropped unit stays dropped at every t:
Gal & Ghahramani's tied masks, on the recurrent connections too, where Zaremba et al.'s dropout
(model.net.dropout) draws fresh masks at every step and never drops h_{t-1}. As every weight
guide of the zoo, one draw serves a whole minibatch, or with model.weights.draws = K each of K
draws a K-th of it; a draw per sequence, as Gal & Ghahramani draw it, is also char_lstm's
dropout with model.net.dropout_masks=sequence (without the recurrent masks), whose posterior
predictive zoo.evaluate gives with mc_dropout=true.

The ELBO. q is a mixture of point masses, so its entropy is -infinity; Gal & Ghahramani
approximate each point by a narrow Gaussian, whose entropy does not depend on M, and are left with

    KL(q(w) || p(w)) = E_q[-log p(w)] + const = sum_j ||M_j||^2 / (2 sigma_p^2 (1 - p_j)) + const

under the Gaussian prior N(0, sigma_p^2), an L2 penalty on the means (weights of dropped units
cost nothing, kept ones 1 / (1 - p_j) times their square). The guide declares each site a Delta
with no density, so every ELBO of the zoo estimates the objective without the constant, from
log p(w) at the drawn w: its expectation is the sum above. Held-out figures call that term
E_q[-log p(x, w)] rather than -ELBO, since it is no bound; the posterior predictive averages
the likelihood over S draws (MC dropout), and the network at q's mean E_q[w] = M is dropout's
usual weight-scaling rule.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import nn

from guides.weights import WeightGuide
from zoo.errors import ZooError
from zoo.options import check_dropout


def dropped_units(net: nn.Module) -> dict[str, int]:
    """Parameter name -> the number of input units (columns) a mask covers, for every weight
    matrix that multiplies a vector of units: nn.LSTM's, nn.GRU's and nn.Linear's 2-D weights.
    Biases and embedding tables (one row per symbol, not a product with units) are left out."""
    units = {}
    for owner_name, owner in net.named_modules():
        if isinstance(owner, nn.Embedding):
            continue
        for name, p in owner.named_parameters(recurse=False):
            if p.dim() == 2 and name.startswith("weight"):
                units[f"{owner_name}.{name}" if owner_name else name] = p.shape[1]
    return units


def is_recurrent(name: str) -> bool:
    """Whether parameter `name` is a recurrent matrix W_hh (its input units are h_{t-1})."""
    return name.rsplit(".", 1)[-1].startswith("weight_hh")


class BernoulliWeights(WeightGuide):
    """q(w): every weight matrix's input units dropped with probability p_j in each draw (`dropout`,
    or `recurrent_dropout` for W_hh), its means scaled by 1 / (1 - p_j) (inverted dropout); biases
    and embeddings at their means."""

    point_masses = True  # q has no density: held-out figures report E_q[-log p(x, w)], not -ELBO

    def __init__(self, model: nn.Module, dropout: float = 0.25, recurrent_dropout: float | None = None):
        if not 0 < dropout < 1:
            raise ZooError(
                f"weight_guide.dropout={dropout:g} must be above 0 and below 1: the probability that "
                "q(w) drops an input unit of a weight matrix"
            )
        if recurrent_dropout is not None:
            check_dropout("weight_guide.recurrent_dropout", recurrent_dropout)
        super().__init__(model)
        self.dropout = dropout
        self.recurrent_dropout = dropout if recurrent_dropout is None else recurrent_dropout
        units = dropped_units(model.net)
        # site j -> (rows, columns, p_j) when q drops its matrix's columns, else None
        self.masked = []
        for name in self.names:
            p = self.recurrent_dropout if is_recurrent(name) else dropout
            columns = units.get(name[2:])
            masked = columns is not None and p > 0
            self.masked.append((model.shapes[name].numel() // columns, columns, p) if masked else None)

    def distribution(self, j: int, batch_shape: tuple[int, ...] = ()) -> dist.Distribution:
        mu, masked = self.loc[j], self.masked[j]
        if masked is None:
            return dist.Delta(mu, event_dim=1).expand(batch_shape)
        rows, columns, p = masked
        keep = torch.bernoulli(mu.new_full((*batch_shape, 1, columns), 1 - p))  # z_j: (..., 1, columns)
        w = mu.view(rows, columns) * (keep / (1 - p))  # M_j diag(z_j) / (1 - p_j): (..., rows, columns)
        return dist.Delta(w.reshape(*batch_shape, -1), event_dim=1)
