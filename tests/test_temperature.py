"""The temperature frontier of a next-step generator (zoo.evaluation.temperature), checked on a
generator whose next-token distribution is a known softmax(b) whatever the past."""

import pytest
import torch

from zoo.data.oracle import load, oracle_for
from zoo.errors import ZooError
from zoo.evaluation.likelihood import exact_nll
from zoo.evaluation.oracle_metrics import nll_oracle
from zoo.evaluation.sampling import draw_in_batches
from zoo.evaluation.temperature import temperature_frontier, tempered_nll
from zoo.models.char_lstm import CharLSTM


@pytest.fixture(scope="module")
def small():
    return load(vocab_size=20, length=6, num_train=50, num_valid=20, num_test=200, seed=3)


def memoryless(spec, b: torch.Tensor) -> CharLSTM:
    """A CharLSTM whose logits are b at every step: its output layer ignores the LSTM state."""
    torch.manual_seed(0)
    net = CharLSTM(spec, hidden_size=8, embedding_size=4)
    with torch.no_grad():
        net.emitter.output.weight.zero_()
        net.emitter.output.bias.copy_(b)
    return net.eval()


def test_temperature_one_is_the_model_itself(small):
    torch.manual_seed(1)
    net = CharLSTM(small.spec, hidden_size=8, embedding_size=4).eval()
    assert tempered_nll(net, small, 1.0).nats_per_step == pytest.approx(exact_nll(net, small, "test").nats_per_step)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_the_tempered_nll_is_minus_log_softmax_of_the_logits_over_tau(small, tau):
    b = torch.linspace(-2.0, 2.0, 20)
    net = memoryless(small.spec, b)
    tokens = torch.stack(small.test)  # (200, 6)
    expected = -(b / tau).log_softmax(-1)[tokens].mean().item()
    figure = tempered_nll(net, small, tau)
    assert figure.kind == f"exact, temperature {tau:g}"
    assert figure.nats_per_step == pytest.approx(expected, rel=1e-5)


def test_draws_follow_the_tempered_distribution_and_freeze_at_the_mode_when_cold(small):
    b = torch.linspace(-1.0, 1.0, 20)
    net = memoryless(small.spec, b)
    oracle = oracle_for(small)
    torch.manual_seed(0)
    drawn = net.sample(5000, 6, 0.5)  # what the frontier draws at tau = 0.5
    frequencies = torch.bincount(drawn.flatten(), minlength=20).float() / drawn.numel()
    assert torch.allclose(frequencies, (b / 0.5).softmax(-1), atol=0.01)
    cold, warm = temperature_frontier(net, oracle, small, [0.01, 1.0], n=260, seed=4)
    mode = torch.full((1, 6), int(b.argmax()))  # at tau = 0.01 every draw is the most likely token
    assert cold["temperature"] == 0.01
    assert cold["nll_oracle"]["nats_per_step"] == pytest.approx(nll_oracle(oracle, mode).nats_per_step, rel=1e-5)
    assert cold["nll_oracle"]["stderr"] == pytest.approx(0.0, abs=1e-5)
    assert cold["nll_test"]["nats_per_step"] == pytest.approx(tempered_nll(net, small, 0.01).nats_per_step)
    assert warm["nll_test"]["nats_per_step"] == pytest.approx(exact_nll(net, small, "test").nats_per_step)
    torch.manual_seed(4)
    at_one = nll_oracle(oracle, draw_in_batches(net, None, 260, 6))  # the draws an evaluation makes at tau = 1
    assert warm["nll_oracle"]["nats_per_step"] == pytest.approx(at_one.nats_per_step)
    assert warm["nll_oracle"]["num_sequences"] == 260


def test_the_frontier_leaves_the_networks_mode_as_it_was(small):
    torch.manual_seed(2)
    net = CharLSTM(small.spec, hidden_size=8, embedding_size=4, dropout=0.5).train()
    temperature_frontier(net, oracle_for(small), small, [1.0], n=10)
    assert all(m.training for m in net.modules())


def test_bad_generators_and_temperatures_are_refused(small):
    net = memoryless(small.spec, torch.zeros(20))
    with pytest.raises(ZooError, match="above 0"):
        temperature_frontier(net, oracle_for(small), small, [1.0, 0.0])
    with pytest.raises(ZooError, match="next-step generator"):
        temperature_frontier(torch.nn.Linear(2, 2), oracle_for(small), small, [1.0])
