"""EM: entropy-maximisation loss on the unannotated labels.

    y=+1: -log p        y=-1: -log(1-p)        y=0: -α H(p),  H(p) = -[p log p + (1-p) log(1-p)]

Maximising the entropy of unannotated predictions keeps their gradient ``α g p (1-p)`` zero at
``g = 0`` and vanishing for confident predictions, so likely positives are not pushed down.
α: VOC 0.2, COCO 0.1, NUS-WIDE 0.1, CUB 0.01.
Paper: Zhou et al., "Acknowledging the Unknown for Multi-label Learning with Single Positive
Labels", ECCV 2022.
"""

from __future__ import annotations

import math

import torch

from methods.base import Method, Range, log_1mp, log_p

#: α >= 0 (a weight). Search (log scale): the paper's per-dataset values (0.01 on CUB to 0.2 on VOC),
#: widened by a factor of 2.5 on each side
ALPHA_RANGE = Range(0, math.inf, search=(0.004, 0.5), log=True)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """``H(p) = -[p log p + (1-p) log(1-p)]`` with the reference's ``log(x + 1e-5)``."""
    p = torch.sigmoid(logits)
    return -(p * log_p(logits) + (1 - p) * log_1mp(logits))


class EntropyMaximization(Method):
    key = "em"
    summary = "entropy maximisation on unannotated labels (Zhou et al. 2022)"
    paper = "Zhou et al., ECCV 2022"
    defaults = {
        "*": {"alpha": 0.1},
        "voc": {"alpha": 0.2},
        "coco": {"alpha": 0.1},
        "nuswide": {"alpha": 0.1},
        "cub": {"alpha": 0.01},
    }
    ranges = {"alpha": ALPHA_RANGE}

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        unannotated = (observed == 0).to(logits.dtype)
        return (
            -observed_pos * log_p(logits) - observed_neg * log_1mp(logits) - self.alpha * unannotated * entropy(logits)
        )

    @property
    def loss_lower_bound(self) -> float:  # type: ignore[override]
        # -α H(p) per unannotated entry, H(p) <= log 2; every other term is >= 0
        return -self.alpha * math.log(2)
