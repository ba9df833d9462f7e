"""Policy gradients for generators whose steps cannot be reparameterised (tokens, notes, pen
bits): SeqGAN's REINFORCE with Monte Carlo rollouts (Yu et al. 2016, arXiv 1609.05473, eqs. 1-8).

    J(theta) = E_{Y ~ G_theta} [R(Y_{1:T})]                          R: a reward of whole sequences
    Q(Y_{1:t-1}, y_t) = (1/N) sum_n R(Y^n_{1:T}),  Y^n ~ G(. | Y_{1:t})   t < T, N rollouts   eq. 4
    Q(Y_{1:T-1}, y_T) = R(Y_{1:T})
    grad J = E_Y [ sum_t (Q(Y_{1:t-1}, y_t) - b_t) grad log G(y_t | Y_{1:t-1}) ]          eqs. 6-7

b_t is a baseline that lowers the variance without bias: the mean value at step t of the
*other* sequences of the minibatch (leave one out), which does not depend on sequence i's own
draw. Sequence i is scored at its own length L_i; steps past it carry no reward and no gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# generate(prefixes (M, t[, D]), steps) -> (M, t + steps[, D]): the generator continuing each prefix
Generate = Callable[[Tensor, int], Tensor]
# reward(x (M, T[, D]), lengths (M,)) -> (M,): a reward of whole sequences, read up to their lengths
Reward = Callable[[Tensor, Tensor], Tensor]


@torch.no_grad()
def rollout_values(generate: Generate, reward: Reward, y: Tensor, lengths: Tensor, rollouts: int) -> Tensor:
    """Q(Y_{1:t-1}, y_t) for every step t of every sequence, eq. 4: (B, T)."""
    B, T = y.shape[:2]
    Q = torch.zeros(B, T, device=y.device)
    repeated = lengths.repeat_interleave(rollouts)  # (B N,)
    for t in range(1, T):
        if t >= int(lengths.max()):
            break  # every sequence is whole: no later step has a reward
        prefixes = y[:, :t].repeat_interleave(rollouts, 0)  # (B N, t[, D])
        completed = generate(prefixes, T - t)  # (B N, T[, D])
        Q[:, t - 1] = reward(completed, repeated).view(B, rollouts).mean(1)
    whole = reward(y, lengths)  # (B,)
    return torch.where(torch.arange(T, device=y.device) >= lengths[:, None] - 1, whole[:, None], Q)


def leave_one_out_baseline(Q: Tensor, mask: Tensor) -> Tensor:
    """b_{i,t} = the mean of Q_{j,t} over the other sequences j != i that reach step t: (B, T)."""
    total, count = (Q * mask).sum(0, keepdim=True), mask.sum(0, keepdim=True)  # (1, T)
    others = (count - mask).clamp(min=1)
    return torch.where(count - mask > 0, (total - Q * mask) / others, torch.zeros_like(Q))


def reinforce_surrogate(log_prob: Tensor, Q: Tensor, mask: Tensor, baseline: bool = True) -> Tensor:
    """A loss whose gradient is -grad J per step (eq. 6 over the minibatch, divided by its steps):
    -(1 / sum mask) sum_{i,t} mask (Q - b) log G(y_t | Y_{1:t-1}). log_prob, Q, mask: (B, T)."""
    mask = mask.to(log_prob.dtype)
    advantage = (Q - leave_one_out_baseline(Q, mask)) if baseline else Q
    return -(advantage.detach() * log_prob * mask).sum() / mask.sum()
