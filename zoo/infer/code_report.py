"""Everything a run writes about the codes of a sequence autoencoder: the latent-code
diagnostics (zoo.infer.latent_code; VAEs only), reconstructions of the first sequences of a
split and the homotopy between its first two (zoo.infer.homotopy)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from zoo.data.batch import collate
from zoo.data.dataset import SequenceData
from zoo.infer.sample_stats import feature_mmd
from zoo.infer.homotopy import write_homotopy, write_reconstructions
from zoo.infer.latent_code import latent_code_report

log = logging.getLogger("zoo")


@torch.no_grad()
def code_mmd(model, seqs, device="cpu", limit: int = 500) -> float:
    """MMD (sqrt of the unbiased MMD^2, median-heuristic bandwidths) between the codes a
    seq_ae makes up for new sequences and the codes of the first `limit` of `seqs`."""
    batch = collate(list(seqs[:limit])).to(device)
    encoded = model.code(batch)
    return feature_mmd(model.new_codes(len(encoded)), encoded)


def write_code_report(model, guide, data: SequenceData, run_dir: Path, split: str = "test", num_examples: int = 4,
                      steps: int = 5, greedy: bool = True, batch_size: int = 256, device="cpu",
                      limit: int | None = None) -> dict | None:
    """For a model with codes (a `decode` method: seq_ae, seq_vae), write latent_code.json,
    reconstructions and homotopy files into run_dir, log the diagnostics, and return
    {"latent_code": diagnostics (seq_vae), the code MMD (seq_ae with a code generator or
    prior) or None, "files": [names]}; None for other models."""
    if not hasattr(model, "decode"):
        return None
    run_dir = Path(run_dir)
    model.eval()
    guide.eval()
    report = None
    if not hasattr(model, "code"):  # a VAE: q(z | x) is the guide's
        diagnostics = latent_code_report(guide, data, split, batch_size, device, limit)
        log.info(diagnostics.summary())
        report = diagnostics.as_dict()
        (run_dir / "latent_code.json").write_text(json.dumps(report, indent=2))
    seqs = data.split(split, limit)
    if hasattr(model, "code_source"):  # seq_ae: how close its new codes are to real ones
        report = {"code_mmd": code_mmd(model, seqs, device)}
        log.info(f"MMD between new codes ({model.code_source}) and encoded {split} codes: {report['code_mmd']:.4f}")
        (run_dir / "latent_code.json").write_text(json.dumps(report, indent=2))
    files = write_reconstructions(model, guide, list(seqs[:num_examples]), data.spec, run_dir, greedy)
    if len(seqs) > 1:
        files += write_homotopy(model, guide, seqs[0], seqs[1], data.spec, run_dir, steps, greedy)
    return {"latent_code": report, "files": [f.name for f in files]}

