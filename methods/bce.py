"""BCE on the observed labels only: the oracle rows of the table.

    y=+1: -log p        y=-1: -log(1-p)        y=0: 0 (unannotated entries are ignored)

Under the ``full`` regime this is "all P & all N", under ``1p_all_n`` "1 P & all N"; under ``1p``
it is the "positives only" loss that collapses to predicting every class positive.
Paper: Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021 (the full- and
partial-label BCE baselines); reported as oracles by Zhou et al., ECCV 2022.
"""

from __future__ import annotations

import torch

from methods.base import Method, log_1mp, log_p


class BCE(Method):
    key = "bce"
    summary = "binary cross-entropy on observed labels only (the oracles under full / 1p_all_n)"
    paper = "Cole et al., CVPR 2021"
    regimes = ("full", "1p_all_n")

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        return -observed_pos * log_p(logits) - observed_neg * log_1mp(logits)
