"""Long evaluations say so: S and K chosen within a budget of S x K x T particle-steps, the figures
described before they are computed, and a progress bar that counts exactly the steps computed."""

import logging

import pytest
import torch

from guides.empty import NoLatents
from guides.seq_encoder import SeqEncoder
from guides.weights import MeanFieldWeights
from guides.with_weights import WeightsThenLatents
from tests.helpers import QUICK, composed, toy_text
from zoo.errors import ZooError
from zoo.evaluation import likelihood
from zoo.evaluation.likelihood import held_out_figures, latent_log_weights
from zoo.evaluation.plan import MAX_PARTICLE_STEPS, choose_sizes, evaluation_plan, round_down
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.models.seq_ae import SeqAE
from zoo.models.seq_vae import SeqVAE

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is fastest


@pytest.fixture
def text():
    return toy_text()  # 4 test sequences


class RecordingBar:
    """Stands in for tqdm: keeps its total, whether it is shown, and the steps it was advanced by."""

    def __init__(self, bars, total, disable=False, **kw):
        self.total, self.disable, self.done = total, disable, 0
        bars.append(self)

    def update(self, n=1):
        self.done += n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def bars(monkeypatch):
    """Every bar the likelihood figures open, recorded."""
    made = []
    monkeypatch.setattr(likelihood, "tqdm", lambda **kw: RecordingBar(made, **kw))
    return made


def weights_around(net, latents):
    """p(w) p(x, z | w) around `net` and the guide q(w) q(z | x, w), as zoo.run builds them."""
    model = BayesianWeights(net, prior_scale=0.5)
    return model, WeightsThenLatents(model, MeanFieldWeights(model, init_scale=0.05), latents(model.net))


def pair(kind, spec):
    """(model, guide) of each kind of figure."""
    torch.manual_seed(0)
    if kind == "exact":
        net = CharLSTM(spec, hidden_size=8)
        return net, NoLatents(net)
    if kind == "reconstruction":
        net = SeqAE(spec, hidden_size=8)
        return net, NoLatents(net)
    if kind == "particles":
        net = SeqVAE(spec, hidden_size=8, z_size=2)
        return net, SeqEncoder(net)
    if kind == "weights":
        return weights_around(CharLSTM(spec, hidden_size=8), NoLatents)
    if kind == "weights of an autoencoder":
        return weights_around(SeqAE(spec, hidden_size=8), NoLatents)
    return weights_around(SeqVAE(spec, hidden_size=8, z_size=2), SeqEncoder)


# the rule


def test_round_down_keeps_one_two_and_five_times_a_power_of_ten():
    assert [round_down(n) for n in (0, 1, 3, 9, 10, 11, 19, 49, 99, 100, 740)] == [
        0,
        1,
        2,
        5,
        10,
        10,
        10,
        20,
        50,
        100,
        500,
    ]


@pytest.mark.parametrize(
    "what,steps,weights,particles,sizes",
    [
        ("bayes_lstm, Shakespeare's test plays", 187_959, True, False, (10, 1)),
        ("vrnn, JSB test", 4_725, False, True, (1, 100)),
        ("vrnn with variational weights, JSB test", 4_725, True, True, (10, 100)),
        ("vrnn with variational weights, LASA handwriting", 5_970, True, True, (10, 50)),  # 5M // (10 T) = 83
        ("seq_vae, Shakespeare's test lines", 173_955, False, True, (1, 20)),  # 5M // T = 28
        ("seq_vae with variational weights, the lines", 173_955, True, True, (5, 5)),  # K: 2 -> 5, S: 5M // (5 T) = 5
        ("a test split of 3M steps", 3_000_000, True, True, (2, 5)),  # the floors, over the budget
        ("char_lstm, any split", 10**9, False, False, (1, 1)),
    ],
)
def test_the_rule_keeps_the_full_figure_within_the_budget_and_lowers_k_then_s(what, steps, weights, particles, sizes):
    assert choose_sizes(steps, weights, particles) == sizes, what


def test_a_given_size_is_kept_and_the_other_fits_around_it():
    assert choose_sizes(173_955, True, True, num_samples=10, num_particles=100) == (10, 100)
    assert choose_sizes(173_955, True, True, num_samples=1) == (1, 20)  # 5M // T = 28
    assert choose_sizes(4_725, True, True, num_particles=500) == (2, 500)  # experiment=jsb_vrnn with weights
    assert choose_sizes(10**9, True, True, max_particle_steps=None) == (10, 100)
    with pytest.raises(ZooError, match="at least 1"):
        choose_sizes(100, True, False, num_samples=0)


def test_the_config_leaves_s_and_k_to_the_rule_and_presets_keep_their_values():
    default = composed()
    assert default.evaluate.num_samples is None and default.evaluate.num_particles is None
    assert default.evaluate.max_particle_steps == MAX_PARTICLE_STEPS
    assert composed("experiment=jsb_vrnn").evaluate.num_particles == 500
    assert composed("evaluate.num_particles=100", "evaluate.num_samples=10").evaluate.num_samples == 10


# the plan, in words


def test_the_plan_names_s_k_and_the_split_and_what_asks_for_the_full_figure(text):
    model, guide = pair("weights and particles", text.spec)
    T = sum(len(s) for s in text.test)
    plan = evaluation_plan(model, guide, text, "test", max_particle_steps=10 * 20 * T)
    assert (plan.num_samples, plan.num_particles, plan.num_sequences, plan.num_steps) == (10, 20, 4, T)
    assert plan.particle_steps == 10 * 20 * T and plan.sequence_particles == 10 * 20 * 4
    words = plan.describe()
    assert words.startswith(
        f"test figures: -ELBO and posterior predictive with S=10 weight draws, each an IWAE "
        f"bound with K=20 particles, over 4 sequences ({T} steps): 800 sequence-particles"
    )
    assert "K=20 instead of 100" in words and "evaluate.num_particles=100 asks for the full figure" in words
    assert "S=10 instead" not in words


def test_a_given_size_is_named_and_nothing_is_said_to_be_lowered(text):
    model, guide = pair("weights and particles", text.spec)
    plan = evaluation_plan(model, guide, text, "test", num_samples=2, num_particles=3, max_particle_steps=1)
    assert (plan.num_samples, plan.num_particles) == (2, 3)
    assert "S=2 weight draws" in plan.describe() and "K=3 particles" in plan.describe()
    assert "\n" not in plan.describe()


@pytest.mark.parametrize(
    "kind,words",
    [
        ("exact", "test figures: exact log-likelihood, over 4 sequences"),
        ("reconstruction", "test figures: reconstruction log-likelihood, over 4 sequences"),
        ("particles", "test figures: -ELBO and -IWAE with K=100 particles, over 4 sequences"),
        ("weights", "test figures: -ELBO and posterior predictive with S=10 weight draws, over 4 sequences"),
        (
            "weights of an autoencoder",
            "test figures: -ELBO of the reconstruction and reconstruction posterior "
            "predictive with S=10 weight draws, over 4 sequences",
        ),
    ],
)
def test_each_kind_of_figure_is_described(text, kind, words):
    model, guide = pair(kind, text.spec)
    assert words in evaluation_plan(model, guide, text, "test").describe()


# the progress bar


@pytest.mark.parametrize(
    "kind", ["exact", "reconstruction", "particles", "weights", "weights of an autoencoder", "weights and particles"]
)
def test_one_bar_counts_every_particle_step_computed(text, bars, kind):
    model, guide = pair(kind, text.spec)
    plan = evaluation_plan(model, guide, text, "test", num_samples=3, num_particles=4, limit=3)
    figures = held_out_figures(
        model, guide, text, "test", plan.num_samples, plan.num_particles, batch_size=4, limit=3, progress=True
    )
    assert len(bars) == 1 and not bars[0].disable
    assert bars[0].total == bars[0].done == plan.particle_steps
    assert figures[-1].num_sequences == plan.num_sequences == 3


def test_the_bar_is_hidden_with_progress_false(text, bars):
    model, guide = pair("particles", text.spec)
    held_out_figures(model, guide, text, "test", num_particles=2)
    latent_log_weights(model, guide, text, "test", num_particles=5, progress=True)
    assert [bar.disable for bar in bars] == [True, False]
    assert bars[1].total == bars[1].done == 5 * sum(len(s) for s in text.test)


def test_the_kinds_state_the_s_and_k_used(text):
    model, guide = pair("weights and particles", text.spec)
    plan = evaluation_plan(model, guide, text, "test", max_particle_steps=1)  # the floors: S=2, K=5
    figures = held_out_figures(model, guide, text, "test", plan.num_samples, plan.num_particles)
    assert figures[1].kind == "posterior predictive (S=2, IWAE K=5)"


# the command


def test_a_run_says_what_it_will_compute_before_computing_it(tmp_path, caplog):
    """zoo.run in process: seq_vae with variational weights on 40 test lines and a budget that
    lowers both sizes to their floors."""
    from zoo.run import train_and_report

    cfg = composed(
        "model=seq_vae",
        "model.bayesian_weights=true",
        *QUICK,
        "evaluate.num_samples=null",
        "evaluate.max_particle_steps=1000",
        "model.net.z_size=4",
        "sample.n=1",
    )
    with caplog.at_level(logging.INFO, logger="zoo"):
        metrics = train_and_report(cfg, tmp_path)
    said = caplog.text
    assert (
        "test figures: -ELBO and posterior predictive with S=2 weight draws, each an IWAE bound with K=5 "
        "particles, over 40 sequences" in said
    )
    assert "S=2 instead of 10, K=5 instead of 100" in said
    assert "evaluate.num_samples=10 evaluate.num_particles=100 asks for the full figure" in said
    assert said.index("test figures:") < said.index("test NLL")
    assert metrics["test"][1]["kind"] == "posterior predictive (S=2, IWAE K=5)"


# bounded memory on long pieces


def test_each_pass_holds_at_most_max_row_steps_sequence_particle_steps(monkeypatch):
    """With the budget cut to 40 sequence-particle-steps, K = 30 particles of pieces of 2 to 7
    steps go a few particles of one piece at a time, and every sequence still gets its K weights
    and its SMC figure."""
    from guides.vrnn import VRNNFiltering
    from tests.helpers import toy_rolls
    from zoo.estimators import importance
    from zoo.models.vrnn import VRNN

    data = toy_rolls()
    model = VRNN(data.spec, hidden_size=8, z_size=2)
    guide = VRNNFiltering(model)
    passes = []  # (rows, T) of every pass of the weights
    weigh = importance.log_weights

    def recorded(m, g, batch, num_particles):
        passes.append((batch.batch_size * num_particles, batch.mask.shape[1]))
        return weigh(m, g, batch, num_particles)

    monkeypatch.setattr(importance, "log_weights", recorded)
    monkeypatch.setattr(likelihood, "MAX_ROW_STEPS", 40)
    log_w = latent_log_weights(model, guide, data, "test", num_particles=30)
    assert log_w.shape == (30, len(data.test)) and torch.isfinite(log_w).all()
    assert passes and all(rows * T <= 40 or rows == 1 for rows, T in passes)
    kinds = [f.kind for f in held_out_figures(model, guide, data, "test", num_particles=30)]
    assert kinds == ["-ELBO", "-IWAE (K=30)", "-FIVO (K=30)"]
