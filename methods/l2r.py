"""L2R **(adopted)**: the AN loss plus an L2 penalty on the trainable parameters.

    y=+1: -log p        y=0 or y=-1: -log(1-p)        + λ2 Σ_θ θ²  (after the 1/(B*C) reduction)

The sum runs over every trainable parameter (``requires_grad``) of the attached model
(``Method.attach``; the training loop attaches it, or passes ``model=`` to ``loss``). With no model
the penalty is 0 and the loss is exactly AN.

λ2 **(adopted)**: the paper gives no value and the reference code has no such loss. λ2 = 1e-4, the
weight-decay scale of ResNet's ImageNet recipe, applied here as a loss term (gradient 2·λ2·θ); the
paper's L1R/L2R rows sit within about half a point of AN, i.e. a weak penalty. Override with
``lambda2=``.
Paper: the L2R row of Zhou et al., ECCV 2022 (Table of SPML baselines).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from methods.an import AssumeNegative
from methods.base import Range, trainable_parameters


class L2Regularized(AssumeNegative):
    key = "l2r"
    summary = "AN loss + λ2·Σθ² over the model's trainable parameters (adopted λ2)"
    paper = "Zhou et al., ECCV 2022 (baseline row; adopted definition)"
    defaults = {"*": {"lambda2": 1e-4}}
    # λ2 >= 0; the paper gives no value, so the search (adopted, log scale) is two decades either
    # side of the adopted default
    ranges = {"lambda2": Range(0, math.inf, search=(1e-6, 1e-2), log=True)}

    def penalty(self, model: nn.Module | None) -> torch.Tensor | float:
        params = trainable_parameters(model)
        if not params:
            return 0.0
        return self.lambda2 * torch.stack([p.pow(2).sum() for p in params]).sum()
