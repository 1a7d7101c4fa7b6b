"""LL-Cp: Large Loss Matters, permanent correction — the largest assumed-negative losses become
observed positives for the rest of training.

    ℓ(y=+1) = -log p        ℓ(y=-1) = -log(1-p)
    ℓ(y=0)  = -log p        if the entry is among the batch's k = ceil(B·C·Δ_rel/100) largest
                            unannotated AN losses (ties at the k-th value included), from epoch 2;
                            its label is then +1 from the next batch on
            = -log(1-p)     otherwise

Unlike LL-R and LL-Ct the rate is constant, Δ_rel % of the batch's entries from the second epoch
on (the authors' code): corrections accumulate in the labels instead. Δ_rel = 0.1 / 0.2 / 0.2 /
0.2 on VOC / COCO / NUS-WIDE / CUB (the authors' values in snucml/LargeLossMatters issue #4; 0.1
elsewhere). The training set's labels with the corrections written in are a buffer (``labels``), so
they are in ``state_dict`` and a resumed run continues with them; ``batch_labels`` hands the loss
its batch's rows. A correction is written when the loss of a training batch is computed (``index``
given, gradients on); the authors write it after the step, which is the same since a batch's images
are not seen again in the epoch. The entries relabelled are exactly those whose loss is corrected,
as in the BoostLU repository's code (youngwk/BridgeGapExplanationPAMC ``losses.py``/``train.py``,
``largelossmod_scheme == 'LL-Cp'``, ``>=`` the k-th value).

What the LL repository ran as LL-Cp: its first release (snucml/LargeLossMatters ac475fe,
2022-03-24) took the constant rate and relabelled the entries strictly above the k-th value; since
commit b8c39e7 (2022-07-22, still at HEAD) ``losses.py`` and ``train.py`` test
``P['mod_scheme'] is 'LL-Cp'`` — identity with a literal, never true for the string argparse reads
from ``--mod_scheme`` — so that code's "LL-Cp" runs LL-Ct at LL-Cp's Δ_rel (growing rate, loss
flipped for the batch, no label written). Figures obtained with that code are LL-Ct figures.
The selection, the exact ``log``, the other **(adopted)** choices and how the authors trained
differently (batch 16, head at 10x lr) are LL-R's: see ``methods/ll_r.py``.
Paper: Kim et al., "Large Loss Matters in Weakly Supervised Multi-Label Classification", CVPR 2022.
"""

from __future__ import annotations

from typing import Any

import torch

from methods.base import LabelError, TrainInfo, check_inputs
from methods.ll_r import LargeLoss, per_dataset


class LargeLossCorrectPermanent(LargeLoss):
    key = "ll_cp"
    summary = "Large Loss Matters, LL-Cp: the largest assumed-negative losses become positives for good"
    paper = "Kim et al., CVPR 2022"
    correction = "permanent"
    defaults, sources = per_dataset("ll_cp")
    test_config = {"delta_rel": 10.0}

    def __init__(self, num_classes: int, dataset: str | None = None, **overrides: Any) -> None:
        super().__init__(num_classes, dataset, **overrides)
        # the observed training labels with the corrections written in; filled by setup()
        self.register_buffer("labels", None)

    def setup(self, info: TrainInfo) -> None:
        super().setup(info)
        observed = info.observed
        if tuple(observed.shape) != (info.num_train, self.num_classes):
            raise LabelError(
                f"{self.key}: observed training labels have shape {tuple(observed.shape)}, expected "
                f"[num_train, num_classes] = [{info.num_train}, {self.num_classes}]"
            )
        check_inputs(observed, observed)
        self.labels = observed.detach().clone().float()

    def batch_labels(self, observed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return observed if self.labels is None else self.labels[index].to(observed.dtype)

    @torch.no_grad()
    def corrected(self, selected: torch.Tensor, index: torch.Tensor) -> None:
        if self.labels is None:
            return
        rows = index.to(self.labels.device)
        current = self.labels[rows]
        # only still-unannotated entries: a call with labels other than batch_labels' rows must not
        # turn an observed negative into a positive
        self.labels[rows] = torch.where(selected.to(current.device) & (current == 0), torch.ones_like(current), current)
