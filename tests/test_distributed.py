"""Training in several processes: 2 gloo ranks with 32 rows each of a minibatch of 64 draw the
loss curve of one process with the whole minibatch (char_lstm, bayes_lstm with its KL counted
once, vrnn with the guide's noise), only rank 0 writes, a 2-rank run resumes, and ranks and
jobs share the cores out."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyro
import pyro.poutine as poutine
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from guides.empty import NoLatents
from guides.vrnn import VRNNFiltering
from guides.weights import MeanFieldWeights
from tests.helpers import toy_rolls, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO, IWAE
from zoo.training import World, check_splits_by_sequence, global_noise
from zoo.training.checkpoint import load_checkpoint
from zoo.training.distributed import shard_bounds
from zoo.training.noise import ShardRows
from zoo.training.threads import available_cores, default_threads, launcher_jobs, use_threads
from zoo.training.trainer import Trainer, TrainOptions

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("char_lstm", "bayes_lstm", "vrnn")
# 129 training sequences in minibatches of 64: 64, 64 and a last one of a single row, which leaves
# the second rank without rows
SEQUENCES, BATCH, EPOCHS = 129, 64, 3


def build(name: str, num_sequences: int = SEQUENCES):
    """(data, model, guide, objective) of a tiny `name` (hidden 8), the same in every process."""
    torch.manual_seed(0)
    if name == "vrnn":
        data = toy_rolls(num_sequences=num_sequences)
        model = VRNN(data.spec, hidden_size=8, z_size=4)
        return data, model, VRNNFiltering(model), ELBO(analytic_kl=True)
    data = toy_text(num_sequences=num_sequences)
    model = CharLSTM(data.spec, hidden_size=8)
    if name == "bayes_lstm":
        model = BayesianWeights(model, prior_scale=0.3)
        return data, model, MeanFieldWeights(model, init_scale=0.05), ELBO()
    return data, model, NoLatents(model), ELBO()


def train(name: str, run_dir: Path, epochs: int = EPOCHS, resume: Path | None = None) -> list[dict]:
    """The history of `epochs` epochs of `name`, each a full pass in minibatches of 64."""
    data, model, guide, objective = build(name)
    options = TrainOptions(
        max_epochs=epochs,
        batch_size=BATCH,
        lr=0.02,
        progress=False,
        patience=100,
        lr_schedule="none",
        max_minutes=None,
        device="cpu",  # gloo's ranks on the CPU, also where a GPU is visible
    )
    with pyro.validation_enabled(False):
        return Trainer(model, guide, objective, data, options, run_dir).fit(resume=resume)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- shards --------------------------------------------------------------------------------------


def test_shards_are_contiguous_rows_of_nearly_equal_size_covering_the_minibatch():
    for total, ranks in [(64, 2), (7, 3), (5, 4), (1, 2)]:
        bounds = [shard_bounds(total, ranks, r) for r in range(ranks)]
        assert sum(rows for _, rows in bounds) == total
        assert [start for start, _ in bounds] == [sum(rows for _, rows in bounds[:r]) for r in range(ranks)]
        assert max(rows for _, rows in bounds) - min(rows for _, rows in bounds) <= 1


def test_a_rank_without_rows_runs_one_row_at_no_weight():
    batch = collate(toy_text(num_sequences=8).train[:1], dataset_size=40, index=[7])
    empty = World(rank=1, size=2).shard(batch)
    assert empty.weight == 0 and empty.batch.batch_size == 1 and empty.batch.dataset_size == 40
    full = World(rank=0, size=2).shard(batch)
    assert full.weight == 1 and full.batch.index.tolist() == [7]


def test_a_shard_keeps_the_minibatchs_padding():
    data = toy_text(num_sequences=8)
    batch = collate(data.train, dataset_size=8)
    shard = World(rank=1, size=3).shard(batch)
    assert shard.batch.x.shape[1] == batch.x.shape[1]  # its random draws run as many steps as one process's
    assert torch.equal(shard.batch.x, batch.x[3:6]) and shard.weight == pytest.approx(3 / 8)


# -- a shard's random draws ----------------------------------------------------------------------


def test_a_shards_noise_is_what_one_process_draws_for_its_rows():
    data, model, guide, _ = build("vrnn", num_sequences=10)
    batch = collate(data.train, dataset_size=40)
    torch.manual_seed(1)
    whole = poutine.trace(guide).get_trace(batch).nodes["z"]["value"]  # (10, T, Z)
    after_whole = torch.get_rng_state()
    for rank in range(3):
        shard = World(rank=rank, size=3).shard(batch)
        torch.manual_seed(1)
        with global_noise(shard.rows, batch.dataset_size):
            z = poutine.trace(guide).get_trace(shard.batch).nodes["z"]["value"]
        start = shard.rows.start
        torch.testing.assert_close(z, whole[start : start + shard.rows.rows])  # equal but for float rounding
        assert torch.equal(torch.get_rng_state(), after_whole)  # the stream goes on as one process's


def test_tiled_rows_in_place_draws_and_dropout_follow_one_process():
    """K copies of a shard's rows (Batch.tile lays them copy-major) get the global copies' draws,
    for draws like a tensor (randn_like, bernoulli), of a size (rand), in place (normal_) and
    dropout, in place or not; draws of one dimension (weights) are left alone."""
    torch.manual_seed(3)
    wide = torch.randn_like(torch.zeros(3 * 8, 5))
    coins = torch.bernoulli(torch.full((8, 5), 0.5))
    uniform = torch.rand((8, 2))
    filled = torch.empty(8, 4).normal_()
    dropped = torch.nn.functional.dropout(torch.ones(8, 3), 0.5, True)
    in_place = torch.nn.Dropout(0.5, inplace=True)(torch.ones(8, 3))
    flat = torch.randn(6)
    rows = ShardRows(2, 4, 8)
    torch.manual_seed(3)
    with global_noise(rows, 100):
        mine = torch.randn_like(torch.zeros(3 * 4, 5))
        my_coins = torch.bernoulli(torch.full((4, 5), 0.5))
        my_uniform = torch.rand(4, 2)
        my_filled = torch.empty(4, 4).normal_()
        my_dropped = torch.nn.functional.dropout(torch.ones(4, 3), 0.5, True)
        mine_in_place = torch.ones(4, 3)
        torch.nn.Dropout(0.5, inplace=True)(mine_in_place)
        my_flat = torch.randn(6)
    assert torch.equal(mine, wide.view(3, 8, 5)[:, 2:6].reshape(12, 5))
    for part, whole in [
        (my_coins, coins),
        (my_uniform, uniform),
        (my_filled, filled),
        (my_dropped, dropped),
        (mine_in_place, in_place),
    ]:
        assert torch.equal(part, whole[2:6])
    assert torch.equal(my_flat, flat)


# -- the objective of a minibatch, in shares -----------------------------------------------------


def shares_and_whole(name: str, ranks: int, rows: int = 7):
    """Each rank's share (B_r / B) * objective(shard r), and one process's objective on the whole
    minibatch, from the same random state; and the model and guide's traces of the whole."""
    data, model, guide, objective = build(name, num_sequences=rows)
    batch = collate(data.train, dataset_size=30)
    torch.manual_seed(5)
    whole = objective(model, guide, batch)
    shares = []
    for rank in range(ranks):
        shard = World(rank=rank, size=ranks).shard(batch)
        torch.manual_seed(5)
        with global_noise(shard.rows, batch.dataset_size):
            shares.append(shard.weight * objective(model, guide, shard.batch))
    torch.manual_seed(5)
    guide_trace = poutine.trace(guide).get_trace(batch)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(batch)
    return shares, whole, model_trace, guide_trace


@pytest.mark.parametrize("name", MODELS)
def test_the_ranks_shares_of_a_minibatchs_loss_sum_to_one_processs_loss(name):
    shares, whole, _, _ = shares_and_whole(name, ranks=3)  # shards of 3, 2 and 2 rows
    assert torch.stack(shares).sum().item() == pytest.approx(whole.item(), rel=1e-5)


def test_the_weights_kl_is_counted_once_not_once_per_rank():
    shares, whole, model_trace, guide_trace = shares_and_whole("bayes_lstm", ranks=3)
    model_trace.compute_log_prob()
    guide_trace.compute_log_prob()
    kl = sum(
        guide_trace.nodes[s]["log_prob_sum"] - model_trace.nodes[s]["log_prob_sum"]
        for s in guide_trace.nodes
        if s.startswith("w.")
    )  # log q(w) - log p(w) at the drawn w
    data_term = -model_trace.nodes["x"]["log_prob_sum"]  # -(N / B) sum_i log p(x_i | w), scaled by the plate
    assert whole.item() == pytest.approx((data_term + kl).item(), rel=1e-5)
    assert abs(kl.item()) > 0.05 * abs(whole.item())  # counting it on every rank would show
    assert torch.stack(shares).sum().item() == pytest.approx(whole.item(), rel=1e-5)


def test_objectives_that_pool_a_minibatch_are_refused_across_ranks():
    check_splits_by_sequence(ELBO())
    check_splits_by_sequence(IWAE(3))
    with pytest.raises(ZooError, match="free bits"):
        check_splits_by_sequence(ELBO(analytic_kl=True, free_bits=0.1))
    from zoo.objectives.latent_code import MMDLatent

    with pytest.raises(ZooError, match="one process"):
        check_splits_by_sequence(MMDLatent())


# -- two gloo processes --------------------------------------------------------------------------


def rank_main(rank: int, port: int, out: str) -> None:
    """One of two ranks: every model trained, then a run of vrnn stopped after one epoch and resumed."""
    os.environ.update(OMP_NUM_THREADS="1", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        out = Path(out)
        results = {name: train(name, out / f"{name}-rank{rank}") for name in MODELS}
        train("vrnn", out / f"broken-rank{rank}", epochs=1)
        results["resumed"] = train("vrnn", out / f"resumed-rank{rank}", resume=out / "broken-rank0")
        (out / f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """What two spawned gloo ranks trained, and where they wrote."""
    out = tmp_path_factory.mktemp("ranks")
    started = time.monotonic()
    mp.spawn(rank_main, args=(free_port(), str(out)), nprocs=2, join=True)
    print(f"two ranks trained in {time.monotonic() - started:.1f} s")
    return out


def same_curve(single: list[dict], ranks: list[dict]) -> None:
    assert [h["epoch"] for h in ranks] == [h["epoch"] for h in single] == list(range(1, EPOCHS + 1))
    for a, b in zip(single, ranks):
        assert b["step"] == a["step"]
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["valid_nats_per_step"] == pytest.approx(a["valid_nats_per_step"], rel=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_two_ranks_of_32_rows_draw_the_curve_of_one_process_of_64(two_ranks, tmp_path, name, one_thread):
    single = train(name, tmp_path)
    for rank in (0, 1):
        same_curve(single, json.loads((two_ranks / f"rank{rank}.json").read_text())[name])
    assert abs(single[-1]["train_loss"] - single[0]["train_loss"]) > 1e-3  # the steps moved the parameters


def test_only_rank_0_writes_checkpoints_and_metrics(two_ranks):
    for name in MODELS:
        assert {"best.pt", "last.pt", "metrics.csv"} <= {p.name for p in (two_ranks / f"{name}-rank0").iterdir()}
        assert not (two_ranks / f"{name}-rank1").exists()


def test_a_two_rank_run_resumes_onto_the_curve_of_one_process(two_ranks, tmp_path, one_thread):
    assert load_checkpoint(two_ranks / "broken-rank0")["epoch"] == 1
    single = train("vrnn", tmp_path)
    for rank in (0, 1):
        same_curve(single, json.loads((two_ranks / f"rank{rank}.json").read_text())["resumed"])


# -- the command under torchrun ------------------------------------------------------------------

CLI = [
    "model=char_lstm",
    "data=jsb_chorales",
    "model.net.hidden_size=8",
    "train.batch_size=8",
    "train.progress=false",
    "train.max_minutes=null",
    "train.valid_limit=20",
    "evaluate.test_limit=10",
    "sample.length=5",
    "sample.n=1",
]


def torchrun(cwd: Path, *overrides: str, check: bool = True, wait: bool = True):
    """`torchrun --nproc_per_node=2 -m zoo.run overrides...` in `cwd`, each rank on one thread."""
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "-m",
        "zoo.run",
        *overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if not wait:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def ranks_of(launcher: int) -> dict[int, int]:
    """rank -> pid of the workers a torchrun process started."""
    found = {}
    for task in Path(f"/proc/{launcher}/task").iterdir():
        for pid in (task / "children").read_text().split():
            environ = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in v)
            if "RANK" in environ:
                found[int(environ["RANK"])] = int(pid)
    return found


def test_torchrun_writes_one_run_folder_from_rank_0(tmp_path, shared_data):
    torchrun(tmp_path, *CLI, "train.max_epochs=2", "train.steps_per_epoch=3")
    folders = list((tmp_path / "outputs").iterdir())
    assert [f.name for f in folders] == ["char_lstm-jsb_chorales"]
    runs = list(folders[0].iterdir())
    assert len(runs) == 1, runs  # the other rank made no folder of its own
    run = runs[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "trained" and metrics["epochs"] == 2 and metrics["processes"] == 2
    assert metrics["threads"] == max(1, available_cores() // 2)
    log = (run / "run.log").read_text()
    assert log.count("epoch   1 ") == 1 and "in each of 2 processes" in log  # one rank logged, once
    assert {"best.pt", "last.pt", "metrics.csv", "training_curve.png", ".hydra"} <= {p.name for p in run.iterdir()}


def test_an_interrupted_rank_leaves_a_whole_checkpoint_that_resumes(tmp_path, shared_data):
    broken = tmp_path / "broken"
    process = torchrun(
        tmp_path, *CLI, f"hydra.run.dir={broken}", "train.max_epochs=100", "train.steps_per_epoch=10", wait=False
    )
    try:
        deadline = time.monotonic() + 300
        while not (broken / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, process.stdout.read()[-3000:]
        os.kill(ranks_of(process.pid)[1], signal.SIGINT)  # Ctrl-C on rank 1 alone
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    epoch = load_checkpoint(broken)["epoch"]  # whole: it loads, with weights_only
    assert 1 <= epoch < 100, output[-2000:]

    resumed = tmp_path / "resumed"
    torchrun(
        tmp_path,
        *CLI,
        f"hydra.run.dir={resumed}",
        f"train.max_epochs={epoch + 1}",
        "train.steps_per_epoch=10",
        f"train.resume={broken}",
    )
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["status"] == "trained" and metrics["epochs"] == epoch + 1
    before = (broken / "metrics.csv").read_text().splitlines()
    after = (resumed / "metrics.csv").read_text().splitlines()
    assert after[: epoch + 1] == before[: epoch + 1] and len(after) == epoch + 2  # the header, then one row per epoch


# -- threads -------------------------------------------------------------------------------------


def test_ranks_and_jobs_share_the_cores_out(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # torchrun's placeholder OMP_NUM_THREADS=1
    assert default_threads(local_processes=4) == 4
    assert default_threads(local_processes=2, jobs=3) == 2
    assert default_threads(local_processes=32) == 1
    assert launcher_jobs(None) == 1 and launcher_jobs(4) == 4 and launcher_jobs(-1) == 16 and launcher_jobs(-2) == 15


def test_one_process_never_takes_more_threads_than_torch_uses(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 6)  # OMP_NUM_THREADS=6, or set by the caller
    assert default_threads() == 6
    assert default_threads(jobs=4) == 4


def test_train_threads_sets_torchs_threads(one_thread):
    assert use_threads(1) == 1 and torch.get_num_threads() == 1
    with pytest.raises(ZooError, match="train.threads"):
        use_threads(0)
