"""N-LS **(adopted)**: negative label smoothing of the AN targets.

    BCE(p, t) = -[t log p + (1-t) log(1-p)]
    y=+1: BCE(p, 1 - r/2)        y=0: BCE(p, r/2)        y=-1: -log(1-p)

with a negative smoothing rate r < 0 (default r = -0.1): the targets move *away* from 1/2, to 1.05
and -0.05, which sharpens rather than softens. Observed negatives (absent under the 1p regime) are
plain negatives, PROTOCOL.md's rule for rows that say nothing else.
Adopted: the ECCV 2022 table has an N-LS row but no code; this is Wei et al.'s negative label
smoothing applied to the AN targets (binary case, smoothed target (1-r)·y + r/2).
Paper: Wei et al., "To Smooth or Not? When Label Smoothing Meets Noisy Labels", ICML 2022.
"""

from __future__ import annotations

import math

import torch

from methods.base import LOG_EPS, Method, Range, log_1mp, log_p


class NegativeLabelSmoothing(Method):
    key = "nls"
    summary = "assume negative with negative label smoothing r = -0.1 (adopted, Wei et al. 2022)"
    paper = "Wei et al., ICML 2022 (adopted for SPML)"
    defaults = {"*": {"rate": -0.1}}
    # r < 0 (positive smoothing is method 'ls') and r >= -1, so that the targets 1 - r/2 and r/2
    # stay within half a unit of {0, 1}. Search (adopted): that whole interval, down to almost 0
    ranges = {"rate": Range(-1, 0, high_open=True, search=(-1.0, -0.02))}

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        unannotated = (observed == 0).to(logits.dtype)
        lp, l1p = log_p(logits), log_1mp(logits)
        # per-entry target: 1 - r/2 on observed positives, r/2 on unannotated entries
        target = observed_pos * (1 - self.rate / 2) + unannotated * (self.rate / 2)
        smoothed = -(target * lp + (1 - target) * l1p)
        return (observed_pos + unannotated) * smoothed - observed_neg * l1p

    @property
    def loss_lower_bound(self) -> float:  # type: ignore[override]
        # a target beyond [0, 1] by |r|/2 rewards confidence: BCE(p, 1 + |r|/2) falls to
        # (|r|/2) log(1e-5) at p = 1 with the reference's log(x + 1e-5) (-0.58 at r = -0.1)
        return (abs(self.rate) / 2) * math.log(LOG_EPS)
