"""GR loss: the generalized robust loss — soft pseudo-labels and weights on the unannotated labels,
both functions of the prediction, scheduled over the epochs.

    y=+1: -log(p + 1e-7)
    y=0:  v(p) [ k(p) L2(p) + (1 - k(p)) L3(p) ]
          L2(p) = (1 - p^q2) / q2        (a robust loss for a positive target: -log p as q2 → 0)
          L3(p) = (1 - (1-p)^q3) / q3    (for a negative target: p when q3 = 1)
          k(p)  = sigmoid(w p + b)                   the soft pseudo-label
          v(p)  = exp(-(p - μ)² / (2σ²))             the weight
    y=-1: -log(1 - p + 1e-7)

``k`` and ``v`` read the prediction without its gradient (the authors' ``preds.detach()``), so only
the robust losses and the positive term are differentiated. The schedules, with ``T`` the run's
number of epochs and ``e`` the epoch (from 1), are the authors' (with no linear-initialisation
epochs):

    w_e = w_0 + (w_T - w_0)·(e-1)/T        b_e = b_0 + (b_T - b_0)·(e-1)/T
    μ_e = μ_0 + (μ_T - μ_0)·e/T            σ_e = σ_0 + (σ_T - σ_0)·e/T

(so ``w`` and ``b`` start at their initial values and ``μ``, ``σ`` reach their final ones at the
last epoch). ``p^q`` is computed as ``exp(q·logsigmoid(g))``, the same value with a finite gradient
where ``p`` underflows to 0.

Per dataset: (w_0, w_T, b_0, b_T) = (0, 2, -2, -2), (μ_0, σ_0, μ_T, σ_T) = (0.5, 2, 0.8, 0.5),
(q2, q3) = (0.01, 1) on VOC, COCO, NUS-WIDE and CUB — **the project's choice** (``sources`` says so
per value): the authors' code (yan4xi1/GRLoss ``config.py``) ships these as its defaults and its
README's example, and no per-dataset values were found (the paper's text, the repository and its
issues searched). The code cannot take others from its command line either: ``--beta`` etc. are
``type=list``, which splits a value into characters. The embedded ``digits`` set takes the same
(``DIGITS``; once tuned, no more).

**(adopted)**: ``T`` is the run's number of epochs (the protocol's 10; the authors' default run
is 8 epochs); observed negatives, which the authors' loss leaves at 0 (it only reads +1 and 0), are
plain negatives, PROTOCOL.md's rule. Not implemented: the authors' optional learned ``k``
(``--is_train``) and linear-initialisation epochs (``--linear_init``), both off by default.
Trained differently by the authors: batch 8 and lr 1e-5, the head at 10x the backbone's lr, early
stopping when the validation mAP falls more than 2 points below the best. Here it runs under the
common protocol.
Paper: Chen et al., "Boosting Single Positive Multi-label Classification with Generalized Robust
Loss", IJCAI 2024.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch.nn import functional as F

from methods.base import PROJECT_CHOICE, PROTOCOL_DATASETS, Range, Recipe, Scheduled

#: ``log(x + 1e-7)`` in the authors' code
GR_LOG_EPS = 1e-7

AUTHORS: dict[str, Any] = {
    "w_0": 0.0,
    "w_T": 2.0,
    "b_0": -2.0,
    "b_T": -2.0,
    "mu_0": 0.5,
    "sigma_0": 2.0,
    "mu_T": 0.8,
    "sigma_T": 0.5,
    "q2": 0.01,
    "q3": 1.0,
}
#: the embedded digit-mosaic set, tuned on its validation split only: mean val mAP ± std over seeds
#: 0 1 8, the authors' values with one or two changed: none → 79.69 ± 4.84, w_T 4 → 81.73 ± 0.88,
#: μ_T 0.9 → 80.89 ± 0.54, q2 0.1 → 83.82 ± 0.84, σ_T 1 → 85.75 ± 0.60, σ_T 1.5 → 84.31 ± 3.33,
#: σ_T 2 (σ constant) → 83.54 ± 2.54, σ_T 1 and w_T 4 → 82.65 ± 0.40, σ_T 1 and q2 0.1 → 85.50 ± 0.95.
#: A wider weight v at the end of the run (σ_T 1 rather than 0.5) keeps more unannotated entries in play
#: (the first embedded set).
#: Re-tuned on the embedded set of November 2026 (pool 4,000, lr 3e-3, 7 epochs, patience 2), validation
#: mAP only, mean ± std over seeds 0 1 8 (python run_all.py --methods M --hparam NAME=V1,V2 ...):
#:   σ_T 0.5 (the authors') → 93.13 ± 0.28, 1 → 93.61 ± 0.35, 1.5 → 93.63 ± 0.44 (1 and 1.5 tie).
#: digits: the authors' values, as on every dataset
#: (issue 20: one rule for every method's main-table configuration, the published values; the notes above
#: are history)
DIGITS: dict[str, Any] = dict(AUTHORS)
#: the paper's per-dataset values were not found (its text, the repository and its issues searched):
#: on every dataset the values are the code's one set, applied to all four by the project
AUTHORS_SOURCE = (
    f"{PROJECT_CHOICE}: yan4xi1/GRLoss config.py defaults (--beta/--alpha/--q2q3, also its README's example), "
    "one set for every dataset; no per-dataset values published"
)


class Schedule(NamedTuple):
    w: float
    b: float
    mu: float
    sigma: float


#: the authors' training recipe (``--recipe authors``); T, the schedules' length, is the run's epochs
RECIPE = Recipe(
    batch_size=8,
    lr=1e-5,
    head_lr_mult=10.0,
    stop="drop>2",
    epochs=8,
    sources={
        "batch_size": "yan4xi1/GRLoss config.py: --bsize 8",
        "lr": "yan4xi1/GRLoss config.py: --lr 1e-5 (Adam, constant)",
        "head_lr_mult": "yan4xi1/GRLoss config.py: --lr_mult 10, the linear classifier's group in train.py",
        "stop": "yan4xi1/GRLoss train.py: stops when the val mAP is more than 2 below the best",
        "epochs": "yan4xi1/GRLoss config.py: --num_epochs 8 (T of the schedules)",
    },
)


class GeneralizedRobustLoss(Scheduled):
    key = "gr_loss"
    summary = "generalized robust loss: scheduled soft pseudo-labels k(p) and weights v(p) on unannotated labels"
    paper = "Chen et al., IJCAI 2024"
    recipe = RECIPE
    defaults = {"*": AUTHORS, "voc": AUTHORS, "coco": AUTHORS, "nuswide": AUTHORS, "cub": AUTHORS, "digits": DIGITS}
    sources = {
        **dict.fromkeys(("*", *PROTOCOL_DATASETS), dict.fromkeys(AUTHORS, AUTHORS_SOURCE)),
        "digits": dict.fromkeys(AUTHORS, AUTHORS_SOURCE),
    }
    # k's slope and offset are any real numbers, μ a probability, σ > 0, q in (0, 1] (q -> 0 is the
    # log loss, q = 1 the absolute error). The paper gives no search ranges: the intervals (adopted)
    # bracket the authors' defaults of the final values and of q2
    ranges = {
        "w_0": Range(),
        "w_T": Range(search=(0.0, 4.0)),
        "b_0": Range(),
        "b_T": Range(search=(-4.0, 0.0)),
        "mu_0": Range(0, 1),
        "mu_T": Range(0, 1, search=(0.5, 1.0)),
        "sigma_0": Range(0, math.inf, low_open=True),
        "sigma_T": Range(0, math.inf, low_open=True, search=(0.2, 2.0), log=True),
        "q2": Range(0, 1, low_open=True, search=(0.001, 0.5), log=True),
        "q3": Range(0, 1, low_open=True),
    }

    def schedule(self) -> Schedule:
        """``w, b, μ, σ`` of the current epoch."""
        t, e = self.num_epochs, self.epoch
        late, now = max(e - 1, 0) / t, max(e, 0) / t
        return Schedule(
            w=self.w_0 + (self.w_T - self.w_0) * late,
            b=self.b_0 + (self.b_T - self.b_0) * late,
            mu=self.mu_0 + (self.mu_T - self.mu_0) * now,
            sigma=self.sigma_0 + (self.sigma_T - self.sigma_0) * now,
        )

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        s = self.schedule()
        p = torch.sigmoid(logits)
        held = p.detach()
        k = torch.sigmoid(s.w * held + s.b)
        v = torch.exp(-0.5 * ((held - s.mu) / s.sigma) ** 2)
        robust_positive = (1 - torch.exp(self.q2 * F.logsigmoid(logits))) / self.q2
        robust_negative = (1 - torch.exp(self.q3 * F.logsigmoid(-logits))) / self.q3
        unannotated_loss = v * (k * robust_positive + (1 - k) * robust_negative)
        observed_pos = (observed == 1).to(logits.dtype)
        observed_neg = (observed == -1).to(logits.dtype)
        unannotated = (observed == 0).to(logits.dtype)
        return (
            -observed_pos * torch.log(p + GR_LOG_EPS)
            + unannotated * unannotated_loss
            - observed_neg * torch.log(1 - p + GR_LOG_EPS)
        )
