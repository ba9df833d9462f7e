"""Looking at codes: sequences decoded from points on the line between the codes of two
sequences (the homotopies of Bowman et al. 2015), and reconstructions beside
their inputs.

    c(x)         the code: E_q[z | x] for a VAE, the encoder's output for a deterministic autoencoder
    x(alpha)     = decode((1 - alpha) c(x_a) + alpha c(x_b)),   alpha = 0, 1/(S-1), ..., 1
    x_hat        = decode(c(x))

decode is greedy (the most likely step each time) or sampled at a temperature. Text is written
one sequence a line, its line breaks shown as " / "; piano rolls as panels of a PNG.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from zoo.data.batch import Batch, collate
from zoo.data.dataset import DataSpec
from zoo.infer.latent_code import gaussian_posterior


def codes(model, guide, batch: Batch) -> Tensor:
    """c(x) for every sequence of a batch: (B, C)."""
    if hasattr(model, "code"):
        return model.code(batch)
    return gaussian_posterior(guide, batch)[0]


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def homotopy(model, guide, x_a: Tensor, x_b: Tensor, steps: int = 5, length: int | None = None,
             greedy: bool = True, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """(alphas (S,), sequences decoded along the line from c(x_a) to c(x_b) (S, length[, D]));
    length defaults to the longer of the two."""
    c_a, c_b = codes(model, guide, collate([x_a, x_b]).to(_device(model)))
    alphas = torch.linspace(0, 1, steps, device=c_a.device)  # (S,)
    line = (1 - alphas[:, None]) * c_a + alphas[:, None] * c_b  # (S, C)
    return alphas.cpu(), model.decode(line, length or max(len(x_a), len(x_b)), temperature, greedy).cpu()


@torch.no_grad()
def reconstruct(model, guide, seqs: list[Tensor], greedy: bool = True, temperature: float = 1.0) -> list[Tensor]:
    """decode(c(x)) for each sequence, as long as its input: a list of (T_i[, D])."""
    batch = collate(seqs).to(_device(model))
    decoded = model.decode(codes(model, guide, batch), batch.mask.shape[1], temperature, greedy).cpu()
    return [x_hat[: len(x)] for x_hat, x in zip(decoded, seqs)]


def _text(spec: DataSpec, x: Tensor) -> str:
    return spec.vocab.decode(x.tolist()).rstrip("\n").replace("\n", " / ")


def _rolls_figure(rolls: list[Tensor], titles: list[str], path: Path) -> Path:
    """One panel per roll, shorter rolls padded with silence to the longest."""
    from zoo.infer.plots import plot_piano_rolls

    plot_piano_rolls(pad_sequence(rolls, batch_first=True), path, titles=titles)
    return path


def write_reconstructions(model, guide, seqs: list[Tensor], spec: DataSpec, run_dir: Path,
                          greedy: bool = True) -> list[Path]:
    """reconstructions.txt (each input above its reconstruction) or .png (input and
    reconstruction panels in turn, piano rolls); .pt for other data."""
    outputs = reconstruct(model, guide, seqs, greedy)
    if spec.kind == "categorical" and spec.vocab is not None:
        path = run_dir / "reconstructions.txt"
        blocks = [f"input   {_text(spec, x)}\ndecoded {_text(spec, y)}" for x, y in zip(seqs, outputs)]
        path.write_text(f"decode(c(x)), {'greedy' if greedy else 'sampled'}\n\n" + "\n\n".join(blocks) + "\n")
        return [path]
    if spec.kind == "bernoulli":
        titles = [t for i in range(len(seqs)) for t in (f"input {i}", f"reconstruction {i}")]
        return [_rolls_figure([r for pair in zip(seqs, outputs) for r in pair], titles, run_dir / "reconstructions.png")]
    path = run_dir / "reconstructions.pt"
    torch.save({"inputs": seqs, "reconstructions": outputs}, path)
    return [path]


def write_homotopy(model, guide, x_a: Tensor, x_b: Tensor, spec: DataSpec, run_dir: Path, steps: int = 5,
                   greedy: bool = True) -> list[Path]:
    """homotopy.txt (one decoded sequence per alpha, between the two inputs) or .png."""
    alphas, decoded = homotopy(model, guide, x_a, x_b, steps, greedy=greedy)
    if spec.kind == "categorical" and spec.vocab is not None:
        path = run_dir / "homotopy.txt"
        lines = [f"x_a          {_text(spec, x_a)}"]
        lines += [f"alpha={a:.2f}   {_text(spec, y)}" for a, y in zip(alphas.tolist(), decoded)]
        lines += [f"x_b          {_text(spec, x_b)}"]
        header = f"decode((1 - alpha) c(x_a) + alpha c(x_b)), {'greedy' if greedy else 'sampled'}"
        path.write_text(header + "\n\n" + "\n".join(lines) + "\n")
        return [path]
    if spec.kind == "bernoulli":
        titles = ["x_a"] + [f"alpha = {a:.2f}" for a in alphas.tolist()] + ["x_b"]
        return [_rolls_figure([x_a, *decoded, x_b], titles, run_dir / "homotopy.png")]
    path = run_dir / "homotopy.pt"
    torch.save({"x_a": x_a, "x_b": x_b, "alphas": alphas, "decoded": decoded}, path)
    return [path]
