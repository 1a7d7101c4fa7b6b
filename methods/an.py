"""AN: assume every unannotated label is negative.

    y=+1: -log p        y=0 or y=-1: -log(1-p)

Paper: Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021 (the AN loss).
"""

from __future__ import annotations

import torch

from methods.base import Method, log_1mp, log_p


class AssumeNegative(Method):
    key = "an"
    summary = "assume negative: every unannotated label is treated as a negative"
    paper = "Cole et al., CVPR 2021"

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        observed_pos = (observed == 1).to(logits.dtype)
        return -observed_pos * log_p(logits) - (1 - observed_pos) * log_1mp(logits)
