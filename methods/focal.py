"""Focal loss **(adopted γ)** with unannotated labels assumed negative.

    y=+1: -(1-p)^γ log p        y=0: -p^γ log(1-p)        y=-1: -log(1-p)

γ = 2 **(adopted)**, the focal-loss paper's default; no α-balancing. Observed negatives (absent
under the 1p regime) are plain negatives, PROTOCOL.md's rule for rows that say nothing else.
Override with ``gamma=``.
Paper: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
"""

from __future__ import annotations

import math

import torch

from methods.base import Method, Range, log_1mp, log_p


class Focal(Method):
    key = "focal"
    summary = "focal loss (γ = 2, adopted) with unannotated labels assumed negative"
    paper = "Lin et al., ICCV 2017"
    defaults = {"*": {"gamma": 2.0}}
    # γ >= 0 (γ = 0 is AN); search: the focal-loss paper's sweep, γ from 0 to 5
    ranges = {"gamma": Range(0, math.inf, search=(0.0, 5.0))}

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        p = torch.sigmoid(logits)
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        unannotated = (observed == 0).to(logits.dtype)
        l1p = log_1mp(logits)
        return (
            -observed_pos * (1 - p).pow(self.gamma) * log_p(logits)
            - unannotated * p.pow(self.gamma) * l1p
            - observed_neg * l1p
        )
