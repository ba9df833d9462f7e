"""Calibration of next-step predictions over tokens: is a prediction made with confidence p right
a fraction p of the time? (Guo et al. 2017, "On calibration of modern neural networks",
arXiv 1706.04599, section 2.)

At every step t of every held-out sequence the model predicts p(x_t | x_{<t}); its top-1
prediction is y_t = argmax_v p(v | x_{<t}) with confidence c_t = max_v p(v | x_{<t}). The
confidences are put in M equal-width bins B_m = ((m - 1)/M, m/M], and

    acc(B_m)  = (1 / |B_m|) sum_{t in B_m} [y_t = x_t]
    conf(B_m) = (1 / |B_m|) sum_{t in B_m} c_t
    ECE       = sum_m (|B_m| / n) |acc(B_m) - conf(B_m)|        n = all predicted steps

A reliability diagram draws acc(B_m) against the bins: a calibrated predictor lies on the
diagonal, an overconfident one below it.

The probabilities are those of the model's own figure: softmax(W_y h_t + b_y) for char_lstm,
and for a network with variational weights (bayes_lstm) the posterior predictive
p(v | x_{<t}) = (1/S) sum_s p(v | x_{<t}, w_s), w_s ~ q(w): the mean of the S draws'
probabilities, not of their log-probabilities, with each w_s drawn once for the whole split as
the posterior predictive likelihood figure draws it (zoo.evaluation.likelihood). With MC
dropout, the mean of S passes' probabilities with the network's dropout masks drawn.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.data.batch import collate
from zoo.data.dataset import SequenceData
from zoo.errors import ZooError
from zoo.evaluation.likelihood import predictive_kind
from zoo.models.bayesian_weights import has_weight_latents
from zoo.models.char_lstm import dropout_on
from zoo.nn.emissions import CategoricalEmitter
from zoo.nn.swap import swap_parameters

NUM_BINS = 15  # Guo et al. 2017's M


def calibration_bins(confidence: Tensor, correct: Tensor, num_bins: int = NUM_BINS) -> dict:
    """ECE and the reliability diagram's bins from (n,) top-1 confidences in [0, 1] and (n,)
    booleans (was the top-1 prediction right). Per bin m of M equal-width bins ((m-1)/M, m/M]
    (a confidence of exactly 0 goes to the first): `counts`, the mean confidence `confidences`
    and the accuracy `accuracies` (null for an empty bin); `ece` their count-weighted mean gap."""
    if num_bins < 1:
        raise ZooError(f"calibration_bins={num_bins} must be at least 1")
    confidence, correct = confidence.double().flatten(), correct.double().flatten()
    if confidence.numel() == 0:
        raise ZooError("calibration needs at least one predicted step")
    index = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)  # (n,) bin of each
    counts = torch.bincount(index, minlength=num_bins).double()  # (M,)
    confidence_sums = torch.bincount(index, confidence, minlength=num_bins)
    correct_sums = torch.bincount(index, correct, minlength=num_bins)
    filled = counts > 0
    mean_confidence = torch.where(filled, confidence_sums / counts.clamp(min=1), torch.nan)
    accuracy = torch.where(filled, correct_sums / counts.clamp(min=1), torch.nan)
    gaps = (accuracy - mean_confidence).abs()[filled]
    n = confidence.numel()
    ece = float((counts[filled] / n * gaps).sum())
    return {
        "ece": ece,
        "max_calibration_error": float(gaps.max()),
        "num_bins": num_bins,
        "edges": [m / num_bins for m in range(num_bins + 1)],
        "counts": counts.long().tolist(),
        "confidences": [None if not f else float(c) for f, c in zip(filled, mean_confidence)],
        "accuracies": [None if not f else float(a) for f, a in zip(filled, accuracy)],
        "num_predictions": n,
        "accuracy": float(correct.mean()),
        "mean_confidence": float(confidence.mean()),
    }


def top_prediction(probabilities: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(..., V) probabilities and (...) targets -> the top-1 confidence and whether it is right, (...) each."""
    confidence, predicted = probabilities.max(-1)
    return confidence, predicted == targets


def token_network(model):
    """The deterministic network whose next-step probabilities calibration reads (the model
    itself, or the network inside variational weights); a ZooError if it has none over tokens."""
    net = model.net if has_weight_latents(model) else model
    if not hasattr(net, "next_step") or not isinstance(getattr(net, "emitter", None), CategoricalEmitter):
        raise ZooError(
            f"calibration needs next-step probabilities over tokens (char_lstm or bayes_lstm with the "
            f"softmax output); {type(net).__name__} with "
            f"{type(getattr(net, 'emitter', None)).__name__ if hasattr(net, 'emitter') else 'no emitter'} "
            "has none: leave calibration=false"
        )
    return net


@torch.no_grad()
def next_step_probabilities(model, batch, weight_draws: list[dict] | None = None, mask_draws: int = 0) -> Tensor:
    """p(x_t = v | x_{<t}) for every step of a batch, (B, T, V): the network's softmax, or with
    weight draws w_1..w_S the posterior predictive (1/S) sum_s p(v | x_{<t}, w_s), or with
    S = mask_draws > 0 the mean over S draws of the network's dropout masks (MC dropout)."""
    net = token_network(model)
    if mask_draws:
        with dropout_on(net):
            return sum(net.next_step(batch.x).probs for _ in range(mask_draws)) / mask_draws
    if not weight_draws:
        p_x = net.next_step(batch.x)
        return p_x.probs  # (B, T, V)
    total = None
    for w in weight_draws:
        with swap_parameters(net, model.parameters_from_sites(w)):
            p_x = net.next_step(batch.x)
        total = p_x.probs if total is None else total + p_x.probs  # (B, T, V)
    return total / len(weight_draws)


@torch.no_grad()
def predictive_calibration(
    model,
    guide,
    data: SequenceData,
    split: str = "test",
    num_samples: int = 10,
    num_bins: int = NUM_BINS,
    mc_dropout: bool = False,
    batch_size: int = 256,
    device="cpu",
    limit=None,
) -> dict:
    """calibration_bins of the model's next-step predictions over every step of a split, with
    `kind` (exact, or posterior predictive with S = num_samples weight draws, or with
    `mc_dropout` S draws of the dropout masks) and `split`. The model and guide are expected in
    evaluation mode (no dropout)."""
    net = token_network(model)
    draws = [guide() for _ in range(num_samples)] if net is not model else None  # w_s ~ q(w), once per split
    masks = num_samples if mc_dropout else 0
    sequences = data.split(split, limit)
    confidences, correct = [], []
    for start in range(0, len(sequences), batch_size):
        batch = collate(sequences[start : start + batch_size]).to(device)
        probabilities = next_step_probabilities(model, batch, draws, masks)  # (B, T, V)
        c, right = top_prediction(probabilities, batch.x)  # (B, T) each
        confidences.append(c[batch.mask].cpu())
        correct.append(right[batch.mask].cpu())
    result = calibration_bins(torch.cat(confidences), torch.cat(correct), num_bins)
    if masks:
        kind = predictive_kind(num_samples, "dropout masks")
    else:
        kind = "exact" if draws is None else predictive_kind(num_samples)
    return {"kind": kind, "split": split, **({"num_samples": num_samples} if draws or masks else {}), **result}


def describe(calibration: dict) -> str:
    """One line for a report: ECE, accuracy and mean confidence, over how many predictions."""
    c = calibration
    return (
        f"Calibration of next-step predictions on the {c['split']} split ({c['kind']}; Guo et al. 2017): "
        f"ECE {c['ece']:.4f} over {c['num_predictions']:,} predictions in {c['num_bins']} equal-width bins; "
        f"top-1 accuracy {c['accuracy']:.4f}, mean confidence {c['mean_confidence']:.4f}."
    )
