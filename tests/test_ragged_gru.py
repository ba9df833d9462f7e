"""RaggedGRU: at every real step it is torch.nn.GRU run on that sequence alone (values and
gradients), forwards and backwards in time; zeros past each end; the hand-written backward
pass passes gradcheck; swapped-in weights get their gradients. on_real_steps: a step-wise
network on the real steps, zeros past each end."""

import pytest
import torch
from torch import nn

from zoo.nn import layers, ragged_gru
from zoo.nn.layers import MLP, on_real_steps
from zoo.nn.ragged_gru import RaggedGRU, packed_layout
from zoo.nn.swap import swap_parameters

LENGTHS = [5, 1, 7, 3, 7, 2]  # ragged, unsorted, with ties, a length-1 sequence and full-length ones


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Networks this small run fastest on one thread."""


@pytest.fixture(params=[True, False], ids=["real steps", "padded"])
def skipping(request, monkeypatch):
    """Both ways a ragged batch runs: its real steps picked out (a CPU), or every padded step
    computed and padding zeroed after (an accelerator's way, here on the CPU)."""
    for module in (layers, ragged_gru):
        monkeypatch.setattr(module, "skips_padding", lambda x: request.param)
    return request.param


def alone(gru: nn.GRU, x: torch.Tensor, lengths, reverse: bool) -> list[torch.Tensor]:
    """torch.nn.GRU over each sequence's own steps, one sequence at a time: [(T_b, H)]."""
    outs = []
    for b, T_b in enumerate(lengths):
        steps = x[b : b + 1, :T_b]
        h, _ = nn.GRU.forward(gru, steps.flip(1) if reverse else steps)
        outs.append(h[0].flip(0) if reverse else h[0])
    return outs


@pytest.mark.parametrize("reverse", [False, True])
def test_real_steps_are_torch_grus_on_each_sequence_alone_and_padding_is_zero(reverse, skipping):
    gru = RaggedGRU(4, 5)
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(len(LENGTHS), 8, 4, requires_grad=True)  # T = 8 > every length
    grad_h = torch.randn(len(LENGTHS), 8, 5)
    h, h_n = gru(x, lengths=lengths, reverse=reverse)
    expected = alone(gru, x, LENGTHS, reverse)
    for b, T_b in enumerate(LENGTHS):
        torch.testing.assert_close(h[b, :T_b], expected[b])
        torch.testing.assert_close(h_n[0, b], expected[b][0 if reverse else -1])
        assert (h[b, T_b:] == 0).all()
    weights = list(gru.parameters())
    ours = torch.autograd.grad((h * grad_h).sum(), [x, *weights])
    theirs = torch.autograd.grad(sum((e * grad_h[b, : len(e)]).sum() for b, e in enumerate(expected)), [x, *weights])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


def test_the_hand_written_backward_pass_passes_gradcheck():
    gru = RaggedGRU(3, 4).double()
    lengths = torch.tensor([4, 1, 3])
    x = torch.randn(3, 5, 3, dtype=torch.double, requires_grad=True)
    weights = dict(gru.named_parameters())

    def run(x, *tensors):
        with swap_parameters(gru, dict(zip(weights, tensors))):
            return gru(x, lengths=lengths, reverse=False)[0], gru(x, lengths=lengths, reverse=True)[0]

    assert torch.autograd.gradcheck(run, (x, *(w.detach().clone().requires_grad_() for w in weights.values())))


def test_a_padded_batch_of_full_sequences_and_the_step_by_step_use_are_torch_grus():
    torch.manual_seed(1)
    gru = RaggedGRU(4, 5)
    plain = nn.GRU(4, 5, batch_first=True)
    plain.load_state_dict(gru.state_dict())  # the same parameters under the same names
    x = torch.randn(3, 6, 4)
    with torch.no_grad():
        torch.testing.assert_close(gru(x, lengths=torch.tensor([6, 6, 6]))[0], plain(x)[0])
        h_0 = torch.randn(1, 3, 5)
        for a, b in zip(gru(x[:, :1], h_0), plain(x[:, :1], h_0)):  # sampling's one step at a time
            torch.testing.assert_close(a, b)


def test_the_layout_runs_the_longest_sequences_first_from_each_own_end():
    index, sizes = packed_layout(torch.tensor([2, 3, 1]), T=4, reverse=True)
    assert sizes == [3, 2, 1]
    # step 0: t = T_b - 1 of sequences 1, 0, 2; step 1: t = T_b - 2 of 1, 0; step 2: t = 0 of 1
    assert index.tolist() == [1 * 4 + 2, 0 * 4 + 1, 2 * 4 + 0, 1 * 4 + 1, 0 * 4 + 0, 1 * 4 + 0]


def test_drawn_weights_swapped_in_receive_their_gradients():
    gru = RaggedGRU(4, 5)
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(len(LENGTHS), 7, 4)
    scale = torch.tensor(1.5, requires_grad=True)  # w = 1.5 * parameter, a tensor with a graph
    with swap_parameters(gru, {name: scale * p.detach() for name, p in gru.named_parameters()}):
        (ours,) = torch.autograd.grad(gru(x, lengths=lengths, reverse=True)[0].sum(), scale, retain_graph=True)
        (theirs,) = torch.autograd.grad(sum(e.sum() for e in alone(gru, x, LENGTHS, True)), scale)
    torch.testing.assert_close(ours, theirs)


def test_without_gradients_it_computes_the_same():
    gru = RaggedGRU(4, 5)
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(len(LENGTHS), 7, 4)
    with torch.no_grad():
        h, _ = gru(x, lengths=lengths)
    torch.testing.assert_close(h, gru(x, lengths=lengths)[0].detach())


def test_reverse_needs_lengths_and_a_ragged_batch_starts_from_zero():
    gru = RaggedGRU(4, 5)
    with pytest.raises(ValueError, match="lengths"):
        gru(torch.randn(2, 3, 4), reverse=True)
    with pytest.raises(ValueError, match="h_0"):
        gru(torch.randn(2, 3, 4), torch.zeros(1, 2, 5), lengths=torch.tensor([3, 2]))


def test_a_step_wise_network_on_the_real_steps_is_the_network_there_and_zero_past_each_end(skipping):
    mlp = MLP(4, 3)
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(len(LENGTHS), 7, 4, requires_grad=True)
    y = on_real_steps(mlp, x, lengths=lengths)  # (B, T, 3)
    real = torch.arange(7) < lengths[:, None]  # (B, T)
    torch.testing.assert_close(y[real], mlp(x)[real])
    assert (y[~real] == 0).all()
    ours = torch.autograd.grad(y.sum(), [x, *mlp.parameters()])
    theirs = torch.autograd.grad((mlp(x) * real[..., None]).sum(), [x, *mlp.parameters()])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)
