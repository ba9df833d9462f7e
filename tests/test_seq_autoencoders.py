"""Sequence autoencoders: seq_ae's reconstruction, seq_vae's bounds, the cures for posterior
collapse (KL annealing shapes, word dropout, free bits), the code diagnostics, the short-sequence
data sets, the configs and one run from the command line."""

import json
import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from hydra.utils import instantiate
from torch import nn
from torch.nn.functional import softplus

from guides.empty import NoLatents
from guides.seq_encoder import SeqEncoder
from tests.helpers import QUICK, composed, run_zoo, toy_rolls, toy_text
from zoo.data import jsb_chorales, jsb_phrases, shakespeare_lines
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.evaluation.latent_code import (
    codes,
    diagnose,
    homotopy,
    kl_per_dimension,
    latent_code_report,
    mutual_information,
    reconstruct,
)
from zoo.evaluation.likelihood import held_out_figures
from zoo.models.seq_ae import SeqAE
from zoo.models.seq_vae import SeqVAE
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO
from zoo.objectives.anneal import ScaleLatents, kl_weight, linear_beta, sigmoid_beta
from zoo.objectives.free_bits import free_bits_loss
from zoo.reports.codes import write_code_report
from zoo.training.sites import check_guide_covers

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is fastest


@pytest.fixture
def text():
    return toy_text()


def vae(data, **kw):
    torch.manual_seed(0)
    model = SeqVAE(data.spec, hidden_size=16, z_size=3, **kw)
    return model, SeqEncoder(model)


# seq_ae


def test_seq_ae_reconstruction_improves_on_a_tiny_data_set(text):
    """The letters are uniform and independent, so no next-step predictor beats log 5 = 1.61
    nats per letter; rebuilt from its own code, a sequence costs far less."""
    torch.manual_seed(0)
    model = SeqAE(text.spec, hidden_size=32)
    guide = NoLatents(model)
    batch = collate(text.train)
    objective = ELBO()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)

    def accuracy():
        model.eval()
        decoded = reconstruct(model, guide, text.train)
        model.train()
        return sum(int((y == x).sum()) for x, y in zip(text.train, decoded)) / batch.num_steps

    before = held_out_figures(model.eval(), guide, text, "train")[0].nats_per_step
    accuracy_before = accuracy()
    for _ in range(60):
        optimizer.zero_grad()
        objective(model.train(), guide, batch).backward()
        optimizer.step()
    after = held_out_figures(model.eval(), guide, text, "train")[0]
    assert after.kind == "reconstruction"
    assert before > 1.4 and after.nats_per_step < 0.3
    assert accuracy_before < 0.5 and accuracy() > 0.9


def test_seq_ae_trains_by_its_reconstruction_log_likelihood(text):
    """The Pyro model with no latent sites scores log p(x | c(x)): its -ELBO is minus the sum of
    the reconstruction log-probabilities, each a softmax cross-entropy."""
    torch.manual_seed(0)
    model = SeqAE(text.spec, hidden_size=8).eval()
    batch = collate(text.train[:5])
    code = model.code(batch)
    logits = model.decoder.emitter.output(
        model.decoder.lstm(model.decoder.inputs(batch.x, code), model.decoder.initial_state(code))[0]
    )
    by_hand = (logits.log_softmax(-1).gather(-1, batch.x[..., None])[..., 0] * batch.mask).sum(-1)
    torch.testing.assert_close(model.reconstruction_log_prob(batch), by_hand)
    torch.testing.assert_close(ELBO()(model, NoLatents(model), batch), -by_hand.sum())


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_no_code(text, bidirectional):
    torch.manual_seed(0)
    model = SeqAE(text.spec, hidden_size=8, bidirectional=bidirectional)
    seqs = text.train[:4]
    together = model.code(collate(seqs))
    alone = torch.cat([model.code(collate([s])) for s in seqs])
    assert together.shape == (4, 16 if bidirectional else 8)
    torch.testing.assert_close(together, alone)


def test_seq_ae_samples_from_the_moments_of_its_training_codes(text):
    torch.manual_seed(0)
    model = SeqAE(text.spec, hidden_size=8, code_momentum=1.0)
    model(collate(text.train))  # training mode: the moments track this batch's codes
    codes = model.code(collate(text.train)).detach()
    torch.testing.assert_close(model.code_mean, codes.mean(0))
    torch.testing.assert_close(model.code_var, codes.var(0))
    model.eval()
    assert model.sample(3, 5).shape == (3, 5)
    assert model.sample(2, 4, prime=text.train[0][:2]).shape == (2, 6)


# seq_vae


def test_the_seq_encoder_fits_seq_vae_and_refuses_other_models(text):
    model, guide = vae(text)
    check_guide_covers(model, guide, collate(text.train[:3]))
    check_guide_covers(model, SeqEncoder(model, hidden_size=4, bidirectional=True), collate(text.train[:3]))
    with pytest.raises(ZooError, match="seq_vae"):
        SeqEncoder(SeqAE(text.spec, hidden_size=4))


def test_padding_changes_no_posterior_and_no_decoder_log_prob(text):
    model, guide = vae(text)
    seqs, z = text.train[:4], torch.randn(4, 3)

    def log_p(batch, z):
        return (model.decoder(batch.x, z).log_prob(batch.x) * batch.mask).sum(-1)

    together = collate(seqs)
    alone = [collate([s]) for s in seqs]
    torch.testing.assert_close(guide.posterior(together).mean, torch.cat([guide.posterior(b).mean for b in alone]))
    torch.testing.assert_close(log_p(together, z), torch.cat([log_p(b, z[i : i + 1]) for i, b in enumerate(alone)]))


def quadrature_log_likelihood(model, batch, nodes: int = 8) -> torch.Tensor:
    """log p(x) = log E_{z ~ N(0, I)} p(x | z) of every sequence, (B,), by Gauss-Hermite
    quadrature with `nodes` points per dimension of z."""
    t, w = np.polynomial.hermite.hermgauss(nodes)  # int f(t) exp(-t^2) dt = sum_j w_j f(t_j)
    axes = [torch.tensor(t * math.sqrt(2), dtype=torch.float32)] * model.z_size
    z = torch.cartesian_prod(*axes).reshape(-1, model.z_size)  # (G, Z)
    log_w = torch.cartesian_prod(*[torch.tensor(np.log(w / math.sqrt(math.pi)))] * model.z_size)
    log_w = log_w.reshape(-1, model.z_size).sum(-1)  # (G,): the N(0, I) expectation's weights
    G, B = len(z), batch.batch_size
    x, mask = batch.x.repeat(G, *[1] * (batch.x.dim() - 1)), batch.mask.repeat(G, 1)  # (G B, T[, D])
    with torch.no_grad():
        log_p = (model.decoder(x, z.repeat_interleave(B, 0)).log_prob(x) * mask).sum(-1)  # (G B,)
    return torch.logsumexp(log_p.double().reshape(G, B) + log_w[:, None], 0)


def test_seq_vae_held_out_figures_bound_the_likelihood_by_quadrature(text):
    """held_out_figures gives -ELBO and -IWAE-K for seq_vae. Against log p(x) by quadrature
    over its 3-dimensional z, in nats per step: -IWAE-200 of a guide wider than the posterior
    is within 0.025 (measured -0.006 to 0.010 over 20 seeds), -ELBO above by more than 0.02
    (measured 0.037 to 0.059); the -ELBO figure agrees with the training objective."""
    model, guide = vae(text)
    model.eval()
    with torch.no_grad():
        guide.head.scale.bias.add_(1.0)  # q's scales about 1.26: wider than p(z | x), so IWAE converges
    batch = collate(text.test)
    exact = -quadrature_log_likelihood(model, batch).sum().item() / batch.num_steps
    assert exact == pytest.approx(
        -quadrature_log_likelihood(model, batch, 6).sum().item() / batch.num_steps, abs=1e-5
    )  # converged in the number of nodes
    torch.manual_seed(1)
    figures = held_out_figures(model, guide, text, "test", num_particles=200)
    assert [f.kind for f in figures] == ["-ELBO", "-IWAE (K=200)"]
    elbo, iwae = figures
    assert iwae.nats_per_step == pytest.approx(exact, abs=0.025)
    assert elbo.nats_per_step > exact + 0.02
    with torch.no_grad():
        objective = torch.stack([ELBO(analytic_kl=True)(model, guide, batch) for _ in range(50)])
    assert objective.mean() / batch.num_steps == pytest.approx(elbo.nats_per_step, abs=0.05)


def test_seq_vae_samples_from_the_prior_and_continues_a_prime():
    rolls = toy_rolls()
    model, _ = vae(rolls, feed_latent=True)
    assert model.sample(2, 5).shape == (2, 5, rolls.spec.dim)
    prime = rolls.train[0][:2]
    out = model.sample(3, 4, prime=prime)
    assert out.shape == (3, 6, rolls.spec.dim) and (out[:, :2] == prime).all()


# KL annealing


def test_linear_and_sigmoid_annealing_reach_what_they_claim():
    assert [linear_beta(s, 10) for s in (0, 5, 10, 20)] == [0.0, 0.5, 1.0, 1.0]
    assert sigmoid_beta(0, 100) == 0.0 and sigmoid_beta(50, 100) == pytest.approx(0.5)
    assert sigmoid_beta(100, 100) == 1.0 and sigmoid_beta(7, 0) == 1.0
    betas = [sigmoid_beta(s, 100) for s in range(101)]
    assert all(a < b for a, b in zip(betas, betas[1:]))
    assert sigmoid_beta(20, 100) < linear_beta(20, 100) and sigmoid_beta(80, 100) > linear_beta(80, 100)
    assert sigmoid_beta(10, 100) < 0.02 and sigmoid_beta(90, 100) > 0.98  # flat at both ends
    with pytest.raises(ZooError, match="objective.anneal_shape"):
        ELBO(anneal_steps=10, anneal_shape="cosine")


def test_sigmoid_annealing_weights_the_kl_term_of_the_seq_vae(text):
    """With the same draws, -ELBO(beta) = NLL + beta KL: the objective at step s is the
    interpolation between beta = 0 and beta = 1 at beta = sigmoid_beta(s)."""
    model, guide = vae(text)
    batch = collate(text.train[:4])
    plain = ELBO(analytic_kl=True)

    def loss(beta):
        torch.manual_seed(5)
        return plain.elbo.differentiable_loss(ScaleLatents(beta)(model), ScaleLatents(beta)(guide), batch)

    l0, l1 = loss(0.0), loss(1.0)
    objective = ELBO(analytic_kl=True, anneal_steps=100, anneal_shape="sigmoid")
    for step in (10, 30, 70):
        torch.manual_seed(5)
        beta = kl_weight(step, 100, "sigmoid")
        torch.testing.assert_close(objective(model, guide, batch, step=step), l0 + beta * (l1 - l0))


# word dropout


def test_word_dropout_replaces_the_decoder_inputs_in_training_only(text):
    batch, other = collate(text.train[:4]), collate(text.train[4:8])
    T = min(batch.mask.shape[1], other.mask.shape[1])
    x, y = batch.x[:, :T], other.x[:, :T]
    model, _ = vae(text, word_dropout=1.0)
    decoder, z = model.decoder, torch.randn(4, 3)
    decoder.train()
    # rate 1: every input after the start is the unknown one, so inputs carry nothing of x
    torch.testing.assert_close(decoder.inputs(x, z), decoder.inputs(y, z))
    assert (decoder.inputs(x, z)[:, 1:] == decoder.unknown).all()
    decoder.eval()  # off in eval mode
    assert not torch.equal(decoder.inputs(x, z), decoder.inputs(y, z))
    eval_inputs = decoder.inputs(x, z)
    decoder.word_dropout = 0.0
    decoder.train()  # rate 0: nothing changes
    torch.testing.assert_close(decoder.inputs(x, z), eval_inputs)
    decoder.word_dropout = 0.5
    torch.manual_seed(0)
    long_x = torch.randint(0, 5, (64, 50))
    dropped = (decoder.inputs(long_x, torch.zeros(64, 3))[:, 1:] == decoder.unknown).all(-1).float().mean()
    assert 0.45 < dropped < 0.55
    with pytest.raises(ZooError, match="model.net.word_dropout"):
        SeqVAE(text.spec, word_dropout=1.5)


# free bits


class ToyLatentModel(nn.Module):
    """z ~ N(0, I_2), x ~ N(z_0, 1): only the first dimension explains x."""

    def forward(self, batch):
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            z = pyro.sample("z", dist.Normal(torch.zeros(batch.batch_size, 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z[:, :1], 1.0).to_event(1), obs=batch.x[:, 0])  # (B, 1)


class ToyGuide(nn.Module):
    """q(z) = N(loc, softplus(rho)^2), the same for every sequence."""

    def __init__(self, loc, scale):
        super().__init__()
        self.loc = nn.Parameter(torch.tensor(loc))
        self.rho = nn.Parameter(torch.log(torch.expm1(torch.tensor(scale))))

    def forward(self, batch):
        q = dist.Normal(self.loc.expand(batch.batch_size, 2), softplus(self.rho).expand(batch.batch_size, 2))
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            return pyro.sample("z", q.to_event(1))


def test_free_bits_equal_the_elbo_when_every_dimension_is_above_lambda(text):
    model, guide = vae(text)
    batch = collate(text.train[:6], dataset_size=12)
    loc, scale = guide.posterior(batch).base_dist.loc, guide.posterior(batch).base_dist.scale
    free_bits = 0.5 * float(kl_per_dimension(loc, scale).min().detach())
    assert free_bits > 0
    torch.manual_seed(3)
    plain = ELBO(analytic_kl=True)(model, guide, batch)
    torch.manual_seed(3)
    clamped = ELBO(analytic_kl=True, free_bits=free_bits)(model, guide, batch)
    torch.testing.assert_close(clamped, plain)


def test_free_bits_are_flat_in_q_below_lambda():
    """Dimension 1 explains nothing and its KL (about 0.005 nats) is below lambda = 1: the
    objective has no gradient in its q parameters; dimension 0 (KL about 2 nats) does."""
    batch = collate([torch.tensor([[1.0]]), torch.tensor([[3.0]])], dataset_size=10)
    for free_bits, flat in ((1.0, True), (0.0, False)):
        guide = ToyGuide([2.0, 0.1], [0.7, 1.0])
        torch.manual_seed(0)
        loss = free_bits_loss(ToyLatentModel(), guide, batch, free_bits)
        d_loc, d_rho = torch.autograd.grad(loss, [guide.loc, guide.rho])
        assert (d_loc[1] == 0 and d_rho[1] == 0) == flat
        assert d_loc[0] != 0 and d_rho[0] != 0


def test_free_bits_kl_is_scaled_to_the_data_set():
    """With z independent of x and lambda above every KL_d, -L = -E log p(x | z) + N * 2 lambda."""
    batch = collate([torch.tensor([[1.0]]), torch.tensor([[3.0]])], dataset_size=10)
    guide = ToyGuide([0.0, 0.0], [1.0, 1.0])  # q = p: KL_d = 0
    torch.manual_seed(0)
    with_free_bits = free_bits_loss(ToyLatentModel(), guide, batch, 0.3)
    torch.manual_seed(0)
    without = free_bits_loss(ToyLatentModel(), guide, batch, 0.0)
    torch.testing.assert_close(with_free_bits - without, torch.tensor(10 * 2 * 0.3))


def test_free_bits_refuse_what_they_cannot_clamp():
    rolls = toy_rolls()
    with pytest.raises(ZooError, match="objective.analytic_kl"):
        ELBO(free_bits=0.5)
    model = VRNN(rolls.spec, hidden_size=4, z_size=2)
    from guides.vrnn import VRNNFiltering

    with pytest.raises(ZooError, match="Normal latent sites"):
        ELBO(analytic_kl=True, free_bits=0.5)(model, VRNNFiltering(model), collate(rolls.train[:2]))


# code diagnostics


class HandMadeGuide(nn.Module):
    """q(z | x) = N((mean of x's ids, 0.3), diag(0.5, 2)^2): dimension 0 depends on x, 1 does not."""

    def forward(self, batch):
        B = batch.batch_size
        mean_id = (batch.x.float() * batch.mask).sum(1) / batch.lengths
        loc = torch.stack([mean_id, torch.full((B,), 0.3)], -1)
        scale = torch.tensor([0.5, 2.0]).expand(B, 2)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=B):
            return pyro.sample("z", dist.Normal(loc, scale).to_event(1))


def test_active_units_and_kl_per_dimension_on_a_hand_made_guide(text):
    report = latent_code_report(HandMadeGuide(), text, "train", batch_size=5)
    assert report.active_units == 1 and report.activity[1] == 0 and report.activity[0] > 0.01
    assert report.kl_per_dimension[1] == pytest.approx(0.5 * (0.3**2 + 2.0**2 - 1) - math.log(2.0))
    means = torch.stack([s.float().mean() for s in text.train])
    by_hand = (0.5 * (means**2 + 0.25 - 1) - math.log(0.5)).mean()
    assert report.kl_per_dimension[0] == pytest.approx(float(by_hand), rel=1e-5)
    assert report.num_sequences == len(text.train) and not report.posterior_collapse


def test_mutual_information_is_zero_without_dependence_and_log_n_with_separated_codes():
    torch.manual_seed(0)
    loc, scale = torch.full((50, 4), 0.7), torch.full((50, 4), 0.3)
    assert mutual_information(loc, scale) == pytest.approx(0.0, abs=1e-9)
    separated = torch.arange(50.0)[:, None].expand(50, 4) * 10
    assert mutual_information(separated, scale) == pytest.approx(math.log(50), abs=1e-6)
    assert mutual_information(separated, scale, chunk_elements=16) == pytest.approx(math.log(50), abs=1e-6)


def test_posterior_collapse_is_flagged_when_q_is_the_prior():
    collapsed = diagnose(torch.zeros(20, 3), torch.ones(20, 3))
    assert collapsed.posterior_collapse and collapsed.active_units == 0 and collapsed.kl == 0
    torch.manual_seed(0)
    informative = diagnose(torch.randn(20, 3), torch.full((20, 3), 0.1))
    assert not informative.posterior_collapse and informative.active_units == 3


def test_homotopy_ends_at_the_reconstructions_of_its_ends(text):
    model, guide = vae(text)
    model.eval()
    x_a, x_b = text.test[0], text.test[1]
    alphas, decoded = homotopy(model, guide, x_a, x_b, steps=4)
    length = max(len(x_a), len(x_b))
    assert alphas.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1]) and decoded.shape == (4, length)
    ends = model.decode(codes(model, guide, collate([x_a, x_b])), length)  # decode(c(x_a)), decode(c(x_b))
    assert torch.equal(decoded[0], ends[0]) and torch.equal(decoded[-1], ends[1])


def test_the_code_report_writes_its_files(tmp_path, text):
    data = text
    model, guide = vae(data)
    result = write_code_report(model, guide, data, tmp_path, num_examples=2)
    assert result["latent_code"]["num_sequences"] == len(data.test)
    assert json.loads((tmp_path / "latent_code.json").read_text()) == result["latent_code"]
    for name in result["files"]:
        assert (tmp_path / name).stat().st_size > 0
    assert result["files"] == ["reconstructions.txt", "homotopy.txt"]  # piano rolls: .png (the command-line test)
    assert (tmp_path / "reconstructions.txt").read_text().count("input ") == 2
    assert (tmp_path / "homotopy.txt").read_text().count("alpha=") == 5
    ae = SeqAE(data.spec, hidden_size=4)
    assert set(write_code_report(ae, NoLatents(ae), data, tmp_path)["latent_code"]) == {"code_mmd"}  # no KL to report
    assert write_code_report(VRNN(data.spec, hidden_size=4, z_size=2), NoLatents(), data, tmp_path) is None


# data


@pytest.fixture(scope="module")
def lines():
    return shakespeare_lines.load(max_length=40, min_length=10)


def test_shakespeare_lines_are_whole_lines_within_the_lengths(lines):
    vocab = lines.spec.vocab
    assert vocab.decode(lines.test[0]) == "When shall we three meet again\n"  # Macbeth, the first test play
    for split in ("train", "valid", "test"):
        texts = [vocab.decode(s) for s in lines.split(split)]
        assert all(10 <= len(t) <= 40 and t.endswith("\n") and "\n" not in t[:-1] for t in texts)
        assert not any(t.endswith(":\n") and t[:-2].isupper() for t in texts[:2000])  # no speaker names
    assert lines.spec.dim == 76


def test_shakespeare_speeches_and_bad_options():
    speeches = shakespeare_lines.load(unit="speech", max_length=120, min_length=1)
    texts = [speeches.spec.vocab.decode(s) for s in speeches.test[:20]]
    assert texts[0] == "When shall we three meet again\nIn thunder, lightning, or in rain?\n"
    with pytest.raises(ZooError, match="data.unit"):
        shakespeare_lines.load(unit="word")
    with pytest.raises(ZooError, match="data.min_length"):
        shakespeare_lines.load(max_length=5, min_length=10)


def test_jsb_phrases_are_non_overlapping_windows_per_split(shared_data):
    chorales = jsb_chorales.load()
    phrases = jsb_phrases.load(length=16)
    for split in ("train", "valid", "test"):
        rolls = chorales.split(split)
        assert len(phrases.split(split)) == sum(len(r) // 16 for r in rolls)
    assert all(p.shape == (16, 88) for p in phrases.train)
    first = chorales.train[0]
    assert torch.equal(phrases.train[0], first[:16]) and torch.equal(phrases.train[1], first[16:32])
    with pytest.raises(ZooError, match="data.length"):
        jsb_phrases.load(length=0)


# configs


@pytest.mark.parametrize(
    "model,guide,objective",
    [
        ("seq_ae", "guides.empty.NoLatents", (0, "linear", 0.0)),
        ("seq_vae", "guides.seq_encoder.SeqEncoder", (2000, "sigmoid", 0.0)),
    ],
)
@pytest.mark.parametrize("make_data", [toy_text, toy_rolls])
def test_the_models_compose_with_their_guide_data_and_objective(model, guide, objective, make_data):
    cfg = composed(f"model={model}", "model.net.hidden_size=8")
    assert cfg.guide._target_ == guide and cfg.data._target_ == "zoo.data.shakespeare_lines.load"
    assert (cfg.objective.anneal_steps, cfg.objective.anneal_shape, cfg.objective.free_bits) == objective
    data = make_data()
    net = instantiate(cfg.model.net, spec=data.spec)
    check_guide_covers(net, instantiate(cfg.guide, model=net), collate(data.train[:2]))
    instantiate(cfg.objective)


def test_the_new_options_compose():
    cfg = composed(
        "model=seq_vae",
        "data=jsb_phrases",
        "objective=elbo_free_bits",
        "guide.bidirectional=true",
        "model.net.feed_latent=true",
        "data.length=8",
    )
    assert cfg.data.length == 8 and cfg.objective.free_bits == 0.25 and cfg.guide.bidirectional
    assert instantiate(cfg.objective).free_bits == 0.25
    for objective in ("elbo", "elbo_analytic_kl", "elbo_kl_annealed", "elbo_kl_sigmoid"):
        instantiate(composed("model=seq_vae", f"objective={objective}").objective)
    assert composed("data=shakespeare_lines", "data.unit=speech").data.unit == "speech"


# the command line


def test_seq_vae_on_jsb_phrases_from_the_command_line(tmp_path):
    run_zoo(
        tmp_path,
        "model=seq_vae",
        "data=jsb_phrases",
        *QUICK,
        "model.net.z_size=4",
        "objective.anneal_steps=4",
        "evaluate.num_particles=10",
        "train.batch_size=16",
        "model.net.hidden_size=16",
        "train.valid_limit=20",
        "evaluate.test_limit=20",
        "sample.length=16",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [f["kind"] for f in metrics["test"]] == ["-ELBO", "-IWAE (K=10)"]
    elbo, iwae = (f["nats_per_step"] for f in metrics["test"])
    # binary frames: -log p(x) > 0, so a true bound is positive; 10 distinct particles leave a gap
    assert 0 < iwae < elbo and metrics["test"][0]["num_steps"] == 20 * 16
    assert (tmp_path / "samples.png").exists()

    from zoo.evaluate import load_run

    _, data, model, guide, _ = load_run(str(tmp_path))
    result = write_code_report(model, guide, data, tmp_path, limit=20)
    assert result["latent_code"]["num_sequences"] == 20 and len(result["latent_code"]["kl_per_dimension"]) == 4
    assert (tmp_path / "homotopy.png").exists() and (tmp_path / "reconstructions.png").exists()


def test_seq_ae_on_shakespeare_lines_reports_a_reconstruction_figure(tmp_path):
    """The command's own steps (zoo.run.train_and_report), in this process to spare a start-up."""
    from zoo.run import train_and_report

    metrics = train_and_report(
        composed(
            "model=seq_ae",
            "data.max_length=32",
            *QUICK,
            "train.batch_size=16",
            "model.net.hidden_size=16",
            "train.valid_limit=20",
            "evaluate.test_limit=20",
            "sample.length=16",
        ),
        tmp_path,
    )
    assert [f["kind"] for f in metrics["test"]] == ["reconstruction"]
    assert metrics["test"][0]["num_sequences"] == 20 and metrics["test"][0]["nats_per_step"] > 0
    assert (tmp_path / "samples.txt").read_text().count("--- sample") == 4
