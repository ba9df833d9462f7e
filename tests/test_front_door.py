"""Bad values at the front door: every command answers each with exit status 2 and one line on
stderr that names the option and the fix, never a traceback.

The table runs each command's own `main` in this process (a fresh interpreter per row would
cost two seconds each); two rows run as real processes too, to show the same answer there.
"""

import sys

import pytest
import torch

from tests.helpers import QUICK, SHORT, command, composed

RUN = "zoo.run"
EVALUATE = "zoo.evaluate"
SAMPLE = "zoo.sample"

# (command, arguments, a fragment the one line must hold). {run} is a trained run folder,
# {bad} a folder of files that are not checkpoints.
TABLE = [
    # misspelt options and choices name the nearest valid one
    (RUN, ["train.max_epoch=3"], "did you mean train.max_epochs?"),
    (RUN, ["trian.lr=0.1"], "did you mean train.lr?"),
    (RUN, ["model.net.hiden_size=3"], "did you mean model.net.hidden_size?"),
    (RUN, ["evaluate.num_particle=3"], "did you mean evaluate.num_particles?"),
    (RUN, ["model=char_lsmt"], "did you mean char_lstm?"),
    (RUN, ["model=no_such_model"], "the choices are bayes_lstm, char_lstm"),
    (RUN, ["data=jsb_chorale"], "did you mean jsb_chorales?"),
    (RUN, ["guide=vrnn_filter", "model=vrnn"], "did you mean vrnn_filtering?"),
    (RUN, ["objective=elbo_free", "model=vrnn"], "did you mean elbo_free_bits?"),
    (RUN, ["experiment=jsb_vrn"], "did you mean jsb_vrnn?"),
    (RUN, ["model=char_lstm,vrnn", "-m", "train.seeds=0,1"], "did you mean train.seed?"),
    (RUN, ["train.lr=[1,"], "cannot read the options"),
    # values of the wrong type or range
    (RUN, ["train.lr=abc"], "train.lr='abc' is not a valid value: it must be a number"),
    (RUN, ["train.lr=-1"], "train.lr=-1 must be a positive number"),
    (RUN, ["train.lr=0"], "train.lr=0 must be a positive number"),
    (RUN, ["train.batch_size=0"], "train.batch_size=0 must be at least 1"),
    (RUN, ["train.batch_size=2.5"], "train.batch_size=2.5 is not a valid value: it must be an integer"),
    (RUN, ["train.max_epochs=0"], "train.max_epochs=0 must be at least 1"),
    (RUN, ["train.max_minutes=0"], "train.max_minutes=0 must be a positive number"),
    (RUN, ["train.clip_norm=-5"], "train.clip_norm=-5 must be a positive number"),
    (RUN, ["train.lr_schedule=cosin"], "did you mean cosine?"),
    (RUN, ["train.on_nonfinite=ignore"], "train.on_nonfinite='ignore' is not one of stop, skip"),
    (RUN, ["train.device=gpu"], "train.device='gpu' is not one of auto, cpu, cuda"),
    (RUN, ["train.progress=maybe"], "it must be true or false"),
    (RUN, ["model.bayesian_weights=maybe"], "model.bayesian_weights='maybe' is not a valid value"),
    (RUN, ["model.net.hidden_size=abc"], "model.net.hidden_size='abc' is not a valid value: it must be an integer"),
    (RUN, ["model.net.hidden_size=-1"], "model.net.hidden_size=-1 must be at least 1"),
    (RUN, ["model=vrnn", "model.net.z_size=0"], "model.net.z_size=0 must be at least 1"),
    (RUN, ["weight_guide=low_rank", "weight_guide.rank=0"], "weight_guide.rank=0 must be at least 1"),
    (RUN, ["model.weights.prior=laplace", "data=jsb_chorales"], "model.weights.prior='laplace' is not one of"),
    (RUN, ["model=char_lstm", "model.net.emission=foo", "data=jsb_chorales"], "is not one of auto, softmax"),
    (RUN, ["model=char_lstm", "model.net.emission=gmm", "data=jsb_chorales"], "cannot model bernoulli"),
    (RUN, ["data.seq_len=abc"], "data.seq_len='abc' is not a valid value"),
    (RUN, ["data.seq_len=0"], "data.seq_len=0 must be at least 1"),
    (RUN, ["data=text"], "data.path has no value and needs one: add data.path=..."),
    (RUN, ["data=text", "data.path={bad}/missing.txt"], "missing.txt"),
    (RUN, ["data=npz", "data.path={bad}/missing.npz"], "missing.npz"),
    (RUN, ["sample.n=0"], "sample.n=0 must be at least 1"),
    (RUN, ["sample.temperature=0"], "sample.temperature=0 must be a positive number"),
    (RUN, ["sample.bias=-1"], "sample.bias=-1 must be >= 0"),
    (RUN, ["model=char_lstm", "data=jsb_chorales", "sample.bias=1"], "applies to the mixture density output only"),
    (RUN, ["model=char_lstm", "data=jsb_chorales", "sample.prime=ROMEO"], "sample.prime is a text prefix"),
    (RUN, ["evaluate.num_particles=abc"], "evaluate.num_particles='abc' is not a valid value"),
    (RUN, ["evaluate.num_samples=0"], "evaluate.num_samples=0 must be at least 1"),
    # the guide/model site check, from the command line
    (RUN, ["model=vrnn", "guide=none", "data=jsb_chorales"], "the model's latent sites ['z'] are not covered"),
    (
        RUN,
        ["model=char_lstm", "guide=extra", "data=jsb_chorales", "--config-dir", "{extra}"],
        "the guide samples sites ['u'] that the model does not have",
    ),
    # checkpoints that are not one
    (RUN, ["model=char_lstm", "data=jsb_chorales", "train.resume={bad}/cut.pt"], "truncated or corrupt"),
    (RUN, ["model=char_lstm", "data=jsb_chorales", "train.resume={bad}/nowhere"], "no checkpoint at"),
    (EVALUATE, ["run={bad}/cut.pt"], "cut.pt is not a checkpoint: a torch zip archive that is truncated"),
    (EVALUATE, ["run={bad}/hostile.pt"], "refused unread"),
    (EVALUATE, ["run={bad}/tensor.pt"], "a torch file but not a zoo checkpoint (a Tensor)"),
    (EVALUATE, ["run={bad}/empty.pt"], "empty.pt is empty, not a checkpoint"),
    (SAMPLE, ["run={bad}/random.pt"], "neither a torch zip archive nor a plain pickle"),
    (EVALUATE, ["run={bad}"], "no checkpoint at"),
    # zoo.evaluate's and zoo.sample's own options
    (EVALUATE, [], "give the run to load: run=PATH"),
    (EVALUATE, ["run={run}", "num_particle=3"], "did you mean num_particles?"),
    (EVALUATE, ["run={run}", "num_particles=abc"], "num_particles='abc' is not a valid value: it must be an integer"),
    (EVALUATE, ["run={run}", "num_samples=0"], "num_samples=0 must be at least 1"),
    (EVALUATE, ["run={run}", "split=tset"], "did you mean test?"),
    (EVALUATE, ["run={run}", "limit=-1"], "limit=-1 must be at least 1"),
    (EVALUATE, ["run={run}", "device=gpu"], "device='gpu' is not one of auto, cpu, cuda"),
    (EVALUATE, ["run={run}", "verbose"], "argument 'verbose' is not key=value"),
    (EVALUATE, ["run={run}", "data.seq_lenn=3"], "data.seq_lenn is not an option"),
    (EVALUATE, ["run={run}", "checkpoint=other.pt"], "no checkpoint at"),
    (SAMPLE, ["n=2"], "give the run to load: run=PATH"),
    (SAMPLE, ["run={run}", "n=0"], "n=0 must be at least 1"),
    (SAMPLE, ["run={run}", "lenght=3"], "did you mean length?"),
    (SAMPLE, ["run={run}", "temperature=-1"], "temperature=-1 must be a positive number"),
    (SAMPLE, ["run={run}", "seed=x"], "seed='x' is not a valid value: it must be an integer"),
    (SAMPLE, ["run={run}", "bias=1"], "applies to the mixture density output only"),
    (SAMPLE, ["run={run}", "prime=ROMEO"], "sample.prime is a text prefix"),
]

EXTRA_GUIDE = '''
import pyro
import pyro.distributions as dist
import torch


class ExtraSite(torch.nn.Module):
    """A guide for a model without latents that samples a site the model does not have."""

    def __init__(self, model):
        super().__init__()

    def forward(self, batch):
        pyro.sample("u", dist.Normal(torch.zeros(()), 1.0))
'''


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A trained run, files that are not checkpoints, and a config folder with a guide of its own."""
    from zoo.run import train_and_report

    root = tmp_path_factory.mktemp("front_door")
    run = root / "run"
    train_and_report(composed("model=char_lstm", "data=jsb_chorales", *QUICK, "model.net.hidden_size=8"), run)
    bad = root / "bad"
    bad.mkdir()
    (bad / "cut.pt").write_bytes((run / "last.pt").read_bytes()[:2000])
    (bad / "empty.pt").write_bytes(b"")
    (bad / "random.pt").write_bytes(torch.randint(0, 256, (400,), dtype=torch.uint8).numpy().tobytes())
    torch.save(torch.ones(3), bad / "tensor.pt")
    torch.save({"model": Hostile(root / "ran")}, bad / "hostile.pt")
    extra = root / "extra"
    (extra / "guide").mkdir(parents=True)
    (extra / "guide" / "extra.yaml").write_text("_target_: extra_guide.ExtraSite\n")
    (extra / "extra_guide.py").write_text(EXTRA_GUIDE)
    return {"run": str(run), "bad": str(bad), "extra": str(extra), "root": root}


class Hostile:
    """Unpickling this would create a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def call(module: str, args: list[str], run_dir, monkeypatch, capfd) -> tuple[int, str]:
    """(exit status, stderr) of `python -m module args...`, run by its main in this process."""
    import zoo.evaluate
    import zoo.run
    import zoo.sample

    capfd.readouterr()
    if module == RUN:  # a row that wrongly passes trains for one step, not for minutes
        monkeypatch.setattr(sys, "argv", [module, f"hydra.run.dir={run_dir}", *SHORT, *args])
        main = zoo.run.main
    else:
        main = {EVALUATE: zoo.evaluate.main, SAMPLE: zoo.sample.main}[module]
        main = (lambda m: lambda: m(args))(main)
    with pytest.raises(SystemExit) as exit:
        main()
    return exit.value.code, capfd.readouterr().err


@pytest.mark.parametrize("module,args,fragment", TABLE, ids=[f"{m[4:]}:{' '.join(a)}" for m, a, _ in TABLE])
def test_bad_input_gets_one_line_and_exit_status_2(module, args, fragment, places, tmp_path, monkeypatch, capfd):
    args = [a.format(**places) for a in args]
    if "--config-dir" in args:
        monkeypatch.syspath_prepend(places["extra"])
    code, err = call(module, args, tmp_path / "run", monkeypatch, capfd)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment.format(**places) in lines[0]
    assert not (places["root"] / "ran").exists()  # a hostile pickle never runs


def test_the_table_is_large_and_covers_every_command():
    assert len(TABLE) >= 40 and {m for m, _, _ in TABLE} == {RUN, EVALUATE, SAMPLE}


@pytest.mark.parametrize(
    "module,args,fragment",
    [
        (RUN, ["train.max_epoch=3"], "did you mean train.max_epochs?"),
        (EVALUATE, ["run={bad}/hostile.pt"], "refused unread"),
    ],
)
def test_a_real_process_answers_the_same(module, args, fragment, places):
    result = command(module, *[a.format(**places) for a in args], check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and fragment in result.stderr
