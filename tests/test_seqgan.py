"""SeqGAN: the policy-gradient estimator against an exact gradient, its rollouts and baseline,
the recurrent and convolutional discriminators, SeqGAN's discriminator schedule, and the
objective through the CLI."""

import json

import pytest
import torch

from guides.empty import NoLatents
from tests.helpers import QUICK, TINY_ORACLE, run_in_process, run_zoo
from zoo.data.batch import collate
from zoo.data.dataset import DataSpec
from zoo.models.char_lstm import CharLSTM
from zoo.nn.cnn_discriminator import SEQGAN_FILTER_SIZES, SEQGAN_NUM_FILTERS, ConvolutionalDiscriminator
from zoo.nn.discriminator import RecurrentDiscriminator
from zoo.objectives.policy_gradient import leave_one_out_baseline, reinforce_surrogate, rollout_values
from zoo.objectives.seqgan import SeqGAN

V, T = 3, 3


def all_sequences() -> torch.Tensor:
    return torch.cartesian_prod(*[torch.arange(V)] * T)  # (V^T, T)


def table_reward(table: torch.Tensor):
    """R(y) looked up in a table over all V^T sequences (lengths are all T here)."""

    def reward(x, lengths):
        return table[(x * V ** torch.arange(T - 1, -1, -1)).sum(-1)]

    return reward


@pytest.mark.parametrize("baseline", [True, False])
def test_policy_gradient_is_unbiased_for_the_exact_gradient(baseline):
    torch.manual_seed(0)
    G = CharLSTM(DataSpec("categorical", V), hidden_size=4)
    params = list(G.parameters())
    table = torch.rand(V**T)
    reward = table_reward(table)

    ys = all_sequences()
    p_y = G.next_step(ys)
    J = (p_y.log_prob(ys).sum(-1).exp() * table).sum()  # sum_y G(y) R(y), by enumeration
    exact = torch.cat([g.flatten() for g in torch.autograd.grad(J, params)])

    estimates = []
    for _ in range(30):
        B = 2000
        y = G.sample(B, T)  # (B, T)
        lengths = torch.full((B,), T)
        Q = rollout_values(lambda prefix, steps: G.sample(len(prefix), steps, prime=prefix), reward, y, lengths, 4)
        p = G.next_step(y)
        surrogate = reinforce_surrogate(p.log_prob(y), Q, torch.ones(B, T), baseline) * T  # -J per sequence
        estimates.append(-torch.cat([g.flatten() for g in torch.autograd.grad(surrogate, params)]))
    estimates = torch.stack(estimates)  # (30, P)
    mean, se = estimates.mean(0), estimates.std(0) / len(estimates) ** 0.5
    assert exact.abs().max() > 1e-3  # a gradient worth estimating
    z = (mean - exact) / (se + 1e-6)
    assert z.abs().max() < 4.5, f"largest z-score {z.abs().max():.2f}"
    assert (z.abs() < 2).float().mean() > 0.85  # about 95% of coordinates within 2 s.e.


def test_rollout_values_are_the_reward_when_it_is_settled_early_and_at_the_end():
    torch.manual_seed(1)
    G = CharLSTM(DataSpec("categorical", V), hidden_size=4)
    y = G.sample(50, T)
    lengths = torch.full((50,), T)
    first = lambda x, lengths: (x[:, 0] == 1).float()  # noqa: E731  decided by the first token
    Q = rollout_values(lambda p, s: G.sample(len(p), s, prime=p), first, y, lengths, 3)
    assert torch.equal(Q, (y[:, :1] == 1).float().expand(-1, T))
    table = torch.rand(V**T)
    Q = rollout_values(lambda p, s: G.sample(len(p), s, prime=p), table_reward(table), y, lengths, 3)
    assert torch.allclose(Q[:, -1], table_reward(table)(y, lengths))


def write_positions(prefix: torch.Tensor, steps: int) -> torch.Tensor:
    """A generator that continues every prefix with the positions of the new steps as tokens."""
    t = prefix.shape[1]
    return torch.cat([prefix, torch.arange(t, t + steps).expand(len(prefix), steps)], 1)


def test_rollout_values_score_each_sequence_at_its_own_length():
    G = CharLSTM(DataSpec("categorical", V), hidden_size=4)
    y = torch.tensor([[1, 2, 0, 0], [2, 2, 2, 1]])
    lengths = torch.tensor([2, 4])
    last = lambda x, lengths: x[torch.arange(len(x)), lengths - 1].float()  # noqa: E731  the last real token
    rollouts = 2
    Q = rollout_values(lambda p, s: G.sample(len(p), s, prime=p), last, y, lengths, rollouts)
    assert (Q[0, 1:] == 2).all() and Q[1, 3] == 1  # the whole sequence's reward from its last step on
    before = torch.stack([Q[0, 0], *Q[1, :3]])  # means of `rollouts` rewards, each a token in 0..V-1
    assert torch.equal(before * rollouts, (before * rollouts).round())
    assert ((before >= 0) & (before <= V - 1)).all()
    Q = rollout_values(write_positions, last, y, lengths, rollouts)  # a rollout's reward: its last real step
    assert torch.equal(Q, torch.tensor([[1.0, 2.0, 2.0, 2.0], [3.0, 3.0, 3.0, 1.0]]))


def test_leave_one_out_baseline_by_hand():
    Q = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    b = leave_one_out_baseline(Q, mask)
    expected = torch.tensor([[4.0, 9.0], [3.0, 5.5], [2.0, 2.0]])  # step 2: only sequences 1 and 3 reach it
    assert torch.allclose(b, expected)


def test_the_discriminator_never_reads_padding_and_learns_an_easy_difference():
    torch.manual_seed(2)
    spec = DataSpec("categorical", 4)
    for bidirectional in (False, True):
        D = RecurrentDiscriminator(spec, hidden_size=8, embedding_size=8, bidirectional=bidirectional)
        x = torch.tensor([[1, 2, 3, 0, 0]])
        garbage = torch.tensor([[1, 2, 3, 3, 1]])
        assert torch.allclose(D(x, torch.tensor([3])), D(garbage, torch.tensor([3])))
        assert torch.allclose(D(x, torch.tensor([3])), D(x[:, :3], torch.tensor([3])))
    D = RecurrentDiscriminator(spec, hidden_size=8, embedding_size=8)
    optimizer = torch.optim.Adam(D.parameters(), lr=0.05)
    real, fake = torch.zeros(16, 6, dtype=torch.long), torch.randint(1, 4, (16, 6))
    lengths = torch.full((16,), 6)
    for _ in range(60):
        loss = D.loss(real, lengths, fake, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert D.score(real, lengths).min() > 0.9 and D.score(fake, lengths).max() < 0.1


def small_cnn(spec: DataSpec) -> ConvolutionalDiscriminator:
    return ConvolutionalDiscriminator(spec, embedding_size=8, filter_sizes=(1, 2, 3, 5), num_filters=(8, 8, 8, 8))


def test_the_convolutional_discriminator_never_reads_padding_and_learns_an_easy_difference():
    torch.manual_seed(4)
    spec = DataSpec("categorical", 4)
    D = small_cnn(spec).eval()  # dropout off: D is a function of its input
    x = torch.tensor([[1, 2, 3, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0], [3, 1, 2, 1, 3, 2, 1]])
    garbage = torch.tensor([[1, 2, 3, 3, 1, 2, 2], [2, 3, 3, 1, 1, 2, 3], [3, 1, 2, 1, 3, 2, 1]])
    lengths = torch.tensor([3, 1, 7])  # shorter than the widest filter (5), and longer
    assert torch.allclose(D(x, lengths), D(garbage, lengths))
    assert torch.allclose(D(x, lengths)[:2], D(x[:2, :3], lengths[:2]))  # however far the batch is padded
    assert not torch.allclose(D(x, lengths)[:1], D(x[:1], torch.tensor([4])))  # a fourth step is read when real
    D.train()
    optimizer = torch.optim.Adam(D.parameters(), lr=0.01)
    real, fake = torch.zeros(16, 6, dtype=torch.long), torch.randint(1, 4, (16, 6))
    lengths = torch.randint(2, 7, (16,))
    for _ in range(60):
        loss = D.loss(real, lengths, fake, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert D.score(real, lengths).min() > 0.9 and D.score(fake, lengths).max() < 0.1
    assert D.training  # score switched dropout off and back


def test_the_convolutional_discriminator_has_seqgans_sizes_and_reads_one_hot_tokens():
    torch.manual_seed(5)
    spec = DataSpec("categorical", 30)
    D = ConvolutionalDiscriminator(spec).eval()
    assert D.filter_sizes == SEQGAN_FILTER_SIZES == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
    assert sum(SEQGAN_NUM_FILTERS) == 1720 and D.highway.gate.in_features == 1720
    assert D.phi.embedding_dim == 64 and D.dropout.p == 0.25 and D.l2 == 0.2
    x, lengths = torch.randint(0, 30, (5, 20)), torch.tensor([20, 19, 10, 2, 1])
    logits = D(x, lengths)
    assert logits.shape == (5,) and D.features(x, lengths).shape == (5, 1720)
    s = D.output(D.highway(D.features(x, lengths)))  # (B, 2): SeqGAN's two class scores
    assert torch.allclose(D.score(x, lengths), torch.softmax(s, -1)[:, 1], atol=1e-6)
    w, b = D.output.weight, D.output.bias
    assert torch.allclose(D.penalty(), 0.2 * (w.square().sum() + b.square().sum()) / 2)
    one_hot = torch.nn.functional.one_hot(x, 30).float()  # phi(y) = y^T E: an embedding of a hard one-hot
    for d in (D, RecurrentDiscriminator(spec, hidden_size=8, embedding_size=8)):
        assert torch.allclose(d(one_hot, lengths), d(x, lengths), atol=1e-5)


def test_seqgans_schedule_retrains_the_discriminator_on_fresh_negatives():
    """D pre-trained `discriminator_pretrain_rounds` times before the first generator step, then
    `discriminator_rounds` times before each: every round `discriminator_epochs` passes over
    the pool's real sequences and as many fresh ones of G, in whole minibatches."""
    torch.manual_seed(6)
    from tests.helpers import toy_text

    data = toy_text(40)
    G = CharLSTM(data.spec, hidden_size=8)
    objective = SeqGAN(
        pretrain_steps=2,
        discriminator_pretrain_steps=0,
        rollouts=2,
        discriminator_hidden=8,
        discriminator_embedding=8,
        discriminator_pretrain_rounds=2,
        discriminator_rounds=1,
        discriminator_epochs=2,
        discriminator_negatives=20,
        discriminator_batch_size=8,
    )
    batches = [collate(data.train[i : i + 8], dataset_size=40) for i in range(0, 40, 8)]
    counts = []
    for step, batch in enumerate(batches[:4]):
        objective(G, NoLatents(G), batch, step=step)
        counts.append(objective.discriminator_updates)
    per_round = 2 * (20 + 20) // 8  # 2 epochs of 5 minibatches: 20 real sequences kept, 20 generated
    assert counts == [0, 0, 2 * per_round, 3 * per_round]
    real, lengths = objective.pool.sequences()  # the latest 20 real sequences seen, in some order
    kept = sorted(tuple(x[:n].tolist()) for x, n in zip(real, lengths))
    assert kept == sorted(tuple(x.tolist()) for x in data.train[12:32])
    assert not objective.selects_by_likelihood


def test_the_seqgan_preset_is_the_released_codes_setting():
    from tests.helpers import composed

    cfg = composed("experiment=seqgan")
    o, t = cfg.objective, cfg.train
    net = cfg.model.net
    assert (net.embedding_size, net.hidden_size, t.batch_size, t.lr, t.clip_norm) == (32, 32, 64, 0.01, 5.0)
    assert o.pretrain_steps == 120 * (10000 // 64) and t.max_epochs * t.steps_per_epoch == o.pretrain_steps + 200
    assert (o.discriminator, o.discriminator_lr, o.rollouts) == ("cnn", 1e-4, 16)
    assert (o.discriminator_pretrain_rounds, o.discriminator_rounds, o.discriminator_epochs) == (50, 5, 3)
    assert (o.discriminator_negatives, o.discriminator_batch_size, o.discriminator_pretrain_steps) == (10000, 64, 0)
    assert o.baseline is False  # the paper's eq. 6 and generator.py's loss
    assert cfg.data.oracle == "seqgan"  # the released oracle LSTM


@pytest.mark.parametrize(
    "preset",
    [
        [
            "experiment=seqgan",
            "data.oracle=random",
            "objective.discriminator_pretrain_rounds=1",
            "objective.discriminator_rounds=1",
            "objective.discriminator_epochs=1",
            "objective.discriminator_negatives=32",
            "objective.discriminator_batch_size=16",
        ],
        [
            "model=char_lstm",
            "objective=seqgan",
            "objective.discriminator=cnn",
            "objective.discriminator_pretrain_steps=3",
            "model.net.embedding_size=16",
        ],
    ],
    ids=["experiment", "cnn"],
)
def test_seqgan_with_the_cnn_on_the_oracle_through_the_cli(tmp_path, preset):
    metrics = run_in_process(
        tmp_path,
        *preset,
        *QUICK,
        *TINY_ORACLE,
        "objective.pretrain_steps=6",
        "objective.rollouts=2",
        "train.steps_per_epoch=4",
        "train.max_epochs=3",
        "train.batch_size=8",
    )
    assert metrics["oracle"][0]["kind"] == "NLL-oracle" and metrics["test"][0]["kind"] == "exact"
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["step"] == 12  # adversarial epochs keep their latest checkpoint as the one to evaluate
    assert best["config"]["objective"]["discriminator"] == "cnn"


def test_seqgan_trains_a_bayesian_generator_of_piano_rolls(tmp_path):
    run_zoo(
        tmp_path,
        "model=bayes_lstm",
        "data=jsb_phrases",
        "objective=seqgan",
        *QUICK,
        "objective.pretrain_steps=2",
        "objective.discriminator_pretrain_steps=1",
        "objective.rollouts=2",
        "objective.mle_weight=1.0",
        "model.net.hidden_size=16",
        "train.batch_size=4",
        "train.valid_limit=20",
        "evaluate.test_limit=20",
        "evaluate.num_samples=2",
        "sample.length=16",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [f["kind"] for f in metrics["test"]] == ["-ELBO", "posterior predictive (S=2)"]
    assert torch.load(tmp_path / "best.pt", weights_only=True)["step"] == 6


def test_recurrent_gan_moves_a_gaussian_generator_towards_the_data():
    """Real sequences are frames near (2, -1); the generator starts near 0 and is trained only
    through D's gradient on its reparameterised samples."""
    from zoo.data.dataset import SequenceData
    from zoo.objectives.recurrent_gan import RecurrentGAN

    torch.manual_seed(3)
    seqs = [torch.tensor([2.0, -1.0]) + 0.1 * torch.randn(5, 2) for _ in range(64)]
    data = SequenceData("toy_frames", DataSpec("real", 2), seqs, seqs[:8], seqs[8:16])
    G = CharLSTM(data.spec, hidden_size=16, emission="gaussian")
    objective = RecurrentGAN(pretrain_steps=0, discriminator_hidden=16, discriminator_lr=1e-3, bidirectional=False)
    optimizer = torch.optim.Adam(G.parameters(), lr=5e-3, betas=(0.5, 0.999))
    before = G.sample(256, 5).mean((0, 1))
    for step in range(200):
        loss = objective(G, NoLatents(G), collate(seqs[:32], dataset_size=64), step=step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = G.sample(256, 5).mean((0, 1))
    target = torch.tensor([2.0, -1.0])
    assert (after - target).norm() < 0.2 * (before - target).norm()  # 2.3 -> 0.04..0.15 over seeds 0-4
    assert not objective.selects_by_likelihood


def test_recurrent_gan_refuses_emissions_without_reparameterised_samples():
    from zoo.errors import ZooError

    G = CharLSTM(DataSpec("bernoulli", 4), hidden_size=8)
    with pytest.raises(ZooError, match="objective=seqgan"):
        G.rsample(2, 3)
