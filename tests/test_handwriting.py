"""Handwriting: Graves 2013's mixture density output against its equations, pen strokes as
offsets, the LASA and IAM-OnDB loaders, and the CLI from training to sample sheets."""

import json
import math

import numpy as np
import pytest
import torch

from tests.helpers import QUICK, command, run_zoo
from zoo.data import iam_ondb, lasa_handwriting
from zoo.data.errors import DataError
from zoo.data.strokes import to_steps, to_strokes
from zoo.errors import ZooError
from zoo.evaluation.sampling import sampling_bias
from zoo.models.char_lstm import CharLSTM
from zoo.nn.pen_mixture import MAX_RHO, MixtureDensityEmitter


def graves_log_density(y: np.ndarray, x: np.ndarray, M: int, b: float = 0.0, sigma_min: float = 1e-2) -> float:
    """Eqs. 18-25 of Graves 2013 written out in numpy for one output vector y and one step x."""
    e_hat, pi_hat, mu_hat = y[0], y[1 : 1 + M], y[1 + M : 1 + 3 * M].reshape(M, 2)
    sigma_hat, rho_hat = y[1 + 3 * M : 1 + 5 * M].reshape(M, 2), y[1 + 5 * M :]
    e = 1 / (1 + np.exp(-e_hat))
    pi = np.exp(pi_hat * (1 + b)) / np.exp(pi_hat * (1 + b)).sum()
    sigma = np.exp(sigma_hat - b) + sigma_min
    rho = np.tanh(rho_hat) * MAX_RHO
    density = 0.0
    for j in range(M):
        d1, d2 = (x[0] - mu_hat[j, 0]) / sigma[j, 0], (x[1] - mu_hat[j, 1]) / sigma[j, 1]
        Z = d1**2 + d2**2 - 2 * rho[j] * d1 * d2
        density += (
            pi[j]
            * np.exp(-Z / (2 * (1 - rho[j] ** 2)))
            / (2 * np.pi * sigma[j, 0] * sigma[j, 1] * np.sqrt(1 - rho[j] ** 2))
        )
    return float(np.log(density) + np.log(e if x[2] == 1 else 1 - e))


@pytest.mark.parametrize("b", [0.0, 0.7])
def test_log_prob_is_graves_equations(b):
    torch.manual_seed(0)
    M = 3
    emitter = MixtureDensityEmitter(hidden_size=4, components=M).double()
    emitter.bias = b
    h = torch.randn(2, 5, 4, dtype=torch.float64)
    x = torch.cat([torch.randn(2, 5, 2, dtype=torch.float64), torch.randint(0, 2, (2, 5, 1)).double()], -1)
    p = emitter(h)
    assert p.batch_shape == (2, 5) and p.event_shape == (3,)
    y = emitter.output(h).detach().numpy()
    expected = np.array([[graves_log_density(y[i, t], x[i, t].numpy(), M, b) for t in range(5)] for i in range(2)])
    np.testing.assert_allclose(p.log_prob(x).detach().numpy(), expected, rtol=1e-10)


def test_one_component_samples_have_its_moments():
    torch.manual_seed(1)
    emitter = MixtureDensityEmitter(hidden_size=1, components=1).double()
    with torch.no_grad():  # e_hat, pi_hat, mu (2), sigma_hat (2), rho_hat = 0.3, 0, (1, -2), log (0.5, 2), atanh 0.6
        emitter.output.weight.zero_()
        emitter.output.bias.copy_(torch.tensor([0.3, 0.0, 1.0, -2.0, math.log(0.5), math.log(2.0), math.atanh(0.6)]))
    p = emitter(torch.zeros(1, 1, dtype=torch.float64))
    x = p.sample((200_000,))[:, 0]  # (N, 3)
    sigma = torch.tensor([0.5 + 1e-2, 2.0 + 1e-2], dtype=torch.float64)
    rho = 0.6 * MAX_RHO
    assert torch.allclose(x[:, :2].mean(0), torch.tensor([1.0, -2.0], dtype=torch.float64), atol=0.02)
    assert torch.allclose(x[:, :2].std(0), sigma, rtol=0.01)
    assert torch.corrcoef(x[:, :2].T)[0, 1].item() == pytest.approx(rho, abs=0.01)
    assert x[:, 2].mean().item() == pytest.approx(1 / (1 + math.exp(-0.3)), abs=0.005)
    assert set(x[:, 2].unique().tolist()) == {0.0, 1.0}
    assert torch.allclose(p.mean[0], torch.tensor([1.0, -2.0, 1 / (1 + math.exp(-0.3))], dtype=torch.float64))


def test_bias_sharpens_the_mixture_and_narrows_the_gaussians():
    torch.manual_seed(2)
    emitter = MixtureDensityEmitter(hidden_size=8, components=5)
    h = torch.randn(64, 8)
    spread, peak = [], []
    for b in (0.0, 1.0, 3.0):
        with sampling_bias(emitter, b):
            p = emitter(h)
            spread.append(p.sample((200,))[..., :2].std().item())
        peak.append(torch.softmax(p.logits, -1).max(-1).values.mean().item())
        assert (p.log_scale.exp() > 1e-2).all()  # the floor holds under any bias
    assert spread[0] > spread[1] > spread[2]
    assert peak[0] < peak[1] < peak[2]
    assert emitter.bias == 0.0  # restored after the block


def test_sampling_bias_refuses_models_without_a_mixture_density_output():
    from zoo.data.dataset import DataSpec

    model = CharLSTM(DataSpec("bernoulli", 4), hidden_size=8)
    with pytest.raises(ZooError, match="mdn"):
        with sampling_bias(model, 1.0):
            pass
    with pytest.raises(ZooError, match=">= 0"):
        with sampling_bias(model, -1.0):
            pass


def test_steps_and_strokes_round_trip():
    strokes = [np.array([[0.0, 0.0], [1.0, 0.5], [2.0, 0.0]]), np.array([[5.0, 1.0], [6.0, 2.0]])]
    steps = to_steps(strokes)
    np.testing.assert_allclose(steps, [[1, 0.5, 0], [1, -0.5, 1], [3, 1, 0], [1, 1, 1]])
    back = to_strokes(torch.tensor(steps), scale=1.0)
    assert len(back) == 2
    np.testing.assert_allclose(back[0], strokes[0])
    np.testing.assert_allclose(back[1], strokes[1])
    halved = torch.tensor(steps) * torch.tensor([0.5, 0.5, 1.0])  # offsets in units of 2
    np.testing.assert_allclose(to_strokes(halved, scale=2.0)[1], strokes[1])


def test_lasa_from_the_wheel_is_split_by_demonstration():
    data = lasa_handwriting.load(every=10)
    assert (len(data.train), len(data.valid), len(data.test)) == (150, 30, 30)
    assert len(data.info["shapes"]) == 30
    assert data.spec.kind == "strokes" and data.spec.dim == 3 and data.spec.scale > 0
    offsets = torch.cat([s[:, :2] for s in data.train])
    assert offsets.std().item() == pytest.approx(1.0, rel=1e-4)  # in units of the training std
    for s in data.train + data.valid + data.test:  # one stroke per demonstration
        assert s[-1, 2] == 1 and s[:-1, 2].sum() == 0
        assert (s[:, :2].abs().sum(-1) > 0).all()  # repeated points dropped


def test_lasa_files_in_the_data_dir_take_precedence(tmp_path):
    from scipy.io import savemat

    folder = tmp_path / "lasa_handwriting"
    folder.mkdir()
    t = np.linspace(0, 1, 1000)
    demos = np.empty((1, 7), dtype=object)
    for i in range(7):
        pos = np.stack([np.cos(3 * t) * (1 + 0.1 * i), np.sin(3 * t)])  # (2, 1000)
        demos[0, i] = {"pos": pos, "t": t[None], "vel": pos, "acc": pos, "dt": 0.01}
    savemat(folder / "Arc.mat", {"demos": demos, "dt": 0.01})
    data = lasa_handwriting.load(data_dir=str(tmp_path), every=100)
    assert data.info["shapes"] == ["Arc"] and (len(data.train), len(data.valid), len(data.test)) == (5, 1, 1)
    drawn = to_strokes(data.test[0], data.spec.scale)[0]
    last = 3 * t[900]  # every 100th of 1000 points: 0, 100, ..., 900
    np.testing.assert_allclose(drawn[-1] - drawn[0], [np.cos(last) * 1.6 - 1.6, np.sin(last)], atol=1e-5)
    (folder / "Broken.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match="Broken.mat is not a LASA handwriting file"):
        lasa_handwriting.load(data_dir=str(tmp_path))


LINE = """<?xml version="1.0" encoding="UTF-8"?>
<WhiteboardCaptureSession>
  <WhiteboardDescription><SensorLocation corner="top_left"/></WhiteboardDescription>
  <StrokeSet>
    <Stroke colour="black" start_time="1.0" end_time="1.2">
      <Point x="100" y="200" time="1.0"/><Point x="110" y="190" time="1.1"/><Point x="120" y="195" time="1.2"/>
    </Stroke>
    <Stroke colour="black" start_time="1.5" end_time="1.6">
      <Point x="{x}" y="200" time="1.5"/><Point x="{x2}" y="210" time="1.6"/>
    </Stroke>
  </StrokeSet>
</WhiteboardCaptureSession>
"""


def write_lines(root, forms):
    for form in forms:
        folder = root / form[:3] / form[:7]
        folder.mkdir(parents=True, exist_ok=True)
        for k in (1, 2):
            (folder / f"{form}-0{k}.xml").write_text(LINE.format(x=130 + k, x2=135 + k))


def test_iam_ondb_lines_become_offsets_with_pen_bits(tmp_path):
    forms = [f"a01-00{i}u" for i in range(10)]
    write_lines(tmp_path, forms)
    data = iam_ondb.load(tmp_path, valid_fraction=0.1, test_fraction=0.2)
    assert (len(data.train), len(data.valid), len(data.test)) == (14, 2, 4)  # two lines per form
    raw = iam_ondb.read_line(tmp_path / "a01" / "a01-000" / "a01-000u-01.xml")
    np.testing.assert_allclose(raw[0], [[100, -200], [110, -190], [120, -195]])  # y flipped: up is up
    steps = data.train[0] * torch.tensor([data.spec.scale, data.spec.scale, 1.0])
    np.testing.assert_allclose(steps.numpy(), [[10, 10, 0], [10, -5, 1], [11, -5, 0], [5, -10, 1]], rtol=1e-5)


def test_iam_ondb_task_lists_set_the_splits(tmp_path):
    forms = [f"b02-01{i}x" for i in range(6)]
    write_lines(tmp_path, forms)
    (tmp_path / "trainset.txt").write_text("\n".join(forms[:3]) + "\n")
    (tmp_path / "testset_v.txt").write_text(forms[3] + "\n")
    (tmp_path / "testset_t.txt").write_text("\n".join(forms[4:]) + "\n")
    data = iam_ondb.load(tmp_path)
    assert (len(data.train), len(data.valid), len(data.test)) == (6, 2, 4)


def test_iam_ondb_bad_input_is_named(tmp_path):
    with pytest.raises(DataError, match="data.path"):
        iam_ondb.load(None)
    with pytest.raises(DataError, match="no .xml"):
        iam_ondb.load(tmp_path)
    write_lines(tmp_path, [f"c03-00{i}a" for i in range(4)])
    (tmp_path / "c03" / "c03-000" / "c03-000a-01.xml").write_text("<WhiteboardCaptureSession><StrokeSet>")
    with pytest.raises(DataError, match="c03-000a-01.xml.*not well-formed"):
        iam_ondb.load(tmp_path)


@pytest.mark.parametrize("model", ["char_lstm", "vrnn"])
def test_handwriting_preset_trains_draws_and_keeps_the_scale(tmp_path, model):
    run_zoo(
        tmp_path,
        "experiment=handwriting",
        f"model={model}",
        *QUICK,
        "data.every=20",
        "evaluate.num_samples=2",
        "evaluate.num_particles=5",
        "sample.length=30",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["data"] == "lasa_handwriting"
    assert metrics["test"][0]["kind"] == ("exact" if model == "char_lstm" else "-ELBO")
    for name in ("samples.png", "sample_sheet.png", "primed.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    assert state["data_spec"]["kind"] == "strokes"
    assert state["data_spec"]["scale"] == pytest.approx(lasa_handwriting.load(every=20).spec.scale)
    if model == "char_lstm":
        command("zoo.sample", f"run={tmp_path}", "n=2", "length=20", "bias=1.5")
        assert (tmp_path / "samples-T1-b1.5.png").exists()
