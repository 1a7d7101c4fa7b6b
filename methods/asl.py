"""ASL **(adopted values)**: asymmetric loss with unannotated labels assumed negative.

    y=+1: -(1-p)^γ+ log p
    y=0:  -p_m^γ- log(1-p_m),  p_m = max(p - m, 0)        (probability shifting by the margin m)
    y=-1: -log(1-p)

γ+ = 0, γ- = 4, m = 0.05 **(adopted)**: the ASL paper's default values. ``log`` is PROTOCOL.md's
``log(x + 1e-5)``; the focusing weights are differentiated through. Observed negatives (absent
under the 1p regime) are plain negatives, PROTOCOL.md's rule for rows that say nothing else.
Override with ``gamma_pos=``, ``gamma_neg=``, ``margin=``.
Paper: Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021.
"""

from __future__ import annotations

import math

import torch

from methods.base import LOG_EPS, Method, Range, log_1mp, log_p


class AsymmetricLoss(Method):
    key = "asl"
    summary = "asymmetric loss (γ+ = 0, γ- = 4, m = 0.05; adopted) with unannotated labels assumed negative"
    paper = "Ridnik et al., ICCV 2021"
    defaults = {"*": {"gamma_pos": 0.0, "gamma_neg": 4.0, "margin": 0.05}}
    # focusing exponents >= 0; a shift m >= 1 would zero every unannotated loss. Search intervals
    # (adopted) around the ASL paper's defaults: γ+ between its two settings 0 and 1, γ- up to 6,
    # m up to 0.2
    ranges = {
        "gamma_pos": Range(0, math.inf, search=(0.0, 1.0)),
        "gamma_neg": Range(0, math.inf, search=(1.0, 6.0)),
        "margin": Range(0, 1, high_open=True, search=(0.0, 0.2)),
    }

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        p = torch.sigmoid(logits)
        p_m = (p - self.margin).clamp(min=0)
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        unannotated = (observed == 0).to(logits.dtype)
        return (
            -observed_pos * (1 - p).pow(self.gamma_pos) * log_p(logits)
            - unannotated * p_m.pow(self.gamma_neg) * torch.log(1 - p_m + LOG_EPS)
            - observed_neg * log_1mp(logits)
        )
