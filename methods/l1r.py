"""L1R **(adopted)**: the AN loss plus an L1 penalty on the trainable parameters.

    y=+1: -log p        y=0 or y=-1: -log(1-p)        + λ1 Σ_θ |θ|  (after the 1/(B*C) reduction)

The sum runs over every trainable parameter (``requires_grad``) of the attached model
(``Method.attach``; the training loop attaches it, or passes ``model=`` to ``loss``). With no model
the penalty is 0 and the loss is exactly AN.

λ1 **(adopted)**: the paper gives no value and the reference code has no such loss. λ1 = 1e-5 makes
the penalty's gradient λ1·sign(θ) equal to the L2R default's 2·λ2·θ at |θ| = 0.05, the typical size of
a trained convolution weight, so both regularisers are of the same, weak strength; the paper's
L1R/L2R rows sit within about half a point of AN, which a strong penalty would not give.
Override with ``lambda1=``.
Paper: the L1R row of Zhou et al., ECCV 2022 (Table of SPML baselines).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from methods.an import AssumeNegative
from methods.base import Range, trainable_parameters


class L1Regularized(AssumeNegative):
    key = "l1r"
    summary = "AN loss + λ1·Σ|θ| over the model's trainable parameters (adopted λ1)"
    paper = "Zhou et al., ECCV 2022 (baseline row; adopted definition)"
    defaults = {"*": {"lambda1": 1e-5}}
    # λ1 >= 0; the paper gives no value, so the search (adopted, log scale) is two decades either
    # side of the adopted default
    ranges = {"lambda1": Range(0, math.inf, search=(1e-7, 1e-3), log=True)}

    def penalty(self, model: nn.Module | None) -> torch.Tensor | float:
        params = trainable_parameters(model)
        if not params:
            return 0.0
        return self.lambda1 * torch.stack([p.abs().sum() for p in params]).sum()
