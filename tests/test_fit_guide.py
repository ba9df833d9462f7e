"""train.fit=guide: the guide refitted to a model that does not change."""

from __future__ import annotations

import pytest
import torch

from guides.empty import NoLatents
from guides.srnn import SRNNSmoothing
from guides.vrnn import VRNNFiltering
from tests.helpers import toy_rolls
from zoo.errors import ZooError
from zoo.models.char_lstm import CharLSTM
from zoo.models.srnn import SRNN
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO
from zoo.training.trainer import Trainer, TrainOptions

OPTIONS = dict(
    batch_size=4, lr=0.01, progress=False, patience=100, lr_schedule="none", steps_per_epoch=10, device="cpu"
)


def trained_pair(make_model, make_guide, run_dir):
    """A model and guide trained together for 30 steps on toy rolls (the 'trained run')."""
    data = toy_rolls(num_sequences=16)
    torch.manual_seed(0)
    model = make_model(data.spec)
    guide = make_guide(model)
    Trainer(model, guide, ELBO(), data, TrainOptions(**OPTIONS, max_epochs=3), run_dir / "joint").fit()
    return data, model, guide


def snapshot(module: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize(
    "make_model,make_guide",
    [
        (lambda spec: VRNN(spec, hidden_size=8, z_size=2, dropout=0.5), VRNNFiltering),
        (lambda spec: SRNN(spec, hidden_size=8, z_size=2), SRNNSmoothing),  # the guide runs the model's GRU
    ],
    ids=["vrnn", "srnn"],
)
def test_only_the_guide_moves_and_the_fixed_models_bound_tightens(tmp_path, make_model, make_guide):
    data, model, guide = trained_pair(make_model, make_guide, tmp_path)
    # a fresh guide for the trained model: the proposal far from fitted, the model as trained
    torch.manual_seed(1)
    fresh = make_guide(model)
    model_before, guide_before = snapshot(model), snapshot(fresh)
    modes = []
    model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    refit = Trainer(model, fresh, ELBO(), data, TrainOptions(**OPTIONS, max_epochs=6, fit="guide"), tmp_path / "refit")
    assert {id(p) for p in refit.params} == {id(p) for p in fresh.parameters()}
    history = refit.fit()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in model_before.items())  # not one weight moved
    assert any(not torch.equal(v, fresh.state_dict()[k]) for k, v in guide_before.items())
    assert modes and not any(modes)  # the fixed model ran as evaluated: no dropout
    # one model throughout, so a lower validation -ELBO is the guide's doing alone
    assert min(row["valid_nats_per_step"] for row in history) < refit.untrained - 0.05
    assert all(p.requires_grad for p in model.parameters())  # the caller's model trains again after the refit


def test_a_guide_without_parameters_is_refused(tmp_path):
    data = toy_rolls()
    model = CharLSTM(data.spec, hidden_size=4)
    with pytest.raises(ZooError, match="train.fit=guide trains the guide alone, but this guide has no parameters"):
        Trainer(model, NoLatents(model), ELBO(), data, TrainOptions(**OPTIONS, fit="guide"), tmp_path)


def test_an_unknown_fit_is_named():
    with pytest.raises(ZooError, match="train.fit"):
        TrainOptions(fit="model")
