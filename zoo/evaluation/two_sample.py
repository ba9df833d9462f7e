"""A classifier two-sample test of a generator against held-out data (Lopez-Paz & Oquab 2017,
"Revisiting classifier two-sample tests", arXiv 1610.06545): a likelihood-free judge of samples.

    P = the model's sequences, Q = held-out real ones, n of each, paired one to one
    f = a fresh recurrent classifier (zoo.nn.discriminator), fitted on half of the pairs
    t = accuracy of f on the other half, m sequences:  t = 1/2 when P = Q
    H0: P = Q  =>  m t ~ Binomial(m, 1/2);  p-value = P(Binomial(m, 1/2) >= m t), exact
    s.e.(t) = sqrt(t (1 - t) / m)

Lengths never give a sample away: each drawn sequence has the length of the real sequence it
is paired with. Where the data mark their ends (every real sequence ends with one token found
nowhere else in it, such as a line's newline, or the pen lifts only at a drawing's last step),
a drawn sequence ends where the model ends it, at its first end mark, and is paired with a real
sequence of the same length from a pool of POOL x n draws; a real sequence without such a
partner takes a draw that had not ended by its length, cut there. Elsewhere (piano rolls, real
frames, text windows) each draw is cut to its partner's length.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor
from torch.nn.functional import binary_cross_entropy_with_logits as bce
from torch.nn.utils.rnn import pad_sequence

from zoo.data.dataset import DataSpec, SequenceData
from zoo.errors import ZooError
from zoo.evaluation.sampling import draw_in_batches
from zoo.nn.discriminator import RecurrentDiscriminator

POOL = 4  # draws per real sequence where the data mark their ends, to find partners of each length
STEPS = 600  # the classifier's Adam steps at most, minibatches of 64 sequences
DRAW_BATCH = 500  # sequences drawn per call of the model (a Bayesian model: one weight draw each)


def end_mark(sequences: list[Tensor], spec: DataSpec) -> str | None:
    """How the data mark a sequence's end, if every one ends with a mark it has nowhere else:
    "token <id>" (categorical) or "pen lift" (strokes); None otherwise."""
    if spec.kind == "categorical":
        last = {int(s[-1]) for s in sequences}
        if len(last) == 1 and not any(bool((s[:-1] == s[-1]).any()) for s in sequences):
            return f"token {last.pop()}"
    if spec.kind == "strokes" and all(s[-1, 2] > 0.5 and not bool((s[:-1, 2] > 0.5).any()) for s in sequences):
        return "pen lift"
    return None


def ends(x: Tensor, mark: str) -> Tensor:
    """(N, T) bool: where each drawn sequence, (N, T[, D]), shows the end mark."""
    if mark == "pen lift":
        return x[..., 2] > 0.5
    return x == int(mark.split()[1])


def natural_lengths(x: Tensor, mark: str) -> list[int | None]:
    """Each drawn sequence's length up to and with its first end mark; None where it never ends."""
    hit = ends(x, mark)  # (N, T)
    first = hit.float().argmax(1)
    return [int(f) + 1 if h else None for f, h in zip(first.tolist(), hit.any(1).tolist())]


def paired_draws(real: list[Tensor], x: Tensor, mark: str | None) -> tuple[list[Tensor], list[Tensor], dict]:
    """(real, drawn) sequences paired one to one with equal lengths, and how they were paired.
    Without an end mark, draw i is cut to the length of real sequence i. With one, each real
    sequence takes an unused draw that ended at its length; failing that, one that had not
    ended by then, cut; failing both, the pair is dropped."""
    if mark is None:
        return real, [x[i, : len(r)] for i, r in enumerate(real)], {"cut": len(real), "same_length": 0, "dropped": 0}
    lengths = natural_lengths(x, mark)
    by_length: dict[int, list[int]] = {}
    for i, t in enumerate(lengths):
        by_length.setdefault(t, []).append(i)
    partner: list[int | None] = [by_length[len(r)].pop() if by_length.get(len(r)) else None for r in real]
    used = {i for i in partner if i is not None}
    longest = sorted((i for i in range(len(x)) if i not in used), key=lambda i: -(lengths[i] or math.inf))
    cut, dropped = 0, 0
    for j, r in enumerate(real):
        if partner[j] is not None:
            continue
        while longest and longest[0] in used:
            longest.pop(0)
        if longest and (lengths[longest[0]] or math.inf) > len(r):
            partner[j] = longest.pop(0)
            used.add(partner[j])
            cut += 1
        else:
            dropped += 1
    kept = [j for j, i in enumerate(partner) if i is not None]
    counts = {"same_length": len(kept) - cut, "cut": cut, "dropped": dropped}
    return [real[j] for j in kept], [x[partner[j], : len(real[j])] for j in kept], counts


def padded(sequences: list[Tensor], device) -> tuple[Tensor, Tensor]:
    """(B, T[, D]) zero-padded sequences and their (B,) lengths."""
    lengths = torch.tensor([len(s) for s in sequences])
    return pad_sequence(sequences, batch_first=True).to(device), lengths


def fit_classifier(
    real: list[Tensor],
    fake: list[Tensor],
    spec: DataSpec,
    steps: int = STEPS,
    every: int = 10,
    patience: int = 200,
    floor: float = 0.01,
    batch_size: int = 64,
    lr: float = 3e-3,
    hidden_size: int = 64,
    embedding_size: int = 32,
    generator: torch.Generator | None = None,
    device="cpu",
) -> tuple[RecurrentDiscriminator, int]:
    """A fresh recurrent classifier (bidirectional) of real (1) against drawn (0) sequences,
    fitted by `steps` Adam steps on minibatches of the pairs but the last fifth; those score it
    every `every` steps, and the state with the lowest cross-entropy there is kept. Training stops
    `patience` steps after it, or once that cross-entropy is below `floor` nats (the classifier is
    already sure of every held-back pair). Returns (the classifier, the step kept)."""
    classifier = RecurrentDiscriminator(spec, hidden_size, embedding_size, bidirectional=True).to(device)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
    cut = len(real) - max(1, len(real) // 5)
    x = real[:cut] + fake[:cut]
    y = torch.cat([torch.ones(cut), torch.zeros(cut)])
    best, best_loss, best_step, order = copy.deepcopy(classifier.state_dict()), math.inf, 0, []
    for step in range(1, steps + 1):
        if len(order) < min(batch_size, len(x)):
            order += torch.randperm(len(x), generator=generator).tolist()  # epoch after epoch
        chosen, order = order[:batch_size], order[batch_size:]
        classifier.train()
        loss = bce(classifier(*padded([x[i] for i in chosen], device)), y[chosen].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % every == 0 or step == steps:
            loss = cross_entropy(classifier, real[cut:], fake[cut:], device)
            if loss < best_loss:
                best, best_loss, best_step = copy.deepcopy(classifier.state_dict()), loss, step
            if loss < floor or step - best_step >= patience:
                break
    classifier.load_state_dict(best)
    return classifier.eval(), best_step


@torch.no_grad()
def logits(classifier: RecurrentDiscriminator, sequences: list[Tensor], device, batch_size: int = 256) -> Tensor:
    """The classifier's logits of "real", (N,), in batches."""
    classifier.eval()
    return torch.cat(
        [classifier(*padded(sequences[i : i + batch_size], device)).cpu() for i in range(0, len(sequences), batch_size)]
    )


def cross_entropy(classifier, real: list[Tensor], fake: list[Tensor], device) -> float:
    """Mean binary cross-entropy of the classifier on real (1) and drawn (0) sequences."""
    a, b = logits(classifier, real, device), logits(classifier, fake, device)
    losses = [bce(a, torch.ones_like(a), reduction="none"), bce(b, torch.zeros_like(b), reduction="none")]
    return float(torch.cat(losses).mean())


def accuracy_test(correct: int, m: int) -> dict:
    """Accuracy t = correct / m with its binomial standard error sqrt(t (1 - t) / m), and the
    exact one-sided binomial p-value of t > 1/2: P(Binomial(m, 1/2) >= correct)."""
    from scipy.stats import binom

    if m < 1:
        raise ZooError("the two-sample test needs at least one held-out sequence to score")
    t = correct / m
    return {
        "accuracy": t,
        "stderr": math.sqrt(t * (1 - t) / m),
        "p_value": float(binom.sf(correct - 1, m, 0.5)),
        "correct": correct,
        "num_test": m,
    }


def classifier_two_sample_test(
    real: list[Tensor], fake: list[Tensor], spec: DataSpec, seed: int = 0, device="cpu", **fit
) -> dict:
    """The test on pairs (real[i], fake[i]): the first half of the pairs fits a fresh classifier,
    the second half is scored. Its accuracy, standard error and p-value (accuracy_test)."""
    if len(real) != len(fake) or len(real) < 4:
        raise ZooError(
            f"the two-sample test needs as many drawn as real sequences, at least 4 pairs "
            f"({len(real)} real, {len(fake)} drawn)"
        )
    half = len(real) // 2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the classifier's initial weights
        classifier, step = fit_classifier(
            real[:half], fake[:half], spec, device=device, generator=torch.Generator().manual_seed(seed), **fit
        )
    correct = int((logits(classifier, real[half:], device) > 0).sum()) + int(
        (logits(classifier, fake[half:], device) <= 0).sum()
    )
    return {**accuracy_test(correct, 2 * (len(real) - half)), "num_train": 2 * half, "steps": step}


def model_two_sample_test(
    model, guide, data: SequenceData, n: int, split: str = "test", seed: int = 0, device="cpu", **fit
) -> dict:
    """The classifier two-sample test of the model's draws against n sequences of `split`
    (chosen at random, seeded; all of them if it has fewer), with each draw as long as its partner.
    Global random state is left as it was."""
    held_out = data.split(split)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        chosen = torch.randperm(len(held_out))[:n].tolist()
        real = [held_out[i].float() if data.spec.kind != "categorical" else held_out[i] for i in chosen]
        mark = end_mark(held_out, data.spec)
        x = draw_in_batches(model, guide, len(real) * (POOL if mark else 1), max(len(r) for r in real), DRAW_BATCH)
        x = x.float() if data.spec.kind != "categorical" else x.long()
        real, fake, pairs = paired_draws(real, x, mark)
        result = classifier_two_sample_test(real, fake, data.spec, seed, device, **fit)
    lengths = (
        f"draws end at their first {mark} and pair with real sequences of the same length"
        if mark
        else "each draw is cut to the length of the real sequence it is paired with"
    )
    return {
        **result,
        "split": split,
        "pairs": pairs,
        "end_mark": mark,
        "lengths": lengths,
        "p_value_kind": "exact one-sided binomial, H0 accuracy = 0.5",
    }


def describe(result: dict) -> str:
    """One line for a report: accuracy with its standard error, the p-value and the sizes."""
    return (
        f"Classifier two-sample test (Lopez-Paz & Oquab 2017): accuracy {result['accuracy']:.3f} "
        f"± {result['stderr']:.3f} on {result['num_test']} held-out sequences, half drawn from the model, "
        f"half real ({result['split']} split); p = {result['p_value']:.3g} for accuracy > 0.5 "
        f"(exact binomial); 0.5 means the classifier cannot tell them apart."
    )
