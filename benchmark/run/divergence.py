"""When a run's numbers carry no information: the rules that make its record ``diverged``.

A ``diverged`` record keeps its numbers for inspection but never enters a mean; its
``divergence`` field is ``{"rule", "reason", "evidence"}``. The rules, checked by the training loop:

``non_finite_loss``        a training batch's loss is NaN or infinite (training stops there; the
                           evidence is the epoch, the batch and the loss);
``non_finite_parameters``  after an epoch, a parameter or buffer of the model or of the method is
                           NaN or infinite (the names of the first few);
``non_finite_predictions`` the validation or test predictions of an epoch hold NaN or infinity;
``loss_below_bound``       an epoch's mean training loss is below the least value the method's
                           loss can take (``Method.loss_lower_bound``, minus ``LOSS_SLACK``): the
                           objective is not the method's any more (label smoothing with ε > 1:
                           -35). Checked on the mean, which a valid loss can never push below the
                           bound, so a legitimate run is never flagged by it;
``constant_predictions``   at the reported (best validation) epoch, on the validation or the test
                           split, at least ``CONSTANT_CLASSES`` of the classes are constant: one
                           score is shared by at least ``CONSTANT_SHARE`` of the images, so the
                           class ranks nothing and its AP is its prevalence, whatever the labels
                           (a split of fewer than ``MIN_IMAGES`` images is not judged).

The first three and the fourth stop training at once (nothing after them can be trusted); the
last is judged on the model whose number would be reported.

Why ties and not a small spread: EntMin, which the paper reports collapsing (~28 mAP on the
embedded set, ~25 being chance), predicts every unannotated label within ~2e-4 of one value, yet
with hundreds of distinct scores per class that still rank the images; a diverged network
(``--lr 1e6``) gives every image exactly the same score (sigmoid saturated at 0 or 1, or dead
features leaving the bias). A threshold on the spread would flag the first; exact ties flag only
the second. Why a share of classes and not all: a run with most classes at chance is mostly chance
in its mean, while one odd class in a healthy run is not a diverged run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

#: a class is constant when one score is shared by at least this share of the split's images
CONSTANT_SHARE = 0.99
#: the predictions carry no information when at least this share of the classes is constant
CONSTANT_CLASSES = 0.5
#: a split of fewer images is not judged (one image is trivially "constant"; a test fixture has two)
MIN_IMAGES = 10
#: the reference's ``log(x + 1e-5)`` lets a loss dip ~1e-5 below its mathematical bound per entry
LOSS_SLACK = 1e-3
#: names listed in the evidence, at most
SHOWN = 5


def divergence(rule: str, reason: str, **evidence: Any) -> dict[str, Any]:
    return {"rule": rule, "reason": reason, "evidence": evidence}


def non_finite_tensors(named: Iterable[tuple[str, torch.Tensor]]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity (one host sync in all).
    Entries that are not tensors (a module's extra state, such as a schedule's epoch) are skipped."""
    named = [(n, t) for n, t in named if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not named:
        return []
    finite = torch.stack([torch.isfinite(t).all().to(named[0][1].device) for _, t in named]).cpu()
    return [n for (n, _), ok in zip(named, finite.tolist()) if not ok]


def check_parameters(epoch: int, named: Iterable[tuple[str, torch.Tensor]]) -> dict[str, Any] | None:
    bad = non_finite_tensors(named)
    if not bad:
        return None
    return divergence(
        "non_finite_parameters",
        f"{len(bad)} parameter/buffer tensor(s) hold NaN or inf after epoch {epoch} (first: {bad[0]})",
        epoch=epoch,
        tensors=bad[:SHOWN],
        num_tensors=len(bad),
    )


def check_predictions(epoch: int, splits: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    for split, probs in splits.items():
        finite = torch.isfinite(probs)
        if not bool(finite.all()):
            n_bad = int((~finite).sum())
            return divergence(
                "non_finite_predictions",
                f"{n_bad} {split} prediction(s) are NaN or inf at epoch {epoch}",
                epoch=epoch,
                split=split,
                non_finite=n_bad,
                total=probs.numel(),
            )
    return None


def check_loss(epoch: int, train_loss: float, lower_bound: float) -> dict[str, Any] | None:
    if train_loss >= lower_bound - LOSS_SLACK:
        return None
    return divergence(
        "loss_below_bound",
        f"epoch {epoch}'s training loss {train_loss:.4g} is below the least value "
        f"the method's loss can take ({lower_bound:.4g})",
        epoch=epoch,
        train_loss=train_loss,
        lower_bound=lower_bound,
        slack=LOSS_SLACK,
    )


def constant_classes(
    probs: torch.Tensor, share: float = CONSTANT_SHARE
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per class of ``probs`` ``[N, C]``: (constant?, the shared score, its share of the images).
    A score held by more than half of the images is the median, so one comparison finds it."""
    median = probs.median(dim=0).values
    tied = (probs == median).float().mean(dim=0)
    return tied >= share, median, tied


def predictions_summary(splits: dict[str, torch.Tensor], class_names: Sequence[str]) -> dict[str, Any]:
    """How many classes are constant on each split, with a few of them: kept with the best epoch."""
    out: dict[str, Any] = {}
    for split, probs in splits.items():
        if probs.shape[0] < MIN_IMAGES:
            continue
        const, value, tied = constant_classes(probs)
        idx = const.nonzero().flatten().tolist()
        out[split] = {
            "constant_classes": len(idx),
            "num_classes": probs.shape[1],
            "examples": [
                {"class": str(class_names[i]), "score": float(value[i]), "share": round(float(tied[i]), 4)}
                for i in idx[:SHOWN]
            ],
        }
    return out


def check_constant(epoch: int, summary: dict[str, Any]) -> dict[str, Any] | None:
    """``constant_predictions`` from the best epoch's ``predictions_summary``."""
    for split, s in summary.items():
        if s["num_classes"] and s["constant_classes"] >= CONSTANT_CLASSES * s["num_classes"]:
            return divergence(
                "constant_predictions",
                f"{s['constant_classes']} of {s['num_classes']} classes get one score "
                f"on >= {CONSTANT_SHARE:.0%} of the "
                f"{split} images at the reported epoch {epoch}: the predictions rank nothing",
                epoch=epoch,
                split=split,
                constant_share=CONSTANT_SHARE,
                **s,
            )
    return None


__all__ = [
    "CONSTANT_CLASSES",
    "CONSTANT_SHARE",
    "LOSS_SLACK",
    "MIN_IMAGES",
    "check_constant",
    "check_loss",
    "check_parameters",
    "check_predictions",
    "constant_classes",
    "divergence",
    "non_finite_tensors",
    "predictions_summary",
]
