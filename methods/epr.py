"""EPR: expected positive regularisation — observed positives, and the expected number of
positives per image instead of any assumption on the unannotated labels.

    y=+1: -log p        y=0: 0        y=-1: -log(1-p)
    + R(p),   R(p) = (mean over the batch of Σ_c p_c - k)² / C²      (after the 1/(B*C) reduction)

``k``, the expected number of positives per image, is ROLE's: VOC 1.5, COCO 2.9, NUS-WIDE 1.9,
CUB 31.4 (Cole et al.'s code, ``expected_num_pos``; PROTOCOL.md) and 2.4 on the embedded digits
set (its training pool's mean of 2.43, as ROLE's). There is no default for other datasets: pass
``k=``. ``log`` is PROTOCOL.md's ``log(x + 1e-5)``, as in Cole et al.'s code.
**(adopted)**: observed negatives, which Cole et al.'s EPR never sees (its code asserts there are
none), are plain negatives, PROTOCOL.md's rule for rows that say nothing else.
Paper: Cole et al., "Multi-Label Learning from Single Positive Labels", CVPR 2021 (EPR).
"""

from __future__ import annotations

import torch
from torch import nn

from methods.base import PROJECT_CHOICE, PROTOCOL_DATASETS, Method, log_1mp, log_p
from methods.role import ROLE


class ExpectedPositiveRegularization(Method):
    key = "epr"
    summary = "expected positive regularisation: observed positives + (Σ_c p_c - k)² / C² (Cole et al.)"
    paper = "Cole et al., CVPR 2021"
    defaults = ROLE.defaults
    label_statistics = ROLE.label_statistics
    ranges = ROLE.ranges
    test_config = {"k": 1.5}
    sources = {
        **{d: {"k": "Cole et al.'s code (expected_num_pos), PROTOCOL.md"} for d in PROTOCOL_DATASETS},
        "digits": {"k": f"{PROJECT_CHOICE}: the embedded pool's mean number of positives (2.43)"},
    }

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        return -observed_pos * log_p(logits) - observed_neg * log_1mp(logits)

    def loss(
        self,
        logits: torch.Tensor,
        observed: torch.Tensor,
        *,
        index: torch.Tensor | None = None,
        model: nn.Module | None = None,
    ) -> torch.Tensor:
        if self.k is None:
            raise ValueError(
                f"{self.key}: k, the expected number of positives per image, has no default for dataset "
                f"{self.dataset!r}; pass k= (PROTOCOL.md: voc 1.5, coco 2.9, nuswide 1.9, cub 31.4)"
            )
        main = super().loss(logits, observed, index=index, model=model)
        expected = torch.sigmoid(logits).sum(1).mean()
        return main + (expected - self.k) ** 2 / self.num_classes**2
