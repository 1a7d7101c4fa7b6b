"""EntMin **(adopted)**: entropy *minimisation* on the unannotated labels — EM with the sign flipped.

    y=+1: -log p        y=0: +α H(p),  H(p) = -[p log p + (1-p) log(1-p)]        y=-1: -log(1-p)

Minimising the entropy pushes every unannotated prediction towards whichever side it already
leans, with nothing to correct a wrong lean; the paper's table reports it far below AN.
α as EM's per dataset: VOC 0.2, COCO 0.1, NUS-WIDE 0.1, CUB 0.01 (``alpha=`` overrides).
Adopted: the table's EntMin row has no published code; this is the EM loss with the entropy term's
sign flipped, with EM's α.
Paper: the EntMin row of Zhou et al., ECCV 2022 (entropy minimisation, Grandvalet & Bengio 2004).
"""

from __future__ import annotations

import torch

from methods.base import Method, log_1mp, log_p
from methods.em import EntropyMaximization, entropy


class EntropyMinimization(Method):
    key = "entmin"
    summary = "entropy minimisation on unannotated labels (the table's collapsing EntMin row; adopted)"
    paper = "Zhou et al., ECCV 2022 (baseline row; adopted definition)"
    defaults = EntropyMaximization.defaults
    ranges = EntropyMaximization.ranges

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        unannotated = (observed == 0).to(logits.dtype)
        return (
            -observed_pos * log_p(logits) - observed_neg * log_1mp(logits) + self.alpha * unannotated * entropy(logits)
        )
