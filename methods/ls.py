"""LS: label smoothing of the AN targets (Cole et al.'s AN-LS).

    y=+1: -(1-ε) log p - ε log(1-p)
    y=0:  -(1-ε) log(1-p) - ε log p
    y=-1: -log(1-p)        (PROTOCOL.md: an observed negative is a plain negative unless a row
                            says otherwise; there are none under the 1p regime)

ε = 0.1 on every dataset (Cole et al.'s ``ls_coef``); override with ``epsilon=``.
Paper: Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021 (AN-LS).
"""

from __future__ import annotations

import torch

from methods.base import Method, Range, log_1mp, log_p


class LabelSmoothing(Method):
    key = "ls"
    summary = "assume negative with label smoothing ε = 0.1 (Cole's AN-LS)"
    paper = "Cole et al., CVPR 2021"
    defaults = {"*": {"epsilon": 0.1}}
    # ε in [0, 0.5]: beyond 1/2 the smoothed target of a positive is below that of a negative.
    # Search (adopted; Cole et al. use 0.1 only) from almost none to 0.3
    ranges = {"epsilon": Range(0, 0.5, search=(0.01, 0.3))}

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        eps = self.epsilon
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        unannotated = (observed == 0).to(logits.dtype)
        lp, l1p = log_p(logits), log_1mp(logits)
        return (
            -observed_pos * ((1 - eps) * lp + eps * l1p)
            - unannotated * ((1 - eps) * l1p + eps * lp)
            - observed_neg * l1p
        )
