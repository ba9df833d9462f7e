"""Next-step prediction with an LSTM (Graves 2013, "Generating sequences with recurrent
neural networks", arXiv 1308.0850, section 2).

    h_t = LSTM(x_{t-1}, h_{t-1})        x_0 is a zero vector ("start")
    x_t ~ p(x_t | h_t)                  softmax over characters or Bernoulli notes

    log p(x) = sum_t log p(x_t | h_t) is exact: there are no latent variables.

Dropout (`dropout` > 0) follows Zaremba et al. 2014, "Recurrent neural network regularization",
arXiv 1409.2329, section 3: it acts on the non-recurrent connections only,

    x_{t-1} -> layer 1            the input features (one-hot times a matrix, or the frame)
    layer l -> layer l + 1        between stacked layers (nn.LSTM's own dropout)
    top layer -> p(x_t | h_t)     before the output layer

and never on the recurrent state (h_{t-1}, c_{t-1}) -> (h_t, c_t), so memory is not erased
from step to step. `dropout_masks` says how the masks are drawn:

    step        Zaremba et al.: a fresh mask for every sequence, unit and step
    sequence    Gal & Ghahramani 2016, "A theoretically grounded application of dropout in
                recurrent neural networks" (arXiv 1512.05287): one mask per sequence and unit,
                held over every step, so a sequence is read by one thinned network

Dropping input unit k of a weight matrix W for a whole sequence is running that sequence with
W diag(z) / (1 - p), z_k ~ Bernoulli(1 - p): with `sequence` masks each training sequence has a
draw of its own from Gal & Ghahramani's q(w) (guides.bernoulli without its recurrent masks,
whose one draw serves a whole minibatch). Dropout is on in training mode only: the trainer
switches the network to evaluation mode to validate, evaluation and sampling run in evaluation
mode (MC dropout, zoo.evaluate mc_dropout=true, turns the masks back on), and `sample` draws
without dropout whatever the mode, so figures and samples are those of one network.
"""

from __future__ import annotations

from contextlib import contextmanager

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from zoo.data.batch import Batch
from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.nn.emissions import CategoricalEmitter, draw_sample, make_emitter
from zoo.options import check_dropout

DROPOUT_MASKS = ("step", "sequence")


class CharLSTM(nn.Module):
    """p(x) = prod_t p(x_t | x_{<t}) with the past summarised by an LSTM state h_t; `dropout`
    is the probability of dropping a unit on each non-recurrent connection, with masks drawn per step
    (Zaremba et al. 2014) or per sequence (`dropout_masks`, Gal & Ghahramani 2016);
    `init_scale`, when given, draws every weight and bias from N(0, init_scale^2), as SeqGAN's
    generator does with 0.1 (PyTorch's default draws LSTM weights from U(-1/sqrt(H), 1/sqrt(H))
    and embeddings from N(0, 1))."""

    def __init__(
        self,
        spec: DataSpec,
        hidden_size: int = 256,
        num_layers: int = 1,
        embedding_size: int | None = None,
        dropout: float = 0.0,
        dropout_masks: str = "step",
        emission: str = "auto",
        components: int | None = None,
        init_scale: float | None = None,
    ):
        super().__init__()
        check_dropout("model.net.dropout", dropout)
        if dropout_masks not in DROPOUT_MASKS:
            raise ZooError(
                f"model.net.dropout_masks={dropout_masks!r} is not one of {DROPOUT_MASKS}: step draws a mask "
                "per step (Zaremba et al. 2014), sequence one per sequence (Gal & Ghahramani 2016)"
            )
        self.spec = spec
        self.dropout = dropout
        self.dropout_masks = dropout_masks
        self.emitter = make_emitter(spec, hidden_size, emission, embedding_size, components)
        self.input_dropout = nn.Dropout(dropout)  # on x_{t-1}'s features, before the first layer
        self.lstm = nn.LSTM(  # between stacked layers (nn.LSTM warns when there is one layer)
            self.emitter.feature_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_dropout = nn.Dropout(dropout)  # on the top layer's h_t, before the output layer
        if init_scale is not None:
            if not init_scale > 0:
                raise ZooError(f"model.net.init_scale={init_scale:g} must be above 0 (null: PyTorch's initialisation)")
            for parameter in self.parameters():  # SeqGAN's generator: every weight and bias ~ N(0, 0.1^2)
                nn.init.normal_(parameter, 0.0, init_scale)

    def recur(self, inputs: Tensor, state=None):
        """The LSTM over (B, T, F) inputs from `state`, with dropout in training mode: returns
        (B, T, H) states to emit from and the final (h, c)."""
        if not (self.dropout and self.training):  # nothing to draw
            return self.lstm(inputs, state)
        if self.dropout_masks == "sequence":
            return self.recur_tied(inputs, state)
        h, state = self.lstm(self.input_dropout(inputs), state)  # (B, T, H); (h, c) never dropped
        return self.output_dropout(h), state

    def recur_tied(self, inputs: Tensor, state=None):
        """The LSTM with Gal & Ghahramani's masks on the connections Zaremba's dropout covers,
        one per sequence and unit, held over all T steps; layer by layer, each one fused call.
        (B, T, F) -> (B, T, H) and the final (h, c), each (L, B, H)."""
        L, H = self.lstm.num_layers, self.lstm.hidden_size
        if state is None:
            zeros = inputs.new_zeros(L, inputs.shape[0], H)
            state = (zeros, zeros)
        h_0, c_0 = state
        x, h_T, c_T = inputs, [], []
        for layer in range(L):
            weights = [
                getattr(self.lstm, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            hx = (h_0[layer : layer + 1], c_0[layer : layer + 1])
            # torch.lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
            x, h, c = torch.lstm(self.tied_mask(x), hx, weights, True, 1, 0.0, False, False, True)  # (B, T, H)
            h_T.append(h)
            c_T.append(c)
        return self.tied_mask(x), (torch.cat(h_T), torch.cat(c_T))

    def tied_mask(self, x: Tensor) -> Tensor:
        """x (B, T, F) with unit k of sequence b dropped at every step with probability p, the
        kept ones scaled by 1 / (1 - p) (inverted dropout)."""
        keep = 1 - self.dropout
        z = torch.bernoulli(x.new_full((x.shape[0], 1, x.shape[2]), keep))  # (B, 1, F): one draw per sequence
        return x * z / keep

    def next_step(self, x: Tensor, temperature: float = 1.0) -> dist.Distribution:
        """p(x_t | x_{<t}) for every t, reading x shifted right by one step from the start vector.

        x (B, T[, D]) -> distribution with batch shape (B, T).
        """
        h, _ = self.recur(self.shifted_inputs(x))  # (B, T, H)
        return self.emitter(h, temperature)

    def shifted_inputs(self, x: Tensor) -> Tensor:
        """What the LSTM reads at each step: x_{t-1}, the start vector at t = 1. (B, T[, D]) -> (B, T, F)."""
        features = self.emitter.features(x)  # (B, T, F)
        start = features.new_zeros(features.shape[0], 1, features.shape[2])  # (B, 1, F)
        return torch.cat([start, features[:, :-1]], dim=1)

    def forward(self, batch: Batch) -> None:
        """The Pyro model: observe every sequence, masked past its length."""
        p_x = self.next_step(batch.x)  # batch shape (B, T)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            pyro.sample("x", p_x.mask(batch.mask).to_event(1), obs=batch.x)

    def log_prob(self, batch: Batch) -> Tensor:
        """Exact log p(x) per sequence, (B,), in nats."""
        p_x = self.next_step(batch.x)
        return (p_x.log_prob(batch.x) * batch.mask).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, prime: Tensor | None = None) -> Tensor:
        """n sequences of `length` new steps, ancestrally, optionally continuing `prime`:
        (P,) ids or (P, D) frames shared by all n, or one prime per sequence, (n, P[, D]).
        Returns (n, P + length[, D]). Dropout is off whatever the mode: samples (SeqGAN's
        rollouts too) come from the network that is evaluated."""
        with dropout_off(self):
            return self.ancestral(n, length, temperature, prime)

    def rsample(self, n: int, length: int, temperature: float = 1.0) -> Tensor:
        """n sequences of `length` frames drawn by reparameterisation, so they are differentiable
        in the network's parameters (C-RNN-GAN's generator); emissions with rsample only
        (gaussian). Returns (n, length, D)."""
        if not self.emitter(self.lstm.weight_hh_l0.new_zeros(1, 1, self.lstm.hidden_size)).has_rsample:
            raise ZooError(
                f"model.net.emission of {self.spec.kind} data has no reparameterised samples; "
                f"use model.net.emission=gaussian (real frames) or objective=seqgan"
            )
        return self.ancestral(n, length, temperature, reparameterised=True)

    def relaxed_sample(
        self, n: int, length: int, inverse_temperature: float = 1.0, soft_inputs: bool = False
    ) -> tuple[Tensor, Tensor]:
        """n token sequences of `length` steps with their Gumbel-softmax relaxations, differentiable
        in the network's parameters (Jang et al. 2017; Maddison et al. 2017; RelGAN's generator,
        Nie et al. 2019, arXiv 1812.00364, eq. 3), for the softmax output only:

            g_t ~ Gumbel(0, 1)^V,  o_t the logits of p(x_t | x_{<t})
            x_t = argmax_v (o_t + g_t)_v              an exact draw of softmax(o_t)
            y_t = softmax(beta (o_t + g_t))           beta = 1 / tau; y_t -> onehot(x_t) as beta -> inf

        The next step reads x_t, as RelGAN's generator does, or with soft_inputs the relaxed
        embedding y_t^T E. Returns the tokens (n, length) and y (n, length, V)."""
        if not isinstance(self.emitter, CategoricalEmitter):
            raise ZooError(
                f"a Gumbel-softmax relaxation needs the softmax output over tokens, not "
                f"{type(self.emitter).__name__} ({self.spec.kind} data): objective=gumbel_gan trains "
                f"char_lstm or bayes_lstm on token data"
            )
        if self.training and self.dropout and self.dropout_masks == "sequence":
            raise ZooError(
                "model.net.dropout_masks=sequence holds a mask over a whole sequence, and a relaxed sample "
                "runs one step at a time: use model.net.dropout_masks=step with objective=gumbel_gan"
            )
        start = self.lstm.weight_hh_l0.new_zeros(n, 1, self.emitter.feature_size)  # the start vector
        inputs, state, tokens, relaxed = start, None, [], []
        for _ in range(length):
            h, state = self.recur(inputs, state)  # (n, 1, H)
            logits = self.emitter(h).logits  # (n, 1, V), log softmax(o_t)
            u = torch.rand_like(logits).clamp_(min=torch.finfo(logits.dtype).tiny)
            perturbed = logits - torch.log(-torch.log(u))  # o_t + g_t
            x_t = perturbed.detach().argmax(-1)  # (n, 1)
            y_t = torch.softmax(inverse_temperature * perturbed, -1)  # (n, 1, V)
            tokens.append(x_t)
            relaxed.append(y_t)
            inputs = y_t @ self.emitter.embed.weight if soft_inputs else self.emitter.features(x_t)  # (n, 1, E)
        return torch.cat(tokens, 1), torch.cat(relaxed, 1)

    def ancestral(
        self, n: int, length: int, temperature: float = 1.0, prime: Tensor | None = None, reparameterised: bool = False
    ) -> Tensor:
        """x_t ~ p(x_t | x_{<t}) for `length` steps after the prime, each x_t read back."""
        frames = self.spec.kind != "categorical"
        shape = (n, 1, self.spec.dim) if frames else (n, 1)
        x_t = torch.zeros(shape, dtype=torch.float if frames else torch.long)
        x_t = x_t.to(self.lstm.weight_hh_l0.device)  # (a sampled weight when w is swapped in)
        pieces, state = [], None
        if prime is not None and prime.shape[-2 if frames else -1] > 0:
            per_sequence = prime.dim() == len(shape)
            prime = prime.to(x_t.device) if per_sequence else prime.to(x_t.device).expand(n, *prime.shape)
            _, state = self.recur(self.shifted_inputs(prime))  # the state after x_{P-1}; x_P is read next
            pieces.append(prime)
            inputs = self.emitter.features(prime[:, -1:])  # continue from the last primed step
        else:
            inputs = torch.zeros_like(self.emitter.features(x_t))  # the start vector
        for _ in range(length):
            h, state = self.recur(inputs, state)  # (n, 1, H)
            p_t = self.emitter(h, temperature)
            x_t = p_t.rsample() if reparameterised else draw_sample(p_t)  # (n, 1[, D])
            pieces.append(x_t)
            inputs = self.emitter.features(x_t)
        return torch.cat(pieces, dim=1)


@contextmanager
def dropout_mode(module: nn.Module, on: bool):
    """Within the block, `module` and its submodules are in training mode (dropout drawn) when
    `on`, else in evaluation mode; afterwards each has its own mode back."""
    modes = [(m, m.training) for m in module.modules()]
    module.train(on)
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


def dropout_off(module: nn.Module):
    """Within the block, `module` is in evaluation mode: no dropout."""
    return dropout_mode(module, False)


def dropout_on(module: nn.Module):
    """Within the block, `module` draws its dropout masks (MC dropout; call it under torch.no_grad)."""
    return dropout_mode(module, True)
