"""Generators of the code of a sequence autoencoder: mmd_latent, gan_latent, aae."""

import json

import pytest
import torch

from guides.empty import NoLatents
from tests.helpers import QUICK, run_zoo, toy_rolls
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.estimators.mmd import mmd2
from zoo.models.seq_ae import SeqAE
from zoo.objectives.latent_code import AAE, GANLatent, MMDLatent


@pytest.fixture
def rolls():
    return toy_rolls(num_sequences=16)


def autoencoder(rolls, source):
    torch.manual_seed(0)
    return SeqAE(rolls.spec, hidden_size=8, code_source=source, noise_size=4)


def gradients_of_code_term(objective, model, batch):
    model.zero_grad()
    objective.code_term(model, model.code(batch)).backward()
    encoder = [p.grad for p in model.encoder.parameters()]
    generator = [p.grad for p in model.code_generator.parameters()] if hasattr(model, "code_generator") else []
    return encoder, generator


@pytest.mark.parametrize("make", [MMDLatent, GANLatent])
def test_a_code_generator_learns_from_the_codes_and_leaves_the_autoencoder_alone(rolls, make):
    model = autoencoder(rolls, "generator")
    encoder, generator = gradients_of_code_term(make(), model, collate(rolls.train))
    assert all(g is None for g in encoder)
    assert any(g is not None and g.abs().sum() > 0 for g in generator)


def test_the_aae_term_trains_the_encoder(rolls):
    model = autoencoder(rolls, "prior")
    encoder, _ = gradients_of_code_term(AAE(), model, collate(rolls.train))
    assert any(g is not None and g.abs().sum() > 0 for g in encoder)


def test_mmd_latent_brings_generated_codes_to_the_encoded_ones(rolls):
    model = autoencoder(rolls, "generator")
    batch = collate(rolls.train)
    with torch.no_grad():
        codes = model.code(batch) + 2.0  # targets away from where G starts
    objective = MMDLatent()
    optimizer = torch.optim.Adam(model.code_generator.parameters(), lr=0.02)

    def distance():
        torch.manual_seed(1)
        with torch.no_grad():
            return mmd2(model.new_codes(200), codes, [1.0, 2.0]).item()

    before = distance()
    for _ in range(150):
        optimizer.zero_grad()
        objective.code_term(model, codes).backward()
        optimizer.step()
    assert distance() < 0.2 * before


@pytest.mark.parametrize("make,source", [(MMDLatent, "prior"), (GANLatent, "gaussian"), (AAE, "generator")])
def test_each_objective_names_the_code_source_it_needs(rolls, make, source):
    model = autoencoder(rolls, source)
    with pytest.raises(ZooError, match="model.net.code_source="):
        make()(model, NoLatents(model), collate(rolls.train[:2]))


def test_gan_latent_from_the_command_line(tmp_path):
    run_zoo(
        tmp_path,
        "model=seq_ae",
        "data=jsb_phrases",
        "objective=gan_latent",
        "model.net.code_source=generator",
        *QUICK,
        "model.net.hidden_size=16",
        "train.max_epochs=1",
        "train.steps_per_epoch=5",
        "train.valid_limit=20",
        "evaluate.test_limit=20",
        "sample.length=16",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"][0]["kind"] == "reconstruction" and metrics["latent_code"]["code_mmd"] >= 0
