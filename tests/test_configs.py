"""The config groups compose as the README says, without running anything."""

import numpy as np
import pytest
from hydra.utils import instantiate

from tests.helpers import composed, toy_rolls, toy_strokes, toy_text
from zoo.data.batch import collate
from zoo.run import build_guide, build_model
from zoo.training.sites import check_guide_covers


def test_bayes_lstm_is_char_lstm_with_variational_weights():
    bayes = composed("model=bayes_lstm")
    char = composed("model=char_lstm", "model.bayesian_weights=true")
    assert bayes.model.net == char.model.net and bayes.model.weights == char.model.weights
    assert bayes.guide == char.guide and bayes.weight_guide == char.weight_guide and bayes.model.bayesian_weights
    assert bayes.weight_guide._target_ == "guides.weights.MeanFieldWeights"


def test_bayes_lstm_validates_at_q_mean_and_other_models_as_their_objective():
    """model=bayes_lstm chooses best.pt by the network at q's mean (its -ELBO is mostly a KL that
    falls every epoch); a hybrid's weights and every other model keep their objective's figure."""
    assert composed("model=bayes_lstm").train.valid_at_mean
    assert not composed("model=bayes_lstm", "train.valid_at_mean=false").train.valid_at_mean
    for model in ("char_lstm", "vrnn", "seq_vae model.bayesian_weights=true"):
        assert not composed(*f"model={model}".split()).train.valid_at_mean


@pytest.mark.parametrize(
    "model,guide,data",
    [
        ("char_lstm", "guides.empty.NoLatents", "zoo.data.shakespeare.load"),
        ("bayes_lstm", "guides.empty.NoLatents", "zoo.data.shakespeare.load"),
        ("vrnn", "guides.vrnn.VRNNFiltering", "zoo.data.jsb_chorales.load"),
    ],
)
def test_each_model_names_its_guide_and_data_set(model, guide, data):
    cfg = composed(f"model={model}")
    assert cfg.guide._target_ == guide and cfg.data._target_ == data


def test_the_command_line_wins_over_a_model_default():
    cfg = composed("model=vrnn", "data=npz", "guide=vrnn_smoothing")
    assert cfg.data._target_ == "zoo.data.npz.load" and cfg.guide._target_ == "guides.vrnn.VRNNSmoothing"


def test_npz_held_out_fractions_reach_the_loader_from_the_command_line(tmp_path):
    path = tmp_path / "rolls.npz"
    np.savez(path, train=(np.random.default_rng(0).random((20, 4, 3)) < 0.5).astype(np.float32))
    cfg = composed("data=npz", f"data.path={path}", "data.valid_fraction=0.25", "data.test_fraction=0.15")
    data = instantiate(cfg.data)
    assert (len(data.train), len(data.valid), len(data.test)) == (12, 5, 3)


def test_an_experiment_preset_sets_groups_and_values():
    cfg = composed("experiment=jsb_vrnn", "train.max_minutes=5")
    assert cfg.model.name == "vrnn" and cfg.evaluate.num_particles == 500 and cfg.model.net.emission == "nade"
    assert cfg.objective.anneal_steps == 1000 and cfg.train.max_minutes == 5


def test_the_handwriting_preset_is_graves_mixture_density_lstm_on_lasa():
    cfg = composed("experiment=handwriting")
    assert cfg.model.name == "char_lstm" and cfg.data._target_ == "zoo.data.lasa_handwriting.load"
    assert cfg.model.net.emission == "mdn" and cfg.model.net.components == 20
    cfg = composed("experiment=handwriting", "model=vrnn")  # VRNN-GMM keeps the data and the output
    assert (
        cfg.model.name == "vrnn"
        and cfg.model.net.emission == "mdn"
        and cfg.guide._target_ == "guides.vrnn.VRNNFiltering"
    )


@pytest.mark.parametrize("objective", ["elbo", "elbo_analytic_kl", "elbo_kl_annealed", "iwae"])
def test_every_objective_instantiates_under_every_preset(objective):
    for preset in ("jsb_vrnn", "small_data_bayes"):
        instantiate(composed(f"experiment={preset}", f"objective={objective}").objective)


@pytest.mark.parametrize(
    "model",
    ["char_lstm", "bayes_lstm", "vrnn", "seq_ae", "seq_vae"]
    + [f"{m} model.bayesian_weights=true" for m in ("vrnn", "seq_ae", "seq_vae")],
)
@pytest.mark.parametrize("make_data", [toy_text, toy_rolls, toy_strokes])
def test_every_model_builds_from_config_with_a_guide_that_fits_it(model, make_data):
    model, *overrides = model.split()
    cfg = composed(f"model={model}", "model.net.hidden_size=8", *overrides)
    data = make_data()
    net = build_model(cfg, data.spec)
    check_guide_covers(net, build_guide(cfg, net), collate(data.train[:2]))
