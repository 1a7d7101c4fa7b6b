"""ROLE: regularised online label estimation, a label estimator trained jointly with the classifier.

The estimator is a free ``N_train x C`` logit matrix; its rows for a batch, read through a sigmoid,
are the estimated labels ``g`` of the batch's images, and ``f = p`` are the classifier's
probabilities. With ``BCE(q, t) = -[t log q + (1-t) log(1-q)]``, ``sg`` = stop-gradient:

    y=+1:        0.5[-log f - log g]
    every entry: 0.5[BCE(f, sg g) + BCE(g, sg f)]
    + 0.5(R(f) + R(g)),   R(q) = (mean over batch of Σ_c q_c - k)² / C²   (after the 1/(B*C) reduction)

``k``, the expected number of positives per image: VOC 1.5, COCO 2.9, NUS-WIDE 1.9, CUB 31.4
(the embedded digits set: 2.4, its training pool's mean of 2.43). There is no default for other
datasets: pass ``k=`` (``setup`` says so).
Initialisation (``setup``, torch's global RNG): observed positives at ``logit(0.995)``, every other
entry uniform in ``[-logit(0.6), logit(0.6)]``; observed negatives (none under the 1p regime) at
``logit(0.005)`` and, in the loss, ``0.5[-log(1-f) - log(1-g)]``, the mirror of the positive term,
as in Cole et al.'s code. The estimator is an ``nn.Parameter`` of this module (so it is in
``state_dict``), optimised by Adam at ``lr_multiplier`` = 10x the classifier's learning rate.

``loss`` needs ``index=``, the training-set rows of the batch, and ``setup`` must have run: without
them the loss is not defined.
Paper: Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from methods.base import LabelError, Method, Range, TrainInfo, check_inputs, log_1mp, log_p

#: the estimator's initial logits (Cole et al.)
LOGIT_POSITIVE = math.log(0.995 / 0.005)
LOGIT_NEGATIVE = -LOGIT_POSITIVE
LOGIT_UNOBSERVED = math.log(0.6 / 0.4)
#: the expected number of positives per image (ROLE's and EPR's k)
K_RANGE = Range(0, math.inf, low_open=True)


def bce(log_q: torch.Tensor, log_1mq: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * log_q + (1 - target) * log_1mq)


class ROLE(Method):
    key = "role"
    summary = "regularised online label estimation: a label estimator trained with the classifier"
    paper = "Cole et al., CVPR 2021"
    lr_multiplier = 10.0
    label_statistics = ("k",)  # the expected positives per image
    defaults = {
        "*": {"k": None},
        "voc": {"k": 1.5},
        "coco": {"k": 2.9},
        "nuswide": {"k": 1.9},
        "cub": {"k": 31.4},
        "digits": {"k": 2.4},
    }
    # k > 0 (None until setup() is allowed, so that every method can be built from its key alone).
    # Not tuned: k is a statistic of the dataset's labels, not a knob
    ranges = {"k": K_RANGE}
    test_config = {"k": 1.5}

    def __init__(self, num_classes: int, dataset: str | None = None, **overrides: Any) -> None:
        super().__init__(num_classes, dataset, **overrides)
        # created by setup(), which knows N_train; None is left out of state_dict until then
        self.register_parameter("estimator_logits", None)

    def setup(self, info: TrainInfo) -> None:
        observed = info.observed
        if tuple(observed.shape) != (info.num_train, self.num_classes):
            raise LabelError(
                f"{self.key}: observed training labels have shape {tuple(observed.shape)}, expected "
                f"[num_train, num_classes] = [{info.num_train}, {self.num_classes}]"
            )
        check_inputs(observed, observed)
        if self.k is None:
            raise ValueError(
                f"{self.key}: k, the expected number of positives per image, has no default for dataset "
                f"{self.dataset!r}; pass k= (PROTOCOL.md: voc 1.5, coco 2.9, nuswide 1.9, cub 31.4)"
            )
        # drawn on the CPU from the global RNG, so the initialisation is the same on every device
        init = LOGIT_UNOBSERVED * (2 * torch.rand(info.num_train, self.num_classes) - 1)
        cpu_observed = observed.detach().cpu()
        init[cpu_observed == 1] = LOGIT_POSITIVE
        init[cpu_observed == -1] = LOGIT_NEGATIVE
        self.estimator_logits = nn.Parameter(init.to(observed.device))

    def estimated_logits(self, index: torch.Tensor | None, batch_size: int) -> torch.Tensor:
        """The estimator's logits for the batch's training rows ``index``."""
        if self.estimator_logits is None:
            raise RuntimeError(
                f"{self.key}: the label estimator does not exist yet; call setup(TrainInfo) with the training "
                f"set before loss() (ROLE's loss is defined only for training-set rows)"
            )
        if index is None:
            raise ValueError(f"{self.key}: loss() needs index=, the training-set rows of the batch's images")
        integer = not (index.dtype == torch.bool or index.is_floating_point() or index.is_complex())
        if index.ndim != 1 or len(index) != batch_size or not integer:
            raise ValueError(
                f"{self.key}: index must be {batch_size} integer row numbers (one per image), "
                f"got dtype {index.dtype} shape {tuple(index.shape)}"
            )
        n = self.estimator_logits.shape[0]
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= n):
            raise ValueError(
                f"{self.key}: index out of range for a training set of {n} images: "
                f"[{int(index.min())}, {int(index.max())}]"
            )
        return self.estimator_logits[index.to(self.estimator_logits.device)]

    def expected_positive_regulariser(self, q: torch.Tensor) -> torch.Tensor:
        """``R(q) = (mean over batch of Σ_c q_c - k)² / C²``."""
        return (q.sum(1).mean() - self.k) ** 2 / self.num_classes**2

    def loss(
        self,
        logits: torch.Tensor,
        observed: torch.Tensor,
        *,
        index: torch.Tensor | None = None,
        model: nn.Module | None = None,
    ) -> torch.Tensor:
        self.check_inputs(logits, observed)
        est = self.estimated_logits(index, logits.shape[0]).to(logits.dtype)
        observed = observed.to(logits.dtype)
        f, g = torch.sigmoid(logits), torch.sigmoid(est)
        log_f, log_1mf, log_g, log_1mg = log_p(logits), log_1mp(logits), log_p(est), log_1mp(est)
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        matrix = (
            0.5 * observed_pos * (-log_f - log_g)
            + 0.5 * observed_neg * (-log_1mf - log_1mg)
            + 0.5 * (bce(log_f, log_1mf, g.detach()) + bce(log_g, log_1mg, f.detach()))
        )
        reg = 0.5 * (self.expected_positive_regulariser(f) + self.expected_positive_regulariser(g))
        return matrix.sum() / logits.numel() + reg
