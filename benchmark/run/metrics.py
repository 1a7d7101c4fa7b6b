"""Metrics, vectorised over classes on whatever device the predictions are on.

``average_precision`` equals scikit-learn's ``average_precision_score`` per class (ties grouped
as sklearn does); PROTOCOL.md: a class with no positive has AP 0 and still counts in the mean.
"""

from __future__ import annotations

import torch


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-class AP ``[C]`` of ``scores`` ``[N, C]`` against 0/1 ``targets`` ``[N, C]``."""
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f"scores {tuple(scores.shape)} and targets {tuple(targets.shape)} must both be [N, C]")
    scores = scores.detach().to(torch.float64).T  # [C, N]
    targets = targets.detach().to(torch.float64).T
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    s = torch.gather(scores, 1, order)
    y = torch.gather(targets, 1, order)
    tp = torch.cumsum(y, dim=1)
    ranks = torch.arange(1, s.shape[1] + 1, device=s.device, dtype=s.dtype)
    # a threshold is evaluated only at the last entry of each group of tied scores
    last = torch.ones_like(s, dtype=torch.bool)
    last[:, :-1] = s[:, :-1] != s[:, 1:]
    tp_at_last = torch.where(last, tp, torch.zeros_like(tp))
    prev_tp = torch.cummax(tp_at_last, dim=1).values
    prev_tp = torch.cat([torch.zeros_like(prev_tp[:, :1]), prev_tp[:, :-1]], dim=1)
    gain = torch.where(last, tp - prev_tp, torch.zeros_like(tp))
    n_pos = y.sum(dim=1)
    ap = (gain * tp / ranks).sum(dim=1) / n_pos.clamp(min=1)
    return torch.where(n_pos > 0, ap, torch.zeros_like(ap))


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """mAP × 100, as the table reports it."""
    return float(average_precision(scores, targets).mean()) * 100.0


def threshold_metrics(probs: torch.Tensor, targets: torch.Tensor, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 at a probability threshold, macro (per class, then mean) and
    micro (over all entries), × 100."""
    pred = (probs >= threshold).to(torch.float64)
    y = targets.to(torch.float64)
    tp = (pred * y).sum(0)
    fp = (pred * (1 - y)).sum(0)
    fn = ((1 - pred) * y).sum(0)

    def prf(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = tp / (tp + fp).clamp(min=1)
        r = tp / (tp + fn).clamp(min=1)
        f = 2 * p * r / (p + r).clamp(min=1e-12)
        return p, r, f

    p_c, r_c, f_c = prf(tp, fp, fn)
    p_m, r_m, f_m = prf(tp.sum(), fp.sum(), fn.sum())
    return {
        "precision_macro": float(p_c.mean()) * 100,
        "recall_macro": float(r_c.mean()) * 100,
        "f1_macro": float(f_c.mean()) * 100,
        "precision_micro": float(p_m) * 100,
        "recall_micro": float(r_m) * 100,
        "f1_micro": float(f_m) * 100,
    }
