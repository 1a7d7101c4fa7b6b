"""DW: down-weighting — assume negative, but give each assumed negative the weight γ.

    y=+1: -log p        y=0: -γ log(1-p),  γ = 1/(C-1)        y=-1: -log(1-p)

With one observed positive per image, γ = 1/(C-1) gives the C-1 assumed negatives of an image the
total weight of one label, as much as its positive ("weak assume negative", WAN, in Cole et al.).
γ depends on C only, not on the dataset; pass ``gamma=`` to override it.
Paper: Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021 (WAN).
"""

from __future__ import annotations

from typing import Any

import torch

from methods.base import Method, Range, log_1mp, log_p


class DownWeighting(Method):
    key = "dw"
    summary = "assume negative with weight 1/(C-1) on assumed negatives (Cole's weak AN)"
    paper = "Cole et al., CVPR 2021"
    # None: γ = 1/(C-1), resolved in __init__ from the number of classes
    defaults = {"*": {"gamma": None}}
    # a weight: 0 ignores assumed negatives, 1 is AN. Search (adopted, log scale) from a tenth of
    # COCO's 1/79 up to AN's weight
    ranges = {"gamma": Range(0, 1, search=(1e-3, 1.0), log=True)}

    def __init__(self, num_classes: int, dataset: str | None = None, **overrides: Any) -> None:
        super().__init__(num_classes, dataset, **overrides)
        if self.hparams["gamma"] is None:
            if self.num_classes < 2:
                raise ValueError("dw: γ = 1/(C-1) needs at least 2 classes; pass gamma= for C = 1")
            self.hparams["gamma"] = 1.0 / (self.num_classes - 1)

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        unannotated = (observed == 0).to(logits.dtype)
        return -observed_pos * log_p(logits) - (observed_neg + self.gamma * unannotated) * log_1mp(logits)
