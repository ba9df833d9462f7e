"""The per-sequence IWAE estimator against a linear-Gaussian state space model, whose exact
log-likelihood the Kalman filter gives."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from tests import helpers
from zoo.data.batch import collate
from zoo.estimators.importance import chunked_log_weights, log_weights

A, Q, R = 0.9, 0.5, 0.7  # z_t = A z_{t-1} + N(0, Q^2); x_t = z_t + N(0, R^2); z_1 ~ N(0, 1)


def lgssm(batch):
    """p(x, z) of the linear-Gaussian state space model, one site per step, masked past each length."""
    x, mask = batch.x[..., 0], batch.mask  # (B, T)
    with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
        z = None
        for t in range(x.shape[1]):
            p_z = dist.Normal(0.0, 1.0) if z is None else dist.Normal(A * z, Q)
            z = pyro.sample(f"z_{t}", p_z.expand([batch.batch_size]).mask(mask[:, t]))
            pyro.sample(f"x_{t}", dist.Normal(z, R).mask(mask[:, t]), obs=x[:, t])


def kalman(x: torch.Tensor, mask: torch.Tensor):
    """The Kalman filter of this file's model (tests.helpers.kalman)."""
    return helpers.kalman(x, mask, A, Q, R)


def exact_posterior(batch, widen: float = 1.0):
    """q(z | x) = p(z | x) exactly, by backward sampling from the Kalman filter: then every
    importance weight equals p(x). widen > 1 multiplies every step's scale: a looser guide."""
    x, mask, last = batch.x[..., 0].double(), batch.mask, batch.lengths - 1
    means, variances, _ = kalman(x, mask)
    with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
        z_next = None
        for t in reversed(range(x.shape[1])):
            m, v = means[:, t], variances[:, t]
            if z_next is not None:  # condition on z_{t+1} where the sequence goes on: p(z_t | z_{t+1}, x_{1:t})
                precision = 1 / v + A * A / (Q * Q)
                m = torch.where(t < last, (m / v + A * z_next.double() / (Q * Q)) / precision, m)
                v = torch.where(t < last, 1 / precision, v)
            p_z = dist.Normal(m.float(), widen * v.sqrt().float())
            z_next = pyro.sample(f"z_{t}", p_z.mask(mask[:, t]))


def wide_posterior(batch):
    return exact_posterior(batch, widen=1.5)


@pytest.fixture
def ragged():
    torch.manual_seed(0)
    seqs = []
    for length in (6, 3, 5, 1):
        z, xs = torch.randn(()), []
        for t in range(length):
            z = z if t == 0 else A * z + Q * torch.randn(())
            xs.append(z + R * torch.randn(()))
        seqs.append(torch.stack(xs)[:, None])  # (T, 1)
    return seqs


def exact_log_p(seqs) -> torch.Tensor:
    batch = collate(seqs)
    return kalman(batch.x[..., 0].double(), batch.mask)[2].float()


def test_weights_of_the_exact_posterior_are_the_kalman_likelihood(ragged):
    log_w = log_weights(lgssm, exact_posterior, collate(ragged), num_particles=3)  # (3, B)
    torch.testing.assert_close(log_w, exact_log_p(ragged).expand(3, -1), atol=1e-4, rtol=1e-4)


def test_elbo_is_the_kalman_likelihood_less_a_closed_form_kl_and_iwae_rises_to_it(ragged):
    """The widened guide has the posterior's conditional means with every scale 1.5 times the
    posterior's, so log w = log p(x) + sum over the T real steps of (log 1.5 - 0.625 eps_t^2),
    eps_t ~ N(0, 1): per sequence, mean log p(x) - T (0.625 - log 1.5) and variance 0.78125 T,
    and w / p(x) has mean 1 and variance (2.25 / sqrt(3.5))^T - 1. IWAE-K from disjoint blocks
    of the same 4096 weights rises with K, and IWAE-4096 is log p(x) within that spread."""
    K = 4096
    torch.manual_seed(1)
    log_w = log_weights(lgssm, wide_posterior, collate(ragged), K).double()  # (K, B)
    exact = exact_log_p(ragged).double()
    steps = torch.tensor([len(s) for s in ragged], dtype=torch.float64)
    z = (log_w.mean(0) - (exact - steps * (0.625 - math.log(1.5)))) / (0.78125 * steps / K).sqrt()
    assert z.abs().max() < 4.5, z
    torch.testing.assert_close(log_w.var(0), 0.78125 * steps, rtol=0.25, atol=0)
    bounds = []
    for k in (1, 4, 16, 64, 256, 1024, K):
        blocks = log_w.reshape(K // k, k, -1)
        bounds.append(float((torch.logsumexp(blocks, 1) - math.log(k)).mean(0).sum()))
    assert bounds == sorted(bounds)
    stderr = math.sqrt(float(((2.25 / math.sqrt(3.5)) ** steps - 1).sum()) / K)  # of IWAE-K's sum, about 0.033
    assert abs(bounds[-1] - float(exact.sum())) < 4 * stderr


def test_chunked_weights_of_the_exact_posterior_are_the_kalman_likelihood(ragged):
    """Particles drawn in chunks of 24, 24 and 16 land in the right rows and columns."""
    log_w = chunked_log_weights(lgssm, exact_posterior, collate(ragged), 64, chunk=24)
    torch.testing.assert_close(log_w, exact_log_p(ragged).expand(64, -1), atol=1e-4, rtol=1e-4)


def test_ragged_batches_give_the_figures_of_sequences_one_by_one(ragged):
    together = log_weights(lgssm, exact_posterior, collate(ragged), 2)
    alone = torch.cat([log_weights(lgssm, exact_posterior, collate([s]), 2) for s in ragged], 1)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
