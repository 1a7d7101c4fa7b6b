"""LL-Ct: Large Loss Matters, temporary correction — the largest assumed-negative losses are
flipped to positives for the batch at hand.

    ℓ(y=+1) = -log p        ℓ(y=-1) = -log(1-p)
    ℓ(y=0)  = -log p        if the entry is among the batch's k = ceil(B·C·rate_e) largest
                            unannotated AN losses (ties at the k-th value included), from epoch 2
            = -log(1-p)     otherwise

``rate_e = (e-1)·Δ_rel`` %, Δ_rel = 0.2 / 0.2 / 0.2 / 0.4 on VOC / COCO / NUS-WIDE / CUB (the
authors' values in snucml/LargeLossMatters issue #4; 0.2 elsewhere). The
selection, its rate schedule, the exact ``log``, the **(adopted)** choices and how the authors
trained differently (batch 16, head at 10x lr) are LL-R's: see ``methods/ll_r.py``.
Paper: Kim et al., "Large Loss Matters in Weakly Supervised Multi-Label Classification", CVPR 2022.
"""

from __future__ import annotations

from methods.ll_r import LargeLoss, per_dataset


class LargeLossCorrectTemporary(LargeLoss):
    key = "ll_ct"
    summary = "Large Loss Matters, LL-Ct: AN flipping the largest assumed-negative losses to positive, per batch"
    paper = "Kim et al., CVPR 2022"
    correction = "temporary"
    defaults, sources = per_dataset("ll_ct")
    test_config = {"delta_rel": 10.0}
