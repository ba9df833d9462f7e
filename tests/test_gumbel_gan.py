"""objective=gumbel_gan (RelGAN's Gumbel-softmax relaxation): relaxed tokens against exact draws,
gradients through the relaxation and not through hard tokens, the temperature schedules, a
generator pulled to a trivial target, the refusal of other outputs, and the CLI."""

import math

import pytest
import torch
from torch.nn.functional import one_hot

from guides.empty import NoLatents
from tests.helpers import QUICK, TINY_ORACLE, run_in_process
from zoo.data.batch import collate
from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.models.char_lstm import CharLSTM
from zoo.nn.cnn_discriminator import ConvolutionalDiscriminator
from zoo.nn.discriminator import RecurrentDiscriminator
from zoo.objectives.gumbel_gan import SCHEDULES, GumbelGAN, inverse_temperature

V = 5


def generator(seed: int = 0) -> CharLSTM:
    """A tiny token generator whose first step is far from uniform."""
    torch.manual_seed(seed)
    G = CharLSTM(DataSpec("categorical", V), hidden_size=8, embedding_size=4)
    with torch.no_grad():
        G.emitter.output.bias.copy_(torch.tensor([2.0, 1.0, 0.0, -1.0, -2.0]))
    return G


def small_cnn(spec: DataSpec) -> ConvolutionalDiscriminator:
    return ConvolutionalDiscriminator(spec, embedding_size=8, filter_sizes=(1, 2, 3), num_filters=(8, 8, 8))


def test_relaxed_tokens_tend_to_one_hot_and_their_argmax_is_a_draw_of_the_softmax():
    G = generator()
    p = G.next_step(torch.zeros(1, 1, dtype=torch.long))
    probs = p.probs[0, 0]  # p(x_1), the softmax of the first step
    n, nearness = 20000, {}
    torch.manual_seed(1)
    with torch.no_grad():
        for beta in (1.0, 10.0, 1000.0):
            tokens, y = G.relaxed_sample(n, 1, beta)  # (n, 1), (n, 1, V)
            assert torch.equal(y.argmax(-1), tokens)  # the same Gumbel noise: argmax y_t = x_t
            assert torch.allclose(y.sum(-1), torch.ones(n, 1))
            nearness[beta] = (y - one_hot(tokens, V)).abs().sum(-1).mean().item()  # L1 distance to one-hot
            counts = torch.bincount(tokens[:, 0], minlength=V).float()
            chi2 = ((counts - n * probs) ** 2 / (n * probs)).sum().item()
            assert chi2 < 18.47, f"beta {beta}: chi-square {chi2:.1f} on 4 degrees of freedom (p < 0.001)"
    assert nearness[1.0] > 0.3 and nearness[10.0] < nearness[1.0] and nearness[1000.0] < 1e-3


@pytest.mark.parametrize("soft_inputs", [False, True])
@pytest.mark.parametrize("kind", ["rnn", "cnn"])
def test_the_discriminators_gradient_reaches_the_generator_only_through_the_relaxation(kind, soft_inputs):
    G = generator(2)
    D = small_cnn(G.spec) if kind == "cnn" else RecurrentDiscriminator(G.spec, hidden_size=8, embedding_size=8)
    lengths = torch.tensor([6, 3, 5, 1])
    names, params = zip(*G.named_parameters())
    tokens, y = G.relaxed_sample(4, 6, 5.0, soft_inputs=soft_inputs)
    grads = dict(zip(names, torch.autograd.grad(D(y, lengths).sum(), params, allow_unused=True)))
    for name in ("emitter.output.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0"):  # W_y, and the recurrence
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    hard = one_hot(tokens, V).float()  # the same draws as hard samples: no path back to G
    grads = torch.autograd.grad(D(hard, lengths).sum(), params, allow_unused=True)
    assert all(g is None or g.abs().sum() == 0 for g in grads)


def test_the_temperature_schedules_start_at_one_and_rise_to_beta_max():
    beta_max, N = 1000.0, 5000
    assert inverse_temperature(0, beta_max, N, "exp") == 1.0
    assert inverse_temperature(N // 2, beta_max, N, "exp") == pytest.approx(math.sqrt(1000))  # tau = 1 / 31.6
    assert inverse_temperature(N, beta_max, N, "exp") == beta_max == inverse_temperature(3 * N, beta_max, N, "exp")
    assert inverse_temperature(N // 2, beta_max, N, "lin") == pytest.approx(500.5)
    assert inverse_temperature(N // 2, beta_max, N, "quad") == pytest.approx(1 + 999 / 4)
    assert inverse_temperature(N // 2, beta_max, N, "sigmoid") == pytest.approx(500.5)
    assert inverse_temperature(17, beta_max, N, "no") == beta_max
    for schedule in set(SCHEDULES) - {"no"}:
        values = [inverse_temperature(n, beta_max, N, schedule) for n in range(0, N + 1, 50)]
        assert values[0] == pytest.approx(1.0, abs=0.05) and values[-1] == beta_max
        assert all(a <= b for a, b in zip(values, values[1:])), schedule
    objective = GumbelGAN(pretrain_steps=100, inverse_temperature=beta_max, anneal_steps=N)
    objective.step = 100 + N // 2
    assert objective.beta == pytest.approx(math.sqrt(1000))
    with pytest.raises(ZooError, match="objective.temperature_schedule"):
        inverse_temperature(0, beta_max, N, "cosine")


@pytest.mark.parametrize("kind,loss", [("rnn", "rsgan"), ("cnn", "standard")])
def test_gumbel_gan_pulls_a_tiny_generator_towards_all_zero_tokens(kind, loss):
    """Every real sequence is 0 0 0 0 0 0; the generator starts near uniform over 4 tokens and
    is trained only through D's gradient on its relaxed tokens."""
    torch.manual_seed(3)
    G = CharLSTM(DataSpec("categorical", 4), hidden_size=16, embedding_size=8)
    objective = GumbelGAN(
        pretrain_steps=0,
        loss=loss,
        inverse_temperature=10.0,
        anneal_steps=80,
        discriminator=kind,
        discriminator_steps=1,
        discriminator_hidden=16,
        discriminator_embedding=8,
        discriminator_lr=1e-3,
    )
    if kind == "cnn":  # a small one; SeqGAN's sizes are tested in test_seqgan
        objective.discriminator = small_cnn(G.spec)
        objective.optimizer = torch.optim.Adam(objective.discriminator.parameters(), lr=1e-3)
    optimizer = torch.optim.Adam(G.parameters(), lr=3e-3)
    batch = collate([torch.zeros(6, dtype=torch.long)] * 16, dataset_size=64)

    def zeros() -> float:
        return (G.sample(1000, 6) == 0).float().mean().item()

    before = zeros()
    for step in range(80):
        loss_value = objective(G, NoLatents(G), batch, step=step)
        optimizer.zero_grad()
        loss_value.backward()
        optimizer.step()
    assert before < 0.35 and zeros() > 0.6  # 0.21-0.29 -> 0.79-0.99 over seeds 0-5
    assert objective.progress["phase"] == "adv" and float(objective.progress["beta"]) > 9
    assert not objective.selects_by_likelihood


@pytest.mark.parametrize("spec,emission", [(DataSpec("bernoulli", 4), "auto"), (DataSpec("real", 2), "gaussian")])
def test_gumbel_gan_refuses_a_generator_without_a_softmax_output(spec, emission):
    G = CharLSTM(spec, hidden_size=8, emission=emission)
    x = torch.zeros(2, 3, *(() if spec.kind == "categorical" else (spec.dim,)))
    with pytest.raises(ZooError, match="objective=gumbel_gan") as error:
        GumbelGAN(pretrain_steps=5)(G, NoLatents(G), collate(list(x)), step=0)
    assert "\n" not in str(error.value)
    with pytest.raises(ZooError, match="objective.loss"):
        GumbelGAN(loss="wgan")


@pytest.mark.parametrize("model,kind", [("char_lstm", "cnn"), ("bayes_lstm", "rnn")])
def test_gumbel_gan_on_the_oracle_through_the_cli(tmp_path, model, kind):
    metrics = run_in_process(
        tmp_path,
        f"model={model}",
        "objective=gumbel_gan",
        f"objective.discriminator={kind}",
        *QUICK,
        *TINY_ORACLE,
        "objective.pretrain_steps=3",
        "objective.discriminator_steps=2",
        "objective.anneal_steps=3",
        "model.net.embedding_size=16",
        "train.batch_size=8",
        "evaluate.num_samples=2",
    )
    assert metrics["oracle"][0]["kind"] == "NLL-oracle"
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["step"] == 6  # the adversarial epoch's checkpoint is the one evaluated
    assert best["config"]["objective"]["_target_"] == "zoo.objectives.gumbel_gan.GumbelGAN"


def test_the_relaxed_gradient_reaches_the_weight_guide_of_a_bayes_lstm():
    from tests.helpers import composed
    from zoo.run import build

    cfg = composed(
        "model=bayes_lstm",
        "objective=gumbel_gan",
        "objective.pretrain_steps=0",
        *TINY_ORACLE,
        "data.vocab_size=20",
        "data.length=5",
        "model.net.hidden_size=8",
    )
    data, model, guide, objective = build(cfg)
    objective(model, guide, next(data.batches("train", 8)), step=0).backward()
    grads = [p.grad for name, p in guide.named_parameters() if ".loc." in name]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)  # every mean of q(w)
