"""The DMM tutorial (docs/tutorial-dmm.md) runs as written: its files are the ones the page
shows, the pair fits the zoo's contract, and it trains from the command line."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"


def test_the_page_shows_the_files_that_are_tested():
    page = (ROOT / "docs" / "tutorial-dmm.md").read_text()
    for name in ("dmm.py", "configs/model/dmm.yaml", "configs/guide/dmm.yaml"):
        assert f'--8<-- "{name}"' in page and (EXAMPLES / name).is_file(), name
    assert len((EXAMPLES / "dmm.py").read_text().splitlines()) < 100


def test_the_dmm_pair_fits_and_its_bounds_are_ordered(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from dmm import DMM, DMMGuide

    from tests.helpers import toy_rolls
    from zoo.data.batch import collate
    from zoo.infer.importance import iwae_bound, log_weights
    from zoo.infer.sites import check_guide_covers

    data = toy_rolls()
    model = DMM(data.spec, z_size=3, hidden_size=8)
    guide = DMMGuide(model, hidden_size=8)
    batch = collate(data.train[:4])
    check_guide_covers(model, guide, batch)
    assert not set(map(id, guide.parameters())) & set(map(id, model.parameters()))
    torch.manual_seed(0)
    with torch.no_grad():
        log_w = log_weights(model, guide, batch, num_particles=200)  # (K, B)
    elbo, iwae = log_w.mean(0), iwae_bound(log_w)
    assert (elbo <= iwae).all()
    assert model.sample(3, 5).shape == (3, 5, data.spec.dim)


def test_the_dmm_trains_from_the_command_line(tmp_path):
    shutil.copy(EXAMPLES / "dmm.py", tmp_path)
    shutil.copytree(EXAMPLES / "configs", tmp_path / "configs")
    result = subprocess.run(
        [sys.executable, "-m", "zoo.run", "--config-dir", "configs", "model=dmm", f"hydra.run.dir={tmp_path / 'run'}",
         "train.max_epochs=2", "train.steps_per_epoch=5", "train.progress=false", "train.valid_limit=20",
         "evaluate.test_limit=20", "evaluate.num_particles=10", "sample.length=20"],
        cwd=tmp_path, capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == "dmm" and metrics["data"] == "jsb_chorales"
    elbo, iwae = (f["nats_per_step"] for f in metrics["test"])
    assert [f["kind"] for f in metrics["test"]] == ["-ELBO", "-IWAE (K=10)"] and iwae <= elbo
    assert (tmp_path / "run" / "samples.png").is_file()
