"""ROLE+LI: ROLE after a linear-initialisation phase on frozen backbone features.

Before end-to-end training (``before_training``): the training set's pooled features are computed
once by the frozen backbone (``ctx.train_features()``, eval mode), and the classifier's linear head
and the label estimator are trained on them with ROLE's loss — ``li_epochs`` = 25 epochs, Adam at
``li_lr`` = 1e-3 for the head and 10x that for the estimator (ROLE's multiplier), batches of
``li_batch_size`` = 16 (8 on CUB), in an order drawn from a generator seeded from torch's global RNG
(deterministic under the run's seed). End-to-end ROLE training then starts from that head and
estimator (see ``methods/role.py`` for the loss, the estimator's initialisation and ``k``).
The linear phase's optimiser is discarded; the end-to-end optimiser starts fresh, as in a new run.
Paper: Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021 (ROLE + LinearInit).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from methods.base import Range, TrainContext, TrainInfo
from methods.role import ROLE

#: the linear phase on the embedded digits set, in one place to tune: batches of 64 rather than 16,
#: so that its 25 epochs cost about half a training epoch on the CPU instead of about one and a half
#: (``python -m benchmark.bench.method_overhead``)
DIGITS: dict[str, Any] = {"k": 2.4, "li_epochs": 25, "li_lr": 1e-3, "li_batch_size": 64}


class ROLEWithLinearInit(ROLE):
    key = "role_li"
    summary = "ROLE after a linear phase (head + label estimator) on frozen backbone features"
    paper = "Cole et al., CVPR 2021"
    defaults = {
        "*": {"k": None, "li_epochs": 25, "li_lr": 1e-3, "li_batch_size": 16},
        "voc": {"k": 1.5},
        "coco": {"k": 2.9},
        "nuswide": {"k": 1.9},
        "cub": {"k": 31.4, "li_batch_size": 8},
        "digits": DIGITS,
    }
    # the linear phase's lr in (0, 1]: beyond, Adam steps of that size on a linear head only
    # diverge. Search (adopted, log scale) a decade either side of Cole et al.'s 1e-3
    ranges = {
        **ROLE.ranges,
        "li_epochs": Range(0, math.inf, integer=True),
        "li_lr": Range(0, 1, low_open=True, search=(1e-4, 1e-2), log=True),
        "li_batch_size": Range(1, math.inf, integer=True),
    }
    test_config = {"k": 1.5, "li_epochs": 2, "li_batch_size": 4}

    def __init__(self, num_classes: int, dataset: str | None = None, **overrides: Any) -> None:
        super().__init__(num_classes, dataset, **overrides)
        # the training set's observed labels, for the linear phase; rebuilt by setup(), not state
        self.register_buffer("observed_train", None, persistent=False)

    def setup(self, info: TrainInfo) -> None:
        super().setup(info)
        self.observed_train = info.observed.detach().clone()

    def before_training(self, ctx: TrainContext) -> None:
        if self.estimator_logits is None or self.observed_train is None:
            raise RuntimeError(f"{self.key}: before_training() needs setup(TrainInfo) first")
        head = ctx.head
        if not isinstance(head, nn.Linear):
            raise TypeError(
                f"{self.key}: the linear phase needs the model's head as an nn.Linear in "
                f"ctx.head, got {type(head).__name__}"
            )
        features = ctx.train_features().detach()
        n = self.estimator_logits.shape[0]
        if features.ndim != 2 or features.shape[0] != n:
            raise ValueError(f"{self.key}: train_features() gave shape {tuple(features.shape)}, expected [{n}, D]")
        features = features.to(head.weight.dtype)
        observed = self.observed_train.to(features.device)
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        optimizer = torch.optim.Adam(
            [
                {"params": list(head.parameters()), "lr": self.li_lr},
                {"params": [self.estimator_logits], "lr": self.li_lr * self.lr_multiplier},
            ]
        )
        for _ in range(self.li_epochs):
            order = torch.randperm(n, generator=generator).to(features.device)
            for batch in order.split(self.li_batch_size):
                loss = self.loss(head(features[batch]), observed[batch], index=batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
