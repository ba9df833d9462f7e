"""Dropout as variational inference (Gal & Ghahramani 2016) against its equations:

    W_j = M_j diag(z_j) / (1 - p),  z_jk ~ Bernoulli(1 - p)     one mask per input unit, tied over t
    E_q[-log p(w)] = sum_j ||M_j||^2 / (2 sigma_p^2 (1 - p)) + const

and a draw of w being the network with whole units dropped at every step, as a hand-written
LSTM that multiplies x_t, h_{t-1}, the layer below's h_t and the top h_t by their masks computes."""

import math

import pytest
import torch
from torch import nn

from guides.bernoulli import BernoulliWeights, dropped_units
from tests.helpers import QUICK, SHORT, command, refused_in_process, run_in_process, toy_text
from zoo.data.batch import collate
from zoo.evaluation.likelihood import weight_kl
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.training.sites import check_guide_covers

P, SIGMA_P, H = 0.3, 0.5, 6


@pytest.fixture
def model():
    torch.manual_seed(0)
    return BayesianWeights(CharLSTM(toy_text().spec, hidden_size=H, num_layers=2), prior_scale=SIGMA_P)


def test_the_masked_matrices_are_the_lstm_layers_and_the_output_layer(model):
    assert dropped_units(model.net) == {
        "lstm.weight_ih_l0": 5,  # x_t's features (one-hot times the embedding table: 5 symbols)
        "lstm.weight_hh_l0": H,  # h_{t-1} of layer 1
        "lstm.weight_ih_l1": H,  # layer 1's h_t
        "lstm.weight_hh_l1": H,  # h_{t-1} of layer 2
        "emitter.output.weight": H,  # the top layer's h_t
    }


def test_a_draw_keeps_or_drops_whole_columns_and_leaves_biases_and_embeddings(model):
    guide = BernoulliWeights(model, dropout=P)
    check_guide_covers(model, guide, collate(toy_text().train[:2]))
    torch.manual_seed(1)
    w = guide()
    units = dropped_units(model.net)
    for site, shape in model.shapes.items():
        mean = guide.posterior_mean()[site].reshape(shape)
        drawn = w[site].reshape(shape)
        if site[2:] not in units:
            torch.testing.assert_close(drawn, mean)  # biases and the embedding table: point masses
            continue
        kept = (drawn != 0).any(0)  # (columns,)
        torch.testing.assert_close(drawn[:, kept], mean[:, kept] / (1 - P))
        assert (drawn[:, ~kept] == 0).all()


def test_units_are_kept_with_probability_one_minus_p_and_the_mean_of_q_is_M(model):
    guide = BernoulliWeights(model, dropout=P)
    torch.manual_seed(2)
    draws = [guide()["w.lstm.weight_hh_l0"].reshape(4 * H, H) for _ in range(4000)]
    kept = torch.stack([(d != 0).any(0) for d in draws]).float()  # (draws, H)
    assert abs(kept.mean().item() - (1 - P)) < 4 * math.sqrt(P * (1 - P) / kept.numel())
    mean = torch.stack(draws).mean(0)
    M = guide.posterior_mean()["w.lstm.weight_hh_l0"].reshape(4 * H, H)
    spread = M.abs() * math.sqrt(P / (1 - P) / len(draws))  # sd of the mean of the draws
    assert ((mean - M).abs() <= 4 * spread + 1e-7).all()


@pytest.mark.parametrize("p_h", [None, 0.0, 0.6])
def test_the_weight_term_is_gals_l2_penalty_on_the_means(model, p_h):
    """E_q[-log p(w)] under N(0, sigma_p^2): sum over every site of ||M_j||^2 / (2 sigma_p^2)
    (1 / (1 - p_j) for masked matrices, p_j = p_h for W_hh) + numel log(sigma_p sqrt(2 pi))."""
    guide = BernoulliWeights(model, dropout=P, recurrent_dropout=p_h)
    units, means = dropped_units(model.net), guide.posterior_mean()

    def p_j(site):
        if site[2:] not in units:
            return 0.0
        return (P if p_h is None else p_h) if "weight_hh" in site else P

    closed = sum(
        (m.pow(2).sum() / (2 * SIGMA_P**2) / (1 - p_j(site))).item()
        + m.numel() * math.log(SIGMA_P * math.sqrt(2 * math.pi))
        for site, m in means.items()
    )
    torch.manual_seed(3)
    estimates = torch.tensor([weight_kl(model, guide) for _ in range(3000)], dtype=torch.float64)
    assert abs(estimates.mean().item() - closed) < 4 * estimates.std().item() / math.sqrt(len(estimates))


def test_the_recurrent_units_have_their_own_probability(model):
    """recurrent_dropout=p_h: W_hh's columns kept with probability 1 - p_h and scaled by
    1 / (1 - p_h), the other matrices' with p; p_h = 0 leaves W_hh at its mean."""
    p_h = 0.6
    guide = BernoulliWeights(model, dropout=P, recurrent_dropout=p_h)
    M = guide.posterior_mean()
    torch.manual_seed(6)
    draws = [guide() for _ in range(2000)]
    for site, p in [("w.lstm.weight_hh_l1", p_h), ("w.lstm.weight_ih_l1", P)]:
        drawn = torch.stack([w[site].reshape(4 * H, H) for w in draws])  # (draws, 4H, H)
        kept = (drawn != 0).any(1)  # (draws, H)
        assert abs(kept.float().mean().item() - (1 - p)) < 4 * math.sqrt(p * (1 - p) / kept.numel())
        mean = M[site].reshape(4 * H, H).expand_as(drawn)
        torch.testing.assert_close(
            drawn[kept[:, None].expand_as(drawn)], mean[kept[:, None].expand_as(drawn)] / (1 - p)
        )
    still = BernoulliWeights(model, dropout=P, recurrent_dropout=0.0)
    w = still()
    for layer in range(2):
        site = f"w.lstm.weight_hh_l{layer}"
        torch.testing.assert_close(w[site], still.posterior_mean()[site])


def test_a_draw_is_the_lstm_with_tied_unit_masks_at_every_step(model):
    """log p(x | w) under one draw equals a step-by-step LSTM that multiplies x_t, h_{t-1} of each
    layer, layer 1's h_t and the top h_t by that draw's masks / (1 - p) at every t."""
    guide = BernoulliWeights(model, dropout=P)
    batch = collate(toy_text().train[:4])
    torch.manual_seed(4)
    w = guide()
    drawn = model.log_prob(batch, w)

    net = model.net
    masks = {
        name: (w[f"w.{name}"].reshape(net.get_parameter(name).shape) != 0).any(0) / (1 - P)
        for name in dropped_units(net)
    }
    cells = []
    for layer in range(2):
        cell = nn.LSTMCell(net.lstm.input_size if layer == 0 else H, H)
        cell.load_state_dict(
            {n: getattr(net.lstm, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        )
        cells.append(cell)
    inputs = net.shifted_inputs(batch.x)  # (B, T, F)
    B, T, _ = inputs.shape
    states = [(torch.zeros(B, H), torch.zeros(B, H)) for _ in cells]
    tops = []
    for t in range(T):
        below = inputs[:, t] * masks["lstm.weight_ih_l0"]
        for layer, cell in enumerate(cells):
            h, c = states[layer]
            h, c = cell(below, (h * masks[f"lstm.weight_hh_l{layer}"], c))
            states[layer] = (h, c)
            below = h * masks["lstm.weight_ih_l1"] if layer == 0 else h
        tops.append(below * masks["emitter.output.weight"])
    p_x = net.emitter(torch.stack(tops, 1))
    expected = (p_x.log_prob(batch.x) * batch.mask).sum(-1)
    torch.testing.assert_close(drawn, expected.detach(), rtol=1e-5, atol=1e-5)


def test_the_elbo_trains_the_means_through_the_kept_units_only(model):
    """One Trace_ELBO gradient: a column of M that the draw dropped gets none, since neither the
    likelihood nor the prior (evaluated at w = 0 there) sees it; the kept columns get one."""
    guide = BernoulliWeights(model, dropout=P)
    batch = collate(toy_text().train[:4], dataset_size=12)
    torch.manual_seed(5)
    ELBO()(model, guide, batch).backward()
    torch.manual_seed(5)
    w = guide()["w.emitter.output.weight"].reshape(5, H)
    j = guide.names.index("w.emitter.output.weight")
    grad = guide.loc[j].grad.reshape(5, H)
    dropped = (w == 0).all(0)
    assert dropped.any() and (~dropped).any()
    assert (grad[:, dropped] == 0).all()
    assert (grad[:, ~dropped] != 0).any()


def test_bayes_lstm_trains_and_evaluates_with_the_bernoulli_guide(tmp_path):
    """bayes_lstm with weight_guide=bernoulli for a few steps; the held-out figures say the
    first is no bound; zoo.evaluate adds the network at q's mean."""
    metrics = run_in_process(tmp_path, "model=bayes_lstm", "weight_guide=bernoulli", *QUICK)
    assert metrics["status"] == "trained"
    assert [f["kind"] for f in metrics["test"]] == ["E_q[-log p(x, w)]", "posterior predictive (S=3)"]
    assert all(math.isfinite(f["nats_per_step"]) for f in metrics["test"])
    from zoo.evaluate import main as evaluate

    evaluate([f"run={tmp_path}", "num_samples=2", "limit=10"])
    import json

    again = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert [f["kind"] for f in again["figures"]][1:] == ["posterior predictive (S=2)", "exact at the posterior mean"]


REFUSED = [
    (["weight_guide=bernoulli", "weight_guide.dropout=0"], "weight_guide.dropout=0 must be above 0 and below 1"),
    (["weight_guide=bernoulli", "weight_guide.dropout=1"], "weight_guide.dropout=1 must be above 0 and below 1"),
    (
        ["weight_guide=bernoulli", "weight_guide.recurrent_dropout=1"],
        "weight_guide.recurrent_dropout=1 must be at least 0 and below 1",
    ),
    (
        ["model=char_lstm", "weight_guide=bernoulli", "data=jsb_chorales"],
        "weight_guide=bernoulli is a q(w) of variational weights, but model.bayesian_weights=false",
    ),
]


@pytest.mark.parametrize("args,fragment", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_bad_options_get_one_line_and_exit_status_2(args, fragment, tmp_path, monkeypatch, capfd):
    code, lines = refused_in_process(monkeypatch, capfd, f"hydra.run.dir={tmp_path}", *SHORT, *args)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


def test_a_real_process_refuses_the_bernoulli_guide_without_weight_latents(tmp_path):
    result = command(
        "zoo.run",
        f"hydra.run.dir={tmp_path}",
        "model=char_lstm",
        "weight_guide=bernoulli",
        "data=jsb_chorales",
        *SHORT,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "model.bayesian_weights=true" in result.stderr


def test_a_vrnn_with_bernoulli_weights_reports_no_elbo():
    """Weights and per-sequence latents together: with q(w) made of point masses, the first
    held-out figure is E_q[-log p(x, z, w)]'s estimate, labelled as no bound, as for bayes_lstm."""
    from guides.vrnn import VRNNFiltering
    from guides.with_weights import WeightsThenLatents
    from tests.helpers import toy_rolls
    from zoo.evaluation.likelihood import weight_latent_nll
    from zoo.evaluation.plan import evaluation_plan
    from zoo.models.vrnn import VRNN

    torch.manual_seed(0)
    rolls = toy_rolls()
    model = BayesianWeights(VRNN(rolls.spec, hidden_size=8, z_size=2))
    guide = WeightsThenLatents(model, BernoulliWeights(model, dropout=P), VRNNFiltering(model.net))
    figures = weight_latent_nll(model, guide, rolls, "test", num_samples=2, num_particles=3)
    assert [f.kind for f in figures] == ["E_q[-log p(x, w)]", "posterior predictive (S=2, IWAE K=3)"]
    assert evaluation_plan(model, guide, rolls, "test", 2, 3).figures.startswith("E_q[-log p(x, w)] and ")
