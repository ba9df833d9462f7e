"""The DMM tutorial (docs/tutorial-dmm.md) runs as written: its files are the ones the page
shows, the pair fits the zoo's contract, and it trains from the command line."""

import json
import shutil
from pathlib import Path

import pyro.poutine as poutine
import torch

from tests.helpers import QUICK, command

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"


def test_the_page_shows_the_files_that_are_tested():
    page = (ROOT / "docs" / "tutorial-dmm.md").read_text()
    for name in ("dmm.py", "configs/model/my_dmm.yaml", "configs/guide/my_dmm.yaml"):
        assert f'--8<-- "{name}"' in page and (EXAMPLES / name).is_file(), name
    assert len((EXAMPLES / "dmm.py").read_text().splitlines()) < 100


def replayed(guide, values: dict):
    """The guide with its sites z_t set to given values instead of drawn."""
    trace = poutine.Trace()
    for name, value in values.items():
        trace.add_node(name, type="sample", is_observed=False, value=value, infer={})
    return poutine.replay(guide, trace=trace)


def test_the_dmm_pair_fits_and_weighs_each_sequence_of_a_ragged_batch_as_alone(monkeypatch):
    """The guide covers the model's sites and owns none of its parameters; with the same
    path z drawn for each sequence, its importance weight in a ragged batch equals its
    weight alone (the model and the guide read no padding)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from dmm import DMM, DMMGuide

    from tests.helpers import toy_rolls
    from zoo.data.batch import collate
    from zoo.estimators.importance import log_weights
    from zoo.training.sites import check_guide_covers

    data = toy_rolls()
    model = DMM(data.spec, z_size=3, hidden_size=8)
    guide = DMMGuide(model, hidden_size=8)
    seqs = data.train[:4]
    batch = collate(seqs)
    check_guide_covers(model, guide, batch)
    assert not set(map(id, guide.parameters())) & set(map(id, model.parameters()))
    assert len({len(s) for s in seqs}) > 1
    with torch.no_grad():
        trace = poutine.trace(guide).get_trace(batch)
        z = {name: site["value"] for name, site in trace.nodes.items() if name.startswith("z_")}
        together = log_weights(model, replayed(guide, z), batch, 1)[0]  # (4,)
        alone = torch.cat(
            [
                log_weights(
                    model, replayed(guide, {f"z_{t}": z[f"z_{t}"][b : b + 1] for t in range(len(s))}), collate([s]), 1
                )[0]
                for b, s in enumerate(seqs)
            ]
        )
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-5)
    assert model.sample(3, 5).shape == (3, 5, data.spec.dim)


def test_the_dmm_trains_from_the_command_line(tmp_path, monkeypatch):
    shutil.copy(EXAMPLES / "dmm.py", tmp_path)
    shutil.copytree(EXAMPLES / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)  # `python -m zoo.run` finds dmm.py and configs/ here
    command(
        "zoo.run",
        "--config-dir",
        "configs",
        "model=my_dmm",
        f"hydra.run.dir={tmp_path / 'run'}",
        *QUICK,
        "train.steps_per_epoch=5",
        "train.valid_limit=20",
        "evaluate.test_limit=20",
        "evaluate.num_particles=10",
        "sample.length=20",
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == "my_dmm" and metrics["data"] == "jsb_chorales"
    config = (tmp_path / "run" / ".hydra" / "config.yaml").read_text()
    assert "_target_: dmm.DMM\n" in config and "_target_: dmm.DMMGuide\n" in config  # the page's own pair
    assert [f["kind"] for f in metrics["test"]] == ["-ELBO", "-IWAE (K=10)"]
    elbo, iwae = (f["nats_per_step"] for f in metrics["test"])
    # binary frames: -log p(x) > 0, so a true bound is positive; 10 distinct particles leave a gap
    assert 0 < iwae < elbo
    assert (tmp_path / "run" / "samples.png").is_file()
