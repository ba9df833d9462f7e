"""SeqGAN's published oracle (LantaoYu/SeqGAN save/target_params_py3.pkl): read only through the
array-only unpickler, its equations those of target_lstm.py (checked against a numpy
transcription and against torch.nn.LSTM), its samples and data set what `data.oracle=seqgan`
promises, and its faults named."""

import math
import pickle
import re
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import composed
from zoo.data.errors import DataError
from zoo.data.oracle import START, load, oracle_for
from zoo.data.safe_pickle import load_arrays
from zoo.data.seqgan_oracle import (
    NAME,
    PARAMETERS,
    SHA256,
    URL,
    SeqGANOracle,
    expected_shapes,
    seqgan_oracle,
)
from zoo.errors import ZooError
from zoo.evaluation.oracle_metrics import nll_oracle, oracle_test_nll, uniform_nll_oracle


@pytest.fixture(scope="module")
def params(shared_data):
    """The 15 published arrays, as target_lstm.py indexes them."""
    path = shared_data / NAME
    if not path.exists():
        pytest.skip(f"no {NAME} in {shared_data}")
    return load_arrays(path.read_bytes(), str(path))


@pytest.fixture(scope="module")
def oracle(params):
    return SeqGANOracle(params)


# -- the pickle ------------------------------------------------------------------------------------


class _Hostile:
    """A pickle payload that runs a shell command when loaded by an unrestricted unpickler."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


class _HostileOpen:
    """A payload that creates a file through builtins.open when loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


@pytest.mark.parametrize("payload", ["system", "open", "inside_a_list"])
def test_a_hostile_pickle_is_refused_and_never_run(tmp_path, payload):
    marker = tmp_path / "pwned"
    hostile = {
        "system": _Hostile(f"touch {marker}"),
        "open": _HostileOpen(marker),
        "inside_a_list": [np.zeros(3, np.float32), _Hostile(f"touch {marker}")],
    }[payload]
    data = pickle.dumps(hostile, protocol=3)
    with pytest.raises(
        DataError,
        match=r"evil\.pkl is not a plain pickle of numpy arrays .*refusing to load "
        r"(posix\.system|_?io\.open|builtins\.open).*nothing in it was run",
    ):
        load_arrays(data, "evil.pkl")
    assert not marker.exists()


def test_the_hostile_payload_is_real(tmp_path):
    """The control: Python's own unpickler does run it, so the refusal above is what saves us."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Hostile(f"touch {marker}"), protocol=3))
    assert marker.exists()


def test_an_object_array_is_refused_at_its_dtype():
    """Items of an object array would be unpickled as anything: the dtype itself is refused."""
    data = pickle.dumps(np.array([1, "two"], dtype=object), protocol=3)
    with pytest.raises(DataError, match="numpy dtype object"):
        load_arrays(data, "objects.pkl")


def test_plain_arrays_come_back_whole():
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float64), np.arange(3)]
    for protocol in (3, 4):  # numpy pickles name _reconstruct, ndarray and dtype under both
        back = load_arrays(pickle.dumps(arrays, protocol=protocol), "plain.pkl")
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(arrays, back))


def test_the_published_file_is_seqgans_fifteen_arrays(params):
    assert len(params) == 15
    assert [a.shape for a in params] == list(expected_shapes().values())
    assert all(a.dtype == np.float32 for a in params)


# -- the equations ---------------------------------------------------------------------------------


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _numpy_step(p, token, h, c):
    """target_lstm.py's recurrent and output units, transcribed in float64 from params[k]."""
    p = [a.astype(np.float64) for a in p]
    x = p[0][token]
    i = _sigmoid(x @ p[1] + h @ p[2] + p[3])
    f = _sigmoid(x @ p[4] + h @ p[5] + p[6])
    o = _sigmoid(x @ p[7] + h @ p[8] + p[9])
    c_ = np.tanh(x @ p[10] + h @ p[11] + p[12])
    c = f * c + i * c_
    h = o * np.tanh(c)
    logits = h @ p[13] + p[14]
    log_p = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
    return (i, f, o, c_), h, c, log_p


def _numpy_log_prob(p, sequence):
    """log p(x) summed over steps, from start_token 0 and zero states, in float64."""
    h = c = np.zeros(p[2].shape[0])
    token, total = 0, 0.0
    for x_t in sequence:
        _, h, c, log_p = _numpy_step(p, token, h, c)
        total += log_p[x_t]
        token = x_t
    return total


@torch.no_grad()
def test_one_steps_gates_match_the_numpy_transcription(params, oracle):
    h = np.random.default_rng(0).normal(size=(3, 32)) * 0.5  # a few hidden states, not only zeros
    tokens = np.array([START, 17, 4999])
    gates = oracle.gates(torch.as_tensor(tokens), torch.as_tensor(h, dtype=torch.float32))
    for row in range(3):
        expected, *_ = _numpy_step(params, tokens[row], h[row], np.zeros(32))
        for name, ours, theirs in zip(("i", "f", "o", "c_"), gates, expected):
            np.testing.assert_allclose(ours[row].numpy(), theirs, atol=2e-6, err_msg=name)


@torch.no_grad()
def test_log_probabilities_match_the_numpy_transcription(params, oracle):
    drawn = oracle.sample(3, torch.Generator().manual_seed(0))  # (3, 20)
    uniform = torch.randint(0, 5000, (2, 20), generator=torch.Generator().manual_seed(1))
    x = torch.cat([drawn, uniform])
    ours = oracle.log_prob(x).double()
    theirs = torch.tensor([_numpy_log_prob(params, row.tolist()) for row in x])
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=2e-3)
    assert (ours[:3] > ours[3:].max()).all()  # the oracle's own sequences are far likelier


@torch.no_grad()
def test_it_is_torchs_lstm_with_gates_i_f_c_og_mapped_to_i_f_g_o(oracle):
    lstm = oracle.as_torch_lstm()
    x = oracle.sample(8, torch.Generator().manual_seed(2))  # (8, 20)
    inputs = torch.cat([torch.full((8, 1), START), x[:, :-1]], 1)  # x_0 = start_token, then x_1..x_19
    h, _ = lstm(oracle.g_embeddings[inputs])  # (8, 20, H)
    log_p = (h @ oracle.Wo + oracle.bo).log_softmax(-1).gather(-1, x[..., None]).squeeze(-1).sum(1)
    assert torch.allclose(log_p, oracle.log_prob(x), atol=1e-3)
    assert isinstance(lstm, nn.LSTM) and lstm.weight_ih_l0.shape == (128, 32)


@torch.no_grad()
def test_the_likelihood_is_the_product_of_normalised_steps(oracle):
    """log p(x_{1:t}) = logsumexp_v log p(x_{1:t}, v): each step's probabilities sum to one and
    log_prob chains them."""
    prefix = oracle.sample(1, torch.Generator().manual_seed(3), length=5)  # (1, 5)
    extended = torch.cat([prefix.expand(5000, 5), torch.arange(5000)[:, None]], 1)  # (V, 6)
    assert oracle.log_prob(extended).logsumexp(0).item() == pytest.approx(oracle.log_prob(prefix).item(), abs=1e-3)


@torch.no_grad()
def test_first_tokens_follow_the_first_step_distribution(oracle):
    p = oracle.log_prob(torch.arange(5000)[:, None]).exp().double()  # p(x_1 = v)
    n = 20_000
    x = oracle.sample(n, torch.Generator().manual_seed(4), length=1)[:, 0]
    counts = torch.bincount(x, minlength=5000).double()
    order = p.argsort(descending=True)  # 20 bins of about equal mass, likeliest tokens first
    bins = torch.bucketize(p[order].cumsum(0), torch.linspace(0.05, 0.95, 19, dtype=torch.float64))
    expected = torch.zeros(20, dtype=torch.float64).index_add_(0, bins, p[order]) * n
    observed = torch.zeros(20, dtype=torch.float64).index_add_(0, bins, counts[order])
    chi2 = ((observed - expected) ** 2 / expected).sum().item()
    assert chi2 < 43.8  # chi-square with 19 degrees of freedom, p = 0.001
    top = order[:5]
    assert torch.allclose(counts[top] / n, p[top], atol=4 * (p[top] / n).sqrt().max().item())


# -- the data set --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seqgan_data(params):
    return load(oracle="seqgan")  # the paper's sizes: 10,000 / 1,000 / 2,000 sequences of 20


def test_data_oracle_seqgan_is_the_papers_data_set(seqgan_data):
    data = seqgan_data
    assert [len(data.train), len(data.valid), len(data.test)] == [10_000, 1000, 2000]
    x = torch.stack(data.train + data.valid + data.test)
    assert x.shape == (13_000, 20) and x.dtype == torch.long
    assert 0 <= x.min() and x.max() < 5000 and len(x.unique()) > 4000
    assert data.spec.kind == "categorical" and data.spec.dim == 5000
    assert isinstance(oracle_for(data), SeqGANOracle)
    random_oracle = load(vocab_size=5000, num_train=1, num_valid=1, num_test=1)
    assert not torch.equal(random_oracle.test[0], data.test[0])


def test_the_seed_fixes_the_draws_and_leaves_the_global_generator_alone(seqgan_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))  # draw afresh, not from the cache
    state = torch.get_rng_state()
    again = load(oracle="seqgan", num_train=1, num_valid=1000, num_test=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.stack(again.valid), torch.stack(seqgan_data.valid))
    other = load(oracle="seqgan", num_train=1, num_valid=1, num_test=50, seed=7)
    assert not torch.equal(torch.stack(other.test), torch.stack(seqgan_data.test[:50]))


def test_nll_oracle_uses_seqgans_likelihood(seqgan_data, oracle):
    rebuilt = oracle_for(seqgan_data)
    own = nll_oracle(rebuilt, rebuilt.sample(1000, torch.Generator().manual_seed(5)))
    floor = oracle_test_nll(rebuilt, seqgan_data)
    assert abs(own.nats_per_step - floor.nats_per_step) < 4 * math.hypot(own.stderr, floor.stderr)
    assert 5.5 < floor.nats_per_step < 6.0  # SeqGAN's oracle's entropy rate, about 5.75
    uniform = uniform_nll_oracle(rebuilt, 500, torch.Generator().manual_seed(6))
    assert uniform.nats_per_step > math.log(5000) > floor.nats_per_step + 2


def test_the_cli_config_builds_seqgans_oracle_data():
    from zoo.run import build, oracle_report

    cfg = composed(
        "model=char_lstm",
        "experiment=oracle",
        "data.oracle=seqgan",
        "data.num_train=20",
        "data.num_valid=5",
        "data.num_test=5",
    )
    data, model, guide, _ = build(cfg)
    assert isinstance(oracle_for(data), SeqGANOracle)
    (figure,) = oracle_report(model, guide, data, 20)
    assert figure.kind == "NLL-oracle" and figure.num_steps == 20 * 20
    assert figure.nats_per_step > 8  # an untrained generator writes what the oracle finds unlikely


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", range(15))
def test_a_wrong_shape_names_the_array_its_role_and_the_shape_expected(params, k):
    name, role, _ = PARAMETERS[k]
    wrong = list(params)
    wrong[k] = np.zeros(params[k].shape[:-1] + (params[k].shape[-1] + 1,), np.float32)
    expected = re.escape(f"params[{k}], {name}, {role}, has shape {wrong[k].shape}; expected {params[k].shape}")
    with pytest.raises(DataError, match=expected):
        SeqGANOracle(wrong, source="mine.pkl")


def test_a_wrong_count_or_kind_of_arrays_is_named(params):
    with pytest.raises(
        DataError,
        match=r"mine\.pkl holds 14 items; SeqGAN's oracle is a list of 15 arrays .*"
        r"g_embeddings, Wi, Ui, bi, Wf, Uf, bf, Wog, Uog, bog, Wc, Uc, bc, Wo, bo",
    ):
        SeqGANOracle(params[:14], source="mine.pkl")
    with pytest.raises(DataError, match=r"params\[3\], bi, the input gate's bias, is dtype int64; expected a float"):
        SeqGANOracle([*params[:3], np.zeros(32, np.int64), *params[4:]], source="mine.pkl")
    with pytest.raises(DataError, match=r"params\[0\], g_embeddings, the token embedding, has values that are not"):
        SeqGANOracle([np.full((5000, 32), np.nan, np.float32), *params[1:]], source="mine.pkl")


def test_a_missing_file_says_where_to_put_it(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as caught:
        seqgan_oracle(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / NAME) in message and URL in message and "ZOO_DATA_DIR" in message
    assert "LantaoYu/SeqGAN's save/target_params_py3.pkl" in message
    with pytest.raises(DataError, match="data.oracle=seqgan needs"):
        load(oracle="seqgan", data_dir=str(tmp_path), num_train=1, num_valid=1, num_test=1)


def test_a_file_that_is_not_the_published_one_is_refused(params, shared_data, tmp_path):
    shutil.copy(shared_data / NAME, tmp_path / NAME)
    (tmp_path / NAME).chmod(0o644)
    data = bytearray((tmp_path / NAME).read_bytes())
    data[-100] ^= 1  # one bit of bo
    (tmp_path / NAME).write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"not the published file: sha256 .*, expected {SHA256}"):
        seqgan_oracle(tmp_path)


def test_sizes_other_than_seqgans_and_unknown_oracles_name_the_option():
    with pytest.raises(ZooError, match=r"data.vocab_size=100, but SeqGAN's oracle .* has 5000"):
        load(oracle="seqgan", vocab_size=100)
    with pytest.raises(ZooError, match=r"data.hidden_size=64, but SeqGAN's oracle .* has 32"):
        load(oracle="seqgan", hidden_size=64)
    with pytest.raises(ZooError, match=r"data.oracle='seqgna' is not one of random, seqgan.*seqgan"):
        load(oracle="seqgna")
