"""A GRU over a ragged batch (a padded tensor and each sequence's length) that pays only for
the real steps:

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate
    u_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))     candidate
    h_t = (1 - u_t) * n_t + u_t * h_{t-1},   h_0 = 0              torch.nn.GRU's equations

On a CPU, torch.nn.GRU computes every padded step of a padded batch, and over a PackedSequence
it costs more still (it slices and concatenates per step). Here the real steps are laid out
time-major, longest sequences first, so the sequences still running at step t are one block
of n_t rows; the input gates W_i x_t + b_i of all real steps are one matrix product, the loop
over t does only W_h h_{t-1} + b_h and the gates, and the backward pass is written out so that
the loop does one product per step and the weight gradients are one product each.

`reverse=True` runs each sequence from its own last step back to its first, so h_t summarises
x_t, ..., x_{T_b} (a backward RNN), with no reversal of the padded tensor.

The outputs at real steps are torch.nn.GRU's to float rounding; past a sequence's end they are
zero. Off the CPU (zoo.nn.layers.skips_padding; cuDNN runs a padded batch in one fused call) and
under autocast the layer is torch.nn.GRU over the padded tensor, masked to the same zeros.
Gradients are first order only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.functional import pad

from zoo.nn.layers import reverse_padded, skips_padding


class RaggedGRU(nn.GRU):
    """torch.nn.GRU (one layer, one direction, batch first): its parameters, state_dict and
    step-by-step use (`gru(x, h)`) unchanged, plus `gru(x, lengths=lengths[, reverse=True])`,
    which returns (h_{1:T} (B, T, H) with zeros past each end, h at each sequence's last step
    run (1, B, H)) from h_0 = 0."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size, batch_first=True)

    def forward(
        self, input: Tensor, hx: Tensor | None = None, *, lengths: Tensor | None = None, reverse: bool = False
    ) -> tuple[Tensor, Tensor]:
        if lengths is None:
            if reverse:
                raise ValueError("reverse=True runs each sequence back from its own end: give lengths")
            return super().forward(input, hx)
        if hx is not None:
            raise ValueError("a ragged batch starts from h_0 = 0")
        B, T, _ = input.shape
        lengths = lengths.to(input.device)
        running = torch.arange(T, device=input.device) < lengths[:, None]  # (B, T)
        if not skips_padding(input) or torch.is_autocast_enabled(input.device.type):
            steps = reverse_padded(input, lengths) if reverse else input
            h, _ = super().forward(steps)
            h = (reverse_padded(h, lengths) if reverse else h) * running[..., None]  # (B, T, H)
        else:
            index, sizes = packed_layout(lengths, T, reverse)  # (N,), n_t
            x = input.reshape(B * T, -1)[index]  # x_t of the real steps, packed: (N, I)
            gates_in = torch.addmm(self.bias_ih_l0, x, self.weight_ih_l0.t())  # W_i x_t + b_i: (N, 3H)
            h = _Recurrence.apply(gates_in, self.weight_hh_l0, self.bias_hh_l0, sizes)  # (N, H)
            h = h.new_zeros(B * T, self.hidden_size).index_copy(0, index, h).view(B, T, -1)  # (B, T, H)
        last = torch.zeros_like(lengths) if reverse else (lengths - 1).clamp(min=0)  # where each run ends
        h_n = h[torch.arange(B, device=h.device), last] * (lengths > 0)[:, None]  # (B, H)
        return h, h_n[None]


def packed_layout(lengths: Tensor, T: int, reverse: bool = False) -> tuple[Tensor, list[int]]:
    """Step s of the run, for the n_s sequences that have one, longest sequences first: the
    flat index b * T + t in (B, T) of every such (sequence, step) in that order (N,), and
    [n_0, n_1, ...]. Step s is t = s, or t = T_b - 1 - s with reverse."""
    order = torch.argsort(lengths, descending=True, stable=True)  # longest first: (B,)
    T_b = lengths[order]  # (B,)
    longest = int(T_b[0]) if len(T_b) else 0
    assert longest <= T, "a length exceeds the padded tensor"
    s = torch.arange(longest, device=lengths.device)[:, None]  # (S, 1)
    running = s < T_b  # (S, B): each row a prefix, as T_b falls
    t = T_b - 1 - s if reverse else s.expand_as(running)  # (S, B)
    return (order * T + t)[running], running.sum(1).tolist()


class _Recurrence(torch.autograd.Function):
    """h_t of every real step, packed (N, H), from the input gates W_i x_t + b_i (N, 3H) and
    n_t, the rows of each step."""

    @staticmethod
    def forward(ctx, gates_in: Tensor, w_hh: Tensor, b_hh: Tensor, sizes: list[int]) -> Tensor:
        N, H = gates_in.shape[0], w_hh.shape[1]
        keep = any(ctx.needs_input_grad)  # what the backward pass reads, only if it will run
        h_all = gates_in.new_empty(N, H)  # h_t
        r_u_n = gates_in.new_empty(N, 3, H) if keep else None  # r_t, u_t, n_t
        hidden_n = gates_in.new_empty(N, H) if keep else None  # W_hn h_{t-1} + b_hn
        h = gates_in.new_zeros(sizes[0] if sizes else 0, H)  # h_0
        start = 0
        for n in sizes:
            rows = slice(start, start + n)
            h = h[:n]  # the n sequences still running: (n, H)
            gi = gates_in[rows].view(n, 3, H)  # W_i x_t + b_i
            gh = torch.addmm(b_hh, h, w_hh.t()).view(n, 3, H)  # W_h h_{t-1} + b_h
            r_u = torch.sigmoid(gi[:, :2] + gh[:, :2])  # (n, 2, H)
            cand = torch.tanh(torch.addcmul(gi[:, 2], r_u[:, 0], gh[:, 2]))  # n_t: (n, H)
            h = torch.lerp(cand, h, r_u[:, 1])  # h_t = n_t + u_t (h_{t-1} - n_t): (n, H)
            h_all[rows] = h
            if keep:
                r_u_n[rows, :2], r_u_n[rows, 2], hidden_n[rows] = r_u, cand, gh[:, 2]
            start += n
        ctx.sizes = sizes
        if keep:
            ctx.save_for_backward(w_hh, h_all, r_u_n, hidden_n)
        return h_all

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        w_hh, h_all, r_u_n, hidden_n = ctx.saved_tensors
        sizes, (N, H) = ctx.sizes, h_all.shape
        starts = [0]
        for n in sizes[:-1]:
            starts.append(starts[-1] + n)
        # h_{t-1} of every real step: h_0 = 0, then the first n_t rows of the step before: (N, H)
        h_prev = torch.cat(
            [
                h_all.new_zeros(sizes[0] if sizes else 0, H),
                *(h_all[starts[s - 1] : starts[s - 1] + sizes[s]] for s in range(1, len(sizes))),
            ]
        )
        grad_in = h_all.new_empty(N, 3, H)  # dL/d(W_i x_t + b_i)
        grad_hidden = h_all.new_empty(N, 3, H)  # dL/d(W_h h_{t-1} + b_h)
        dh = h_all.new_zeros(0, H)  # dL/dh_t through step t + 1, for the sequences running there
        for s in reversed(range(len(sizes))):
            n, rows = sizes[s], slice(starts[s], starts[s] + sizes[s])
            dh = grad_h[rows] + pad(dh, (0, 0, 0, n - dh.shape[0]))  # dL/dh_t: (n, H)
            r, u, cand = r_u_n[rows].unbind(1)  # (n, H) x3
            d_cand = dh * (1 - u) * (1 - cand * cand)  # through n_t = tanh(.)
            d_r = d_cand * hidden_n[rows] * r * (1 - r)  # through r_t = sigmoid(.)
            d_u = dh * (h_prev[rows] - cand) * u * (1 - u)  # through u_t = sigmoid(.)
            grad_in[rows, 0], grad_in[rows, 1], grad_in[rows, 2] = d_r, d_u, d_cand
            grad_hidden[rows, 0], grad_hidden[rows, 1], grad_hidden[rows, 2] = d_r, d_u, d_cand * r
            dh = torch.addmm(dh * u, grad_hidden[rows].view(n, 3 * H), w_hh)  # dL/dh_{t-1}
        grad_hidden = grad_hidden.view(N, 3 * H)
        grad_w_hh = grad_hidden.t() @ h_prev if ctx.needs_input_grad[1] else None  # (3H, H)
        grad_b_hh = grad_hidden.sum(0) if ctx.needs_input_grad[2] else None
        return grad_in.view(N, 3 * H), grad_w_hh, grad_b_hh, None
